//! The client: turns a job spec (YAML or the Rust builder API) into a JobGraph, building or
//! hashing the Wasm modules it needs. Everything it reports names the file, line and field.

#![deny(missing_docs)]

pub mod builder;
pub mod graph;
pub mod human;
pub mod modules;
mod progress;
pub mod rest;
pub mod spec;
pub mod udf;

use crate::graph::build_job_graph;
use spec::{LoadedSpec, SpecError};
use weir_proto::graph::JobGraph;

/// Builds the JobGraph of a loaded spec: resolves (and builds) its modules, checks its steps.
pub fn job_graph(loaded: &LoadedSpec, builder: &udf::UdfBuilder) -> Result<JobGraph, SpecError> {
    let modules = modules::resolve(loaded, builder)?;
    build_job_graph(&loaded.spec, &loaded.dir, &modules)
        .map_err(|e| loaded.error(&e.field, e.message, e.hint))
}
