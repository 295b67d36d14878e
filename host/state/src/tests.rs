use super::*;
use weir_proto::spec::StateBackend;

fn settings(dir: &std::path::Path) -> StateSettings {
    StateSettings::new(dir.to_path_buf(), 16)
}

/// Concatenates the stored value and the operands: order shows RocksDB applied them all, once.
fn concat(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
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
    let due = store.take_timers(25, 10).expect("due");
    // Due timers come by time (then key group): both at 10, and not the one at 30.
    let mut due: Vec<(i64, Vec<u8>)> = due.into_iter().map(|t| (t.time, t.key)).collect();
    due.sort();
    assert_eq!(due, vec![(10, b"a".to_vec()), (10, b"z".to_vec())]);
    assert!(
        store.take_timers(25, 10).expect("due").is_empty(),
        "taken once"
    );
    store.timers_taken(25).expect("taken");
    assert!(!store.nothing_due(30), "the timer at 30 is due at 30");
    assert!(store.nothing_due(29));
    let chunk = store.take_timers(i64::MAX, 1).expect("due");
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
        let mut values = job.keyed_values("udf", 0, None).expect("opens");
        values.set(b"alice", "count", b"1").expect("set");
        values.set(b"alice", "last", b"x").expect("set");
        values.set(b"bob", "count", b"7").expect("set");
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

#[test]
fn lists_and_maps_are_the_same_in_both_backends_and_clear_with_their_name() {
    let root = tempfile::tempdir().expect("tempdir");
    for backend in [StateBackend::Memory, StateBackend::Rocksdb] {
        let job = JobState::new(&settings(root.path()), "lists", backend, 128);
        let mut state = job.keyed_values("udf", 0, None).expect("opens");
        for item in [b"a".as_slice(), b"", b"ccc"] {
            state.list_append(b"k", "events", item).expect("append");
        }
        state.list_append(b"other", "events", b"z").expect("append");
        assert_eq!(
            state.list_get(b"k", "events").expect("list"),
            [b"a".to_vec(), Vec::new(), b"ccc".to_vec()],
            "{backend:?}"
        );
        state.map_put(b"k", "seen", b"b", b"2").expect("put");
        state.map_put(b"k", "seen", b"a", b"1").expect("put");
        state.map_put(b"k", "seen-too", b"x", b"9").expect("put");
        state.map_put(b"k", "seen", b"c", b"3").expect("put");
        state.map_remove(b"k", "seen", b"c").expect("remove");
        assert_eq!(
            state.map_get(b"k", "seen", b"b").expect("get"),
            Some(b"2".to_vec())
        );
        assert_eq!(
            state.map_entries(b"k", "seen").expect("entries"),
            [
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ],
            "{backend:?}: ordered, and `seen-too` is another map"
        );
        state.clear(b"k", "seen").expect("clear");
        state.clear(b"k", "events").expect("clear");
        assert!(state.map_entries(b"k", "seen").expect("entries").is_empty());
        assert!(state.list_get(b"k", "events").expect("list").is_empty());
        assert_eq!(
            state.map_entries(b"k", "seen-too").expect("entries").len(),
            1
        );
        assert_eq!(
            state.list_get(b"other", "events").expect("list"),
            [b"z".to_vec()]
        );
    }
}

#[test]
fn state_older_than_its_ttl_reads_as_absent_in_both_backends() {
    let root = tempfile::tempdir().expect("tempdir");
    for backend in [StateBackend::Memory, StateBackend::Rocksdb] {
        let job = JobState::new(&settings(root.path()), "ttl", backend, 128);
        let mut state = job.keyed_values("udf", 0, Some(500)).expect("opens");
        state.set(b"k", "count", b"1").expect("set");
        state.list_append(b"k", "events", b"old").expect("append");
        state.map_put(b"k", "seen", b"a", b"1").expect("put");
        assert_eq!(state.get(b"k", "count").expect("get"), Some(b"1".to_vec()));
        std::thread::sleep(std::time::Duration::from_millis(800));
        state.list_append(b"k", "events", b"new").expect("append");
        assert_eq!(
            state.get(b"k", "count").expect("get"),
            None,
            "{backend:?}: expired"
        );
        assert_eq!(
            state.list_get(b"k", "events").expect("list"),
            [b"new".to_vec()],
            "{backend:?}: only the fresh item"
        );
        assert!(state.map_entries(b"k", "seen").expect("entries").is_empty());
        state.set(b"k", "count", b"2").expect("a write refreshes");
        assert_eq!(state.get(b"k", "count").expect("get"), Some(b"2".to_vec()));
    }
}

#[test]
fn reducing_state_folds_in_both_backends_and_with_a_ttl() {
    let root = tempfile::tempdir().expect("tempdir");
    for (backend, ttl) in [
        (StateBackend::Memory, None),
        (StateBackend::Rocksdb, None),
        (StateBackend::Rocksdb, Some(60_000)),
    ] {
        let job = JobState::new(&settings(root.path()), "reduce", backend, 128);
        let mut state = job.keyed_values("udf", 0, ttl).expect("opens");
        for value in [5, -3, 12, 7] {
            state.reduce(b"k", "sum", 0, value).expect("sum");
            state.reduce(b"k", "min", 1, value).expect("min");
            state.reduce(b"k", "max", 2, value).expect("max");
        }
        state
            .list_append(b"k", "items", b"x")
            .expect("a list beside them still appends");
        let label = format!("{backend:?} ttl {ttl:?}");
        assert_eq!(
            state.reduced(b"k", "sum").expect("sum"),
            Some(21),
            "{label}"
        );
        assert_eq!(
            state.reduced(b"k", "min").expect("min"),
            Some(-3),
            "{label}"
        );
        assert_eq!(
            state.reduced(b"k", "max").expect("max"),
            Some(12),
            "{label}"
        );
        assert_eq!(
            state.reduced(b"other", "sum").expect("none"),
            None,
            "{label}"
        );
        assert_eq!(
            state.list_get(b"k", "items").expect("list"),
            [b"x".to_vec()],
            "{label}"
        );
    }
}

#[test]
fn taking_the_stores_timers_keeps_what_the_caller_marked_due_later() {
    let root = tempfile::tempdir().expect("tempdir");
    let job = JobState::new(&settings(root.path()), "job/2", StateBackend::Rocksdb, 128);
    let mut store = job
        .store("windows", 0, None)
        .expect("opens")
        .expect("a RocksDB store");
    // A window of the write cache ends at 1499, one in the store at 999.
    store.note_due(1_499);
    store.put_timer(999, b"k", b"t").expect("timer");
    store.note_due(999);
    assert!(!store.nothing_due(999));
    assert_eq!(store.take_timers(999, 10).expect("due").len(), 1);
    store.timers_taken(999).expect("taken");
    // The store holds no timer any more, but the cached window is still due at 1499: a
    // watermark past it must not be skipped (it was, and the window fired only at the end).
    assert!(store.nothing_due(1_498));
    assert!(
        !store.nothing_due(1_499),
        "the cached window's mark survives"
    );
    store.timers_taken(1_499).expect("taken");
    assert!(store.nothing_due(i64::MAX - 1), "and is gone once it fired");
}

#[test]
fn a_calls_writes_are_seen_by_the_call_and_kept_only_when_it_commits() {
    let root = tempfile::tempdir().expect("tempdir");
    for (backend, ttl) in [
        (StateBackend::Memory, None),
        (StateBackend::Memory, Some(60_000)),
        (StateBackend::Rocksdb, None),
        (StateBackend::Rocksdb, Some(60_000)),
    ] {
        let job = JobState::new(&settings(root.path()), "overlay", backend, 128);
        let mut state = job.keyed_values("udf", 0, ttl).expect("opens");
        state.set(b"k", "v", b"1").expect("set");
        state.reduce(b"k", "sum", 0, 5).expect("sum");
        state.list_append(b"k", "items", b"a").expect("append");
        state.map_put(b"k", "m", b"x", b"1").expect("put");
        let label = format!("{backend:?} ttl {ttl:?}");
        let call = |state: &mut KeyedValues| {
            state.begin();
            state.set(b"k", "v", b"2").expect("set");
            state.reduce(b"k", "sum", 0, 3).expect("sum");
            state.list_append(b"k", "items", b"b").expect("append");
            state.map_put(b"k", "m", b"y", b"2").expect("put");
            state.map_remove(b"k", "m", b"x").expect("remove");
            state.set(b"new", "v", b"9").expect("set");
        };
        let after_call = |state: &mut KeyedValues, what: &str| {
            assert_eq!(
                state.get(b"k", "v").expect("get"),
                Some(b"2".to_vec()),
                "{label} {what}"
            );
            assert_eq!(
                state.reduced(b"k", "sum").expect("sum"),
                Some(8),
                "{label} {what}"
            );
            assert_eq!(
                state.list_get(b"k", "items").expect("list"),
                [b"a".to_vec(), b"b".to_vec()],
                "{label} {what}"
            );
            assert_eq!(
                state.map_entries(b"k", "m").expect("map"),
                [(b"y".to_vec(), b"2".to_vec())],
                "{label} {what}"
            );
            assert_eq!(
                state.get(b"new", "v").expect("get"),
                Some(b"9".to_vec()),
                "{label} {what}"
            );
        };
        call(&mut state);
        after_call(&mut state, "the call reads its own writes");
        state.rollback();
        assert_eq!(
            state.get(b"k", "v").expect("get"),
            Some(b"1".to_vec()),
            "{label}: rolled back"
        );
        assert_eq!(
            state.reduced(b"k", "sum").expect("sum"),
            Some(5),
            "{label}: rolled back"
        );
        assert_eq!(
            state.list_get(b"k", "items").expect("list"),
            [b"a".to_vec()],
            "{label}: rolled back"
        );
        assert_eq!(
            state.map_entries(b"k", "m").expect("map"),
            [(b"x".to_vec(), b"1".to_vec())],
            "{label}: rolled back"
        );
        assert_eq!(
            state.get(b"new", "v").expect("get"),
            None,
            "{label}: rolled back"
        );
        call(&mut state);
        state.commit().expect("commit");
        after_call(&mut state, "committed");
        state
            .commit()
            .expect("a commit with no call open does nothing");
        after_call(&mut state, "committed twice");
    }
}

#[test]
fn writes_over_writes_of_the_same_call_read_and_commit_as_they_would_without_one() {
    let root = tempfile::tempdir().expect("tempdir");
    for (backend, ttl) in [
        (StateBackend::Memory, None),
        (StateBackend::Rocksdb, None),
        (StateBackend::Rocksdb, Some(60_000)),
    ] {
        let job = JobState::new(&settings(root.path()), "layers", backend, 128);
        let mut state = job.keyed_values("udf", 0, ttl).expect("opens");
        let label = format!("{backend:?} ttl {ttl:?}");
        state.list_append(b"k", "items", b"old").expect("append");
        state.reduce(b"k", "sum", 0, 100).expect("sum");
        state.map_put(b"k", "m", b"a", b"1").expect("put");
        state.map_put(b"k", "m", b"b", b"2").expect("put");
        state.begin();
        // A list cleared then appended to starts anew; appends pile up.
        state.clear(b"k", "items").expect("clear");
        state.list_append(b"k", "items", b"x").expect("append");
        state.list_append(b"k", "items", b"y").expect("append");
        // Reduces fold onto each other, and onto a value the call cleared.
        state.reduce(b"k", "sum", 0, 1).expect("sum");
        state.reduce(b"k", "sum", 0, 2).expect("sum");
        state
            .clear(b"k", "sum")
            .expect("clear a reduced value's name leaves it");
        state.reduce(b"k", "max", 2, 4).expect("max");
        state.reduce(b"k", "max", 2, 9).expect("max");
        state.reduce(b"k", "max", 2, 3).expect("max");
        // A map cleared in the call, then refilled: the scan sees only the call's entries.
        state.clear(b"k", "m").expect("clear");
        state.map_put(b"k", "m", b"c", b"3").expect("put");
        let check = |state: &mut KeyedValues, what: &str| {
            assert_eq!(
                state.list_get(b"k", "items").expect("list"),
                [b"x".to_vec(), b"y".to_vec()],
                "{label} {what}"
            );
            assert_eq!(
                state.reduced(b"k", "sum").expect("sum"),
                Some(103),
                "{label} {what}"
            );
            assert_eq!(
                state.reduced(b"k", "max").expect("max"),
                Some(9),
                "{label} {what}"
            );
            assert_eq!(
                state.map_entries(b"k", "m").expect("map"),
                [(b"c".to_vec(), b"3".to_vec())],
                "{label} {what}"
            );
            assert_eq!(
                state.map_get(b"k", "m", b"a").expect("get"),
                None,
                "{label} {what}"
            );
        };
        check(&mut state, "in the call");
        state.commit().expect("commit");
        check(&mut state, "committed");
        // A running count replayed the way poison isolation replays it: a trapped batch of
        // three rolls back, then each record runs as its own call and the poison one traps.
        let count = |state: &mut KeyedValues| {
            let seen = state
                .get(b"a", "count")
                .expect("get")
                .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
            state
                .set(b"a", "count", &(seen + 1).to_le_bytes())
                .expect("set");
        };
        state.begin();
        for _ in 0..3 {
            count(&mut state);
        }
        state.rollback();
        for poison in [false, true, false] {
            state.begin();
            count(&mut state);
            match poison {
                true => state.rollback(),
                false => state.commit().expect("commit"),
            }
        }
        assert_eq!(
            state.get(b"a", "count").expect("get"),
            Some(2u64.to_le_bytes().to_vec()),
            "{label}: the two good records, once each"
        );
    }
}
