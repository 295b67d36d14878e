use super::*;

#[test]
fn murmur3_matches_reference_vectors() {
    assert_eq!(murmur3_32(b"", 0), 0);
    assert_eq!(murmur3_32(b"", 1), 0x514e_28b7);
    assert_eq!(murmur3_32(b"hello", 0), 0x248b_fa47);
    assert_eq!(
        murmur3_32(b"The quick brown fox jumps over the lazy dog", 0),
        0x2e4f_f723
    );
}

#[test]
fn every_key_group_has_exactly_one_owner_in_range() {
    for parallelism in 1..=7 {
        let mut last = 0;
        for kg in 0..128 {
            let owner = subtask_for_key_group(kg, 128, parallelism);
            assert!(owner < parallelism);
            assert!(owner >= last, "ranges are contiguous");
            last = owner;
        }
        assert_eq!(last, parallelism - 1);
    }
}
