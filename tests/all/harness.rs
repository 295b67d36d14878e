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
