//! `weir cluster init`: every file a cluster needs, secrets private, never overwritten.

use crate::harness::weir;
use std::os::unix::fs::PermissionsExt;

#[test]
fn cluster_init_writes_certificates_and_a_token_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cluster = dir.path().join("cluster");
    let path = cluster.to_str().expect("utf-8");
    let run = weir(&["cluster", "init", path, "--taskmanagers", "3"], &[], None).expect_code(0);
    for file in [
        "ca.pem",
        "ca-key.pem",
        "jobmanager.pem",
        "taskmanager-3-key.pem",
        "rest-token",
        "cluster.json",
    ] {
        assert!(cluster.join(file).exists(), "{file} written");
        assert!(
            run.stdout.contains(file),
            "summary names {file}: {}",
            run.stdout
        );
    }
    for secret in [
        "ca-key.pem",
        "jobmanager-key.pem",
        "taskmanager-1-key.pem",
        "rest-token",
    ] {
        let mode = std::fs::metadata(cluster.join(secret))
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{secret} is private");
    }
    let token = std::fs::read_to_string(cluster.join("rest-token")).expect("token");
    assert_eq!(token.trim().len(), 64, "256 random bits in hex");
    let chain = std::fs::read_to_string(cluster.join("taskmanager-2.pem")).expect("certificate");
    assert_eq!(
        chain.matches("BEGIN CERTIFICATE").count(),
        2,
        "node certificate and CA"
    );
    let before = std::fs::read(cluster.join("ca.pem")).expect("ca");
    let again = weir(&["cluster", "init", path], &[], None).expect_code(2);
    assert!(
        again.stderr.contains("already holds a cluster"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read(cluster.join("ca.pem")).expect("ca"),
        before,
        "nothing overwritten"
    );
}
