//! What a cluster refuses, each with a clear log line and nothing crashing: a TaskManager whose
//! certificate comes from another cluster, REST calls without the token, module bytes that do
//! not match their sha256.

use crate::harness::weir;
use crate::live_cluster::LiveCluster;

#[test]
fn a_taskmanager_from_another_cluster_is_refused_and_the_jobmanager_stays_up() {
    let cluster = LiveCluster::start(1, &[]);
    let other = tempfile::tempdir().expect("temp dir");
    let other_dir = other.path().join("other");
    weir(
        &["cluster", "init", other_dir.to_str().expect("utf-8")],
        &[],
        None,
    )
    .expect_code(0);
    let run = weir(
        &[
            "taskmanager",
            "--dir",
            other_dir.to_str().expect("utf-8"),
            "--jobmanager",
            &cluster.rpc,
        ],
        &[],
        None,
    );
    assert_ne!(run.code, 0, "the stranger gives up: {}", run.stderr);
    assert!(run.stderr.contains("certificate"), "{}", run.stderr);
    cluster.wait_for(
        "the refusal to be logged",
        std::time::Duration::from_secs(10),
        |c| {
            c.jobmanager_log()
                .contains("refused a TaskManager connection")
        },
    );
    assert_eq!(cluster.registered(), 0);
    cluster.rest(&["list"]).expect_code(0);
}

#[test]
fn rest_calls_without_the_token_are_refused_and_logged() {
    let cluster = LiveCluster::start(1, &[]);
    let run = weir(&["list", "--jobmanager", &cluster.rest], &[], None).expect_code(1);
    assert!(
        run.stderr.contains("401") && run.stderr.contains("no bearer token"),
        "{}",
        run.stderr
    );
    let wrong = weir(
        &["list", "--jobmanager", &cluster.rest, "--token", "0123"],
        &[],
        None,
    )
    .expect_code(1);
    assert!(
        wrong.stderr.contains("wrong bearer token"),
        "{}",
        wrong.stderr
    );
    let log = cluster.jobmanager_log();
    assert!(
        log.contains("refused a REST call with no bearer token"),
        "{log}"
    );
    assert!(log.contains("/v1/jobs"), "the log names the path: {log}");
    cluster.rest(&["list"]).expect_code(0);
}

#[test]
fn an_upload_whose_bytes_do_not_match_its_sha256_is_refused() {
    let cluster = LiveCluster::start(1, &[]);
    let client = cluster.client();
    // A component's preamble: the bytes are fine, the name they are announced under is not.
    let component = b"\0asm\x0d\0\x01\0".to_vec();
    let wrong = "0".repeat(64);
    let error = client
        .upload_module(&wrong, &component)
        .expect_err("refused");
    let message = error.to_string();
    assert!(
        message.contains("400") && message.contains("hashes to"),
        "{message}"
    );
    assert!(
        !client.has_module(&wrong).expect("lookup"),
        "nothing kept under the wrong name"
    );
    let core_module = b"\0asm\x01\0\0\0";
    let sha = weir_blob::paths::sha256_hex(core_module);
    let error = client
        .upload_module(&sha, core_module)
        .expect_err("refused");
    assert!(
        error.to_string().contains("not a WebAssembly component"),
        "{error}"
    );
    let log = cluster.jobmanager_log();
    assert_eq!(log.matches("refused a module upload").count(), 2, "{log}");
}
