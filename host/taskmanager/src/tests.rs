use super::channels::RemoteChannels;
use super::data_plane::DataPlane;
use std::sync::Arc;
use std::time::Duration;
use weir_net::ClusterCa;
use weir_net::rpc::PeerInfo;
use weir_tasks::StreamElement;
use weir_tasks::deploy::ChannelFactory;

fn two_planes(
    runtime: &tokio::runtime::Runtime,
) -> (Arc<DataPlane>, Arc<DataPlane>, Vec<PeerInfo>) {
    let ca = ClusterCa::generate("test").expect("ca");
    let _guard = runtime.enter();
    let bind = |name: &str| {
        let identity = ca.issue(name).expect("identity");
        DataPlane::bind(
            &ca.certificate(),
            &identity,
            "127.0.0.1:0".parse().expect("addr"),
        )
        .expect("bind")
    };
    let (a, b) = (bind("taskmanager-1"), bind("taskmanager-2"));
    let peers = vec![
        PeerInfo {
            name: "taskmanager-1".into(),
            data_address: a.local_addr().expect("addr"),
        },
        PeerInfo {
            name: "taskmanager-2".into(),
            data_address: b.local_addr().expect("addr"),
        },
    ];
    (a, b, peers)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Vertex 0 (one subtask) on TaskManager 0 feeds vertex 1 (one subtask) on TaskManager 1.
fn placement() -> Vec<Vec<usize>> {
    vec![vec![0], vec![1]]
}

#[test]
fn a_channel_between_two_taskmanagers_delivers_every_batch_then_its_end() {
    let runtime = runtime();
    let (a, b, peers) = two_planes(&runtime);
    let mut producer_side = RemoteChannels::with_placement(
        a,
        runtime.handle().clone(),
        0,
        7,
        placement(),
        peers.clone(),
    );
    let mut consumer_side =
        RemoteChannels::with_placement(b, runtime.handle().clone(), 1, 7, placement(), peers);
    assert!(producer_side.runs_here(0, 0) && !producer_side.runs_here(1, 0));
    // The consumer may be deployed before or after the producer: here, first.
    let (none, receiver) = consumer_side.channel(0, (0, 0), (1, 0)).expect("inbound");
    assert!(none.is_none());
    let (sender, none) = producer_side.channel(0, (0, 0), (1, 0)).expect("outbound");
    assert!(none.is_none());
    let (sender, receiver) = (sender.expect("sender"), receiver.expect("receiver"));
    let expected: Vec<weir_proto::RecordBatch> = (0..100u64)
        .map(|n| {
            let mut batch = weir_proto::RecordBatch::default();
            batch.push(None, format!("{{\"n\":{n}}}").as_bytes(), n as i64);
            batch
        })
        .collect();
    // Far more batches than every buffer on the way holds: the producer waits for credit.
    let to_send = expected.clone();
    let producer = std::thread::spawn(move || {
        for batch in to_send {
            sender.send(StreamElement::Records(batch)).expect("send");
        }
        sender.send(StreamElement::EndOfStream).expect("end");
    });
    let mut received = Vec::new();
    loop {
        match receiver
            .recv_timeout(Duration::from_secs(10))
            .expect("element")
        {
            StreamElement::Records(batch) => received.push(batch),
            StreamElement::EndOfStream => break,
            StreamElement::Watermark(_) | StreamElement::Idle | StreamElement::Barrier(_) => {}
            StreamElement::Broken { detail, .. } => panic!("broken: {detail}"),
        }
    }
    producer.join().expect("producer");
    assert_eq!(received, expected);
}

#[test]
fn a_corrupt_frame_breaks_its_channel_with_a_clear_error_and_nothing_else() {
    let runtime = runtime();
    let (a, b, peers) = two_planes(&runtime);
    let mut consumer_side = RemoteChannels::with_placement(
        b,
        runtime.handle().clone(),
        1,
        9,
        placement(),
        peers.clone(),
    );
    let (_, receiver) = consumer_side.channel(0, (0, 0), (1, 0)).expect("inbound");
    let receiver = receiver.expect("receiver");
    let id: u64 = 9 << 32;
    runtime.block_on(async {
        let connection = a
            .connection(&peers[1], Duration::from_secs(10))
            .await
            .expect("connect");
        let (mut send, _credits) = connection.open_bi().await.expect("stream");
        let mut bytes = b"WEIR".to_vec();
        bytes.extend_from_slice(&id.to_le_bytes());
        bytes.extend_from_slice(&16u32.to_le_bytes());
        bytes.extend_from_slice(&0u32.to_le_bytes());
        bytes.extend_from_slice(&[0xAB; 16]);
        send.write_all(&bytes).await.expect("write");
        // Keep the stream open until the consumer has judged it.
        match tokio::task::spawn_blocking(move || receiver.recv_timeout(Duration::from_secs(10)))
            .await
            .expect("join")
        {
            Ok(StreamElement::Broken { detail, peer_lost }) => {
                assert!(!peer_lost, "bad data is a root cause, not an echo");
                assert!(detail.contains("data channel to taskmanager-1"), "{detail}");
            }
            other => panic!("expected a broken channel, got {other:?}"),
        }
    });
}
