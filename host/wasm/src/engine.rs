//! The process-wide Wasm engine: configuration, the module table, the epoch ticker.

use super::cache::ModuleCache;
use super::error::{ModuleError, ModuleIdentity};
use super::sandbox::StoreState;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances: the granularity of call time limits.
pub(crate) const EPOCH_TICK: Duration = Duration::from_millis(10);

/// Limits of one UDF instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SandboxLimits {
    /// Largest linear memory an instance may grow to, in bytes.
    pub memory_bytes: u64,
    /// Longest one call (one batch) may run.
    pub call_timeout: Duration,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        SandboxLimits {
            memory_bytes: 512 << 20,
            call_timeout: Duration::from_secs(10),
        }
    }
}

/// Settings of a TaskManager's Wasm engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where precompiled modules are kept.
    pub cache_dir: PathBuf,
    /// Largest module file accepted, in bytes.
    pub max_module_bytes: u64,
    /// Limits for jobs that do not set their own.
    pub defaults: SandboxLimits,
    /// Hard ceiling on any job's memory limit (the pooling allocator reserves this per slot).
    pub max_memory_bytes: u64,
    /// Whether to use the pooling allocator (falls back to on-demand if the host refuses it).
    pub pooling: bool,
    /// Component instances the pool holds: the most UDF instances alive at once.
    pub max_instances: u32,
}

impl EngineConfig {
    /// Defaults with the cache under `cache_dir`.
    pub fn new(cache_dir: PathBuf) -> Self {
        EngineConfig {
            cache_dir,
            max_module_bytes: 64 << 20,
            defaults: SandboxLimits::default(),
            max_memory_bytes: 4 << 30,
            pooling: true,
            max_instances: 256,
        }
    }
}

/// A compiled module, ready to instantiate.
#[derive(Clone)]
pub struct LoadedModule {
    /// Its name and hash.
    pub identity: ModuleIdentity,
    /// The compiled component.
    pub component: Component,
}

/// The Wasm engine shared by every task of a process. Cheap to clone.
#[derive(Clone)]
pub struct WasmEngine {
    inner: Arc<EngineInner>,
}

struct EngineInner {
    engine: Engine,
    linker: Linker<StoreState>,
    cache: ModuleCache,
    config: EngineConfig,
    loaded: Mutex<HashMap<String, Component>>,
    stop_ticker: Arc<AtomicBool>,
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.stop_ticker.store(true, Ordering::Relaxed);
    }
}

impl WasmEngine {
    /// Sets up the engine, its linker (WASI with no capabilities but stdio) and the epoch ticker.
    pub fn new(config: EngineConfig) -> Result<Self, ModuleError> {
        let engine = if config.pooling {
            build_engine(&config, true).or_else(|error| {
                tracing::warn!(%error, "pooling allocator unavailable; instantiating on demand");
                build_engine(&config, false)
            })?
        } else {
            build_engine(&config, false)?
        };
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)
            .map_err(|e| ModuleError::Engine(format!("{e:#}")))?;
        super::bindings::transform::weir::udf::keyed_state::add_to_linker::<
            StoreState,
            wasmtime::component::HasSelf<StoreState>,
        >(&mut linker, |state| state)
        .map_err(|e| ModuleError::Engine(format!("{e:#}")))?;
        super::bindings::process::weir::udf::timers::add_to_linker::<
            StoreState,
            wasmtime::component::HasSelf<StoreState>,
        >(&mut linker, |state| state)
        .map_err(|e| ModuleError::Engine(format!("{e:#}")))?;
        let cache = ModuleCache::new(config.cache_dir.clone(), &engine)?;
        let stop_ticker = Arc::new(AtomicBool::new(false));
        spawn_epoch_ticker(engine.clone(), stop_ticker.clone())?;
        Ok(WasmEngine {
            inner: Arc::new(EngineInner {
                engine,
                linker,
                cache,
                config,
                loaded: Mutex::new(HashMap::new()),
                stop_ticker,
            }),
        })
    }

    /// The wasmtime engine every module of this process is compiled for.
    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The host functions (WASI subset, keyed state, logging) every instance links against.
    pub fn linker(&self) -> &Linker<StoreState> {
        &self.inner.linker
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// Limits for a job: its overrides over the engine defaults, capped by the engine's ceiling.
    pub fn limits_for(&self, job: &weir_proto::spec::UdfLimits) -> SandboxLimits {
        let defaults = self.inner.config.defaults;
        SandboxLimits {
            memory_bytes: job
                .memory_mb
                .map_or(defaults.memory_bytes, |mb| mb << 20)
                .min(self.inner.config.max_memory_bytes),
            call_timeout: job
                .call_timeout_ms
                .map_or(defaults.call_timeout, Duration::from_millis),
        }
    }

    /// Loads the component at `path`: checks size, format and (when given) its sha256, then
    /// compiles it or takes it from the precompiled cache.
    pub fn load(
        &self,
        name: &str,
        path: &Path,
        expected_sha256: Option<&str>,
    ) -> Result<LoadedModule, ModuleError> {
        let unnamed = |sha256: &str| ModuleIdentity {
            name: name.to_string(),
            sha256: sha256.to_string(),
        };
        let read_error = |source| ModuleError::Read {
            module: unnamed(expected_sha256.unwrap_or("")),
            path: path.display().to_string(),
            source,
        };
        let size = std::fs::metadata(path).map_err(read_error)?.len();
        if size > self.inner.config.max_module_bytes {
            return Err(ModuleError::TooLarge {
                module: unnamed(expected_sha256.unwrap_or("")),
                size,
                limit: self.inner.config.max_module_bytes,
            });
        }
        let bytes = std::fs::read(path).map_err(read_error)?;
        let sha256 = hex::encode(Sha256::digest(&bytes));
        let identity = unnamed(&sha256);
        if let Some(expected) = expected_sha256
            && expected != sha256
        {
            return Err(ModuleError::Compile {
                module: identity,
                detail: format!(
                    "its bytes hash to {sha256}, not the {expected} the job was built with; the file changed"
                ),
            });
        }
        check_format(&identity, &bytes)?;
        if let Some(component) = self.loaded_component(&sha256) {
            return Ok(LoadedModule {
                identity,
                component,
            });
        }
        let component = self
            .inner
            .cache
            .load_or_compile(&self.inner.engine, &identity, &bytes)?;
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(sha256, component.clone());
        Ok(LoadedModule {
            identity,
            component,
        })
    }

    fn loaded_component(&self, sha256: &str) -> Option<Component> {
        self.inner
            .loaded
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(sha256)
            .cloned()
    }
}

fn build_engine(config: &EngineConfig, pooling: bool) -> Result<Engine, ModuleError> {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .epoch_interruption(true)
        .wasm_simd(true);
    // `WEIR_WASM_PROFILER=perfmap`: guest functions named in `perf report` (/tmp/perf-PID.map).
    if std::env::var("WEIR_WASM_PROFILER").is_ok_and(|p| p == "perfmap") {
        wasm.profiler(wasmtime::ProfilingStrategy::PerfMap);
    }
    if pooling {
        let instances = config.max_instances;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances.saturating_mul(8))
            .total_memories(instances.saturating_mul(2))
            .total_tables(instances.saturating_mul(4))
            .max_core_instances_per_component(64)
            .max_memories_per_component(8)
            .max_tables_per_component(16)
            .max_component_instance_size(4 << 20)
            .max_core_instance_size(4 << 20)
            .max_memory_size(config.max_memory_bytes as usize);
        wasm.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    let engine = Engine::new(&wasm).map_err(|e| ModuleError::Engine(format!("{e:#}")))?;
    if pooling {
        // Reserving the pool is lazy in places: prove now that one instance slot can be used.
        probe_pool(&engine)?;
    }
    Ok(engine)
}

/// Instantiates an empty component so a pool the host cannot back fails here, not mid-job.
fn probe_pool(engine: &Engine) -> Result<(), ModuleError> {
    // The smallest valid component: the 8-byte preamble.
    let empty = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
    let component = Component::from_binary(engine, &empty)
        .map_err(|e| ModuleError::Engine(format!("{e:#}")))?;
    let linker = Linker::<()>::new(engine);
    let mut store = wasmtime::Store::new(engine, ());
    store.set_epoch_deadline(u64::MAX / 2);
    linker
        .instantiate(&mut store, &component)
        .map_err(|e| ModuleError::Engine(format!("{e:#}")))?;
    Ok(())
}

fn spawn_epoch_ticker(engine: Engine, stop: Arc<AtomicBool>) -> Result<(), ModuleError> {
    std::thread::Builder::new()
        .name("weir-epoch".into())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(EPOCH_TICK);
                engine.increment_epoch();
            }
        })
        .map(drop)
        .map_err(|e| ModuleError::Engine(format!("cannot start the epoch thread: {e}")))
}

/// Tells apart "not Wasm", "a core module" and "a component" by the preamble.
fn check_format(module: &ModuleIdentity, bytes: &[u8]) -> Result<(), ModuleError> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(ModuleError::NotWasm {
            module: module.clone(),
        });
    }
    // Core modules have version 1, layer 0; components have layer 1.
    if bytes[6..8] == [0, 0] {
        return Err(ModuleError::CoreModule {
            module: module.clone(),
        });
    }
    Ok(())
}
