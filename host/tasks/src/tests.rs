use super::*;
use crossbeam_channel::bounded;
use std::time::{Duration, Instant};
use weir_proto::RecordBatch;
use weir_proto::graph::Partitioning;
use weir_proto::keygroup;
use weir_runtime::error::TaskError;

fn keyed_batch(keys: &[&str]) -> RecordBatch {
    let mut batch = RecordBatch::default();
    for (i, key) in keys.iter().enumerate() {
        batch.push(Some(key.as_bytes()), format!("v{i}").as_bytes(), i as i64);
    }
    batch
}

fn drain(receiver: &crossbeam_channel::Receiver<StreamElement>) -> (Vec<RecordBatch>, bool) {
    let mut batches = Vec::new();
    let mut ended = false;
    while let Ok(element) = receiver.try_recv() {
        match element {
            StreamElement::Records(batch) => batches.push(batch),
            StreamElement::EndOfStream => ended = true,
            StreamElement::Watermark(_) | StreamElement::Idle | StreamElement::Barrier(_) => {}
            StreamElement::Broken { detail, .. } => panic!("a local channel broke: {detail}"),
        }
    }
    (batches, ended)
}

#[test]
fn a_full_channel_blocks_until_cancelled() {
    let (sender, _receiver) = bounded(1);
    let (control_sender, control) = bounded(1);
    send_or_cancel(&sender, StreamElement::EndOfStream, &control, "next").expect("room for one");
    control_sender.send(Control::Cancel).expect("control");
    let blocked = send_or_cancel(&sender, StreamElement::EndOfStream, &control, "next");
    assert!(matches!(blocked, Err(TaskError::Cancelled)));
}

#[test]
fn a_blocked_send_completes_when_the_consumer_reads() {
    let (sender, receiver) = bounded(1);
    let (_control_sender, control) = bounded::<Control>(1);
    send_or_cancel(&sender, StreamElement::EndOfStream, &control, "next").expect("room for one");
    let consumer = std::thread::spawn(move || {
        let mut got = 0;
        while receiver.recv().is_ok() {
            got += 1;
        }
        got
    });
    send_or_cancel(&sender, StreamElement::EndOfStream, &control, "next").expect("delivered");
    drop(sender);
    assert_eq!(consumer.join().expect("consumer"), 2, "nothing dropped");
}

#[test]
fn a_closed_downstream_is_an_error_not_a_drop() {
    let (sender, receiver) = bounded(1);
    drop(receiver);
    let (_c, control) = bounded::<Control>(1);
    let result = send_or_cancel(&sender, StreamElement::EndOfStream, &control, "next");
    assert!(matches!(result, Err(TaskError::DownstreamLost { .. })));
}

#[test]
fn hash_partitioning_sends_each_key_to_its_key_group_owner() {
    let channels: Vec<_> = (0..3).map(|_| bounded(16)).collect();
    let senders = channels.iter().map(|(s, _)| s.clone()).collect();
    let (_c, control) = bounded::<Control>(1);
    let mut writer = RecordWriter::new("next".into(), Partitioning::Hash, senders, 1024, 128);
    let keys = ["apple", "pear", "fig", "apple", "kiwi", "fig", "plum"];
    writer.write(keyed_batch(&keys), &control).expect("write");
    writer.finish(&control).expect("finish");
    let mut seen = 0;
    for (channel, (_, receiver)) in channels.iter().enumerate() {
        let (batches, ended) = drain(receiver);
        assert!(ended, "end-of-stream on every channel");
        for batch in batches {
            for record in batch.iter() {
                let key = record.key.expect("keyed");
                assert_eq!(keygroup::subtask_for_key(key, 128, 3) as usize, channel);
                seen += 1;
            }
        }
    }
    assert_eq!(seen, keys.len());
}

#[test]
fn rebalance_deals_records_round_robin_and_flushes_full_batches() {
    let channels: Vec<_> = (0..2).map(|_| bounded(16)).collect();
    let senders = channels.iter().map(|(s, _)| s.clone()).collect();
    let (_c, control) = bounded::<Control>(1);
    let mut writer = RecordWriter::new("next".into(), Partitioning::Rebalance, senders, 2, 128);
    writer
        .write(keyed_batch(&["a", "b", "c", "d", "e"]), &control)
        .expect("write");
    // Two full batches of two went out at once; one record waits for the timeout.
    let sent: Vec<usize> = channels.iter().map(|(_, r)| r.len()).collect();
    assert_eq!(sent, vec![1, 1]);
    assert!(writer.next_deadline(Duration::ZERO).is_some());
    writer
        .flush_expired(Instant::now(), Duration::ZERO, &control)
        .expect("flush");
    let counts: Vec<usize> = channels
        .iter()
        .map(|(_, r)| drain(r).0.iter().map(RecordBatch::len).sum())
        .collect();
    assert_eq!(counts, vec![3, 2]);
}
