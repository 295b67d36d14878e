//! Key groups: the unit of keyed-state ownership.
//!
//! A key hashes into one of `max_parallelism` key groups; subtask `i` of `p` owns a contiguous
//! range of them (Flink's assignment). State is kept per key group, so a job can later restore at
//! another parallelism by moving whole key groups. The hash is fixed forever: changing it would
//! scatter the state of every existing savepoint.

/// The key group of `key` among `max_parallelism` groups.
pub fn key_group(key: &[u8], max_parallelism: u32) -> u32 {
    murmur3_32(key, 0x5745_4952) % max_parallelism.max(1)
}

/// The subtask (of `parallelism`) that owns `key_group`.
pub fn subtask_for_key_group(key_group: u32, max_parallelism: u32, parallelism: u32) -> u32 {
    ((key_group as u64 * parallelism as u64) / max_parallelism.max(1) as u64) as u32
}

/// The subtask (of `parallelism`) that owns `key`.
pub fn subtask_for_key(key: &[u8], max_parallelism: u32, parallelism: u32) -> u32 {
    subtask_for_key_group(
        key_group(key, max_parallelism),
        max_parallelism,
        parallelism,
    )
}

/// MurmurHash3 (x86, 32-bit): stable across platforms and releases, cheap, well mixed.
fn murmur3_32(data: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h = seed;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = chunks.remainder();
    let mut k = 0u32;
    for (i, &b) in tail.iter().enumerate() {
        k |= (b as u32) << (8 * i);
    }
    if !tail.is_empty() {
        k = k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h ^= k;
    }
    h ^= data.len() as u32;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests;
