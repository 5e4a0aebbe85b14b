//! docs/aws-setup.md is true: its IAM policies, read from the page itself,
//! are enough (and no more than needed) against an IAM server that enforces
//! them, and its troubleshooting table has a row for every error kind.

mod common;

use common::{Sandbox, stderr, stdout};
use nasdaq_testkit::S3TestServer;

const GUIDE: &str = include_str!("../../../docs/aws-setup.md");
const ERRORS: &str = include_str!("../../storage/src/error.rs");
const SAMPLE: &str = include_str!("../../../data/sample/NASDAQ.csv");
/// The bucket the guide's policies name.
const BUCKET: &str = "my-nasdaq-data";

/// The first ```json block after the heading `heading`.
fn policy(heading: &str) -> &'static str {
    let after = GUIDE
        .split(&format!("\n{heading}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no heading {heading:?} in docs/aws-setup.md"));
    let block = after
        .split("```json\n")
        .nth(1)
        .and_then(|rest| rest.split("\n```").next())
        .unwrap_or_else(|| panic!("no json block under {heading:?}"));
    let parsed: serde_json::Value = serde_json::from_str(block)
        .unwrap_or_else(|err| panic!("the policy under {heading:?} is not JSON: {err}"));
    assert_eq!(parsed["Version"], "2012-10-17");
    block
}

#[test]
fn the_guides_policies_allow_exactly_what_they_say() {
    let read = policy("### Read-only policy");
    let upload = policy("### Read and upload policy");
    let Some(server) = S3TestServer::start_with_policies(
        &[BUCKET, "someone-elses-bucket"],
        &[("doc-reader", read), ("doc-uploader", upload)],
    ) else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    // More than one 8 MiB part: a multipart upload, with the policy's actions only.
    let big: String = SAMPLE.repeat(60);
    sandbox.write("big.csv", &big);
    let as_user = |user: &str, args: &[&str]| {
        let keys = server.user(user);
        sandbox
            .s3_command(&server.endpoint, &keys.key_id, &keys.secret)
            .args(args)
            .output()
            .unwrap()
    };
    let target = format!("s3://{BUCKET}/NASDAQ.csv");

    // Read and upload: both uploads succeed.
    for (file, key) in [("NASDAQ.csv", "NASDAQ.csv"), ("big.csv", "big.csv")] {
        let out = as_user(
            "doc-uploader",
            &["upload", file, &format!("s3://{BUCKET}/{key}")],
        );
        assert!(out.status.success(), "upload {file}: {}", stderr(&out));
    }

    // Read-only: check passes every step, fetch and ls work...
    let out = as_user("doc-reader", &["check", &target]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains("All checks passed."),
        "{}",
        stdout(&out)
    );
    let out = as_user("doc-reader", &["fetch", &target, "--json", "--no-fallback"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], 5220);
    let out = as_user("doc-reader", &["ls", &format!("s3://{BUCKET}/")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("big.csv"), "{}", stdout(&out));

    // ...but it cannot write: the server enforces the policy.
    let out = as_user(
        "doc-reader",
        &["upload", "NASDAQ.csv", &format!("s3://{BUCKET}/copy.csv")],
    );
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("s3:PutObject"), "{}", stderr(&out));

    // Neither policy reaches beyond the bucket it names.
    let out = as_user(
        "admin",
        &[
            "upload",
            "NASDAQ.csv",
            "s3://someone-elses-bucket/NASDAQ.csv",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    for user in ["doc-reader", "doc-uploader"] {
        let out = as_user(
            user,
            &[
                "fetch",
                "s3://someone-elses-bucket/NASDAQ.csv",
                "--no-fallback",
            ],
        );
        assert_eq!(out.status.code(), Some(4), "{user}: {}", stderr(&out));
        assert!(stderr(&out).contains("denied"), "{user}: {}", stderr(&out));
    }
}

/// The variants of the storage crate's `pub enum Error`.
fn error_kinds() -> Vec<String> {
    let body = ERRORS
        .split("pub enum Error {")
        .nth(1)
        .expect("pub enum Error")
        .split("\n}\n")
        .next()
        .unwrap();
    let kinds: Vec<String> = body
        .lines()
        .filter(|line| line.starts_with("    ") && !line.starts_with("     "))
        .map(str::trim)
        .filter(|line| line.starts_with(|c: char| c.is_ascii_uppercase()))
        .map(|line| {
            line.split(|c: char| !c.is_ascii_alphanumeric())
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert!(kinds.len() > 15, "{kinds:?}");
    kinds
}

#[test]
fn the_troubleshooting_table_has_a_row_for_every_error_kind_and_no_other() {
    let table = GUIDE
        .split("\n## Troubleshooting\n")
        .nth(1)
        .expect("a Troubleshooting section");
    let rows: Vec<String> = table
        .lines()
        .filter_map(|line| line.strip_prefix("| `"))
        .filter_map(|rest| rest.split('`').next())
        .map(str::to_owned)
        .collect();
    let kinds = error_kinds();
    for kind in &kinds {
        assert!(rows.contains(kind), "no troubleshooting row for {kind}");
    }
    for row in &rows {
        assert!(kinds.contains(row), "the row {row} names no error kind");
    }
    // Every row says what to do.
    for line in table.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        assert_eq!(cells.len(), 4, "{line}");
        assert!(cells[3].trim_end_matches(" |").len() > 5, "{line}");
    }
}
