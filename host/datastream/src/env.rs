//! The environment a DataStream program builds its job in: the job's settings, its steps as a
//! growing [`JobSpec`], and the typed closures it registered; and running it.

use crate::stream::DataStream;
use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Duration;
use weir_client::spec::{LoadedSpec, Locations};
use weir_client::udf::UdfBuilder;
use weir_minicluster::{JobOutcome, MiniCluster};
use weir_proto::spec::{
    CheckpointSpec, JobSpec, ModuleSpec, RestartStrategy, SinkSpec, SourceSpec, StateBackend,
    StepSpec,
};
use weir_runtime::operators::NativeRegistry;
use weir_wasm::{EngineConfig, WasmEngine};

/// Why a program's job could not run.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    /// The job it built is not a valid job (the same checks as a YAML spec's, naming the step).
    #[error("{0}")]
    Invalid(String),
    /// Typed closures run only in the process that registered them.
    #[error(
        "steps {0:?} are Rust closures, which run only in this process: use Wasm modules for a job submitted to a cluster"
    )]
    LocalOnly(Vec<String>),
    /// The job ran and failed.
    #[error(transparent)]
    Failed(#[from] weir_minicluster::JobError),
}

/// What the environment and its streams share.
pub(crate) struct Graph {
    pub(crate) spec: JobSpec,
    pub(crate) native: NativeRegistry,
    /// The steps that are closures of this process.
    pub(crate) closures: Vec<String>,
    /// Steps made per kind, for default names.
    made: std::collections::BTreeMap<String, usize>,
    dir: PathBuf,
    checkpoint_dir: Option<PathBuf>,
}

impl Graph {
    /// A step name not used yet: `kind-N`.
    pub(crate) fn fresh_name(&mut self, kind: &str) -> String {
        loop {
            let n = self.made.entry(kind.to_string()).or_insert(0);
            *n += 1;
            let name = format!("{kind}-{n}");
            if !self.has_step(&name) {
                return name;
            }
        }
    }

    pub(crate) fn has_step(&self, name: &str) -> bool {
        self.spec
            .pipeline
            .iter()
            .any(|s| s.name.as_deref() == Some(name))
    }

    /// The step named `name`.
    pub(crate) fn step_mut(&mut self, name: &str) -> Option<&mut StepSpec> {
        self.spec
            .pipeline
            .iter_mut()
            .find(|s| s.name.as_deref() == Some(name))
    }
}

/// A job under construction (Flink's `StreamExecutionEnvironment`). Cheap to share: streams
/// made from it add their steps to it.
#[derive(Clone)]
pub struct StreamEnvironment {
    pub(crate) graph: Rc<RefCell<Graph>>,
}

impl StreamEnvironment {
    /// A job named `name`, with a YAML spec's defaults; module paths are relative to the
    /// current directory.
    pub fn new(name: &str) -> Self {
        let spec = weir_client::builder::JobBuilder::new(name).build();
        StreamEnvironment {
            graph: Rc::new(RefCell::new(Graph {
                spec,
                native: NativeRegistry::default(),
                closures: Vec::new(),
                made: Default::default(),
                dir: std::env::current_dir().unwrap_or_default(),
                checkpoint_dir: None,
            })),
        }
    }

    fn set(&self, change: impl FnOnce(&mut Graph)) -> &Self {
        change(&mut self.graph.borrow_mut());
        self
    }

    /// Default parallelism of the steps.
    pub fn parallelism(&self, parallelism: u32) -> &Self {
        self.set(|g| g.spec.parallelism = parallelism)
    }

    /// Key groups: the most subtasks a keyed step can ever be rescaled to.
    pub fn max_parallelism(&self, max_parallelism: u32) -> &Self {
        self.set(|g| g.spec.max_parallelism = max_parallelism)
    }

    /// Records per batch.
    pub fn batch_size(&self, batch_size: u32) -> &Self {
        self.set(|g| g.spec.batch_size = batch_size)
    }

    /// Where keyed state lives.
    pub fn state_backend(&self, backend: StateBackend) -> &Self {
        self.set(|g| g.spec.state_backend = backend)
    }

    /// Checkpoints as `checkpointing` says (`CheckpointSpec::every(ms)`), for exactly-once
    /// state and output across failures.
    pub fn checkpointing(&self, checkpointing: CheckpointSpec) -> &Self {
        self.set(|g| g.spec.checkpointing = Some(checkpointing))
    }

    /// How the job restarts after a failure.
    pub fn restart_strategy(&self, strategy: RestartStrategy) -> &Self {
        self.set(|g| g.spec.restart_strategy = Some(strategy))
    }

    /// Where checkpoints go (a directory per job beneath it).
    pub fn checkpoint_dir(&self, dir: impl Into<PathBuf>) -> &Self {
        let dir = dir.into();
        self.set(|g| g.checkpoint_dir = Some(dir))
    }

    /// The directory relative module paths and file paths are resolved against.
    pub fn base_dir(&self, dir: impl Into<PathBuf>) -> &Self {
        let dir = dir.into();
        self.set(|g| g.dir = dir)
    }

    /// Declares Wasm module `name` at `path` (a `.wasm` file or a UDF source directory, built
    /// as `weir run` builds it).
    pub fn module(&self, name: &str, path: &str) -> &Self {
        let module = ModuleSpec {
            path: path.to_string(),
        };
        self.set(|g| {
            g.spec.modules.insert(name.to_string(), module);
        })
    }

    /// Sends records a step rejects (with the reason) to `sink` instead of failing the job.
    pub fn dead_letter(&self, sink: SinkSpec) -> &Self {
        self.set(|g| g.spec.dead_letter = Some(sink))
    }

    /// A stream read from `source`, as step `name`.
    pub fn from_source(&self, name: &str, source: SourceSpec) -> DataStream {
        DataStream::add(
            self,
            name,
            None,
            StepSpec {
                source: Some(source),
                ..StepSpec::default()
            },
        )
    }

    /// The job as a spec: what `weir run` would run from the YAML form of it.
    pub fn job_spec(&self) -> JobSpec {
        self.graph.borrow().spec.clone()
    }

    /// The job for a cluster (`weir submit`): refused when a step is a closure of this process.
    pub fn cluster_job_spec(&self) -> Result<JobSpec, ExecuteError> {
        let graph = self.graph.borrow();
        if !graph.closures.is_empty() {
            return Err(ExecuteError::LocalOnly(graph.closures.clone()));
        }
        Ok(graph.spec.clone())
    }

    /// Runs the job to its end on an embedded mini-cluster (state and modules under Weir's
    /// home directory, as `weir run`), its closures natively in this process.
    pub fn execute(&self) -> Result<JobOutcome, ExecuteError> {
        let graph = self.graph.borrow();
        let loaded = LoadedSpec {
            spec: graph.spec.clone(),
            file: PathBuf::from(format!("<program {}>", graph.spec.name)),
            dir: graph.dir.clone(),
            locations: Locations::default(),
        };
        let home = weir_blob::paths::created_weir_home();
        let job = weir_client::job_graph(&loaded, &UdfBuilder::new(home.clone()))
            .map_err(|e| ExecuteError::Invalid(e.to_string()))?;
        let engine = WasmEngine::new(EngineConfig::new(home.join("modules")))
            .map_err(|e| ExecuteError::Invalid(e.to_string()))?;
        let checkpoints = graph
            .checkpoint_dir
            .clone()
            .unwrap_or_else(|| home.join("checkpoints"));
        let cluster =
            MiniCluster::new(engine, graph.native.clone()).with_checkpoint_dir(checkpoints);
        Ok(cluster.run(&job, Duration::from_millis(500), &mut |_| {})?)
    }
}
