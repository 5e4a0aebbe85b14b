//! Running `nasdaq-cli` as a user does: its own binary, a scrubbed
//! environment, an empty working directory.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "a module shared by test files, each using a different part"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};

/// A scratch working directory and home for one test.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).expect("write fixture");
        path
    }

    /// Writes a file as one written a minute ago: the table cache stores
    /// the table of a local file only once its time can tell a rewrite.
    #[allow(dead_code)]
    pub fn write_settled(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.write(name, contents);
        settle(&path);
        path
    }

    /// The command, with nothing of the caller's environment but PATH.
    pub fn command(&self) -> Command {
        self.command_for(env!("CARGO_BIN_EXE_nasdaq-cli"))
    }

    /// Another program, in the same scrubbed environment.
    pub fn command_for(&self, program: &str) -> Command {
        let mut command = Command::new(program);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CACHE_HOME", self.dir.path().join(".cache"))
            // Tests never probe the real instance-metadata address: nothing listens on port 1.
            .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
            .current_dir(self.dir.path());
        command
    }

    /// The command pointed at an S3 endpoint (plain http allowed) with these keys.
    pub fn s3_command(&self, endpoint: &str, key_id: &str, secret: &str) -> Command {
        let mut command = self.command();
        command
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ALLOW_HTTP", "true")
            .env("AWS_ACCESS_KEY_ID", key_id)
            .env("AWS_SECRET_ACCESS_KEY", secret);
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command().args(args).output().expect("nasdaq-cli runs")
    }

    /// Names of the files in the sandbox directory, sorted.
    pub fn files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.dir.path())
            .expect("read dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

/// Runs the commands at once and waits for all: their outputs, in order.
#[allow(dead_code)]
pub fn run_at_once(commands: impl IntoIterator<Item = Command>) -> Vec<Output> {
    let children: Vec<_> = commands
        .into_iter()
        .map(|mut command| {
            command
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("the command starts")
        })
        .collect();
    children
        .into_iter()
        .map(|child| child.wait_with_output().expect("the command ends"))
        .collect()
}

/// Sets `path`'s modification time a minute back.
#[allow(dead_code)]
pub fn settle(path: &std::path::Path) {
    let minute_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(minute_ago))
        .expect("set the file's time");
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The Python interpreter with pyarrow that the test command installs.
///
/// Under CI (`CI=true`) its absence fails the test; locally the test is
/// skipped with a loud message.
pub fn python_with_pyarrow() -> Option<PathBuf> {
    let candidate = std::env::var_os("NASDAQ_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"));
    let works = Command::new(&candidate)
        .args(["-c", "import pyarrow"])
        .output()
        .is_ok_and(|o| o.status.success());
    if works {
        return Some(candidate);
    }
    let message = format!(
        "no Python with pyarrow at {} (set NASDAQ_TEST_PYTHON; scripts/test.sh installs one)",
        candidate.display()
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{message}");
    }
    eprintln!("\n!!!!! SKIPPED: {message} !!!!!\n");
    None
}

/// Runs a Python snippet with `path` as `sys.argv[1]`; returns its stdout.
pub fn python(interpreter: &Path, code: &str, path: &Path) -> String {
    let output = Command::new(interpreter)
        .args(["-c", code])
        .arg(path)
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "python failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Sends `signal` (libc::SIGINT, ...) to a child process.
pub fn signal(child: &Child, signal: i32) {
    let pid = i32::try_from(child.id()).unwrap();
    assert_eq!(unsafe_kill(pid, signal), 0);
}

#[allow(unsafe_code, reason = "sending a signal to our own child process")]
fn unsafe_kill(pid: i32, signal: i32) -> i32 {
    // SAFETY: kill(2) has no memory-safety preconditions.
    unsafe { libc::kill(pid, signal) }
}
