//! Running the `weir` binary in tests.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository root.
pub(crate) fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The `weir` binary: `$WEIR_BIN`, else the one built beside this test binary.
pub(crate) fn weir_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("WEIR_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("weir");
    assert!(
        bin.exists(),
        "{} is missing: build it first (cargo build --release -p weir)",
        bin.display()
    );
    bin
}

/// One Weir home for the whole test run, so modules compile and build once.
pub(crate) fn weir_home() -> PathBuf {
    let home = weir_bin().parent().expect("bin dir").join("weir-test-home");
    std::fs::create_dir_all(&home).expect("create test WEIR_HOME");
    home
}

/// The result of one `weir` run.
pub(crate) struct Run {
    pub(crate) code: i32,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
}

impl Run {
    /// Panics with the whole output unless the run exited with `code`.
    pub(crate) fn expect_code(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "weir exited {} (expected {code})\nstdout:\n{}\nstderr:\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// Runs `weir args...` with extra environment variables and optional stdin.
pub(crate) fn weir(args: &[&str], env: &[(&str, &str)], stdin: Option<&[u8]>) -> Run {
    let mut command = Command::new(weir_bin());
    command
        .args(args)
        .env("WEIR_HOME", weir_home())
        .env("WEIR_LOG", "warn")
        .current_dir(repo());
    // UDF builds must not use the test run's target directory: cargo holds its lock while tests run.
    command.env_remove("CARGO_TARGET_DIR");
    for (key, value) in env {
        command.env(key, value);
    }
    command.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    command.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = command.spawn().expect("spawn weir");
    if let Some(input) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(input).expect("write stdin");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait for weir");
    let run = Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    };
    // Guests' own panics are logged and quoted (that is the point); weir's never may be.
    let host_panic = ["thread 'main' panicked", "thread 'weir-", "task panicked"]
        .iter()
        .any(|p| run.stderr.contains(p));
    assert!(!host_panic, "weir panicked:\n{}", run.stderr);
    run
}

/// Writes a job spec into `dir` and returns its path.
pub(crate) fn job_file(dir: &Path, name: &str, yaml: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, yaml).expect("write job spec");
    path
}

/// Polls `check` every 300 ms until it returns `Ok`, failing the test after `timeout` with
/// `what` and the last `Err` (what was seen). `check` may panic at once on a state that can
/// no longer turn out right.
pub(crate) fn wait_until<T: std::fmt::Debug>(
    what: &str,
    timeout: std::time::Duration,
    mut check: impl FnMut() -> Result<(), T>,
) {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let seen = match check() {
            Ok(()) => return,
            Err(seen) => seen,
        };
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}; last seen: {seen:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
}

/// Runs job spec `yaml` (written into `dir` as `name`) and checks that it fails with an error
/// that says `named` (an address, a topic: what a user must see to fix it); its stderr.
pub(crate) fn fails_naming(dir: &Path, name: &str, yaml: &str, named: &str) -> String {
    let job = job_file(dir, name, yaml);
    let run = weir(&["run", "-q", job.to_str().expect("utf-8")], &[], None);
    assert_ne!(run.code, 0, "{name} must fail");
    assert!(run.stderr.contains(named), "{name}: {}", run.stderr);
    run.stderr
}

/// A UDF source directory of the examples (`udfs/rust/NAME`) or of the test UDFs.
pub(crate) fn udf(name: &str) -> String {
    let example = repo().join("udfs/rust").join(name);
    let path = if example.exists() {
        example
    } else {
        repo().join("tests/udfs/rust").join(name)
    };
    path.display().to_string()
}

/// A `weir` process fed line by line: its stdin, and its stdout lines as they come.
pub(crate) struct Interactive {
    pub(crate) child: std::process::Child,
    pub(crate) stdin: Option<std::process::ChildStdin>,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Interactive {
    /// Starts `weir args...` with piped stdin and stdout (stderr goes to the test's).
    pub(crate) fn start(args: &[&str]) -> Self {
        let mut child = Command::new(weir_bin())
            .args(args)
            .env("WEIR_HOME", weir_home())
            .env_remove("CARGO_TARGET_DIR")
            .current_dir(repo())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn weir");
        let stdout = child.stdout.take().expect("stdout");
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Interactive {
            stdin: child.stdin.take(),
            child,
            lines,
        }
    }

    /// Writes `line` and a newline to its stdin, flushed.
    pub(crate) fn send(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin still open");
        writeln!(stdin, "{line}").expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    /// The next stdout line, waiting up to 30 s (then the process is killed and the test fails).
    pub(crate) fn next_line(&mut self, what: &str) -> String {
        match self.lines.recv_timeout(std::time::Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = self.child.kill();
                panic!("no output line while waiting for {what}");
            }
        }
    }

    /// Closes stdin, waits for a successful exit, and returns the lines not read yet.
    pub(crate) fn finish(mut self) -> Vec<String> {
        drop(self.stdin.take());
        let status = self.child.wait().expect("wait for weir");
        assert!(status.success(), "weir exited with {status}");
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(std::time::Duration::from_secs(5)) {
            rest.push(line);
        }
        rest
    }
}

/// The id of the newest completed checkpoint (`chk-N` with a `_metadata`) under `storage`.
pub(crate) fn newest_checkpoint(storage: &Path) -> u64 {
    std::fs::read_dir(storage)
        .expect("checkpoint storage")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("_metadata").is_file())
        .filter_map(|e| {
            e.file_name()
                .to_string_lossy()
                .strip_prefix("chk-")
                .and_then(|n| n.parse().ok())
        })
        .max()
        .unwrap_or(0)
}

/// `weir run`'s summary line `checkpoints: N completed, the last (#id) in T ms over K tasks`:
/// the line, and N.
pub(crate) fn checkpoint_summary(stderr: &str) -> (String, u64) {
    let summary = stderr
        .lines()
        .find(|l| l.starts_with("checkpoints: "))
        .unwrap_or_else(|| panic!("no checkpoint completed:\n{stderr}"));
    let completed = summary
        .trim_start_matches("checkpoints: ")
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    (summary.to_string(), completed)
}
