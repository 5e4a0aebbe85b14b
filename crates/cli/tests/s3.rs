//! `nasdaq-cli` against a real S3 server (moto) on 127.0.0.1: upload, ls,
//! check, fetch, and the errors users meet.

mod common;

use std::fs::File;
use std::process::Command;

use arrow::array::RecordBatch;
use common::{Sandbox, stderr, stdout};
use nasdaq_testkit::S3TestServer;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const SAMPLE: &[u8] = include_bytes!("../../../data/sample/NASDAQ.csv");

/// The command, pointed at the test server with the given keys.
fn s3_command(sandbox: &Sandbox, server: &S3TestServer, key_id: &str, secret: &str) -> Command {
    sandbox.s3_command(&server.endpoint, key_id, secret)
}

fn read_parquet(path: &std::path::Path) -> Vec<RecordBatch> {
    ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap())
        .unwrap()
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

#[test]
fn upload_ls_check_fetch_end_to_end() {
    let Some(server) = S3TestServer::start(&["market"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    let run = |args: &[&str]| {
        s3_command(&sandbox, &server, "AKIATESTKEY0000", "testsecret")
            .args(args)
            .output()
            .unwrap()
    };

    let out = run(&["upload", "NASDAQ.csv", "s3://market/daily/NASDAQ.csv"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("Uploaded: NASDAQ.csv -> s3://market/daily/NASDAQ.csv"),
        "{text}"
    );
    assert!(text.contains("ETag: \""), "{text}");

    let out = run(&["ls", "s3://market/daily/", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["key"], "daily/NASDAQ.csv");
    assert_eq!(listed[0]["size"], SAMPLE.len());
    assert!(listed[0]["etag"].is_string() && listed[0]["last_modified"].is_string());
    let out = run(&["ls", "s3://market/"]);
    assert!(
        stdout(&out).contains("daily/NASDAQ.csv")
            && stdout(&out).contains(&SAMPLE.len().to_string())
    );

    let out = run(&["check", "s3://market/daily/NASDAQ.csv"]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}{}", stderr(&out));
    for step in [
        "[ok  ] credentials",
        "[ok  ] list",
        "[ok  ] head",
        "[ok  ] read",
        "All checks passed.",
    ] {
        assert!(text.contains(step), "{step:?} missing: {text}");
    }
    assert!(
        text.contains("access keys from environment AWS_ACCESS_KEY_ID, key id AKIA…"),
        "{text}"
    );
    assert!(text.contains("read 1024 of the first 1024 bytes"), "{text}");

    // Fetch from S3 gives exactly the table fetched from disk.
    let out = run(&[
        "fetch",
        "s3://market/daily/NASDAQ.csv",
        "--output",
        "from-s3.parquet",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["source"], "s3://market/daily/NASDAQ.csv");
    assert!(report["etag"].is_string());
    assert!(report["credentials"].as_str().unwrap().contains("AKIA…"));
    let out = run(&[
        "fetch",
        "NASDAQ.csv",
        "--output",
        "from-disk.parquet",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let disk: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["sha256"], disk["sha256"]);
    assert_eq!(
        read_parquet(&sandbox.path("from-s3.parquet")),
        read_parquet(&sandbox.path("from-disk.parquet"))
    );
}

#[test]
fn a_prefix_loads_every_matching_object_each_in_its_dialect() {
    let Some(server) = S3TestServer::start(&["raw"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    let fixtures = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/tests/fixtures/dialects"
    );
    std::fs::copy(
        format!("{fixtures}/yahoo/AAPL.csv"),
        sandbox.path("AAPL.csv"),
    )
    .unwrap();
    let msft = std::fs::read_to_string(format!("{fixtures}/stooq-bulk/aapl.us.txt"))
        .unwrap()
        .replace("AAPL.US", "MSFT.US");
    sandbox.write("msft.us.txt", msft);
    sandbox.write("notes.md", "not data");
    let run = |args: &[&str]| {
        s3_command(&sandbox, &server, "AKIATESTKEY0000", "testsecret")
            .args(args)
            .output()
            .unwrap()
    };
    for (file, key) in [
        ("AAPL.csv", "daily/AAPL.csv"),
        ("msft.us.txt", "daily/msft.us.txt"),
        ("notes.md", "daily/notes.md"),
    ] {
        let out = run(&["upload", file, &format!("s3://raw/{key}")]);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let out = run(&[
        "fetch",
        "s3://raw/daily/",
        "--glob",
        "*.[ct][sx][vt]",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], 6);
    assert_eq!(report["tickers"], 2);
    assert_eq!(report["dialect"], "stooq-bulk, yahoo");
    assert_eq!(report["files"].as_array().unwrap().len(), 2);
    assert_eq!(report["source"], "s3://raw/daily/");
}

#[test]
fn the_python_loaders_env_fetches_from_s3() {
    let Some(server) = S3TestServer::start(&["trading"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    let up = s3_command(&sandbox, &server, "AKIATESTKEY0000", "testsecret")
        .args(["upload", "NASDAQ.csv", "s3://trading/NASDAQ.csv"])
        .output()
        .unwrap();
    assert!(up.status.success(), "{}", stderr(&up));
    let env = format!(
        "AWS_ACCESS_KEY_ID=AKIAFROMDOTENV00\nAWS_SECRET_ACCESS_KEY=dotenvsecret\nAWS_REGION=us-east-1\n\
         AWS_S3_BUCKET_NAME=trading\nAWS_S3_KEY=NASDAQ.csv\nUSE_S3=true\n\
         AWS_ENDPOINT_URL={}\nAWS_ALLOW_HTTP=true\n",
        server.endpoint
    );
    let path = sandbox.write(".env", env);
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = sandbox.run(&["fetch", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["source"], "s3://trading/NASDAQ.csv");
    assert_eq!(report["rows"], 5220);
    assert!(
        report["credentials"].as_str().unwrap().contains(".env ("),
        "{report}"
    );
}

#[test]
fn upload_refuses_different_content_without_force() {
    let Some(server) = S3TestServer::start(&["uploads"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.write("a.csv", "version 1\n");
    let run = |args: &[&str]| {
        s3_command(&sandbox, &server, "AKIATESTKEY0000", "testsecret")
            .args(args)
            .output()
            .unwrap()
    };
    let json = |out: &std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout).unwrap()
    };

    let first = run(&["upload", "a.csv", "s3://uploads/a.csv", "--json"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(json(&first)["action"], "uploaded");
    let again = run(&["upload", "a.csv", "s3://uploads/a.csv", "--json"]);
    assert_eq!(json(&again)["action"], "unchanged");
    assert_eq!(json(&again)["etag"], json(&first)["etag"]);

    sandbox.write("a.csv", "version 2\n");
    let refused = run(&["upload", "a.csv", "s3://uploads/a.csv"]);
    assert_eq!(refused.status.code(), Some(4));
    let err = stderr(&refused);
    assert!(
        err.contains("s3://uploads/a.csv already exists with different content")
            && err.contains("--force"),
        "{err}"
    );
    let forced = run(&["upload", "a.csv", "s3://uploads/a.csv", "--force", "--json"]);
    assert!(forced.status.success(), "{}", stderr(&forced));
    assert_eq!(json(&forced)["action"], "replaced");
    assert_ne!(json(&forced)["etag"], json(&first)["etag"]);
    // The stored SHA-256 is the file's.
    let sha = json(&forced)["sha256"].as_str().unwrap().to_owned();
    let expected = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"version 2\n"))
    };
    assert_eq!(sha, expected);
}

#[test]
fn auth_failures_are_clear_distinct_and_never_show_a_secret_even_at_trace() {
    let Some(server) = S3TestServer::start_with_auth(&["guarded"]) else {
        return;
    };
    let admin = server.user("admin").clone();
    let reader = server.user("reader").clone();
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    let run = |key_id: &str, secret: &str, args: &[&str]| {
        s3_command(&sandbox, &server, key_id, secret)
            .env("RUST_LOG", "trace")
            .arg("-vvv")
            .args(args)
            .output()
            .unwrap()
    };
    let secrets = [
        admin.secret.as_str(),
        reader.secret.as_str(),
        "wrong-secret-value",
    ];
    let assert_no_secret = |out: &std::process::Output| {
        for secret in secrets {
            assert!(
                !stdout(out).contains(secret) && !stderr(out).contains(secret),
                "secret leaked"
            );
        }
    };

    let ok_runs: [&[&str]; 4] = [
        &["upload", "NASDAQ.csv", "s3://guarded/NASDAQ.csv"],
        &["ls", "s3://guarded/"],
        &["check", "s3://guarded/NASDAQ.csv"],
        &["fetch", "s3://guarded/NASDAQ.csv", "--json"],
    ];
    for args in ok_runs {
        let out = run(&admin.key_id, &admin.secret, args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("TRACE") || stderr(&out).contains("DEBUG"),
            "{args:?}: trace logging is on"
        );
        assert_no_secret(&out);
    }

    // --refresh: the copy cached by the fetch above would otherwise serve, marked stale.
    let failing_fetch = [
        "fetch",
        "s3://guarded/NASDAQ.csv",
        "--refresh",
        "--no-fallback",
    ];
    let wrong_id = run("AKIANOTAREALKEY00000", &admin.secret, &failing_fetch);
    let wrong_secret = run(&admin.key_id, "wrong-secret-value", &failing_fetch);
    sandbox.write("NASDAQ.csv", "changed\n");
    let read_only = run(
        &reader.key_id,
        &reader.secret,
        &["upload", "NASDAQ.csv", "s3://guarded/other.csv"],
    );
    let causes: Vec<String> = [&wrong_id, &wrong_secret, &read_only]
        .iter()
        .map(|out| {
            assert_eq!(
                out.status.code(),
                Some(4),
                "{}\n{}",
                stdout(out),
                stderr(out)
                    .lines()
                    .filter(|l| !l.contains("TRACE") && !l.contains("DEBUG"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            assert_no_secret(out);
            stderr(out)
                .lines()
                .filter(|l| l.starts_with("error: "))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .collect();
    assert!(
        causes[0].contains("InvalidAccessKeyId") && causes[0].contains("check AWS_ACCESS_KEY_ID"),
        "{}",
        causes[0]
    );
    assert!(
        causes[1].contains("SignatureDoesNotMatch")
            && causes[1].contains("check AWS_SECRET_ACCESS_KEY"),
        "{}",
        causes[1]
    );
    assert!(
        causes[2].contains("s3:PutObject") && causes[2].contains("arn:aws:s3:::guarded/other.csv"),
        "{}",
        causes[2]
    );

    // check names the failing step and the fix.
    let out = run(
        &admin.key_id,
        "wrong-secret-value",
        &["check", "s3://guarded/NASDAQ.csv"],
    );
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    assert!(
        text.contains("[FAIL] list") && text.contains("check AWS_SECRET_ACCESS_KEY"),
        "{text}"
    );
    assert_no_secret(&out);
}

#[test]
fn check_reports_a_missing_bucket_and_missing_credentials() {
    let Some(server) = S3TestServer::start(&["exists"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    let out = s3_command(&sandbox, &server, "AKIATESTKEY0000", "testsecret")
        .args(["check", "s3://no-such-bucket/NASDAQ.csv", "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["ok"], false);
    let last = report["steps"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["name"], "list");
    assert!(
        last["detail"]
            .as_str()
            .unwrap()
            .contains("bucket no-such-bucket does not exist"),
        "{last}"
    );

    let out = sandbox
        .command()
        .env("AWS_ENDPOINT_URL", &server.endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .args(["check", "s3://exists/NASDAQ.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    let text = stdout(&out);
    assert!(
        text.contains("[FAIL] credentials") && text.contains("no AWS credentials found"),
        "{text}"
    );
    assert!(
        text.contains("Ec2InstanceMetadata") && text.contains("Connection refused"),
        "{text}"
    );

    let out = sandbox
        .command()
        .env("AWS_ENDPOINT_URL", &server.endpoint)
        .args(["fetch", "s3://exists/NASDAQ.csv"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains("AWS_ALLOW_HTTP=true"),
        "{}",
        stderr(&out)
    );
}
