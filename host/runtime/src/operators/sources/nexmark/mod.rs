//! The Nexmark event generator: people, auctions and bids in the standard 1:3:46 mix.
//!
//! Modelled on the reference generator of the Nexmark benchmark (as in Apache Beam and Flink's
//! nexmark suite): event `j` is a person, an auction or a bid by its position in a block of 50;
//! ids grow with the event number; bids favour "hot" auctions and bidders; prices are
//! log-uniform. Every choice comes from a generator seeded by `(seed, j)`, so an event's content
//! depends only on its number — the same at any parallelism.

use super::numbered::Numbered;
use super::{GENERATOR_EPOCH_MS, SeekError, splitmix64};
use crate::error::TaskError;
use crate::operators::{RejectSink, Source};
use std::io::Write as _;
use weir_proto::RecordBatch;
use weir_proto::spec::{NexmarkEvent, NexmarkSpec};
use weir_state::checkpoint::OperatorRestore;

const PERSON_PROPORTION: u64 = 1;
const AUCTION_PROPORTION: u64 = 3;
const TOTAL_PROPORTION: u64 = 50;
const FIRST_PERSON_ID: u64 = 1000;
const FIRST_AUCTION_ID: u64 = 1000;
const FIRST_CATEGORY_ID: u64 = 10;
const NUM_CATEGORIES: u64 = 5;
const HOT_RATIO_ROUNDING: u64 = 100;
const HOT_AUCTION_RATIO: u64 = 2;
const HOT_BIDDER_RATIO: u64 = 4;
const HOT_SELLER_RATIO: u64 = 4;
const IN_FLIGHT_AUCTIONS: u64 = 100;
const ACTIVE_PEOPLE: u64 = 1000;
const ID_LEAD: u64 = 10;

const FIRST_NAMES: &[&str] = &[
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: &[&str] = &[
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
const CITIES: &[&str] = &[
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const STATES: &[&str] = &["AZ", "CA", "ID", "OR", "WA", "WY"];
const CHANNELS: &[&str] = &["Google", "Facebook", "Baidu", "Apple"];

/// A small deterministic random stream for one event.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(1);
        splitmix64(self.0)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len() as u64) as usize]
    }
    fn word(&mut self, out: &mut Vec<u8>, max_len: u64) {
        let len = 3 + self.below(max_len.saturating_sub(3).max(1));
        for _ in 0..len {
            out.push(b'a' + self.below(26) as u8);
        }
    }
    /// Log-uniform price in cents, 1 ... 1,000,000 (the reference generator's shape).
    fn price(&mut self) -> u64 {
        (10f64.powf(self.unit() * 6.0) * 100.0).round() as u64
    }
}

/// Generates Nexmark events by number.
#[derive(Debug, Clone)]
pub struct NexmarkGenerator {
    seed: u64,
    events_per_second: u64,
    out_of_order_ms: u64,
}

impl NexmarkGenerator {
    /// A generator with `seed`, spacing event times at `events_per_second`.
    pub fn new(seed: u64, events_per_second: u64) -> Self {
        NexmarkGenerator {
            seed,
            events_per_second: events_per_second.max(1),
            out_of_order_ms: 0,
        }
    }

    /// The same, setting each event's time back by up to `ms` (out-of-order events).
    pub fn out_of_order(mut self, ms: u64) -> Self {
        self.out_of_order_ms = ms;
        self
    }

    /// The event time of event `j`, ms.
    pub fn timestamp(&self, j: u64) -> i64 {
        let on_time =
            GENERATOR_EPOCH_MS + (j as u128 * 1000 / self.events_per_second as u128) as i64;
        if self.out_of_order_ms == 0 {
            return on_time;
        }
        // Its own stream of randomness, so the events' content is the same with or without it.
        let delay = splitmix64(!self.seed ^ splitmix64(j)) % (self.out_of_order_ms + 1);
        on_time - delay as i64
    }

    /// The type of event `j`.
    pub fn event_type(j: u64) -> NexmarkEvent {
        match j % TOTAL_PROPORTION {
            offset if offset < PERSON_PROPORTION => NexmarkEvent::Person,
            offset if offset < PERSON_PROPORTION + AUCTION_PROPORTION => NexmarkEvent::Auction,
            _ => NexmarkEvent::Bid,
        }
    }

    /// Writes event `j` as a JSON object to `out` and returns its event time.
    pub fn write_event(&self, j: u64, out: &mut Vec<u8>) -> i64 {
        let ts = self.timestamp(j);
        let mut rng = Rng(splitmix64(self.seed ^ splitmix64(j)));
        match Self::event_type(j) {
            NexmarkEvent::Person => self.person(j, ts, &mut rng, out),
            NexmarkEvent::Auction => self.auction(j, ts, &mut rng, out),
            NexmarkEvent::Bid => self.bid(j, ts, &mut rng, out),
        }
        ts
    }

    fn person(&self, j: u64, ts: i64, rng: &mut Rng, out: &mut Vec<u8>) {
        let id = FIRST_PERSON_ID + last_person(j);
        let name = format!("{} {}", rng.pick(FIRST_NAMES), rng.pick(LAST_NAMES));
        let _ = write!(
            out,
            "{{\"event_type\":\"person\",\"id\":{id},\"name\":\"{name}\",\"emailAddress\":\""
        );
        rng.word(out, 10);
        out.push(b'@');
        rng.word(out, 6);
        let card: Vec<String> = (0..4)
            .map(|_| format!("{:04}", rng.below(10_000)))
            .collect();
        let _ = write!(
            out,
            ".com\",\"creditCard\":\"{}\",\"city\":\"{}\",\"state\":\"{}\",\"dateTime\":{ts},\"extra\":\"\"}}",
            card.join(" "),
            rng.pick(CITIES),
            rng.pick(STATES)
        );
    }

    fn auction(&self, j: u64, ts: i64, rng: &mut Rng, out: &mut Vec<u8>) {
        let id = FIRST_AUCTION_ID + last_auction(j);
        let seller = if rng.below(HOT_SELLER_RATIO) > 0 {
            (last_person(j) / HOT_RATIO_ROUNDING) * HOT_RATIO_ROUNDING
        } else {
            recent_person(j, rng)
        };
        let initial_bid = rng.price();
        let reserve = initial_bid + rng.price();
        let expires = ts + 1000 + rng.below(20_000) as i64;
        let category = FIRST_CATEGORY_ID + rng.below(NUM_CATEGORIES);
        let _ = write!(
            out,
            "{{\"event_type\":\"auction\",\"id\":{id},\"itemName\":\""
        );
        rng.word(out, 20);
        out.extend_from_slice(b"\",\"description\":\"");
        rng.word(out, 100);
        let _ = write!(
            out,
            "\",\"initialBid\":{initial_bid},\"reserve\":{reserve},\"dateTime\":{ts},\"expires\":{expires},\"seller\":{},\"category\":{category},\"extra\":\"\"}}",
            FIRST_PERSON_ID + seller
        );
    }

    fn bid(&self, j: u64, ts: i64, rng: &mut Rng, out: &mut Vec<u8>) {
        let auction = if rng.below(HOT_AUCTION_RATIO) > 0 {
            (last_auction(j) / HOT_RATIO_ROUNDING) * HOT_RATIO_ROUNDING
        } else {
            let last = last_auction(j);
            let min = last.saturating_sub(IN_FLIGHT_AUCTIONS);
            min + rng.below(last - min + 1 + ID_LEAD)
        };
        let bidder = if rng.below(HOT_BIDDER_RATIO) > 0 {
            (last_person(j) / HOT_RATIO_ROUNDING) * HOT_RATIO_ROUNDING + 1
        } else {
            recent_person(j, rng)
        };
        let price = rng.price();
        let channel = rng.pick(CHANNELS);
        let _ = write!(
            out,
            "{{\"event_type\":\"bid\",\"auction\":{},\"bidder\":{},\"price\":{price},\"channel\":\"{channel}\",\"url\":\"https://www.nexmark.com/",
            FIRST_AUCTION_ID + auction,
            FIRST_PERSON_ID + bidder
        );
        rng.word(out, 8);
        let _ = write!(
            out,
            "/item.htm?query=1\",\"dateTime\":{ts},\"extra\":\"\"}}"
        );
    }
}

/// Base-0 id of the last person created at or before event `j`.
fn last_person(j: u64) -> u64 {
    // One person per block, first in the block: it exists from the block's first event on.
    j / TOTAL_PROPORTION * PERSON_PROPORTION
}

/// Base-0 id of the last auction created at or before event `j`.
fn last_auction(j: u64) -> u64 {
    let epoch = j / TOTAL_PROPORTION;
    let offset = j % TOTAL_PROPORTION;
    if offset < PERSON_PROPORTION {
        // Before this block's first auction: the previous block's last one.
        return (epoch * AUCTION_PROPORTION).saturating_sub(1);
    }
    epoch * AUCTION_PROPORTION + (offset - PERSON_PROPORTION).min(AUCTION_PROPORTION - 1)
}

/// A random person among the most recently active ones (may lead slightly into the future).
fn recent_person(j: u64, rng: &mut Rng) -> u64 {
    let people = last_person(j) + 1;
    let active = people.min(ACTIVE_PEOPLE);
    people - active + rng.below(active + ID_LEAD)
}

/// The Nexmark source: this subtask's share of the event numbers.
pub struct NexmarkSource {
    generator: NexmarkGenerator,
    only: Option<NexmarkEvent>,
    numbers: Numbered,
}

impl NexmarkSource {
    /// The generator for one subtask's share of the events `spec` describes.
    pub fn new(spec: &NexmarkSpec, subtask: u32, parallelism: u32, batch_size: usize) -> Self {
        NexmarkSource {
            generator: NexmarkGenerator::new(spec.seed, spec.events_per_second)
                .out_of_order(spec.out_of_order_ms),
            only: spec.only,
            numbers: Numbered::new(spec.count, spec.rate, subtask, parallelism, batch_size),
        }
    }
}

impl Source for NexmarkSource {
    fn position(&mut self) -> Result<serde_json::Value, TaskError> {
        Ok(self.numbers.position())
    }

    fn seek(&mut self, state: &OperatorRestore) -> Result<(), SeekError> {
        self.numbers.seek(state)
    }

    fn take_waited(&mut self) -> std::time::Duration {
        self.numbers.take_waited()
    }

    fn next_batch(
        &mut self,
        _rejects: &mut dyn RejectSink,
    ) -> Result<Option<RecordBatch>, TaskError> {
        let (generator, only) = (&self.generator, self.only);
        Ok(self.numbers.next_batch(200, |j, batch| {
            if only.is_none_or(|only| only == NexmarkGenerator::event_type(j)) {
                batch.push_with(None, generator.timestamp(j), |out| {
                    generator.write_event(j, out);
                });
            }
        }))
    }
}

#[cfg(test)]
mod tests;
