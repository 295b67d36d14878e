//! Real servers the connector tests start for themselves: a Kafka-compatible broker with
//! transactions (`noida-db`) and a private PostgreSQL 15 cluster (`initdb` in a temporary
//! directory, run as the unprivileged `postgres` user). Each stops when dropped.

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A port nobody listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts connections on `port`.
fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A message for [`Kafka::produce_messages`]: unset fields are the client's choice.
#[derive(Debug, Clone, Default)]
pub(crate) struct Produced {
    pub(crate) partition: Option<i32>,
    pub(crate) key: Option<String>,
    pub(crate) value: String,
    pub(crate) timestamp: Option<i64>,
    pub(crate) headers: Vec<(String, String)>,
}

/// A Kafka broker (`noida-db --only kafka`) on a port of its own, with its data in a
/// temporary directory.
pub(crate) struct Kafka {
    pub(crate) port: u16,
    data: tempfile::TempDir,
    child: Option<Child>,
}

impl Kafka {
    pub(crate) fn start() -> Self {
        let mut kafka = Kafka {
            port: free_port(),
            data: tempfile::tempdir().expect("temp dir"),
            child: None,
        };
        kafka.run();
        kafka
    }

    fn run(&mut self) {
        // `noida-db` is a wrapper that starts the broker as its child: the whole process group
        // is stopped.
        let child = Command::new("noida-db")
            .process_group(0)
            .args(["start", "--only", "kafka", "--kafka-port"])
            .arg(self.port.to_string())
            .arg("--data-dir")
            .arg(self.data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start noida-db (scripts/setup.sh installs it)");
        self.child = Some(child);
        wait_for_port(self.port, "noida-db");
    }

    /// `127.0.0.1:port`.
    pub(crate) fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Restarts the Kafka service of the running server (`noida-db restart kafka`): the broker
    /// goes away and comes back on its saved data. noida-db 0.2.3 forgets the transactions open
    /// at that moment (their acknowledged records never become visible, and records produced
    /// under them afterwards block `read_committed` readers of the partition for good), which a
    /// Kafka broker does not: restart it only while no transaction is open.
    pub(crate) fn restart(&mut self) {
        let restarted = Command::new("noida-db")
            .args(["restart", "kafka", "--data-dir"])
            .arg(self.data.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("noida-db restart");
        assert!(restarted.success(), "noida-db restart kafka failed");
        wait_for_port(self.port, "noida-db");
    }

    /// Freezes the broker (SIGSTOP to its process group) for `outage`, then lets it go on:
    /// clients see a broker that stops answering, as in a network partition or a long pause.
    pub(crate) fn freeze_for(&self, outage: Duration) {
        let Some(child) = &self.child else { return };
        let group = format!("-{}", child.id());
        let signal = |name: &str| {
            let sent = Command::new("kill")
                .args(["-s", name, "--", &group])
                .status()
                .expect("kill");
            assert!(sent.success(), "kill -s {name} {group}");
        };
        signal("STOP");
        std::thread::sleep(outage);
        signal("CONT");
    }

    /// Kills the broker's process group and waits until its port is free.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--", &group])
                .status();
            let _ = child.wait();
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && Instant::now() < deadline
            {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }

    /// Creates `topic` with `partitions` partitions.
    pub(crate) fn create_topic(&self, topic: &str, partitions: i32) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .create()
            .expect("admin client");
        let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
        let results = futures_executor::block_on(admin.create_topics([&new], &AdminOptions::new()))
            .expect("create topics");
        for result in results {
            result.unwrap_or_else(|(t, e)| panic!("creating topic {t}: {e}"));
        }
    }

    /// Produces `(key, value)` records to `topic` (partitioned by key) and waits for them.
    pub(crate) fn produce(&self, topic: &str, records: &[(String, String)]) {
        let messages: Vec<Produced> = records
            .iter()
            .map(|(key, value)| Produced {
                key: Some(key.clone()),
                value: value.clone(),
                ..Produced::default()
            })
            .collect();
        self.produce_messages(topic, &messages);
    }

    /// Produces `messages` to `topic` and waits for them.
    pub(crate) fn produce_messages(&self, topic: &str, messages: &[Produced]) {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("linger.ms", "5")
            .create()
            .expect("producer");
        for message in messages {
            let mut headers = rdkafka::message::OwnedHeaders::new();
            for (name, value) in &message.headers {
                headers = headers.insert(rdkafka::message::Header {
                    key: name,
                    value: Some(value),
                });
            }
            let mut record = BaseRecord::<String, String>::to(topic)
                .payload(&message.value)
                .headers(headers);
            if let Some(key) = &message.key {
                record = record.key(key);
            }
            if let Some(partition) = message.partition {
                record = record.partition(partition);
            }
            if let Some(timestamp) = message.timestamp {
                record = record.timestamp(timestamp);
            }
            loop {
                match producer.send(record) {
                    Ok(()) => break,
                    Err((_, back)) => {
                        record = back;
                        producer.poll(Duration::from_millis(10));
                    }
                }
            }
        }
        producer
            .flush(Duration::from_secs(30))
            .expect("flush the input");
    }

    /// Grows `topic` to `partitions` partitions.
    pub(crate) fn add_partitions(&self, topic: &str, partitions: usize) {
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .create()
            .expect("admin client");
        let grown = rdkafka::admin::NewPartitions::new(topic, partitions);
        let results =
            futures_executor::block_on(admin.create_partitions([&grown], &AdminOptions::new()))
                .expect("create partitions");
        for result in results {
            result.unwrap_or_else(|(t, e)| panic!("growing topic {t}: {e}"));
        }
    }

    /// Every record a `read_committed` consumer sees in `topic`, partition by partition in
    /// offset order: (partition, key, value).
    pub(crate) fn read_committed(&self, topic: &str) -> Vec<(i32, Option<String>, String)> {
        let consumer: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", self.brokers())
            .set("group.id", "weir-tests-reader")
            .set("isolation.level", "read_committed")
            .set("enable.partition.eof", "false")
            .create()
            .expect("consumer");
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        let mut records = Vec::new();
        for partition in partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, Duration::from_secs(10))
                .expect("watermarks");
            if low >= high {
                // Nothing to read (and no position would ever say so).
                continue;
            }
            let mut list = rdkafka::TopicPartitionList::new();
            list.add_partition_offset(topic, partition, rdkafka::Offset::Offset(low))
                .expect("partition");
            consumer.assign(&list).expect("assign");
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let position = consumer
                    .position()
                    .ok()
                    .and_then(|p| p.find_partition(topic, partition).map(|e| e.offset()));
                if matches!(position, Some(rdkafka::Offset::Offset(o)) if o >= high) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "reading {topic}/{partition} timed out"
                );
                if let Some(message) = consumer.poll(Duration::from_millis(100)) {
                    let message = message.expect("message");
                    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    records.push((
                        partition,
                        message.key().map(text),
                        message.payload().map(text).unwrap_or_default(),
                    ));
                }
            }
        }
        records
    }
}

impl Drop for Kafka {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A private PostgreSQL cluster with prepared transactions enabled.
pub(crate) struct Postgres {
    pub(crate) port: u16,
    dir: tempfile::TempDir,
}

/// The binaries of Debian's PostgreSQL 15.
fn pg_bin(name: &str) -> PathBuf {
    Path::new("/usr/lib/postgresql/15/bin").join(name)
}

/// Whether the tests run as root, whom PostgreSQL refuses to run as.
fn running_as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| out.stdout.trim_ascii() == b"0")
}

/// `command` run as the `postgres` user when the tests run as root, as the tests' user otherwise.
fn as_postgres(command: &Path) -> Command {
    if !running_as_root() {
        return Command::new(command);
    }
    let mut run = Command::new("runuser");
    run.args(["-u", "postgres", "--"]).arg(command);
    run
}

impl Postgres {
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        if running_as_root() {
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
        }
        let data = dir.path().join("data");
        let initdb = as_postgres(&pg_bin("initdb"))
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .output()
            .expect("initdb");
        assert!(
            initdb.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&initdb.stderr)
        );
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c max_prepared_transactions=20 -c fsync=off",
            dir.path().display()
        );
        let started = as_postgres(&pg_bin("pg_ctl"))
            .args(["-w", "-l"])
            .arg(dir.path().join("log"))
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "start"])
            .stdout(Stdio::null())
            .status()
            .expect("pg_ctl start");
        assert!(started.success(), "PostgreSQL did not start");
        Postgres { port, dir }
    }

    /// The connection string jobs use.
    pub(crate) fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `sql` with psql; its output rows, fields separated by `|`.
    pub(crate) fn query(&self, sql: &str) -> Vec<String> {
        let output = Command::new("psql")
            .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d"])
            .arg(self.url())
            .args(["-c", sql])
            .output()
            .expect("psql");
        assert!(
            output.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = as_postgres(&pg_bin("pg_ctl"))
            .args(["-m", "immediate", "-D"])
            .arg(self.dir.path().join("data"))
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}
