//! Where Weir keeps its files on a machine: `$WEIR_HOME`, else `$XDG_CACHE_HOME/weir`, else
//! `~/.cache/weir`. Under it: `modules/` (precompiled components), `blobs/` (components by
//! sha256) and `builds/` (what each UDF source directory last built to).

use std::path::PathBuf;

/// Weir's directory on this machine.
pub fn weir_home() -> PathBuf {
    if let Some(home) = std::env::var_os("WEIR_HOME") {
        return PathBuf::from(home);
    }
    if let Some(cache) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(cache).join("weir");
    }
    match std::env::var_os("HOME") {
        Some(home) => PathBuf::from(home).join(".cache").join("weir"),
        None => std::env::temp_dir().join("weir"),
    }
}

/// Hex sha256 of `bytes`: a module's identity.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// [`weir_home`], created if missing (a failure to create it shows at the first file written
/// under it, naming that file).
pub fn created_weir_home() -> PathBuf {
    let home = weir_home();
    let _ = std::fs::create_dir_all(&home);
    home
}
