//! Per-module call statistics of this process (calls, time in calls, traps), for metrics: every
//! instance of a module adds to the same counters, found by name and sha256.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// One module's counters.
#[derive(Debug, Default)]
pub struct ModuleStats {
    /// Calls made (one per batch, or per record while a failing batch is isolated).
    pub calls: AtomicU64,
    /// Nanoseconds spent in calls.
    pub call_ns: AtomicU64,
    /// Calls that trapped (or hit a limit).
    pub traps: AtomicU64,
}

impl ModuleStats {
    /// Counts a call of `ns` nanoseconds that trapped or not.
    pub fn record(&self, ns: u64, trapped: bool) {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.call_ns.fetch_add(ns, Ordering::Relaxed);
        if trapped {
            self.traps.fetch_add(1, Ordering::Relaxed);
        }
    }
}

type Registry = Mutex<BTreeMap<(String, String), Arc<ModuleStats>>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Registry::default)
}

/// The counters of module `name` with `sha256`.
pub fn for_module(name: &str, sha256: &str) -> Arc<ModuleStats> {
    let mut modules = registry().lock().unwrap_or_else(|p| p.into_inner());
    modules
        .entry((name.to_string(), sha256.to_string()))
        .or_default()
        .clone()
}

/// Every module's counters: ((name, sha256), counters).
pub fn all() -> Vec<((String, String), Arc<ModuleStats>)> {
    let modules = registry().lock().unwrap_or_else(|p| p.into_inner());
    modules
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
