//! The cluster on three hosts: a JobManager and two TaskManagers in separate network namespaces
//! (veth pairs on a bridge, one address each), running the same job as the embedded run with the
//! same output. Needs root (`ip netns`), as CI here has.

use crate::cluster_jobs::{sorted_lines, wordcount_job};
use crate::harness::weir;
use crate::live_cluster::LiveCluster;
use std::process::Command;

/// Three namespaces on a bridge, removed on drop.
struct Hosts {
    prefix: String,
    subnet: String,
}

fn ip(args: &[&str]) {
    let output = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        output.status.success(),
        "ip {}: {}\n  (this test needs root and `ip netns`)",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Hosts {
    fn new() -> Self {
        let id = std::process::id() % 100_000;
        let hosts = Hosts {
            prefix: format!("w{id}"),
            subnet: format!("10.78.{}", id % 250),
        };
        let bridge = format!("{}br", hosts.prefix);
        ip(&["link", "add", &bridge, "type", "bridge"]);
        ip(&["link", "set", &bridge, "up"]);
        ip(&[
            "addr",
            "add",
            &format!("{}.254/24", hosts.subnet),
            "dev",
            &bridge,
        ]);
        for i in 1..=3 {
            let ns = hosts.namespace(i);
            let veth = format!("{}v{i}", hosts.prefix);
            ip(&["netns", "add", &ns]);
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ]);
            ip(&["link", "set", &veth, "master", &bridge, "up"]);
            ip(&[
                "-n",
                &ns,
                "addr",
                "add",
                &format!("{}/24", hosts.address(i)),
                "dev",
                "eth0",
            ]);
            ip(&["-n", &ns, "link", "set", "eth0", "up"]);
            ip(&["-n", &ns, "link", "set", "lo", "up"]);
        }
        hosts
    }

    fn namespace(&self, i: u32) -> String {
        format!("{}n{i}", self.prefix)
    }

    fn address(&self, i: u32) -> String {
        format!("{}.{i}", self.subnet)
    }
}

impl Drop for Hosts {
    fn drop(&mut self) {
        for i in 1..=3 {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.namespace(i)])
                .status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &format!("{}br", self.prefix)])
            .status();
    }
}

#[test]
fn a_jobmanager_and_two_taskmanagers_on_three_addresses_write_the_embedded_output() {
    let hosts = Hosts::new();
    let jobmanager_ns = hosts.namespace(1);
    let mut cluster = LiveCluster::start_in(2, Some(&jobmanager_ns), &hosts.address(1), &[]);
    let (tm1, tm2) = (hosts.namespace(2), hosts.namespace(3));
    cluster.add_taskmanager(Some(&tm1), &[], 1);
    cluster.add_taskmanager(Some(&tm2), &[], 2);
    let addresses: Vec<String> = cluster
        .client()
        .taskmanagers()
        .expect("taskmanagers")
        .into_iter()
        .map(|tm| {
            tm.data_address
                .rsplit_once(':')
                .map(|(a, _)| a.to_string())
                .unwrap_or_default()
        })
        .collect();
    let mut addresses_sorted = addresses.clone();
    addresses_sorted.sort();
    assert_eq!(
        addresses_sorted,
        [hosts.address(2), hosts.address(3)],
        "each TaskManager on its own host"
    );

    let work = tempfile::tempdir().expect("temp dir");
    let embedded_out = work.path().join("embedded.jsonl");
    let embedded = wordcount_job(work.path(), &embedded_out);
    weir(&["run", "-q", embedded.to_str().expect("utf-8")], &[], None).expect_code(0);
    let cluster_out = work.path().join("cluster.jsonl");
    cluster
        .submit(&wordcount_job(work.path(), &cluster_out), &[], &[])
        .expect_code(0);
    let expected = sorted_lines(&embedded_out);
    assert!(expected.len() > 300);
    assert_eq!(sorted_lines(&cluster_out), expected);
}
