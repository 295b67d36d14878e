//! The shapes a job runs in — parallelism, batch size, chaining, state backend, embedded or on
//! a cluster of processes — in one place, so an end-to-end test states what it checks once and
//! runs it in every shape of [`MATRIX`]. A job spec takes its shape from the environment, as the
//! shipped examples do: `parallelism: ${PARALLELISM:-1}`, `batch_size: ${BATCH_SIZE:-1024}`,
//! `chaining: ${CHAINING:-true}`; the backend is `--state-backend` of `weir run` or `weir
//! submit`. On a cluster, what stdout sinks print is read from the TaskManagers' stdout.

use crate::harness::{Run, weir};
use crate::live_cluster::LiveCluster;
use std::fmt;
use std::path::Path;

/// One way to run the same job; the output must not depend on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) parallelism: u32,
    pub(crate) batch_size: u32,
    pub(crate) chaining: bool,
    pub(crate) backend: &'static str,
    /// On a JobManager and two TaskManagers (processes) rather than in `weir run`'s one.
    pub(crate) cluster: bool,
}

/// A covering set: each parallelism with chaining on and off, single-record and full batches,
/// both state backends, embedded and on a cluster.
pub(crate) const MATRIX: [Shape; 7] = [
    Shape::new(1, 1024, true, "memory"),
    Shape::new(4, 1024, true, "rocksdb"),
    Shape::new(4, 1024, false, "memory"),
    Shape::new(1, 1, true, "rocksdb"),
    Shape::new(3, 1, false, "memory"),
    Shape::new(3, 16, true, "rocksdb"),
    Shape::new(2, 64, true, "rocksdb").on_a_cluster(),
];

impl Shape {
    const fn new(parallelism: u32, batch_size: u32, chaining: bool, backend: &'static str) -> Self {
        Shape {
            parallelism,
            batch_size,
            chaining,
            backend,
            cluster: false,
        }
    }

    const fn on_a_cluster(mut self) -> Self {
        self.cluster = true;
        self
    }

    /// `weir run -q` of `spec` in this shape (or `weir submit` to a cluster started for it),
    /// with `env` and the options `args` besides; it must succeed.
    pub(crate) fn run(&self, spec: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
        let (parallelism, batch_size) = (self.parallelism.to_string(), self.batch_size.to_string());
        let chaining = self.chaining.to_string();
        let mut all = vec![
            ("PARALLELISM", parallelism.as_str()),
            ("BATCH_SIZE", batch_size.as_str()),
            ("CHAINING", chaining.as_str()),
        ];
        all.extend_from_slice(env);
        if self.cluster {
            return self.submit(spec, &all, args);
        }
        let spec = spec.to_str().expect("utf-8");
        let command = [
            &["run", "-q", "--state-backend", self.backend],
            args,
            &[spec],
        ]
        .concat();
        weir(&command, &all, None).expect_code(0)
    }

    /// The job on a cluster of two TaskManagers: `args` are `weir run`'s options, of which
    /// `--state-write-cache N` goes to the TaskManagers. Its stdout is what the TaskManagers
    /// printed.
    fn submit(&self, spec: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
        let mut taskmanager_args = vec!["--slots", "4"];
        for pair in args.windows(2) {
            if pair[0] == "--state-write-cache" {
                taskmanager_args.extend_from_slice(pair);
            }
        }
        let mut cluster = LiveCluster::start(2, &[]);
        cluster.add_taskmanager(None, &taskmanager_args, 1);
        cluster.add_taskmanager(None, &taskmanager_args, 2);
        let mut run = cluster
            .submit(spec, &["-q", "--state-backend", self.backend], env)
            .expect_code(0);
        let outputs = cluster.stop_taskmanagers();
        run.stdout = outputs.concat();
        run
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parallelism {}, batch size {}, chaining {}, {} state, {}",
            self.parallelism,
            self.batch_size,
            if self.chaining { "on" } else { "off" },
            self.backend,
            if self.cluster {
                "on a cluster"
            } else {
                "embedded"
            }
        )
    }
}
