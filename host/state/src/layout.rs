//! How keyed state and timers are laid out as RocksDB keys.
//!
//! A state entry is `0x00 | key group (u32 BE) | key length (u32 BE) | key | namespace`: the key
//! group comes first so that a key group's state is one contiguous range, which is what lets a
//! later restore at another parallelism move whole key groups; the length makes every key a
//! prefix of only its own entries. The namespace tells the entries of one key apart (a window's
//! start, a state's name).
//!
//! A timer is `0x01 | time (i64, order-preserving BE) | key group | key length | key |
//! namespace` with an empty value: timers sort by time, so the due ones are a prefix of the range.

const STATE: u8 = 0;
const TIMER: u8 = 1;

/// An i64 as 8 bytes that sort like the numbers (sign bit flipped, big-endian).
pub fn ordered_i64(value: i64) -> [u8; 8] {
    ((value as u64) ^ (1 << 63)).to_be_bytes()
}

/// The inverse of [`ordered_i64`].
pub fn read_ordered_i64(bytes: [u8; 8]) -> i64 {
    (u64::from_be_bytes(bytes) ^ (1 << 63)) as i64
}

/// Appends `key group | key length | key | namespace`.
fn push_keyed(out: &mut Vec<u8>, key_group: u32, key: &[u8], namespace: &[u8]) {
    out.extend_from_slice(&key_group.to_be_bytes());
    out.extend_from_slice(&(key.len() as u32).to_be_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(namespace);
}

/// The RocksDB key of state `namespace` of `key`, written into `out` (cleared first).
pub fn state_key(out: &mut Vec<u8>, key_group: u32, key: &[u8], namespace: &[u8]) {
    out.clear();
    out.push(STATE);
    push_keyed(out, key_group, key, namespace);
}

/// The RocksDB key of a timer, written into `out` (cleared first).
pub fn timer_key(out: &mut Vec<u8>, time: i64, key_group: u32, key: &[u8], namespace: &[u8]) {
    out.clear();
    out.push(TIMER);
    out.extend_from_slice(&ordered_i64(time));
    push_keyed(out, key_group, key, namespace);
}

/// The key and namespace of a state entry's RocksDB key; `None` if it is not one.
pub fn parse_state(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&tag, rest) = bytes.split_first()?;
    if tag != STATE || rest.len() < 8 {
        return None;
    }
    let key_len = u32::from_be_bytes(rest[4..8].try_into().ok()?) as usize;
    let rest = &rest[8..];
    Some((rest.get(..key_len)?, &rest[key_len..]))
}

/// The first RocksDB key of state entries.
pub fn states_start() -> Vec<u8> {
    vec![STATE]
}

/// The first RocksDB key of timers at `time` or later.
pub fn timers_from(time: i64) -> Vec<u8> {
    let mut out = vec![TIMER];
    out.extend_from_slice(&ordered_i64(time));
    out
}

/// The first RocksDB key after every timer.
pub fn timers_end() -> Vec<u8> {
    vec![TIMER + 1]
}

/// A timer read back from its RocksDB key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// When it fires (ms).
    pub time: i64,
    /// The key group of its key.
    pub key_group: u32,
    /// The key it fires for.
    pub key: Vec<u8>,
    /// Its namespace (a window, a process function's timer kind).
    pub namespace: Vec<u8>,
}

impl Timer {
    /// The window or session start in the first 8 bytes of the namespace, where the window
    /// operators keep it.
    pub fn start(&self) -> Option<i64> {
        Some(read_ordered_i64(self.namespace.get(..8)?.try_into().ok()?))
    }
}

/// Parses a timer key; `None` if `bytes` is not one (which would be a bug or a corrupt store).
pub fn parse_timer(bytes: &[u8]) -> Option<Timer> {
    let (&tag, rest) = bytes.split_first()?;
    if tag != TIMER || rest.len() < 16 {
        return None;
    }
    let time = read_ordered_i64(rest[..8].try_into().ok()?);
    let key_group = u32::from_be_bytes(rest[8..12].try_into().ok()?);
    let key_len = u32::from_be_bytes(rest[12..16].try_into().ok()?) as usize;
    let rest = &rest[16..];
    if rest.len() < key_len {
        return None;
    }
    Some(Timer {
        time,
        key_group,
        key: rest[..key_len].to_vec(),
        namespace: rest[key_len..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_i64_sorts_like_the_numbers_and_reads_back() {
        let values = [i64::MIN, -5_000, -1, 0, 1, 9_999, i64::MAX];
        for pair in values.windows(2) {
            assert!(ordered_i64(pair[0]) < ordered_i64(pair[1]), "{pair:?}");
        }
        for value in values {
            assert_eq!(read_ordered_i64(ordered_i64(value)), value);
        }
    }

    #[test]
    fn timers_sort_by_time_and_parse_back_whole() {
        let mut early = Vec::new();
        let mut late = Vec::new();
        timer_key(&mut early, -3, 7, b"zzz", b"ns");
        timer_key(&mut late, 2, 0, b"a", b"");
        assert!(early < late);
        assert!(timers_from(-3) <= early && early < timers_from(-2));
        assert!(late < timers_end());
        assert_eq!(
            parse_timer(&early),
            Some(Timer {
                time: -3,
                key_group: 7,
                key: b"zzz".to_vec(),
                namespace: b"ns".to_vec()
            })
        );
        assert_eq!(parse_timer(&early[..10]), None);
    }

    #[test]
    fn a_key_is_a_prefix_only_of_its_own_entries() {
        let (mut a, mut ab) = (Vec::new(), Vec::new());
        state_key(&mut a, 1, b"a", b"b-state");
        state_key(&mut ab, 1, b"ab", b"-state");
        let mut prefix = Vec::new();
        state_key(&mut prefix, 1, b"a", b"");
        assert!(a.starts_with(&prefix));
        assert!(!ab.starts_with(&prefix));
        // The key group leads: all of group 1 sorts before group 2.
        let mut other_group = Vec::new();
        state_key(&mut other_group, 2, b"", b"");
        assert!(a < other_group && ab < other_group);
    }
}
