use super::*;

/// The smallest valid component: the 8-byte preamble.
const EMPTY_COMPONENT: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

fn store(max: u64) -> (tempfile::TempDir, BlobStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = BlobStore::open(dir.path().join("blobs"), max).expect("open");
    (dir, store)
}

#[test]
fn a_verified_component_is_stored_once_under_its_hash() {
    let (_dir, store) = store(1 << 20);
    let sha = sha256_hex(&EMPTY_COMPONENT);
    assert!(!store.contains(&sha));
    let path = store.put(&sha, &EMPTY_COMPONENT).expect("stored");
    assert_eq!(std::fs::read(&path).expect("read"), EMPTY_COMPONENT);
    assert!(store.contains(&sha));
    assert_eq!(
        store.put(&sha, &EMPTY_COMPONENT).expect("again"),
        path,
        "idempotent"
    );
}

#[test]
fn bad_blobs_are_refused_before_anything_is_written() {
    let (dir, store) = store(16);
    let core_module = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    let big = [0u8; 17];
    let refused = [
        store
            .put(&sha256_hex(b"other"), &EMPTY_COMPONENT)
            .map(|_| ()),
        store
            .put(&sha256_hex(&core_module), &core_module)
            .map(|_| ()),
        store
            .put(&sha256_hex(b"not wasm at all"), b"not wasm at all")
            .map(|_| ()),
        store.put(&sha256_hex(&big), &big).map(|_| ()),
        store.put("../../etc/passwd", &EMPTY_COMPONENT).map(|_| ()),
    ];
    assert!(matches!(refused[0], Err(BlobError::HashMismatch { .. })));
    assert!(matches!(
        refused[1],
        Err(BlobError::NotComponent {
            why: "a core module",
            ..
        })
    ));
    assert!(matches!(refused[2], Err(BlobError::NotComponent { .. })));
    assert!(matches!(
        refused[3],
        Err(BlobError::TooLarge {
            size: 17,
            limit: 16,
            ..
        })
    ));
    assert!(matches!(refused[4], Err(BlobError::BadName(_))));
    let stored = std::fs::read_dir(dir.path().join("blobs"))
        .expect("list")
        .count();
    assert_eq!(stored, 0, "nothing written for refused blobs");
}
