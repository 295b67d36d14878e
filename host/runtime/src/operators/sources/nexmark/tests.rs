use super::*;

#[test]
fn mix_is_one_person_three_auctions_forty_six_bids_per_fifty() {
    let generator = NexmarkGenerator::new(7, 10_000);
    let mut kinds = [0; 3];
    for j in 0..5000 {
        let mut out = Vec::new();
        generator.write_event(j, &mut out);
        let event: serde_json::Value =
            serde_json::from_slice(&out).expect("every event is valid JSON");
        match event["event_type"].as_str() {
            Some("person") => kinds[0] += 1,
            Some("auction") => kinds[1] += 1,
            Some("bid") => {
                kinds[2] += 1;
                let auction = event["auction"].as_u64().expect("bid has an auction");
                assert!(
                    auction >= FIRST_AUCTION_ID
                        && auction <= FIRST_AUCTION_ID + last_auction(j) + ID_LEAD
                );
            }
            other => panic!("unexpected event type {other:?}"),
        }
    }
    assert_eq!(kinds, [100, 300, 4600]);
}

#[test]
fn same_seed_same_events_other_seed_other_events() {
    let (a, b, c) = (
        NexmarkGenerator::new(1, 1000),
        NexmarkGenerator::new(1, 1000),
        NexmarkGenerator::new(2, 1000),
    );
    let event = |g: &NexmarkGenerator, j| {
        let mut out = Vec::new();
        g.write_event(j, &mut out);
        out
    };
    assert_eq!(event(&a, 4242), event(&b, 4242));
    assert_ne!(event(&a, 4242), event(&c, 4242));
}
