//! End-to-end tests of the committer against a real broker: noida-db's Kafka, started by each
//! test on a free port in a temporary directory, with rdkafka as the transactional producer that
//! "crashes" after its pre-commit and as the `read_committed` consumer that checks the outcome.
//!
//! What noida-db 0.2.3 was seen to do (so that a change of broker or version can be checked
//! against it):
//! - it prints a GLIBC_2.39 warning on stderr at start, which is harmless;
//! - its `noida-db` command is a Python wrapper around the real binary (a child process), so
//!   the tests start it in a process group of its own and kill the group;
//! - it creates topics on first produce, and its `read_committed` fetches honour transaction
//!   markers: committed records appear, aborted and still-open ones do not (an open transaction
//!   holds back the sentinel written after it);
//! - it supports ApiVersions 0-3, FindCoordinator 0-4, InitProducerId 0-4, EndTxn 0-3 and
//!   DescribeTransactions 0, so the client speaks the flexible versions FindCoordinator v3,
//!   InitProducerId v4, EndTxn v3 (ApiVersions v0 is the only non-flexible request);
//! - producer ids start at 1000; an id's first epoch is 0;
//! - a producer dropped with its transaction open leaves it `Ongoing` (with the producer's
//!   `transaction.timeout.ms`) until someone ends it;
//! - `EndTxn` on a completed transaction answers `NONE` *whichever way it is asked to end it*,
//!   and rewrites the state that `DescribeTransactions` reports (`CompleteCommit` becomes
//!   `CompleteAbort`) while the records stay as they were; Kafka answers `INVALID_TXN_STATE`.
//!   `TxnClient::end` therefore reads the state first and refuses the wrong way itself;
//! - `EndTxn` for a transactional id it has never seen also answers `NONE` (Kafka:
//!   `INVALID_PRODUCER_ID_MAPPING`); `TxnClient::end` refuses it after `DescribeTransactions`
//!   answered `TRANSACTIONAL_ID_NOT_FOUND` (105);
//! - `EndTxn` with a fenced epoch answers `INVALID_PRODUCER_EPOCH` (47), where Kafka answers
//!   `PRODUCER_FENCED` (90) to EndTxn v2 and later;
//! - `InitProducerId` on an id with an open transaction aborts it at once and answers with the
//!   epoch bumped by one, leaving the state `Empty` (not `CompleteAbort`) with the new
//!   transaction timeout; it was never seen to answer `CONCURRENT_TRANSACTIONS`, nor
//!   `FindCoordinator` to answer `COORDINATOR_NOT_AVAILABLE`, so the retry path is not
//!   exercised by these tests.

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::Offset;
use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use tempfile::TempDir;
use weir_kafka_txn::TxnClient;

/// How long any one broker round trip or rdkafka step may take before the test fails.
const STEP: Duration = Duration::from_secs(30);

/// A noida-db serving only Kafka, killed (with its wrapper's whole process group) on drop.
struct Broker {
    child: Child,
    port: u16,
    /// The data directory, removed after the broker is killed (fields drop after `drop`).
    dir: TempDir,
}

impl Broker {
    /// Starts noida-db on a free port and waits until its Kafka port accepts connections.
    fn start() -> Broker {
        // Another process may take the port between our probe and noida-db's bind: try a few.
        for _ in 0..3 {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("a free port")
                .port();
            let log = File::create(dir.path().join("noida.log")).expect("a log file");
            let log_err = log.try_clone().expect("a log file");
            let child = Command::new(std::env::var("NOIDA_DB").unwrap_or("noida-db".into()))
                .args(["start", "--only", "kafka", "--kafka-port"])
                .arg(port.to_string())
                .arg("--data-dir")
                .arg(dir.path().join("data"))
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log_err)
                // The wrapper starts the real binary as its child: a group of their own lets
                // drop kill both.
                .process_group(0)
                .spawn()
                .expect("noida-db starts (pip install noida-db)");
            let mut broker = Broker { child, port, dir };
            if broker.wait_ready() {
                return broker;
            }
            let log = std::fs::read_to_string(broker.dir.path().join("noida.log"));
            eprintln!("noida-db did not start on port {port}: {log:?}");
            // Dropping `broker` kills what is left of this try and removes its directory.
        }
        panic!("noida-db did not start in three tries");
    }

    /// Whether the Kafka port accepts connections within a deadline, while the process runs.
    fn wait_ready(&mut self) -> bool {
        let deadline = Instant::now() + STEP;
        while Instant::now() < deadline {
            if let Ok(Some(_exited)) = self.child.try_wait() {
                return false;
            }
            let address = ("127.0.0.1", self.port);
            if TcpStream::connect(address).is_ok() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // The negative pid names the process group that spawn gave the wrapper. procps' kill
        // needs the `--`: without it, `kill -KILL -PGID` takes the group for an option,
        // answers 0, and kills nothing.
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--"])
            .arg(format!("-{}", self.child.id()))
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A transactional producer of `transactional_id` with a transaction timeout long enough that
/// the broker does not abort the test's open transaction by itself.
fn transactional_producer(broker: &Broker, transactional_id: &str) -> BaseProducer {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("transactional.id", transactional_id)
        .set("transaction.timeout.ms", "600000")
        .create()
        .expect("a transactional producer");
    producer.init_transactions(STEP).expect("init_transactions");
    producer
}

/// Sends `payloads` to partition 0 of `topic` and waits until they are acknowledged.
fn produce(producer: &BaseProducer, topic: &str, payloads: &[&str]) {
    for payload in payloads {
        producer
            .send(
                BaseRecord::to(topic)
                    .partition(0)
                    .key("k")
                    .payload(*payload),
            )
            .map_err(|(error, _)| error)
            .expect("send");
    }
    producer.flush(STEP).expect("flush");
}

/// Begins a transaction on `transactional_id`, writes `payloads` in it, flushes, and "crashes":
/// the producer is dropped without commit or abort. Returns nothing: the broker is the only
/// one left that knows the transaction, as after a real crash after the pre-commit.
fn crash_with_open_transaction(
    broker: &Broker,
    transactional_id: &str,
    topic: &str,
    payloads: &[&str],
) {
    let producer = transactional_producer(broker, transactional_id);
    producer.begin_transaction().expect("begin_transaction");
    produce(&producer, topic, payloads);
    // Dropping a BaseProducer purges what is not yet sent (nothing, after the flush), flushes
    // and destroys the librdkafka handle; neither rdkafka nor librdkafka's rd_kafka_destroy
    // ends an open transaction, and the tests check that the broker still has it `Ongoing`
    // afterwards. So a plain drop is the crash, and no `mem::forget` (which would leave
    // librdkafka's threads talking to the broker) is needed.
    drop(producer);
}

/// Writes one record outside any transaction: a `read_committed` consumer that has read it has
/// read past everything written before it.
fn produce_sentinel(broker: &Broker, topic: &str) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("a producer");
    produce(&producer, topic, &["sentinel"]);
}

/// Every payload a `read_committed` consumer reads from partition 0 of `topic` before the
/// sentinel (which must come within [`STEP`]).
fn read_committed_until_sentinel(broker: &Broker, topic: &str) -> Vec<String> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", format!("check-{topic}"))
        .set("isolation.level", "read_committed")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("an assignment");
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + STEP;
    let mut seen = Vec::new();
    while Instant::now() < deadline {
        let Some(message) = consumer.poll(Duration::from_millis(200)) else {
            continue;
        };
        let message = message.expect("a message");
        let payload = rdkafka::Message::payload_view::<str>(&message)
            .expect("a payload")
            .expect("UTF-8")
            .to_owned();
        if payload == "sentinel" {
            return seen;
        }
        seen.push(payload);
    }
    panic!("the sentinel did not come within {STEP:?}; read so far: {seen:?}");
}

fn client(broker: &Broker) -> TxnClient {
    TxnClient::new(&broker.bootstrap(), STEP).with_client_id("weir-kafka-txn-test")
}

#[test]
fn commit_by_producer_id_and_epoch_after_a_crash() {
    let broker = Broker::start();
    let txn = client(&broker);
    let topic = "commit-after-crash";
    crash_with_open_transaction(&broker, "t-1", topic, &["a", "b", "c"]);

    let open = txn.describe("t-1").expect("describe");
    assert_eq!(open.state, "Ongoing", "{open:?}");
    assert!(
        open.producer_id >= 0 && open.producer_epoch >= 0,
        "{open:?}"
    );
    assert_eq!(open.timeout_ms, 600_000);

    txn.end("t-1", open.producer_id, open.producer_epoch, true)
        .expect("commit");
    let ended = txn.describe("t-1").expect("describe");
    assert_ne!(ended.state, "Ongoing");

    produce_sentinel(&broker, topic);
    assert_eq!(
        read_committed_until_sentinel(&broker, topic),
        ["a", "b", "c"]
    );

    // Idempotent: the commit of a committed transaction is Ok.
    txn.end("t-1", open.producer_id, open.producer_epoch, true)
        .expect("commit again");
    // But aborting it is not: that transaction is committed.
    let error = txn
        .end("t-1", open.producer_id, open.producer_epoch, false)
        .expect_err("abort of a committed transaction");
    assert_eq!(error.code(), Some(48), "INVALID_TXN_STATE: {error}");
    // noida-db would have answered NONE to that EndTxn and rewritten its state to
    // CompleteAbort (the records staying visible): the client refused before sending it.
    assert_eq!(
        txn.describe("t-1").expect("describe").state,
        "CompleteCommit"
    );
}

#[test]
fn abort_by_producer_id_and_epoch_after_a_crash() {
    let broker = Broker::start();
    let txn = client(&broker);
    let topic = "abort-after-crash";
    crash_with_open_transaction(&broker, "t-2", topic, &["x", "y", "z"]);

    let open = txn.describe("t-2").expect("describe");
    assert_eq!(open.state, "Ongoing", "{open:?}");
    txn.end("t-2", open.producer_id, open.producer_epoch, false)
        .expect("abort");
    let ended = txn.describe("t-2").expect("describe");
    assert_eq!(ended.state, "CompleteAbort", "{ended:?}");

    produce_sentinel(&broker, topic);
    assert!(read_committed_until_sentinel(&broker, topic).is_empty());

    txn.end("t-2", open.producer_id, open.producer_epoch, false)
        .expect("abort again");
    let error = txn
        .end("t-2", open.producer_id, open.producer_epoch, true)
        .expect_err("commit of an aborted transaction");
    assert_eq!(error.code(), Some(48), "INVALID_TXN_STATE: {error}");
    assert_eq!(
        txn.describe("t-2").expect("describe").state,
        "CompleteAbort"
    );
}

#[test]
fn fence_probes_unused_ids_and_aborts_open_transactions() {
    let broker = Broker::start();
    let txn = client(&broker);

    let (_, epoch) = txn.fence("t-never-used", 60_000).expect("fence");
    assert_eq!(epoch, 0, "a transactional id never used starts at epoch 0");

    let topic = "fence-aborts";
    crash_with_open_transaction(&broker, "t-3", topic, &["p", "q"]);
    let open = txn.describe("t-3").expect("describe");
    assert_eq!(open.state, "Ongoing", "{open:?}");

    let (producer_id, epoch) = txn.fence("t-3", 60_000).expect("fence");
    eprintln!("fenced t-3 {open:?} -> producer {producer_id} epoch {epoch}");
    assert!(epoch > open.producer_epoch || producer_id != open.producer_id);
    let fenced = txn.describe("t-3").expect("describe");
    eprintln!("after fence: {fenced:?}");
    assert_ne!(fenced.state, "Ongoing");

    produce_sentinel(&broker, topic);
    assert!(read_committed_until_sentinel(&broker, topic).is_empty());

    // The crashed producer's epoch is fenced: committing with it must fail, not pass for
    // "already committed".
    let error = txn
        .end("t-3", open.producer_id, open.producer_epoch, true)
        .expect_err("commit with a fenced epoch");
    eprintln!("commit with the fenced epoch: {error}");
    // noida-db answers INVALID_PRODUCER_EPOCH (47); Kafka answers PRODUCER_FENCED (90) to
    // EndTxn v2 and later.
    assert!(matches!(error.code(), Some(47 | 90)), "{error}");
}

#[test]
fn unknown_ids_are_broker_errors_and_bootstrap_addresses_are_tried_in_turn() {
    let broker = Broker::start();
    // A port nothing listens on, before the broker's: the client goes on to the next address.
    let dead = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let txn = TxnClient::new(&format!("{dead},{}", broker.bootstrap()), STEP);

    let error = txn
        .describe("t-unknown")
        .expect_err("unknown transactional id");
    eprintln!("describe unknown: {error}");
    assert_eq!(
        error.code(),
        Some(105),
        "TRANSACTIONAL_ID_NOT_FOUND: {error}"
    );

    let error = txn
        .end("t-unknown", 12_345, 0, true)
        .expect_err("end of an unknown id");
    eprintln!("end unknown: {error}");
    // noida-db answers NONE to EndTxn for an id it does not know; the client checks first.
    assert_eq!(
        error.code(),
        Some(105),
        "TRANSACTIONAL_ID_NOT_FOUND: {error}"
    );
}
