//! A real S3 server for the tests: moto in server mode on 127.0.0.1, on a
//! port the OS picks, stopped when the [`S3TestServer`] drops (and in any
//! case when the test process exits: the server quits when its stdin closes).
//!
//! The Python interpreter is `NASDAQ_TEST_PYTHON` (set by `scripts/test.sh`
//! to its venv), else `python3`. When the server cannot start, under CI
//! (`CI=true`) the test fails; locally it is skipped with a loud message.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const SCRIPT: &str = include_str!("../python/s3_server.py");

/// Access keys of an IAM user on an auth-enforcing server.
#[derive(Clone)]
pub struct TestUser {
    /// The access key id.
    pub key_id: String,
    /// The secret access key.
    pub secret: String,
}

impl std::fmt::Debug for TestUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestUser")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// A running moto S3 server.
#[derive(Debug)]
pub struct S3TestServer {
    child: Child,
    _stdin: ChildStdin,
    log: tempfile::NamedTempFile,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// IAM users by name (`admin`, `reader`, `assumer`) when auth is enforced.
    pub users: HashMap<String, TestUser>,
    /// The ARN of the role `s3-reader` (read only), when auth is enforced.
    pub role_arn: Option<String>,
    /// Temporary credentials of that role from the server's STS, when auth is enforced.
    pub session: Option<TestSession>,
}

/// Temporary credentials (key, secret, session token) issued by STS.
#[derive(Clone)]
pub struct TestSession {
    /// The access key id.
    pub key_id: String,
    /// The secret access key.
    pub secret: String,
    /// The session token.
    pub token: String,
}

impl std::fmt::Debug for TestSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestSession")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// The interpreter the tests use.
pub fn python() -> PathBuf {
    std::env::var_os("NASDAQ_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("python3"))
}

/// Whether the test run is CI, where nothing may be skipped.
pub fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Fails under CI; elsewhere prints a loud skip message. Returns `None` to skip.
pub fn skip_or_fail<T>(what: &str, why: &str) -> Option<T> {
    let message =
        format!("{what} unavailable: {why} (run `bash scripts/test.sh`, which installs it)");
    if under_ci() {
        panic!("{message}");
    }
    eprintln!("\n!!!!! SKIPPED: {message} !!!!!\n");
    None
}

impl S3TestServer {
    /// Starts a server without auth, with `buckets` created.
    pub fn start(buckets: &[&str]) -> Option<Self> {
        Self::launch(buckets, false)
    }

    /// Starts a server that enforces IAM auth, with `buckets` created, the
    /// users `admin` (s3:*), `reader` (get and list only) and `assumer`
    /// (nothing but assuming the role [`Self::role_arn`], which may read).
    pub fn start_with_auth(buckets: &[&str]) -> Option<Self> {
        Self::launch(buckets, true)
    }

    /// [`Self::start_with_auth`], plus one user per `(name, policy)` with that
    /// IAM policy document attached exactly as given.
    pub fn start_with_policies(buckets: &[&str], policies: &[(&str, &str)]) -> Option<Self> {
        let documents: serde_json::Map<String, serde_json::Value> = policies
            .iter()
            .map(|(name, policy)| ((*name).to_owned(), serde_json::Value::from(*policy)))
            .collect();
        Self::launch_with(
            buckets,
            true,
            &serde_json::Value::Object(documents).to_string(),
        )
    }

    fn launch(buckets: &[&str], auth: bool) -> Option<Self> {
        Self::launch_with(buckets, auth, "{}")
    }

    fn launch_with(buckets: &[&str], auth: bool, policies: &str) -> Option<Self> {
        let log = tempfile::NamedTempFile::new().expect("temp file for the server log");
        let spawned = Command::new(python())
            .arg("-c")
            .arg(SCRIPT)
            .env("NASDAQ_S3_AUTH", if auth { "1" } else { "0" })
            .env("NASDAQ_S3_BUCKETS", buckets.join(","))
            .env("NASDAQ_S3_POLICIES", policies)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log.reopen().expect("server log"))
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(err) => {
                return skip_or_fail(
                    "the S3 test server (moto)",
                    &format!("cannot run {}: {err}", python().display()),
                );
            }
        };
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let info: serde_json::Value = match serde_json::from_str(&line) {
            Ok(info) => info,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let mut text = String::new();
                let _ = log.reopen().and_then(|mut f| f.read_to_string(&mut text));
                let tail: String = text
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect::<Vec<_>>()
                    .join("\n");
                return skip_or_fail(
                    "the S3 test server (moto)",
                    &format!("it did not start:\n{tail}"),
                );
            }
        };
        let port = info["port"].as_u64().expect("port");
        let users = info["users"]
            .as_object()
            .map(|users| {
                users
                    .iter()
                    .map(|(name, keys)| {
                        let text = |k: &str| keys[k].as_str().unwrap_or_default().to_owned();
                        (
                            name.clone(),
                            TestUser {
                                key_id: text("key_id"),
                                secret: text("secret"),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(Self {
            child,
            _stdin: stdin,
            log,
            endpoint: format!("http://127.0.0.1:{port}"),
            users,
            role_arn: info["role_arn"].as_str().map(str::to_owned),
            session: info["session"].as_object().map(|session| {
                let text = |k: &str| session[k].as_str().unwrap_or_default().to_owned();
                TestSession {
                    key_id: text("key_id"),
                    secret: text("secret"),
                    token: text("token"),
                }
            }),
        })
    }

    /// The user `name` of an auth-enforcing server.
    pub fn user(&self, name: &str) -> &TestUser {
        self.users
            .get(name)
            .unwrap_or_else(|| panic!("no test user {name}"))
    }

    /// The number of logged requests once the log has stopped growing (the
    /// server writes a line after each response: wait for the last ones).
    pub fn settled_request_count(&self) -> usize {
        let mut last = self.requests().len();
        let mut stable_since = std::time::Instant::now();
        let started = std::time::Instant::now();
        while stable_since.elapsed() < Duration::from_millis(400)
            && started.elapsed() < Duration::from_secs(10)
        {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.requests().len();
            if now != last {
                last = now;
                stable_since = std::time::Instant::now();
            }
        }
        last
    }

    /// The server's request log so far (one line per HTTP request).
    pub fn requests(&self) -> Vec<String> {
        let mut text = String::new();
        let _ = self
            .log
            .reopen()
            .and_then(|mut f| f.read_to_string(&mut text));
        text.lines()
            .filter(|l| {
                ["GET /", "PUT /", "HEAD /", "POST /", "DELETE /"]
                    .iter()
                    .any(|m| l.contains(m))
            })
            // Strip the colour codes werkzeug puts around error lines.
            .map(|l| {
                l.replace("\u{1b}[31m", "")
                    .replace("\u{1b}[1m", "")
                    .replace("\u{1b}[0m", "")
            })
            .collect()
    }
}

impl Drop for S3TestServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
