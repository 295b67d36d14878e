//! The web dashboard (issue 7) in a real browser: headless Chromium, driven by Playwright,
//! opens the JobManager's page for a running job, finds every vertex of its graph with a
//! non-zero rate, opens a vertex's detail, and saves a screenshot as a test artifact
//! (`<target>/release/test-artifacts/dashboard.png`).

use crate::harness::{job_file, repo, udf, weir_bin};
use crate::live_cluster::LiveCluster;
use std::time::Duration;

#[test]
fn the_dashboard_draws_a_running_jobs_graph_with_live_rates_and_opens_a_vertex() {
    let mut cluster = LiveCluster::start(1, &[]);
    cluster.add_taskmanager(None, &["--slots", "2"], 1);
    let work = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        work.path(),
        "watched.yaml",
        &format!(
            "name: watched\nparallelism: 2\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, rate: 20000, keys: 20 }} }}\n    name: numbers\n  - key_by: {{ field: key }}\n  - map: {{ module: count }}\n    name: counter\n  - sink: {{ blackhole: {{}} }}\n    name: out\n    parallelism: 1\n",
            udf("running_count")
        ),
    );
    let id = cluster.submit_detached(&job);
    cluster.wait_for("the job to run", Duration::from_secs(60), |c| {
        c.client()
            .job(&id)
            .is_ok_and(|v| v.summary.status.to_string() == "running")
    });
    let graph_vertices = 3; // numbers → key_by; counter (after the hash exchange); out (p=1)
    let artifacts = weir_bin().parent().expect("bin dir").join("test-artifacts");
    std::fs::create_dir_all(&artifacts).expect("artifacts");
    let screenshot = artifacts.join("dashboard.png");
    let _ = std::fs::remove_file(&screenshot);
    let out = std::process::Command::new("node")
        .arg(repo().join("tests/browser/dashboard.mjs"))
        .arg(&cluster.rest)
        .arg(cluster.token())
        .arg(&screenshot)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "the browser run failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let vertices = seen["vertices"].as_array().expect("vertices");
    assert_eq!(vertices.len(), graph_vertices, "{seen}");
    assert!(
        vertices
            .iter()
            .all(|v| v["rate"].as_f64().unwrap_or(0.0) > 0.0),
        "every vertex shows a rate: {seen}"
    );
    let texts: Vec<&str> = vertices.iter().filter_map(|v| v["text"].as_str()).collect();
    for step in ["numbers", "counter", "out"] {
        assert!(
            texts.iter().any(|t| t.contains(step)),
            "{step} in {texts:?}"
        );
    }
    assert!(
        seen["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .any(|e| e == "hash"),
        "the keyed exchange is labelled: {seen}"
    );
    let detail = seen["detail"].as_str().expect("detail");
    assert!(
        detail.contains("Records in") && detail.contains("Backpressured"),
        "{detail}"
    );
    assert!(
        seen["errors"].as_array().expect("errors").is_empty(),
        "{seen}"
    );
    assert!(
        std::fs::metadata(&screenshot).expect("screenshot").len() > 10_000,
        "a screenshot of the page"
    );
    // The source holds itself to 20,000 records/s: its waits are idle time, not busy time.
    let view = cluster.client().job(&id).expect("job");
    let source = &view.progress.vertices[0];
    assert!(
        source.busy_ratio < 0.5,
        "a paced source is mostly idle: busy {:.2}",
        source.busy_ratio
    );
    cluster.rest(&["cancel", &id]).expect_code(0);
}
