//! End-to-end tests: the real `weir` binary running real jobs with real compiled Wasm UDFs.
//! Each test asserts exact outputs — whole results, counts with nothing lost or duplicated.

mod builtins;
mod checkpoints;
mod cluster;
mod cluster_backpressure;
mod cluster_jobs;
mod cluster_netns;
mod cluster_recovery;
mod cluster_refusals;
mod dashboard;
mod dead_letters;
mod errors;
mod exactly_once;
mod finished_tasks;
mod harness;
mod kafka;
mod kafka_example;
mod kafka_lag;
mod languages;
mod lateness;
mod live_cluster;
mod metrics;
mod nexmark;
mod nexmark_windows;
mod one_supervisor;
mod operator_restore;
mod postgres;
mod rest_api;
mod servers;
mod shapes;
mod state_memory;
mod stateful_udfs;
mod udf_cli;
mod unaligned;
mod windows;
mod wordcount;
