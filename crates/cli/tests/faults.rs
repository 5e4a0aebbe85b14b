//! Resilience under injected faults: a fault proxy between `nasdaq-cli` and
//! a real S3 server (moto), each test its own server, proxy and cache.

mod common;

use std::process::{Command, Output};

use common::{Sandbox, stderr, stdout};
use nasdaq_testkit::{Fault, FaultProxy, S3TestServer};

const SAMPLE: &[u8] = include_bytes!("../../../data/sample/NASDAQ.csv");
const URI: &str = "s3://market/NASDAQ.csv";
const KEY_ID: &str = "AKIATESTKEY0000";
const SECRET: &str = "testsecret";

struct Rig {
    server: S3TestServer,
    proxy: FaultProxy,
    sandbox: Sandbox,
}

impl Rig {
    /// Server, proxy, and the sample uploaded (with its SHA-256) straight to the server.
    fn new() -> Option<Self> {
        let server = S3TestServer::start(&["market"])?;
        let proxy = FaultProxy::start(&server.endpoint);
        let sandbox = Sandbox::new();
        sandbox.write("upload.csv", SAMPLE);
        let rig = Self {
            server,
            proxy,
            sandbox,
        };
        let out = rig
            .direct()
            .args(["upload", "upload.csv", URI])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        Some(rig)
    }

    fn base(&self, endpoint: &str) -> Command {
        let mut command = self.sandbox.s3_command(endpoint, KEY_ID, SECRET);
        command
            .env("NASDAQ_RETRY_MAX_RETRIES", "3")
            .env("NASDAQ_RETRY_BACKOFF_MS", "10")
            .env("NASDAQ_TIMEOUT_SECS", "3");
        command
    }

    /// The command talking to the server directly.
    fn direct(&self) -> Command {
        self.base(&self.server.endpoint)
    }

    /// `fetch URI --json` (plus `extra`) through the proxy.
    fn fetch(&self, extra: &[&str]) -> Output {
        self.base(&self.proxy.endpoint)
            .args(["fetch", URI, "--json"])
            .args(extra)
            .output()
            .unwrap()
    }

    fn cache(&self, what: &str) -> Output {
        self.base(&self.proxy.endpoint)
            .args(["cache", what, "--json"])
            .output()
            .unwrap()
    }

    /// The cache holds no entry, and no partial file.
    fn assert_cache_empty(&self) {
        let empty = serde_json::json!({"objects": [], "tables": []});
        let ls: serde_json::Value = serde_json::from_slice(&self.cache("ls").stdout).unwrap();
        assert_eq!(ls, empty, "nothing cached");
        let verify = self.cache("verify");
        assert!(verify.status.success(), "{}", stdout(&verify));
        let checks: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
        assert_eq!(checks, empty, "no partial file");
        // The listings skip dot-names, where partial files live: look.
        let root = self.sandbox.path(".cache/nasdaq-data");
        let mut partials = Vec::new();
        for dir in [root.clone(), root.join("tables")] {
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".partial") {
                    partials.push(dir.join(name));
                }
            }
        }
        assert!(partials.is_empty(), "partial files left: {partials:?}");
    }
}

fn report(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}{}", stdout(out), stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn sample_sha256() -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(SAMPLE))
}

#[test]
fn slow_down_twice_then_success() {
    let Some(rig) = Rig::new() else { return };
    rig.proxy.inject(Fault::SlowDown, Some(2));
    let report = report(&rig.fetch(&[]));
    assert_eq!(report["rows"], 5220);
    assert_eq!(report["sha256"], sample_sha256());
    assert_eq!(
        rig.proxy.object_gets(),
        3,
        "two 503s, then the GET that worked"
    );
}

#[test]
fn slow_down_forever_is_a_clean_error_saying_how_many_retries() {
    let Some(rig) = Rig::new() else { return };
    rig.proxy.inject(Fault::SlowDown, None);
    let out = rig.fetch(&["--no-fallback"]);
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    assert!(
        err.contains("after 3 retries") && err.contains("SlowDown"),
        "{err}"
    );
    assert_eq!(rig.proxy.object_gets(), 4, "1 try + 3 retries");
    rig.assert_cache_empty();
}

#[test]
fn a_body_cut_once_is_resumed_to_the_right_bytes() {
    let Some(rig) = Rig::new() else { return };
    rig.proxy.inject(Fault::CutBody(100_000), Some(1));
    let report = report(&rig.fetch(&[]));
    assert_eq!(report["sha256"], sample_sha256());
    assert_eq!(report["rows"], 5220);
    assert!(rig.proxy.object_gets() >= 2);
    let verify = rig.cache("verify");
    assert!(verify.status.success(), "{}", stdout(&verify));
}

#[test]
fn a_body_always_cut_is_a_clean_error_and_caches_nothing() {
    let Some(rig) = Rig::new() else { return };
    // Every response, resumes included, stops after 1000 bytes: the
    // resumes cannot finish a 360 KB object.
    rig.proxy.inject(Fault::CutBody(1_000), None);
    let out = rig.fetch(&["--no-fallback"]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains(URI), "{err}");
    assert_eq!(
        err.trim()
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1,
        "{err}"
    );
    rig.assert_cache_empty();
}

#[test]
fn a_stalled_body_times_out() {
    let Some(rig) = Rig::new() else { return };
    rig.proxy.inject(Fault::Stall, None);
    let out = rig
        .base(&rig.proxy.endpoint)
        .env("NASDAQ_TIMEOUT_SECS", "1")
        .env("NASDAQ_RETRY_MAX_RETRIES", "1")
        .args(["fetch", URI, "--no-fallback"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out).to_lowercase();
    assert!(
        err.contains("timed out") || err.contains("timeout"),
        "{err}"
    );
    rig.assert_cache_empty();
}

#[test]
fn a_flipped_byte_is_a_checksum_error_and_caches_nothing() {
    let Some(rig) = Rig::new() else { return };
    rig.proxy.inject(Fault::FlipByte(5_000), None);
    let out = rig.fetch(&["--no-fallback"]);
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    // The object went up with S3's own SHA-256, which catches the flip first
    // (base64, as S3 gives it); our metadata check would catch it next.
    let s3_sha256 = {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(hex::decode(sample_sha256()).unwrap())
    };
    assert!(
        err.contains("checksum mismatch") && err.contains(&s3_sha256),
        "{err}"
    );
    rig.assert_cache_empty();

    // Without the cache the bytes stream straight into the parser: checked all the same.
    let out = rig
        .base(&rig.proxy.endpoint)
        .env("NASDAQ_CACHE_ENABLED", "false")
        .args(["fetch", URI, "--no-fallback"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("checksum mismatch"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_cache_that_cannot_be_used_is_said_and_bypassed() {
    let Some(rig) = Rig::new() else { return };
    rig.sandbox
        .write("not-a-dir", "a file where the cache should be");
    let out = rig.fetch(&["--cache-dir", "not-a-dir"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = report(&out);
    assert_eq!(report["served_by"], "primary");
    assert!(report["cache"].is_null(), "{report}");
    assert!(
        stderr(&out).contains("the cache cannot be used; loading without it"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(rig.sandbox.path("not-a-dir")).unwrap(),
        "a file where the cache should be"
    );
}

#[test]
fn a_configuration_error_is_never_answered_from_the_cache() {
    let Some(rig) = Rig::new() else { return };
    rig.sandbox.write("NASDAQ.csv", SAMPLE);
    assert!(rig.fetch(&[]).status.success(), "the cache is filled");
    let out = rig
        .base(&rig.proxy.endpoint)
        .env("AWS_ALLOW_HTTP", "false")
        .args(["fetch", URI, "--fallback"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = stderr(&out);
    assert!(
        err.contains("is plain http") && err.contains("AWS_ALLOW_HTTP=true"),
        "{err}"
    );
    assert!(
        !err.contains("STALE") && !err.contains("served by"),
        "{err}"
    );
}

#[test]
fn a_named_source_never_falls_back_unless_asked() {
    let Some(rig) = Rig::new() else { return };
    rig.sandbox.write("NASDAQ.csv", SAMPLE);
    // A typo in a key named on the command line: an error, not the local file.
    let out = rig
        .base(&rig.proxy.endpoint)
        .args([
            "fetch",
            "s3://market/typo.csv",
            "--output",
            "z.parquet",
            "--quiet",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("s3://market/typo.csv not found"),
        "{}",
        stderr(&out)
    );
    assert!(!rig.sandbox.path("z.parquet").exists());
    // The same with the server down.
    rig.proxy.go_down();
    let out = rig.fetch(&[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    // The configured source does fall back, as the old loader did, and one
    // warning line says so even with --quiet.
    let out = rig
        .base(&rig.proxy.endpoint)
        .env("AWS_S3_BUCKET_NAME", "market")
        .args(["fetch", "--output", "z.parquet", "--quiet"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let warnings: Vec<String> = stderr(&out).lines().map(str::to_owned).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("warning: served by the local fallback: file://")
            && warnings[0].ends_with("(primary failed)"),
        "{warnings:?}"
    );
    assert!(rig.sandbox.path("z.parquet").exists());
}

#[test]
fn server_down_falls_back_to_the_local_file_and_says_so() {
    let Some(rig) = Rig::new() else { return };
    rig.sandbox.write("NASDAQ.csv", SAMPLE);
    rig.proxy.go_down();
    let out = rig.fetch(&["--fallback"]);
    let report = report(&out);
    assert_eq!(report["served_by"], "local fallback");
    // No S3 credentials served these rows: none are reported.
    assert!(report["credentials"].is_null(), "{report}");
    assert!(report["source"].as_str().unwrap().ends_with("/NASDAQ.csv"));
    assert!(report["source"].as_str().unwrap().starts_with("file://"));
    let failure = &report["fallbacks"][0];
    assert_eq!(failure["role"], "primary");
    assert_eq!(failure["uri"], URI);
    assert!(
        stderr(&out).contains("warning: served by the local fallback"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn server_down_without_fallback_names_the_endpoint() {
    let Some(rig) = Rig::new() else { return };
    rig.sandbox.write("NASDAQ.csv", SAMPLE);
    rig.proxy.go_down();
    let out = rig.fetch(&["--no-fallback"]);
    assert_eq!(out.status.code(), Some(4));
    let err = stderr(&out);
    let port = rig.proxy.endpoint.rsplit(':').next().unwrap();
    assert!(
        err.contains(&format!("127.0.0.1:{port}")) && err.contains(URI),
        "{err}"
    );
}

#[test]
fn server_down_with_a_cached_copy_serves_it_flagged_stale() {
    let Some(rig) = Rig::new() else { return };
    let first = report(&rig.fetch(&[]));
    assert_eq!(first["cache"], "miss");
    assert_eq!(first["table_cache"], "miss");
    let again = report(&rig.fetch(&[]));
    assert_eq!(again["cache"], "revalidated");
    // The object is unchanged (304), so its parsed table serves.
    assert_eq!(again["table_cache"], "hit");
    assert_eq!(again["files"][0]["cache"], "revalidated");
    assert_eq!(
        rig.proxy.object_gets(),
        2,
        "the second read sent If-None-Match and got 304"
    );
    rig.proxy.go_down();
    let out = rig.fetch(&["--no-fallback"]);
    let stale = report(&out);
    assert_eq!(stale["stale"], true);
    assert_eq!(stale["cache"], "stale");
    assert_eq!(stale["table_cache"], "hit");
    assert!(stale["files"][0]["stale_reason"].is_string(), "{stale}");
    assert_eq!(stale["sha256"], sample_sha256());
    assert!(
        stderr(&out).contains("warning: STALE: s3://market/NASDAQ.csv could not be fetched"),
        "{}",
        stderr(&out)
    );
    // --offline needs no server at all.
    let offline = report(&rig.fetch(&["--offline"]));
    assert_eq!(offline["cache"], "offline");
    assert_eq!(offline["table_cache"], "hit");
    assert_eq!(offline["rows"], first["rows"]);
}

#[test]
fn a_changed_object_is_fetched_anew_not_served_from_cache() {
    let Some(rig) = Rig::new() else { return };
    let first = report(&rig.fetch(&[]));
    let changed: Vec<u8> = SAMPLE.iter().copied().take(SAMPLE.len() / 2).collect();
    let cut = changed.iter().rposition(|b| *b == b'\n').unwrap() + 1;
    rig.sandbox.write("upload.csv", &changed[..cut]);
    let out = rig
        .direct()
        .args(["upload", "upload.csv", URI, "--force"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let second = report(&rig.fetch(&[]));
    assert_eq!(second["cache"], "miss");
    assert_eq!(second["table_cache"], "miss", "a new ETag: parsed again");
    assert_ne!(second["sha256"], first["sha256"]);
    assert!(second["rows"].as_u64().unwrap() < 5220);
    assert_ne!(second["etag"], first["etag"]);
}

#[test]
fn concurrent_processes_share_the_cache_safely() {
    let Some(rig) = Rig::new() else { return };
    let loads = (0..4).map(|_| {
        let mut command = rig.base(&rig.proxy.endpoint);
        command.args(["fetch", URI, "--json"]);
        command
    });
    for out in common::run_at_once(loads) {
        let report = report(&out);
        assert_eq!(report["sha256"], sample_sha256());
    }
    let verify = rig.cache("verify");
    assert!(verify.status.success(), "{}", stdout(&verify));
    let checks: serde_json::Value = serde_json::from_slice(&verify.stdout).unwrap();
    for kind in ["objects", "tables"] {
        let entries = checks[kind].as_array().unwrap();
        assert_eq!(entries.len(), 1, "one {kind} entry: {checks}");
        assert!(entries[0]["problem"].is_null(), "{checks}");
    }
}

#[test]
fn a_secondary_bucket_serves_when_the_primary_fails() {
    let Some(server) = S3TestServer::start(&["primary", "replica"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.write("upload.csv", SAMPLE);
    let command = || {
        let mut command = sandbox.s3_command(&server.endpoint, KEY_ID, SECRET);
        command.env("NASDAQ_SECONDARY_BUCKET", "replica");
        command
    };
    let up = command()
        .args(["upload", "upload.csv", "s3://replica/NASDAQ.csv"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", stderr(&up));
    let out = command()
        .args(["fetch", "s3://primary/NASDAQ.csv", "--json", "--fallback"])
        .output()
        .unwrap();
    let report = report(&out);
    assert_eq!(report["served_by"], "secondary");
    assert!(
        report["credentials"]
            .as_str()
            .unwrap()
            .starts_with("access keys from environment"),
        "{report}"
    );
    assert_eq!(report["source"], "s3://replica/NASDAQ.csv");
    assert_eq!(report["fallbacks"][0]["uri"], "s3://primary/NASDAQ.csv");
    assert!(
        report["fallbacks"][0]["error"]
            .as_str()
            .unwrap()
            .contains("not found"),
        "{report}"
    );

    // The cache directory is private, and `cache clear` empties it.
    let dir = sandbox.path(".cache/nasdaq-data");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&dir).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o700);
    let ls = command().args(["cache", "ls", "--json"]).output().unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(entries["objects"][0]["uri"], "s3://replica/NASDAQ.csv");
    assert_eq!(entries["objects"][0]["sha256"], sample_sha256());
    // The parsed table of the load that the replica served.
    assert_eq!(
        entries["tables"][0]["sources"],
        serde_json::json!(["s3://replica/NASDAQ.csv"])
    );
    let clear = command().args(["cache", "clear"]).output().unwrap();
    assert!(
        stdout(&clear).contains("Removed 1 objects and 1 parsed tables"),
        "{}",
        stdout(&clear)
    );
    let ls = command().args(["cache", "ls", "--json"]).output().unwrap();
    let entries: serde_json::Value = serde_json::from_slice(&ls.stdout).unwrap();
    assert_eq!(entries, serde_json::json!({"objects": [], "tables": []}));
}

#[test]
fn a_full_disk_under_the_cache_is_said_and_bypassed() {
    let Some(rig) = Rig::new() else { return };
    // A 64 KiB file system for the cache: the sample (360 KB) cannot fit.
    let cache = rig.sandbox.path("tiny-cache");
    std::fs::create_dir(&cache).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "tmpfs"])
        .arg(&cache)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        let message = "cannot mount a small tmpfs (needs root) to fill the disk";
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("{message}");
        }
        eprintln!("\n!!!!! SKIPPED: {message} !!!!!\n");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _unmount = Unmount(cache.clone());
    let out = rig.fetch(&["--cache-dir", cache.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = report(&out);
    assert_eq!(report["served_by"], "primary");
    assert_eq!(report["rows"], 5220);
    assert!(
        stderr(&out).contains("the cache cannot be written; reading without it"),
        "{}",
        stderr(&out)
    );
    // The parsed table cannot be stored either: said, and nothing left half-written.
    assert!(
        stderr(&out).contains("the table cache cannot be written; the next load parses again"),
        "{}",
        stderr(&out)
    );
    assert_eq!(report["table_cache"], "miss");
    let left: Vec<String> = [cache.clone(), cache.join("tables")]
        .iter()
        .flat_map(|dir| std::fs::read_dir(dir).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial") || n.ends_with(".data") || n.ends_with(".arrow"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn a_repeated_load_of_an_s3_folder_reads_its_table_from_the_cache() {
    let Some(rig) = Rig::new() else { return };
    // Two objects under one prefix: the key comes from the listing, what is
    // read from the GETs, which S3 answers with other times and headers.
    let text = std::str::from_utf8(SAMPLE).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let lines: Vec<&str> = rows.lines().collect();
    let half = lines.len() / 2;
    for (name, part) in [("a.csv", &lines[..half]), ("b.csv", &lines[half..])] {
        rig.sandbox
            .write(name, format!("{header}\n{}\n", part.join("\n")));
        let out = rig
            .direct()
            .args(["upload", name, &format!("s3://market/daily/{name}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let folder = |extra: &[&str]| {
        rig.base(&rig.proxy.endpoint)
            .args(["fetch", "s3://market/daily/", "--json"])
            .args(extra)
            .output()
            .unwrap()
    };
    let first = report(&folder(&[]));
    assert_eq!(first["table_cache"], "miss");
    assert_eq!(first["rows"], 5220);
    assert_eq!(first["files"].as_array().unwrap().len(), 2, "{first}");
    let again = report(&folder(&[]));
    assert_eq!(again["table_cache"], "hit", "{again}");
    assert_eq!(again["rows"], 5220);
    assert_eq!(again["sha256"], first["sha256"]);
}
