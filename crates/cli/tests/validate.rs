//! `nasdaq-cli validate`, quality policies from settings, filters, and the
//! lineage stored with outputs.

mod common;

use common::{Sandbox, python, python_with_pyarrow, stderr, stdout};

const QUALITY: &[u8] = include_bytes!("../../core/tests/fixtures/quality/quality.csv");

/// The price rules as errors, as they were before real published files
/// made them warn by default.
fn price_rules_as_errors(sandbox: &Sandbox) -> std::process::Command {
    let mut command = sandbox.command();
    command
        .env("NASDAQ_QUALITY_OHLC_CONSISTENT", "error")
        .env("NASDAQ_QUALITY_POSITIVE_PRICES", "error")
        .env("NASDAQ_QUALITY_VOLUME_NON_NEGATIVE", "error");
    command
}

#[test]
fn validate_reports_each_rule_with_examples_and_writes_rejects() {
    let sandbox = Sandbox::new();
    sandbox.write("quality.csv", QUALITY);
    let out = price_rules_as_errors(&sandbox)
        .args(["validate", "quality.csv", "--rejects", "rejects.csv"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "an error rule fired: {}",
        stderr(&out)
    );
    let text = stdout(&out);
    for (rule, count) in [
        ("ohlc_consistent", 1),
        ("positive_prices", 1),
        ("volume_non_negative", 1),
        ("unique_bar", 1),
        ("future_date", 1),
        ("price_jump", 1),
        ("missing_sessions", 2),
    ] {
        let line = text
            .lines()
            .find(|l| l.starts_with(rule))
            .unwrap_or_else(|| panic!("{rule}: {text}"));
        assert!(line.trim_end().ends_with(&format!(" {count}")), "{line}");
    }
    assert!(
        text.contains("quality.csv: line 5: OHLC 2024-01-02"),
        "{text}"
    );
    assert!(
        text.contains("GAPS 2024-01-03: no bar on this NASDAQ session"),
        "{text}"
    );
    assert!(
        text.contains("Wrote 4 rejected rows to rejects.csv"),
        "{text}"
    );
    assert!(text.contains("Validation FAILED"), "{text}");

    let rejects = std::fs::read_to_string(sandbox.path("rejects.csv")).unwrap();
    let mut lines = rejects.lines();
    assert_eq!(
        lines.next(),
        Some("date,ticker,open,high,low,close,adj_close,volume,rule,file,line")
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 4);
    assert!(
        rows.iter()
            .any(|r| r.contains(",OHLC,") && r.contains("ohlc_consistent") && r.ends_with(",5")),
        "{rejects}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains(",GOOD,") && r.contains("unique_bar") && r.ends_with(",8")),
        "{rejects}"
    );

    let out = price_rules_as_errors(&sandbox)
        .args(["validate", "quality.csv", "--json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"], true);
    assert_eq!(report["rules"][0]["rule"], "ohlc_consistent");
    assert_eq!(report["rules"][0]["examples"][0]["line"], 5);

    // The sample is clean.
    let out = sandbox.run(&["validate"]);
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn fetch_fails_on_error_rules_unless_the_policy_says_otherwise() {
    let sandbox = Sandbox::new();
    sandbox.write("quality.csv", QUALITY);
    let out = price_rules_as_errors(&sandbox)
        .args(["fetch", "quality.csv", "--output", "q.parquet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(
        err.contains("data-quality errors: ohlc_consistent (1 rows"),
        "{err}"
    );
    assert!(err.contains("nasdaq-cli validate"), "{err}");
    assert!(!sandbox.path("q.parquet").exists());

    let out = sandbox
        .command()
        .args(["fetch", "quality.csv", "--json"])
        .env("NASDAQ_QUALITY_OHLC_CONSISTENT", "drop")
        .env("NASDAQ_QUALITY_POSITIVE_PRICES", "drop")
        .env("NASDAQ_QUALITY_VOLUME_NON_NEGATIVE", "warn")
        .env("NASDAQ_QUALITY_UNIQUE_BAR", "drop")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows_read"], 14);
    assert_eq!(report["rows_kept"], 11);
    assert_eq!(report["rejected"]["ohlc_consistent"], 1);
    assert_eq!(report["rejected"]["unique_bar"], 1);
    assert_eq!(report["warnings"]["volume_non_negative"], 1);
    assert_eq!(report["dialect"], "long");

    let out = sandbox
        .command()
        .args(["fetch"])
        .env("NASDAQ_QUALITY_PRICE_JUMP", "sometimes")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    assert!(
        stderr(&out).contains(
            "NASDAQ_QUALITY_PRICE_JUMP=sometimes (from environment): expected error, warn or drop"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn fetch_filters_by_ticker_and_date() {
    let sandbox = Sandbox::new();
    let out = sandbox.run(&[
        "fetch",
        "--tickers",
        "aapl,MSFT",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-31",
        "--json",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["tickers"], 2);
    assert_eq!(report["first_date"], "2024-03-01");
    assert_eq!(report["last_date"], "2024-03-29");
    assert_eq!(report["rows"], 42, "21 weekdays in March 2024, two tickers");
    assert_eq!(report["rows_read"], 5220);
    let out = sandbox.run(&["fetch", "--from", "2024-13-01"]);
    assert_eq!(out.status.code(), Some(2), "a bad date is a usage error");
}

#[test]
fn lineage_is_stored_in_the_parquet_and_read_back_by_pyarrow() {
    let Some(interpreter) = python_with_pyarrow() else {
        return;
    };
    let sandbox = Sandbox::new();
    let out = sandbox.run(&["fetch", "--output", "bars.parquet", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let ours: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let code = r#"
import json, sys, pyarrow.parquet as pq
kv = {k.decode(): v.decode() for k, v in pq.read_metadata(sys.argv[1]).metadata.items()}
report = json.loads(kv["nasdaq.load_report"])
print(json.dumps({"kv": {k: v for k, v in kv.items() if k.startswith("nasdaq.") and k != "nasdaq.load_report"}, "report": report}))
"#;
    let seen: serde_json::Value =
        serde_json::from_str(&python(&interpreter, code, &sandbox.path("bars.parquet"))).unwrap();
    let report = &seen["report"];
    for field in [
        "source",
        "sha256",
        "dialect",
        "rows_read",
        "rows_kept",
        "rejected",
        "tool_version",
        "settings_hash",
        "loaded_at",
        "etag",
    ] {
        assert_eq!(report[field], ours[field], "{field}");
        assert!(!report[field].is_null(), "{field} is recorded");
    }
    assert_eq!(report["rows_read"], 5220);
    assert_eq!(seen["kv"]["nasdaq.dialect"], "long");
    assert_eq!(seen["kv"]["nasdaq.sha256"], ours["sha256"]);
    assert_eq!(
        seen["kv"]["nasdaq.settings_hash"].as_str().unwrap().len(),
        64
    );
    assert!(
        report["files"][0]["uri"]
            .as_str()
            .unwrap()
            .ends_with("NASDAQ.csv")
    );
}

#[test]
fn real_yahoo_bars_load_by_default_and_strict_refuses_them() {
    // Two bars of ten years of SPY from Yahoo whose open lies outside [low, high].
    let sandbox = Sandbox::new();
    sandbox.write(
        "SPY.csv",
        "Date,Open,High,Low,Close,Adj Close,Volume\n\
         2015-08-24,197.63,197.48,182.40,189.55,166.12,507244300\n\
         2015-08-25,195.43,195.45,186.92,187.23,164.09,369833100\n\
         2015-08-26,192.08,194.79,188.37,194.68,170.62,339257000\n",
    );
    let out = sandbox.run(&["fetch", "SPY.csv", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"], 3);
    assert_eq!(report["warnings"]["ohlc_consistent"], 1);
    let out = sandbox.run(&["validate", "SPY.csv"]);
    assert!(
        stdout(&out).contains("line 2: SPY 2015-08-24"),
        "{}",
        stdout(&out)
    );
    let out = sandbox.run(&["fetch", "SPY.csv", "--strict"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("ohlc_consistent (1 rows"),
        "{}",
        stderr(&out)
    );
}
