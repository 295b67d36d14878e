//! Prometheus metrics (issue 7): the JobManager's and a TaskManager's `/metrics` parse with
//! Prometheus' own parser (Python `prometheus_client`), and their counters rise while a job
//! runs: records per vertex and task, Wasm calls per module.

use crate::harness::{job_file, repo, udf};
use crate::live_cluster::LiveCluster;
use std::time::Duration;

/// (name, labels, value) of every sample at `url`, parsed by `prometheus_client`.
pub(crate) fn scrape(url: &str, token: &str) -> Vec<(String, serde_json::Value, f64)> {
    let script = repo().join("tests/all/scripts/scrape.py");
    let out = std::process::Command::new("python3")
        .arg(&script)
        .args([url, token])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "{url} does not parse: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let samples: Vec<(String, serde_json::Value, f64)> =
        serde_json::from_slice(&out.stdout).expect("JSON samples");
    samples
}

/// The sum of samples named `name` whose labels include `label=value`.
pub(crate) fn total(
    samples: &[(String, serde_json::Value, f64)],
    name: &str,
    label: (&str, &str),
) -> f64 {
    samples
        .iter()
        .filter(|(n, labels, _)| n == name && labels[label.0] == label.1)
        .map(|(_, _, v)| v)
        .sum()
}

#[test]
fn jobmanager_and_taskmanager_metrics_parse_and_rise_while_a_job_runs() {
    let (cluster, tm_url) = LiveCluster::metered();
    let work = tempfile::tempdir().expect("temp dir");
    let job = job_file(
        work.path(),
        "metered.yaml",
        &format!(
            "name: metered\nparallelism: 2\nmodules:\n  count: {{ path: {:?} }}\npipeline:\n  - source: {{ datagen: {{ mode: sequence, count: 400000, rate: 40000, keys: 20 }} }}\n  - key_by: {{ field: key }}\n  - map: {{ module: count }}\n  - sink: {{ blackhole: {{}} }}\n",
            udf("running_count")
        ),
    );
    let id = cluster.submit_detached(&job);
    let jm_url = format!("{}/metrics", cluster.rest);
    let token = cluster.token();
    let records_in = |samples: &[(String, serde_json::Value, f64)]| {
        total(samples, "weir_vertex_records_in_total", ("job", &id))
    };
    cluster.wait_for("records to flow", Duration::from_secs(60), |_| {
        records_in(&scrape(&jm_url, &token)) > 0.0
    });
    let (jm_first, tm_first) = (scrape(&jm_url, &token), scrape(&tm_url, ""));
    cluster.wait_for("the counters to rise", Duration::from_secs(60), |_| {
        records_in(&scrape(&jm_url, &token)) > records_in(&jm_first)
    });
    let (jm_later, tm_later) = (scrape(&jm_url, &token), scrape(&tm_url, ""));
    assert!(records_in(&jm_later) > records_in(&jm_first));
    let tm_records = |s: &[(String, serde_json::Value, f64)]| {
        total(s, "weir_task_records_in_total", ("job", &id))
    };
    assert!(
        tm_records(&tm_later) > tm_records(&tm_first),
        "task counters rise on the TaskManager"
    );
    let calls = |s: &[(String, serde_json::Value, f64)]| {
        total(s, "weir_wasm_calls_total", ("module", "count"))
    };
    assert!(
        calls(&tm_later) > calls(&tm_first),
        "Wasm calls per module rise"
    );
    assert_eq!(
        total(&tm_later, "weir_wasm_traps_total", ("module", "count")),
        0.0
    );
    let bytes = |s: &[(String, serde_json::Value, f64)]| {
        total(s, "weir_task_bytes_out_total", ("job", &id))
    };
    assert!(bytes(&tm_later) > bytes(&tm_first), "bytes out rise");
    for samples in [&jm_later, &tm_later] {
        assert!(
            samples
                .iter()
                .any(|(n, _, v)| n == "weir_process_resident_bytes" && *v > 1e6),
            "each process reports its memory"
        );
    }
    let taskmanagers = cluster.client().taskmanagers().expect("taskmanagers");
    assert!(
        taskmanagers[0]
            .resident_bytes
            .is_some_and(|b| b > 1_000_000),
        "heartbeats carry the TaskManager's memory"
    );
    let gauge = |name: &str| {
        jm_later
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, v)| *v)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(gauge("weir_taskmanagers"), 1.0);
    assert_eq!(gauge("weir_slots"), 2.0);
    assert_eq!(
        total(&jm_later, "weir_jobs", ("status", "running")),
        1.0,
        "one running job"
    );
    // Without the token the JobManager's metrics are refused like any REST route.
    let refused = std::process::Command::new("python3")
        .arg(repo().join("tests/all/scripts/scrape.py"))
        .arg(&jm_url)
        .output()
        .expect("python3");
    assert!(!refused.status.success(), "metrics without the token");
    cluster.rest(&["cancel", &id]).expect_code(0);
}
