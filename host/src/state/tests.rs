use super::*;
use weir_proto::spec::StateBackend;

fn settings(dir: &std::path::Path) -> StateSettings {
    StateSettings::new(dir.to_path_buf(), 16)
}

/// Concatenates the stored value and the operands: order shows RocksDB applied them all, once.
fn concat(
    _key: &[u8],
    existing: Option<&[u8]>,
    operands: &rocksdb::MergeOperands,
) -> Option<Vec<u8>> {
    let mut out = existing.map(<[u8]>::to_vec).unwrap_or_default();
    for operand in operands {
        out.extend_from_slice(operand);
    }
    Some(out)
}

#[test]
fn a_rocksdb_store_keeps_values_merges_and_timers_and_leaves_nothing_behind() {
    let root = tempfile::tempdir().expect("tempdir");
    let job = JobState::new(&settings(root.path()), "job/1", StateBackend::Rocksdb, 128);
    let mut store = job
        .store("count per key", 2, Some(("concat", concat)))
        .expect("opens")
        .expect("a RocksDB store");
    store.put(b"k", b"v", b"1").expect("put");
    assert_eq!(store.get(b"k", b"v").expect("get"), Some(b"1".to_vec()));
    assert_eq!(store.get(b"k", b"w").expect("get"), None);
    // The namespace belongs to the key: `k`+`vx` is not `kv`+`x`.
    assert_eq!(store.get(b"kv", b"").expect("get"), None);
    for part in [b"a", b"b", b"c"] {
        store.merge(b"m", b"", part).expect("merge");
    }
    assert_eq!(store.get(b"m", b"").expect("get"), Some(b"abc".to_vec()));
    store.delete(b"k", b"v").expect("delete");
    assert_eq!(store.get(b"k", b"v").expect("get"), None);

    for (time, key) in [(30, b"c"), (10, b"a"), (20, b"b"), (10, b"z")] {
        store.put_timer(time, key, b"t").expect("timer");
    }
    store
        .put_timer(10, b"a", b"t")
        .expect("the same timer twice is one");
    store.delete_timer(20, b"b", b"t").expect("delete timer");
    let due = store.take_timers(i64::MIN, 25, 10).expect("due");
    // Due timers come by time (then key group): both at 10, and not the one at 30.
    let mut due: Vec<(i64, Vec<u8>)> = due.into_iter().map(|t| (t.time, t.key)).collect();
    due.sort();
    assert_eq!(due, vec![(10, b"a".to_vec()), (10, b"z".to_vec())]);
    assert!(
        store.take_timers(i64::MIN, 25, 10).expect("due").is_empty(),
        "taken once"
    );
    let chunk = store.take_timers(26, i64::MAX, 1).expect("due");
    assert_eq!(chunk.len(), 1);
    assert_eq!(
        (chunk[0].time, chunk[0].key.as_slice()),
        (30, b"c".as_slice())
    );
    assert!(store.size() > 0);

    let dir = root.path().to_path_buf();
    assert!(std::fs::read_dir(&dir).expect("state dir").next().is_some());
    drop(store);
    assert!(
        std::fs::read_dir(&dir).expect("state dir").next().is_none(),
        "the store's directory and its job's are removed when it is dropped"
    );
}

#[test]
fn keyed_values_are_the_same_in_both_backends() {
    let root = tempfile::tempdir().expect("tempdir");
    for backend in [StateBackend::Memory, StateBackend::Rocksdb] {
        let job = JobState::new(&settings(root.path()), "values", backend, 128);
        let mut values = job.keyed_values("udf", 0).expect("opens");
        values
            .set(b"alice", "count".into(), b"1".to_vec())
            .expect("set");
        values
            .set(b"alice", "last".into(), b"x".to_vec())
            .expect("set");
        values
            .set(b"bob", "count".into(), b"7".to_vec())
            .expect("set");
        values.clear(b"alice", "last").expect("clear");
        assert_eq!(
            values.get(b"alice", "count").expect("get"),
            Some(b"1".to_vec()),
            "{backend:?}"
        );
        assert_eq!(
            values.get(b"alice", "last").expect("get"),
            None,
            "{backend:?}"
        );
        assert_eq!(
            values.get(b"bob", "count").expect("get"),
            Some(b"7".to_vec()),
            "{backend:?}"
        );
        assert_eq!(
            values.get(b"carol", "count").expect("get"),
            None,
            "{backend:?}"
        );
    }
}

#[test]
fn the_memory_backend_opens_no_store() {
    let root = tempfile::tempdir().expect("tempdir");
    let job = JobState::new(&settings(root.path()), "j", StateBackend::Memory, 128);
    assert!(job.store("op", 0, None).expect("no error").is_none());
}

#[test]
fn a_store_that_cannot_be_created_names_its_directory() {
    let root = tempfile::tempdir().expect("tempdir");
    let file = root.path().join("not-a-dir");
    std::fs::write(&file, b"x").expect("write");
    let job = JobState::new(&settings(&file), "j", StateBackend::Rocksdb, 128);
    let error = match job.store("window", 0, None) {
        Err(error) => error.to_string(),
        Ok(_) => panic!("a store under a file opened"),
    };
    assert!(
        error.contains("step `window`: state backend: RocksDB at"),
        "{error}"
    );
    assert!(error.contains("not-a-dir"), "{error}");
}
