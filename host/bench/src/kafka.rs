//! `weir bench --kafka`: Kafka → Wasm map (Nexmark q1 in Rust) → Kafka, at least once and
//! exactly once (a checkpoint every second), against what the broker and the same client
//! (librdkafka, Weir's settings) do without Weir in the same run: a loop consuming the input
//! topic and producing every message to another. Interleaved runs, medians of each; every
//! exactly-once run's output is counted by a `read_committed` reader.
//!
//! Without `--brokers` it starts a noida-db broker of its own (as the tests do).

use crate::peer::median;
use rdkafka::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use weir_blob::paths::created_weir_home as home;
use weir_client::human::count;
use weir_client::spec;
use weir_client::udf::UdfBuilder;
use weir_minicluster::MiniCluster;
use weir_runtime::operators::NativeRegistry;
use weir_wasm::{EngineConfig, WasmEngine};

/// The largest fetch response the consumers take: noida-db answers a fetch with everything a
/// partition holds, past `fetch.max.bytes` (librdkafka's default limit is 100 MB). Raw and Weir
/// consumers get the same setting.
const RECEIVE_MAX_BYTES: &str = "1000000000";

/// How long a client call may take before the benchmark gives up.
const TIMEOUT: Duration = Duration::from_secs(30);

/// A noida-db broker this benchmark started, killed with its wrapper's process group on drop.
struct OwnBroker {
    child: Child,
    dir: PathBuf,
}

impl OwnBroker {
    fn start() -> Result<(OwnBroker, String), String> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("a free port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!("weir-bench-kafka-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let child = std::os::unix::process::CommandExt::process_group(
            Command::new("noida-db")
                .args([
                    "start",
                    "--only",
                    "kafka",
                    "--kafka-port",
                    &port.to_string(),
                ])
                .arg("--data-dir")
                .arg(&dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
            0,
        )
        .spawn()
        .map_err(|e| format!("noida-db (pip install noida-db, or pass --brokers): {e}"))?;
        let broker = OwnBroker { child, dir };
        let address = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + TIMEOUT;
        while std::net::TcpStream::connect(&address).is_err() {
            if Instant::now() > deadline {
                return Err(format!("noida-db did not listen on {address}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok((broker, address))
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A Nexmark-like JSON bid, about the size of the generator's.
fn bid(n: u64) -> String {
    let mixed = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
    format!(
        "{{\"auction\":{},\"bidder\":{},\"price\":{},\"channel\":\"channel-{}\",\"url\":\"https://www.nexmark.com/item.htm?query=1\",\"date_time\":{},\"extra\":\"\"}}",
        1000 + mixed % 1000,
        2000 + mixed % 5000,
        100 + mixed % 10_000_000,
        mixed % 10,
        1_700_000_000_000 + n,
    )
}

fn producer(brokers: &str) -> Result<ThreadedProducer<DefaultProducerContext>, String> {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|e| format!("Kafka producer for {brokers}: {e}"))
}

/// Sends `value` to `topic`, waiting while librdkafka's queue is full.
fn send(
    producer: &ThreadedProducer<DefaultProducerContext>,
    topic: &str,
    value: &[u8],
) -> Result<(), String> {
    let mut record = BaseRecord::<(), [u8]>::to(topic).payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((
                rdkafka::error::KafkaError::MessageProduction(
                    rdkafka::types::RDKafkaErrorCode::QueueFull,
                ),
                back,
            )) => {
                record = back;
                std::thread::sleep(Duration::from_millis(1));
            }
            Err((e, _)) => return Err(format!("producing to {topic}: {e}")),
        }
    }
}

/// A consumer of `topic`'s partition 0 from its start.
fn consumer(brokers: &str, topic: &str, isolation: &str) -> Result<BaseConsumer, String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "weir-bench-kafka")
        .set("enable.auto.commit", "false")
        .set("isolation.level", isolation)
        .set("receive.message.max.bytes", RECEIVE_MAX_BYTES)
        .create()
        .map_err(|e| format!("Kafka consumer for {brokers}: {e}"))?;
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .map_err(|e| e.to_string())?;
    consumer.assign(&assignment).map_err(|e| e.to_string())?;
    Ok(consumer)
}

/// Calls `each` with the first `records` messages of `topic`.
fn consume(
    consumer: &BaseConsumer,
    records: u64,
    mut each: impl FnMut(&[u8]) -> Result<(), String>,
) -> Result<(), String> {
    let (mut seen, deadline) = (0, Instant::now() + Duration::from_secs(600));
    while seen < records {
        if Instant::now() > deadline {
            return Err(format!("only {seen} of {records} messages came"));
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.map_err(|e| format!("consuming: {e}"))?;
            each(message.payload().unwrap_or_default())?;
            seen += 1;
        }
    }
    Ok(())
}

/// The messages a `read_committed` reader sees in `topic` now.
fn committed_count(brokers: &str, topic: &str) -> Result<u64, String> {
    let consumer = consumer(brokers, topic, "read_committed")?;
    let (_, high) = consumer
        .fetch_watermarks(topic, 0, TIMEOUT)
        .map_err(|e| format!("offsets of {topic}: {e}"))?;
    let mut seen = 0;
    loop {
        let position = consumer
            .position()
            .ok()
            .and_then(|p| p.find_partition(topic, 0).map(|e| e.offset()));
        if matches!(position, Some(Offset::Offset(o)) if o >= high) {
            return Ok(seen);
        }
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            message.map_err(|e| format!("reading {topic}: {e}"))?;
            seen += 1;
        }
    }
}

/// Records/s of the loop consuming `input` and producing each message to `output`.
fn raw_pipe(brokers: &str, input: &str, output: &str, records: u64) -> Result<f64, String> {
    let started = Instant::now();
    let consumer = consumer(brokers, input, "read_committed")?;
    let producer = producer(brokers)?;
    consume(&consumer, records, |value| send(&producer, output, value))?;
    producer
        .flush(TIMEOUT)
        .map_err(|e| format!("flushing {output}: {e}"))?;
    Ok(records as f64 / started.elapsed().as_secs_f64())
}

/// Records/s of the Weir job reading `input` through the q1 map in `udfs` into `output`.
fn weir_pipe(
    cluster: &MiniCluster,
    brokers: &str,
    (input, output): (&str, &str),
    delivery: &str,
    records: u64,
    udfs: &Path,
) -> Result<f64, String> {
    let yaml = format!(
        "name: bench-kafka-{output}\nparallelism: 1\ncheckpointing: {{ interval_ms: 1000 }}\nmodules:\n  q1: {{ path: {:?} }}\npipeline:\n  - source: {{ kafka: {{ brokers: \"{brokers}\", topic: {input}, bounded: latest, properties: {{ receive.message.max.bytes: \"{RECEIVE_MAX_BYTES}\" }} }} }}\n  - map: {{ module: q1 }}\n  - sink: {{ kafka: {{ brokers: \"{brokers}\", topic: {output}, delivery: {delivery}, transactional_id_prefix: {output} }} }}\n",
        udfs.join("currency_convert").display().to_string(),
    );
    let loaded = spec::parse(&yaml, Path::new("<weir bench --kafka>"), &|_| None)
        .map_err(|e| e.to_string())?;
    let graph =
        weir_client::job_graph(&loaded, &UdfBuilder::new(home())).map_err(|e| e.to_string())?;
    let started = Instant::now();
    cluster
        .run(&graph, Duration::from_secs(3600), &mut |_| {})
        .map_err(|e| format!("{delivery}: {e}"))?;
    Ok(records as f64 / started.elapsed().as_secs_f64())
}

/// Runs the comparison on `brokers` (or a noida-db of its own) over `records` bids.
pub(crate) fn kafka_bench(
    brokers: Option<&str>,
    records: u64,
    runs: usize,
    udfs: &Path,
) -> Result<(), String> {
    let (_own, brokers) = match brokers {
        Some(brokers) => (None, brokers.to_string()),
        None => {
            let (broker, address) = OwnBroker::start()?;
            (Some(broker), address)
        }
    };
    let stamp = std::process::id();
    let input = format!("bench-in-{stamp}");
    let started = Instant::now();
    let producer = producer(&brokers)?;
    for n in 0..records {
        send(&producer, &input, bid(n).as_bytes())?;
    }
    producer
        .flush(TIMEOUT)
        .map_err(|e| format!("flushing {input}: {e}"))?;
    let produce_rate = records as f64 / started.elapsed().as_secs_f64();
    println!(
        "Kafka at {brokers}: {} JSON bids produced at {:.0} k/s (librdkafka)",
        count(records),
        produce_rate / 1e3
    );
    let engine =
        WasmEngine::new(EngineConfig::new(home().join("modules"))).map_err(|e| e.to_string())?;
    let cluster = MiniCluster::new(engine, NativeRegistry::default())
        .with_checkpoint_dir(std::env::temp_dir().join(format!("weir-bench-kafka-chk-{stamp}")));
    let (mut raw, mut at_least_once, mut exactly_once) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..runs.max(1) {
        let rate = raw_pipe(
            &brokers,
            &input,
            &format!("bench-raw-{stamp}-{run}"),
            records,
        )?;
        crate::results::record("librdkafka", "Kafka to Kafka", 1, records, rate);
        raw.push(rate);
        let mut output = String::new();
        for (delivery, rates) in [
            ("at_least_once", &mut at_least_once),
            ("exactly_once", &mut exactly_once),
        ] {
            output = format!("bench-{delivery}-{stamp}-{run}");
            let topics = (input.as_str(), output.as_str());
            let rate = weir_pipe(&cluster, &brokers, topics, delivery, records, udfs)?;
            let workload = format!("Kafka to Wasm to Kafka, {}", delivery.replace('_', " "));
            crate::results::record("weir", &workload, 1, records, rate);
            rates.push(rate);
        }
        let seen = committed_count(&brokers, &output)?;
        if seen != records {
            return Err(format!(
                "exactly once: a read_committed reader saw {seen} of {records} records in {output}"
            ));
        }
    }
    let (raw, at_least_once, exactly_once) =
        (median(raw), median(at_least_once), median(exactly_once));
    println!(
        "medians of {} interleaved runs, p=1, {} bids each (exactly-once output counted: all, once):",
        runs.max(1),
        count(records)
    );
    println!(
        "  consume → produce, librdkafka alone:            {:>8.0} k/s",
        raw / 1e3
    );
    println!(
        "  Weir Kafka → Wasm q1 → Kafka, at least once:     {:>8.0} k/s  {:.2} of it",
        at_least_once / 1e3,
        at_least_once / raw
    );
    println!(
        "  Weir Kafka → Wasm q1 → Kafka, exactly once (1 s): {:>7.0} k/s  {:.2} of it (target ≥ 0.5)",
        exactly_once / 1e3,
        exactly_once / raw
    );
    let _ =
        std::fs::remove_dir_all(std::env::temp_dir().join(format!("weir-bench-kafka-chk-{stamp}")));
    Ok(())
}
