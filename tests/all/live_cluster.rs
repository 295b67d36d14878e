//! A real cluster for tests: `weir cluster init`, a `weir jobmanager` and `weir taskmanager`
//! processes on loopback (or inside network namespaces), killed when the test ends.

use crate::harness::{Run, weir, weir_bin, weir_home};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running cluster.
pub(crate) struct LiveCluster {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) rpc: String,
    pub(crate) rest: String,
    jobmanager: Child,
    pub(crate) taskmanagers: Vec<Child>,
}

/// A command that runs `weir args...`, optionally inside network namespace `netns`.
pub(crate) fn weir_command(netns: Option<&str>, args: &[&str]) -> Command {
    let mut command = match netns {
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(weir_bin());
            c
        }
        None => Command::new(weir_bin()),
    };
    command
        .args(args)
        .env("WEIR_HOME", weir_home())
        .env("WEIR_LOG", "info")
        .env_remove("CARGO_TARGET_DIR");
    command
}

impl LiveCluster {
    /// A cluster directory with `identities` TaskManager certificates and a JobManager with
    /// `jobmanager_args`, not yet any TaskManager.
    pub(crate) fn start(identities: u32, jobmanager_args: &[&str]) -> Self {
        Self::start_in(identities, None, "127.0.0.1", jobmanager_args)
    }

    /// Like [`LiveCluster::start`], the JobManager in namespace `netns` bound to `address`.
    pub(crate) fn start_in(
        identities: u32,
        netns: Option<&str>,
        address: &str,
        jobmanager_args: &[&str],
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster = dir.path().join("cluster");
        weir(
            &[
                "cluster",
                "init",
                cluster.to_str().expect("utf-8"),
                "--taskmanagers",
                &identities.to_string(),
            ],
            &[],
            None,
        )
        .expect_code(0);
        let rpc = format!("{address}:0");
        let rest = format!("{address}:0");
        let mut args = vec![
            "jobmanager",
            "--dir",
            cluster.to_str().expect("utf-8"),
            "--rpc",
            &rpc,
            "--rest",
            &rest,
        ];
        args.extend_from_slice(jobmanager_args);
        let log = std::fs::File::create(dir.path().join("jobmanager.log")).expect("log");
        let mut jobmanager = weir_command(netns, &args)
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn jobmanager");
        let stdout = jobmanager.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut endpoint = |prefix: &str| {
            let line = lines
                .next()
                .and_then(Result::ok)
                .unwrap_or_else(|| panic!("the jobmanager printed no `{prefix}` line"));
            line.strip_prefix(prefix)
                .unwrap_or_else(|| panic!("expected `{prefix}...`, got {line:?}"))
                .to_string()
        };
        let rpc = endpoint("rpc ");
        let rest = endpoint("rest ");
        LiveCluster {
            dir,
            rpc,
            rest,
            jobmanager,
            taskmanagers: Vec::new(),
        }
    }

    /// The cluster directory.
    pub(crate) fn cluster_dir(&self) -> PathBuf {
        self.dir.path().join("cluster")
    }

    /// The JobManager's log so far.
    pub(crate) fn jobmanager_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("jobmanager.log")).unwrap_or_default()
    }

    /// The log of the `index`th TaskManager started.
    pub(crate) fn taskmanager_log(&self, index: usize) -> String {
        std::fs::read_to_string(self.dir.path().join(format!("taskmanager-{index}.log")))
            .unwrap_or_default()
    }

    /// Starts a TaskManager with `extra` arguments and waits until the JobManager lists
    /// `expect_registered` TaskManagers.
    pub(crate) fn add_taskmanager(
        &mut self,
        netns: Option<&str>,
        extra: &[&str],
        expect_registered: usize,
    ) {
        self.add_taskmanager_with_env(netns, extra, &[], expect_registered);
    }

    /// [`LiveCluster::add_taskmanager`] with extra environment variables.
    pub(crate) fn add_taskmanager_with_env(
        &mut self,
        netns: Option<&str>,
        extra: &[&str],
        env: &[(&str, &str)],
        expect_registered: usize,
    ) {
        let index = self.taskmanagers.len();
        let cluster = self.cluster_dir();
        let mut args = vec![
            "taskmanager",
            "--dir",
            cluster.to_str().expect("utf-8"),
            "--jobmanager",
            &self.rpc,
        ];
        args.extend_from_slice(extra);
        let log = std::fs::File::create(self.dir.path().join(format!("taskmanager-{index}.log")))
            .expect("log");
        let out = std::fs::File::create(self.dir.path().join(format!("taskmanager-{index}.out")))
            .expect("out");
        let child = weir_command(netns, &args)
            .envs(env.iter().copied())
            .stdout(out)
            .stderr(log)
            .spawn()
            .expect("spawn taskmanager");
        self.taskmanagers.push(child);
        self.wait_for("TaskManagers to register", Duration::from_secs(30), |c| {
            c.registered() == expect_registered
        });
    }

    /// A cluster of one TaskManager with two slots and a `/metrics` endpoint, and that
    /// endpoint's URL.
    pub(crate) fn metered() -> (Self, String) {
        let mut cluster = LiveCluster::start(1, &[]);
        cluster.add_taskmanager(None, &["--slots", "2", "--metrics", "127.0.0.1:0"], 1);
        let url = cluster.taskmanager_metrics_url(0);
        (cluster, url)
    }

    /// The `/metrics` URL TaskManager `index` (started with `--metrics ADDR`) logged.
    fn taskmanager_metrics_url(&self, index: usize) -> String {
        let log = self.taskmanager_log(index);
        log.split_whitespace()
            .find_map(|word| {
                word.strip_prefix("metrics=")
                    .map(|u| u.trim_matches('"').to_string())
            })
            .unwrap_or_else(|| panic!("no metrics address in the TaskManager log:\n{log}"))
    }

    /// Stops every TaskManager; what each printed on stdout (its stdout sinks' records).
    pub(crate) fn stop_taskmanagers(&mut self) -> Vec<String> {
        for child in &mut self.taskmanagers {
            let _ = child.kill();
            let _ = child.wait();
        }
        (0..self.taskmanagers.len())
            .map(|index| {
                let out = self.dir.path().join(format!("taskmanager-{index}.out"));
                std::fs::read_to_string(out).expect("a TaskManager's stdout")
            })
            .collect()
    }

    /// How many TaskManagers the JobManager lists.
    pub(crate) fn registered(&self) -> usize {
        self.client().taskmanagers().map(|t| t.len()).unwrap_or(0)
    }

    /// The REST token.
    pub(crate) fn token(&self) -> String {
        std::fs::read_to_string(self.cluster_dir().join("rest-token"))
            .expect("token")
            .trim()
            .to_string()
    }

    /// A REST client with the token.
    pub(crate) fn client(&self) -> weir_client::rest::RestClient {
        weir_client::rest::RestClient::new(&self.rest, Some(self.token()))
    }

    /// Runs `weir <args> --jobmanager URL --dir DIR` (a client command).
    pub(crate) fn rest(&self, args: &[&str]) -> Run {
        let cluster = self.cluster_dir();
        let mut all: Vec<&str> = args.to_vec();
        all.extend_from_slice(&[
            "--jobmanager",
            &self.rest,
            "--dir",
            cluster.to_str().expect("utf-8"),
        ]);
        weir(&all, &[], None)
    }

    /// Runs `weir submit JOB` against the cluster with `env`.
    pub(crate) fn submit(&self, job: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
        let cluster = self.cluster_dir();
        let mut args = vec![
            "submit",
            job.to_str().expect("utf-8"),
            "--jobmanager",
            &self.rest,
            "--dir",
            cluster.to_str().expect("utf-8"),
        ];
        args.extend_from_slice(extra);
        weir(&args, env, None)
    }

    /// Submits `job` with `--detach`; returns the job's id.
    pub(crate) fn submit_detached(&self, job: &Path) -> String {
        self.submit(job, &["--detach"], &[])
            .expect_code(0)
            .stdout
            .trim()
            .to_string()
    }

    /// Polls `condition` every 100 ms until it holds, failing the test after `timeout`.
    pub(crate) fn wait_for(
        &self,
        what: &str,
        timeout: Duration,
        mut condition: impl FnMut(&Self) -> bool,
    ) {
        let start = Instant::now();
        while !condition(self) {
            assert!(
                start.elapsed() < timeout,
                "timed out waiting for {what}\njobmanager log:\n{}",
                self.jobmanager_log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for LiveCluster {
    fn drop(&mut self) {
        for child in self
            .taskmanagers
            .iter_mut()
            .chain(std::iter::once(&mut self.jobmanager))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
