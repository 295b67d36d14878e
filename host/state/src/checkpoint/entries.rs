//! The file format of keyed state taken off the heap: `WEIRKV1\n`, then each entry as
//! `key length (u32 LE) | key | value length (u32 LE) | value`, then `u32::MAX` and the entry
//! count (u64 LE). Entries are in key order, so by key group; the trailer tells a whole file
//! from one cut short by a crash.

use super::EachEntry;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;

const MAGIC: &[u8; 8] = b"WEIRKV1\n";
const END: u32 = u32::MAX;

/// Writes `entries` to a new file at `path` (synced before it returns); returns its size.
pub(super) fn write(path: &Path, entries: &[(Vec<u8>, Vec<u8>)]) -> io::Result<u64> {
    let mut out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    out.write_all(MAGIC)?;
    let mut bytes = MAGIC.len() as u64 + 12;
    for (key, value) in entries {
        for part in [key, value] {
            let len = u32::try_from(part.len())
                .ok()
                .filter(|&len| len != END)
                .ok_or_else(|| io::Error::other("a state entry is larger than 4 GiB"))?;
            out.write_all(&len.to_le_bytes())?;
            out.write_all(part)?;
            bytes += 4 + part.len() as u64;
        }
    }
    out.write_all(&END.to_le_bytes())?;
    out.write_all(&(entries.len() as u64).to_le_bytes())?;
    out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok(bytes)
}

/// Calls `each` with every entry of the file at `path`, in order; an entry `skip` rejects by
/// its key is read past without a copy of its value.
pub(super) fn read(
    path: &Path,
    skip: &dyn Fn(&[u8]) -> bool,
    each: &mut EachEntry<'_>,
) -> io::Result<()> {
    let corrupt = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: {what}", path.display()),
        )
    };
    let mut input = BufReader::with_capacity(1 << 20, File::open(path)?);
    let mut magic = [0u8; 8];
    input
        .read_exact(&mut magic)
        .map_err(|_| corrupt("not a state file"))?;
    if &magic != MAGIC {
        return Err(corrupt("not a state file (bad magic)"));
    }
    let (mut key, mut value) = (Vec::new(), Vec::new());
    let mut count = 0u64;
    loop {
        let len = read_u32(&mut input).map_err(|_| corrupt("cut short (no trailer)"))?;
        if len == END {
            let mut total = [0u8; 8];
            input
                .read_exact(&mut total)
                .map_err(|_| corrupt("cut short in its trailer"))?;
            if u64::from_le_bytes(total) != count {
                return Err(corrupt("its entry count does not match its trailer"));
            }
            return Ok(());
        }
        read_part(&mut input, len, &mut key).map_err(|_| corrupt("cut short in a key"))?;
        let value_len = read_u32(&mut input).map_err(|_| corrupt("cut short in a value"))?;
        count += 1;
        if skip(&key) {
            io::copy(&mut (&mut input).take(value_len as u64), &mut io::sink())?;
            continue;
        }
        read_part(&mut input, value_len, &mut value)
            .map_err(|_| corrupt("cut short in a value"))?;
        each(&key, &value)?;
    }
}

fn read_u32(input: &mut impl Read) -> io::Result<u32> {
    let mut bytes = [0u8; 4];
    input.read_exact(&mut bytes)?;
    Ok(u32::from_le_bytes(bytes))
}

fn read_part(input: &mut impl Read, len: u32, out: &mut Vec<u8>) -> io::Result<()> {
    out.resize(len as usize, 0);
    input.read_exact(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_in_order_and_a_cut_file_is_an_error() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("state");
        let entries = vec![
            (b"a".to_vec(), b"1".to_vec()),
            (b"b".to_vec(), Vec::new()),
            (b"c".to_vec(), vec![7; 100_000]),
        ];
        let size = write(&path, &entries).expect("write");
        assert_eq!(size, std::fs::metadata(&path).expect("meta").len());
        let mut read_back = Vec::new();
        read(&path, &|key| key == b"b", &mut |k, v| {
            read_back.push((k.to_vec(), v.to_vec()));
            Ok(())
        })
        .expect("read");
        assert_eq!(read_back, vec![entries[0].clone(), entries[2].clone()]);
        let bytes = std::fs::read(&path).expect("bytes");
        std::fs::write(&path, &bytes[..bytes.len() - 5]).expect("cut");
        let error = read(&path, &|_| false, &mut |_, _| Ok(())).expect_err("cut file");
        assert!(error.to_string().contains("cut short"), "{error}");
    }
}
