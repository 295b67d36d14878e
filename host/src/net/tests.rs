use super::*;

/// A deterministic xorshift stream for the simulation.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

#[test]
fn a_sender_sends_only_against_credit_and_reports_its_backlog() {
    let mut sender = CreditSender::default();
    for i in 0..3 {
        sender.enqueue(i);
    }
    assert_eq!(sender.poll_send(), None, "no credit yet");
    sender.on_credit(2);
    assert_eq!(sender.poll_send(), Some((0, 2)));
    assert_eq!(sender.poll_send(), Some((1, 1)));
    assert_eq!(sender.poll_send(), None, "credit spent");
    assert_eq!(sender.backlog(), 1);
}

#[test]
fn a_buffer_without_credit_is_a_protocol_error() {
    let mut gate = GateCredits::new(1, 1, 0);
    gate.on_buffer_received(0, 0)
        .expect("first buffer has credit");
    assert_eq!(
        gate.on_buffer_received(0, 0),
        Err(CreditError::NoCredit { channel: 0 })
    );
    assert_eq!(gate.on_buffer_consumed(0), Ok(()));
    assert_eq!(
        gate.on_buffer_consumed(0),
        Err(CreditError::NotInUse { channel: 0 })
    );
}

#[test]
fn floating_buffers_go_to_the_channel_with_a_backlog() {
    let mut gate = GateCredits::new(2, 1, 4);
    assert_eq!(gate.take_announcements(), vec![(0, 1), (1, 1)]);
    gate.on_buffer_received(0, 3).expect("credited");
    assert_eq!(
        gate.take_announcements(),
        vec![(0, 3)],
        "three floating buffers lent to channel 0"
    );
    assert_eq!(
        gate.buffers(),
        (5, 1),
        "2 exclusive + 3 lent are held, 1 left in the pool"
    );
}

/// Senders with random amounts of data, a consumer reading at random: every buffer arrives once,
/// in order per channel, never without credit, and the gate never holds more than it owns.
#[test]
fn random_traffic_is_delivered_exactly_once_within_bounded_memory() {
    for seed in 1..40u64 {
        let mut rng = Rng(seed * 0x9E37_79B9_7F4A_7C15);
        let channels = 1 + rng.below(5) as usize;
        let (exclusive, floating) = (1 + rng.below(2) as u32, rng.below(6) as u32);
        let total = channels as u32 * exclusive + floating;
        let mut gate = GateCredits::new(channels, exclusive, floating);
        let mut senders: Vec<CreditSender<u64>> =
            (0..channels).map(|_| CreditSender::default()).collect();
        let to_send: Vec<u64> = (0..channels).map(|_| rng.below(60)).collect();
        let mut produced = vec![0u64; channels];
        let mut received: Vec<Vec<u64>> = vec![Vec::new(); channels];
        let mut unconsumed: Vec<usize> = Vec::new();
        for _step in 0..100_000 {
            for (channel, credits) in gate.take_announcements() {
                senders[channel].on_credit(credits);
            }
            let c = rng.below(channels as u64) as usize;
            match rng.below(3) {
                0 if produced[c] < to_send[c] => {
                    senders[c].enqueue(produced[c]);
                    produced[c] += 1;
                }
                1 => {
                    if let Some((buffer, backlog)) = senders[c].poll_send() {
                        gate.on_buffer_received(c, backlog)
                            .expect("sent against credit");
                        received[c].push(buffer);
                        unconsumed.push(c);
                    }
                }
                _ if !unconsumed.is_empty() => {
                    let i = rng.below(unconsumed.len() as u64) as usize;
                    gate.on_buffer_consumed(unconsumed.swap_remove(i))
                        .expect("in use");
                }
                _ => {}
            }
            let (held, pool) = gate.buffers();
            assert_eq!(held + pool, total, "buffers are conserved");
            assert!(unconsumed.len() as u32 <= total, "memory stays bounded");
            if (0..channels).all(|c| received[c].len() as u64 == to_send[c]) {
                break;
            }
        }
        for c in 0..channels {
            let expected: Vec<u64> = (0..to_send[c]).collect();
            assert_eq!(
                received[c], expected,
                "seed {seed}, channel {c}: everything, once, in order"
            );
        }
    }
}
