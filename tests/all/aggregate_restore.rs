//! Whole-input aggregates through a kill: a run killed with SIGKILL mid-stream and resumed from
//! its newest checkpoint writes exactly what an uninterrupted run writes — a Wasm aggregate
//! (accumulators in the component's own encoding) and built-in functions side by side.

use crate::exactly_once::{Running, committed_parts, resume, sorted};
use crate::harness::{job_file, udf, weir};
use std::path::Path;

/// Bids keyed by auction into a Wasm `sum_count` and into built-in count and sum, each
/// branch to its own file sink.
fn aggregates_job(dir: &Path, name: &str, out: &Path) -> std::path::PathBuf {
    let source = "datagen: { mode: bids, count: 40000, rate: 10000 }";
    job_file(
        dir,
        &format!("{name}.yaml"),
        &format!(
            "name: {name}\nparallelism: 2\ncheckpointing: {{ interval_ms: 250 }}\nmodules:\n  totals: {{ path: {:?} }}\npipeline:\n  - source: {{ {source} }}\n    name: wasm-bids\n  - key_by: {{ field: auction }}\n  - aggregate: {{ module: totals }}\n    name: wasm-totals\n  - sink: {{ file: {{ path: {:?} }} }}\n  - source: {{ {source} }}\n    name: builtin-bids\n  - key_by: {{ field: auction }}\n  - aggregate:\n      functions:\n        - {{ fn: count }}\n        - {{ fn: sum, field: price }}\n    name: builtin-totals\n  - sink: {{ file: {{ path: {:?} }} }}\n",
            udf("sum_count"),
            out.join("wasm").display().to_string(),
            out.join("builtin").display().to_string()
        ),
    )
}

#[test]
fn whole_input_aggregates_killed_mid_stream_resume_to_the_uninterrupted_totals() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (expected, out) = (dir.path().join("expected"), dir.path().join("out"));
    let checkpoints = dir.path().join("chk");
    let options = ["--checkpoint-dir", checkpoints.to_str().expect("utf-8")];
    let uninterrupted = aggregates_job(dir.path(), "uninterrupted", &expected);
    let args = [
        &["run", "-q"][..],
        &options,
        &[uninterrupted.to_str().expect("utf-8")],
    ]
    .concat();
    weir(&args, &[], None).expect_code(0);

    let job = aggregates_job(dir.path(), "killed", &out);
    let job = job.to_str().expect("utf-8");
    let mut first = Running::start(&[&["run", "-q"][..], &options, &[job]].concat(), &[]);
    first.wait_for_checkpoint(3);
    first.child.kill().expect("SIGKILL");
    first.wait();
    resume(
        &options,
        checkpoints.join("killed").to_str().expect("utf-8"),
        job,
    );
    for branch in ["wasm", "builtin"] {
        let totals = sorted(committed_parts(&out.join(branch)).into_values().flatten());
        let reference = sorted(
            committed_parts(&expected.join(branch))
                .into_values()
                .flatten(),
        );
        assert!(reference.len() > 100, "{branch}: one line per auction");
        assert_eq!(
            totals, reference,
            "{branch}: killed and resumed = uninterrupted"
        );
    }
}
