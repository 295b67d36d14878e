//! The shapes a job runs in — parallelism, batch size, chaining, state backend — in one place,
//! so an end-to-end test states what it checks once and runs it in every shape of [`MATRIX`]. A
//! job spec takes its shape from the environment, as the shipped examples do:
//! `parallelism: ${PARALLELISM:-1}`, `batch_size: ${BATCH_SIZE:-1024}`,
//! `chaining: ${CHAINING:-true}`; the backend is `weir run --state-backend`.

use crate::harness::{Run, weir};
use std::fmt;
use std::path::Path;

/// One way to run the same job; the output must not depend on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape {
    pub(crate) parallelism: u32,
    pub(crate) batch_size: u32,
    pub(crate) chaining: bool,
    pub(crate) backend: &'static str,
}

/// A covering set: each parallelism with chaining on and off, single-record and full batches,
/// both state backends.
pub(crate) const MATRIX: [Shape; 6] = [
    Shape::new(1, 1024, true, "memory"),
    Shape::new(4, 1024, true, "rocksdb"),
    Shape::new(4, 1024, false, "memory"),
    Shape::new(1, 1, true, "rocksdb"),
    Shape::new(3, 1, false, "memory"),
    Shape::new(3, 16, true, "rocksdb"),
];

impl Shape {
    const fn new(parallelism: u32, batch_size: u32, chaining: bool, backend: &'static str) -> Self {
        Shape {
            parallelism,
            batch_size,
            chaining,
            backend,
        }
    }

    /// `weir run -q` of `spec` in this shape, with `env` and the options `args` besides; it
    /// must succeed.
    pub(crate) fn run(&self, spec: &Path, env: &[(&str, &str)], args: &[&str]) -> Run {
        let (parallelism, batch_size) = (self.parallelism.to_string(), self.batch_size.to_string());
        let chaining = self.chaining.to_string();
        let mut all = vec![
            ("PARALLELISM", parallelism.as_str()),
            ("BATCH_SIZE", batch_size.as_str()),
            ("CHAINING", chaining.as_str()),
        ];
        all.extend_from_slice(env);
        let spec = spec.to_str().expect("utf-8");
        let command = [
            &["run", "-q", "--state-backend", self.backend],
            args,
            &[spec],
        ]
        .concat();
        weir(&command, &all, None).expect_code(0)
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "parallelism {}, batch size {}, chaining {}, {} state",
            self.parallelism,
            self.batch_size,
            if self.chaining { "on" } else { "off" },
            self.backend
        )
    }
}
