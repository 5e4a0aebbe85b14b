//! `nasdaq-cli config` and settings-driven fetch, as a user runs them.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Sandbox, stderr, stdout};

const PYTHON_ENV: &str = "AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n\
AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
AWS_REGION=us-east-2\n\
AWS_S3_BUCKET_NAME=my-trading-data\n\
AWS_S3_KEY=NASDAQ.csv\n\
USE_S3=true\n";

fn private(sandbox: &Sandbox, name: &str, text: &str) {
    let path = sandbox.write(name, text);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn config_show_says_where_each_value_came_from_and_hides_secrets() {
    let sandbox = Sandbox::new();
    private(&sandbox, ".env", PYTHON_ENV);
    sandbox.write("nasdaq.toml", "[retry]\nmax_retries = 5\n");
    let output = sandbox
        .command()
        .args(["config", "show", "--timeout", "9"])
        .env("AWS_REGION", "eu-west-1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    let line = |key: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("{key} missing from {text}"))
            .to_owned()
    };
    assert!(
        line("AWS_S3_BUCKET_NAME").contains("my-trading-data")
            && line("AWS_S3_BUCKET_NAME").contains(".env (")
    );
    assert!(
        line("AWS_REGION").contains("eu-west-1")
            && line("AWS_REGION").ends_with("environment AWS_REGION")
    );
    assert!(
        line("NASDAQ_RETRY_MAX_RETRIES").contains('5')
            && line("NASDAQ_RETRY_MAX_RETRIES").ends_with("nasdaq.toml")
    );
    assert!(
        line("NASDAQ_TIMEOUT_SECS").contains('9')
            && line("NASDAQ_TIMEOUT_SECS").ends_with("flag --timeout")
    );
    assert!(line("AWS_S3_KEY").ends_with(".env (") || line("AWS_S3_KEY").contains(".env ("));
    assert!(
        line("NASDAQ_CACHE_DIR").contains("(unset)")
            && line("NASDAQ_CACHE_DIR").ends_with("default")
    );
    assert!(line("AWS_SECRET_ACCESS_KEY").contains("(set)"));
    assert!(line("AWS_ACCESS_KEY_ID").contains("AKIA… (set)"));
    assert!(
        text.contains("data source: s3://my-trading-data/NASDAQ.csv"),
        "{text}"
    );
    assert!(
        !text.contains("wJalrXUtnFEMI") && !text.contains("IOSFODNN7"),
        "{text}"
    );

    let output = sandbox.run(&["config", "show", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let json = stdout(&output);
    assert!(
        !json.contains("wJalrXUtnFEMI") && !json.contains("IOSFODNN7"),
        "{json}"
    );
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    let keys = report["keys"].as_array().unwrap();
    let use_s3 = keys.iter().find(|k| k["key"] == "USE_S3").unwrap();
    assert_eq!(use_s3["value"], "true");
    assert!(use_s3["origin"].as_str().unwrap().starts_with(".env ("));
    assert_eq!(report["data_source"], "s3://my-trading-data/NASDAQ.csv");
}

#[test]
fn config_init_writes_a_private_env_and_never_overwrites() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["config", "init"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let path = sandbox.path(".env");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.contains("# AWS_S3_KEY=NASDAQ.csv") && text.contains("# USE_S3="),
        "{text}"
    );

    std::fs::write(&path, "AWS_REGION=keep-me\n").unwrap();
    let output = sandbox.run(&["config", "init"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("already exists; not overwritten"),
        "{}",
        stderr(&output)
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "AWS_REGION=keep-me\n"
    );
    // The template loads as a valid, empty configuration.
    let fresh = Sandbox::new();
    let out = fresh.run(&["config", "init"]);
    assert!(out.status.success());
    let show = fresh.run(&["config", "show"]);
    assert!(show.status.success(), "{}", stderr(&show));
    assert!(stdout(&show).contains("data source: the bundled sample"));
}

#[test]
fn use_s3_false_fetches_local_fallback() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "prices.csv",
        "Date,Ticker,Open,High,Low,Close\n2024-01-02,AAPL,1,2,0.5,1.5\n2024-01-02,MSFT,1,2,0.5,1.5\n",
    );
    private(
        &sandbox,
        ".env",
        &format!("{PYTHON_ENV}USE_S3=false\nLOCAL_FALLBACK=prices.csv\n"),
    );
    let output = sandbox.run(&["fetch", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["rows"], 2);
    assert!(report["source"].as_str().unwrap().ends_with("/prices.csv"));
}

#[test]
fn a_bad_setting_fails_fetch_naming_key_value_and_origin() {
    let sandbox = Sandbox::new();
    private(&sandbox, ".env", "USE_S3=maybe\n");
    let output = sandbox.run(&["fetch"]);
    assert_eq!(output.status.code(), Some(5));
    let err = stderr(&output);
    assert!(err.contains("USE_S3=maybe (from .env ("), "{err}");
    assert!(err.contains("expected true or false"), "{err}");

    let sandbox = Sandbox::new();
    let output = sandbox.run(&["fetch", "--max-retries=-2"]);
    let err = stderr(&output);
    assert_eq!(output.status.code(), Some(5), "{err}");
    assert!(
        err.contains("--max-retries=-2 (from command line)"),
        "{err}"
    );
}

#[test]
fn a_world_readable_env_with_a_secret_warns() {
    let sandbox = Sandbox::new();
    let path = sandbox.write(".env", "AWS_SECRET_ACCESS_KEY=topsecretvalue\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let output = sandbox.run(&["config", "show"]);
    assert!(output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("warning:") && err.contains("chmod 600"),
        "{err}"
    );
    assert!(!err.contains("topsecretvalue") && !stdout(&output).contains("topsecretvalue"));
}
