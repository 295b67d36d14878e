use super::*;
use crate::tls::{
    ClusterCa, NodeIdentity, TlsError, client_config, identity_paths, load_ca, server_config,
};

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

mod quic {
    use crate::{
        ClusterCa, DataReceiver, DataSender, client_config, is_certificate_refusal, server_config,
    };
    use std::net::SocketAddr;
    use std::time::Duration;
    use weir_proto::RecordBatch;
    use weir_proto::wire::WireElement;

    fn batch(n: u64) -> RecordBatch {
        let mut batch = RecordBatch::default();
        for i in 0..100 {
            batch.push(
                Some(&n.to_le_bytes()),
                format!("record {n}/{i}").as_bytes(),
                (n * 100 + i) as i64,
            );
        }
        batch
    }

    fn endpoints(
        server_ca: &ClusterCa,
        client_ca: &ClusterCa,
    ) -> (quinn::Endpoint, quinn::Endpoint, SocketAddr) {
        let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
        let server_identity = server_ca.issue("tm-1").expect("issue");
        let server = quinn::Endpoint::server(
            server_config(&server_ca.certificate(), &server_identity).expect("server config"),
            any,
        )
        .expect("server endpoint");
        let address = server.local_addr().expect("bound");
        let mut client = quinn::Endpoint::client(any).expect("client endpoint");
        let client_identity = client_ca.issue("tm-2").expect("issue");
        // The client trusts the server's CA but presents a certificate from its own.
        let mut config_ca = server_ca.certificate();
        if std::ptr::eq(server_ca, client_ca) {
            config_ca = client_ca.certificate();
        }
        client.set_default_client_config(
            client_config(&config_ca, &client_identity).expect("client config"),
        );
        (server, client, address)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_cross_a_real_quic_connection_exactly_once_within_bounded_buffers() {
        let ca = ClusterCa::generate("test").expect("CA");
        let (server, client, address) = endpoints(&ca, &ca);
        let receiving = tokio::spawn(async move {
            let connection = server
                .accept()
                .await
                .expect("incoming")
                .await
                .expect("handshake");
            let (credits, data) = connection.accept_bi().await.expect("stream");
            let (channel, mut receiver) =
                DataReceiver::accept("tm-2", data, credits, &crate::InputGate::new(2, 4))
                    .await
                    .expect("channel header");
            let mut batches = Vec::new();
            let mut most_held = 0;
            while let Some(batch) = receiver.next().await.expect("next") {
                most_held = most_held.max(receiver.buffers_held());
                batches.push(batch);
            }
            (channel, batches, most_held)
        });
        let connection = client
            .connect(address, "tm-1")
            .expect("connect")
            .await
            .expect("handshake");
        let (send, credits) = connection.open_bi().await.expect("stream");
        let mut sender = DataSender::open("tm-1", send, credits, 42, 8)
            .await
            .expect("open");
        for n in 0..2000 {
            sender
                .send(&WireElement::Records(batch(n)))
                .await
                .expect("send");
            if n % 500 == 0 {
                sender
                    .send(&WireElement::Watermark(n as i64))
                    .await
                    .expect("watermark");
            }
        }
        sender.finish().await.expect("finish");
        let (channel, batches, most_held) = receiving.await.expect("receiver task");
        assert_eq!(channel, 42);
        assert_eq!(batches.len(), 2000, "every batch, once");
        for (n, received) in batches.iter().enumerate() {
            assert_eq!(received, &batch(n as u64), "batch {n} intact and in order");
        }
        assert!(
            most_held <= 2 + 4,
            "the receiver never holds more than its buffers ({most_held})"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn channels_sharing_an_input_gate_all_deliver_within_its_buffers() {
        let ca = ClusterCa::generate("test").expect("CA");
        let (server, client, address) = endpoints(&ca, &ca);
        let gate = crate::InputGate::new(1, 2);
        let receiving_gate = gate.clone();
        let receiving = tokio::spawn(async move {
            let connection = server
                .accept()
                .await
                .expect("incoming")
                .await
                .expect("handshake");
            let mut readers = Vec::new();
            for _ in 0..2 {
                let (credits, data) = connection.accept_bi().await.expect("stream");
                let (id, mut receiver) =
                    DataReceiver::accept("tm-2", data, credits, &receiving_gate)
                        .await
                        .expect("header");
                let gate = receiving_gate.clone();
                readers.push(tokio::spawn(async move {
                    let mut batches = Vec::new();
                    while let Some(batch) = receiver.next().await.expect("next") {
                        let (held, pool) = gate.buffers();
                        assert!(
                            held + pool <= 4,
                            "never more than 2 exclusive + 2 floating buffers"
                        );
                        batches.push(batch);
                    }
                    (id, batches)
                }));
            }
            let mut results = Vec::new();
            for reader in readers {
                results.push(reader.await.expect("reader"));
            }
            results.sort_by_key(|(id, _)| *id);
            results
        });
        let connection = client
            .connect(address, "tm-1")
            .expect("connect")
            .await
            .expect("handshake");
        let mut senders = Vec::new();
        for id in 0..2u64 {
            let (send, credits) = connection.open_bi().await.expect("stream");
            let mut sender = DataSender::open("tm-1", send, credits, id, 4)
                .await
                .expect("open");
            senders.push(tokio::spawn(async move {
                for n in 0..300 {
                    sender
                        .send(&WireElement::Records(batch(id * 1000 + n)))
                        .await
                        .expect("send");
                }
                sender.finish().await.expect("finish");
            }));
        }
        for sender in senders {
            sender.await.expect("sender");
        }
        let results = receiving.await.expect("receiver");
        for (id, batches) in results {
            let expected: Vec<RecordBatch> = (0..300).map(|n| batch(id * 1000 + n)).collect();
            assert_eq!(
                batches, expected,
                "channel {id}: every batch once, in order"
            );
        }
        assert_eq!(
            gate.buffers(),
            (2, 2),
            "at the end each channel holds its exclusive buffer, the pool is whole"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_peer_with_a_certificate_from_another_ca_is_refused() {
        let (ca, stranger) = (
            ClusterCa::generate("ours").expect("CA"),
            ClusterCa::generate("theirs").expect("CA"),
        );
        let (server, client, address) = endpoints(&ca, &stranger);
        let accepting = tokio::spawn(async move {
            let incoming = server.accept().await.expect("incoming");
            incoming.await.map(|_| ())
        });
        let dialled = async {
            let connection = client
                .connect(address, "tm-1")
                .map_err(|e| e.to_string())?
                .await
                .map_err(|e| e.to_string())?;
            let (mut send, _recv) = connection.open_bi().await.map_err(|e| e.to_string())?;
            send.write_all(b"WEIR").await.map_err(|e| e.to_string())?;
            connection.closed().await;
            Ok::<(), String>(())
        };
        let _ = tokio::time::timeout(Duration::from_secs(10), dialled).await;
        let accepted = tokio::time::timeout(Duration::from_secs(10), accepting)
            .await
            .expect("server decided")
            .expect("task");
        let refused =
            accepted.expect_err("the server must refuse a client certificate from another CA");
        assert!(
            is_certificate_refusal(&refused),
            "classified as a certificate refusal: {refused:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_server_not_matching_the_dialled_identity_is_refused() {
        let ca = ClusterCa::generate("test").expect("CA");
        let (server, client, address) = endpoints(&ca, &ca);
        let accepting = tokio::spawn(async move {
            if let Some(incoming) = server.accept().await {
                let _ = incoming.await;
            }
        });
        let result = client.connect(address, "tm-9").expect("connect").await;
        let refused = result.expect_err("tm-1's certificate does not prove it is tm-9");
        assert!(
            is_certificate_refusal(&refused),
            "classified as a certificate refusal: {refused:?}"
        );
        accepting.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identities_written_as_pem_load_back_and_connect() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ca = ClusterCa::generate("saved").expect("CA");
    std::fs::write(dir.path().join("ca.pem"), ca.certificate_pem()).expect("write CA");
    for name in ["jobmanager", "taskmanager-1"] {
        let identity = ca.issue(name).expect("issue");
        let (cert, key) = identity_paths(dir.path(), name);
        std::fs::write(cert, identity.chain_pem()).expect("write cert");
        std::fs::write(key, identity.key_pem()).expect("write key");
    }
    let ca_der = load_ca(dir.path()).expect("load CA");
    let jobmanager = NodeIdentity::load(dir.path(), "jobmanager").expect("load jobmanager");
    let taskmanager = NodeIdentity::load(dir.path(), "taskmanager-1").expect("load taskmanager");
    let server = quinn::Endpoint::server(
        server_config(&ca_der, &jobmanager).expect("server"),
        "127.0.0.1:0".parse().expect("addr"),
    )
    .expect("endpoint");
    let address = server.local_addr().expect("bound");
    let mut client =
        quinn::Endpoint::client("127.0.0.1:0".parse().expect("addr")).expect("endpoint");
    client.set_default_client_config(client_config(&ca_der, &taskmanager).expect("client"));
    let accepting =
        tokio::spawn(async move { server.accept().await.expect("incoming").await.map(|_| ()) });
    client
        .connect(address, "jobmanager")
        .expect("connect")
        .await
        .expect("handshake with loaded identities");
    accepting
        .await
        .expect("task")
        .expect("server accepted the loaded client certificate");
    assert!(matches!(
        NodeIdentity::load(dir.path(), "nobody"),
        Err(TlsError::File { .. })
    ));
}
