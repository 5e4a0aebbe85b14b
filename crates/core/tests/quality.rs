//! The quality rules on a crafted file: each rule finds its violation, and
//! each policy does what it says.

use std::path::Path;
use std::sync::Arc;

use nasdaq_core::{Error, LoadRequest, Loaded, Loader, Policies, Policy, Rule};
use nasdaq_storage::ObjectStoreSource;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/quality");

async fn load(policies: Policies, fail: bool) -> Result<Loaded, Error> {
    let source = Arc::new(ObjectStoreSource::local(Path::new(DIR)).unwrap());
    let request = LoadRequest {
        policies,
        fail_on_error_rules: fail,
        collect_rejects: true,
        ..LoadRequest::new("quality.csv")
    };
    Loader::new(source).load(&request).await
}

#[tokio::test]
async fn each_rule_finds_its_violation_with_file_and_line() {
    let loaded = load(Policies::default(), false).await.unwrap();
    let q = &loaded.quality;
    let outcome = |rule: Rule| q.rules.iter().find(|r| r.rule == rule).unwrap();
    let expected = [
        (Rule::OhlcConsistent, 1, Some(5), "OHLC"),
        (Rule::PositivePrices, 1, Some(6), "ZERO"),
        (Rule::VolumeNonNegative, 1, Some(7), "NEGV"),
        (Rule::UniqueBar, 1, Some(8), "GOOD"),
        (Rule::FutureDate, 1, Some(9), "FUTR"),
        (Rule::PriceJump, 1, Some(11), "JUMP"),
        (Rule::MissingSessions, 2, None, "GAPS"),
    ];
    for (rule, count, line, ticker) in expected {
        let o = outcome(rule);
        assert_eq!(o.count, count, "{}: {o:?}", rule.name());
        assert_eq!(o.policy, rule.default_policy());
        let example = &o.examples[0];
        assert_eq!(example.line, line, "{}", rule.name());
        assert_eq!(example.ticker, ticker, "{}", rule.name());
        if line.is_some() {
            assert!(example.file.as_deref().unwrap().ends_with("/quality.csv"));
        }
    }
    assert_eq!(
        outcome(Rule::UniqueBar).examples[0].detail,
        format!("duplicate of file://{DIR}/quality.csv: line 3")
    );
    let missing: Vec<&str> = outcome(Rule::MissingSessions)
        .examples
        .iter()
        .map(|v| v.date.as_str())
        .collect();
    assert_eq!(missing, ["2024-01-03", "2024-01-04"]);
    assert!(q.failed, "the duplicate is an error by default");
    // The rejected row: the duplicate, the one error rule by default.
    let rejects = loaded.rejects.as_ref().unwrap();
    assert_eq!(rejects.num_rows(), 1);
    assert_eq!(loaded.report.rejected.len(), 1);
    assert_eq!(loaded.report.rejected["unique_bar"], 1);
    for rule in [
        "ohlc_consistent",
        "positive_prices",
        "volume_non_negative",
        "future_date",
        "price_jump",
    ] {
        assert_eq!(loaded.report.warnings[rule], 1, "{rule}");
    }
    assert_eq!(loaded.report.warnings["missing_sessions"], 2);
}

/// The policies before real published files made the price rules warn.
fn old_defaults() -> Policies {
    Policies {
        ohlc_consistent: Policy::Error,
        positive_prices: Policy::Error,
        volume_non_negative: Policy::Error,
        ..Policies::default()
    }
}

#[tokio::test]
async fn strict_makes_every_rule_an_error() {
    let loaded = load(Policies::strict(), false).await.unwrap();
    assert!(
        loaded
            .quality
            .rules
            .iter()
            .all(|r| r.policy == Policy::Error)
    );
    assert_eq!(
        loaded.rejects.as_ref().unwrap().num_rows(),
        6,
        "every row-level rule rejects"
    );
    let err = load(Policies::strict(), true)
        .await
        .unwrap_err()
        .to_string();
    for rule in [
        "ohlc_consistent",
        "future_date",
        "price_jump",
        "missing_sessions",
    ] {
        assert!(err.contains(rule), "{rule}: {err}");
    }
}

#[tokio::test]
async fn error_policy_fails_the_load_naming_rule_file_and_line() {
    let err = load(old_defaults(), true).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Quality { .. }), "{text}");
    assert!(
        text.contains("ohlc_consistent (1 rows, e.g. file://")
            && text.contains("quality.csv: line 5: OHLC"),
        "{text}"
    );
    assert!(text.contains("unique_bar (1 rows"), "{text}");
    assert!(
        !text.contains("future_date"),
        "warn rules do not fail: {text}"
    );
}

#[tokio::test]
async fn drop_policy_removes_rows_and_warn_keeps_them() {
    let dropping = Policies {
        ohlc_consistent: Policy::Drop,
        positive_prices: Policy::Drop,
        volume_non_negative: Policy::Drop,
        unique_bar: Policy::Drop,
        future_date: Policy::Drop,
        ..Policies::default()
    };
    let loaded = load(dropping, true).await.unwrap();
    assert_eq!(loaded.report.rows_read, 14);
    assert_eq!(loaded.report.rows_kept, 9, "5 rows dropped");
    assert_eq!(loaded.quality.dropped, 5);
    assert_eq!(loaded.report.rejected.values().sum::<u64>(), 5);
    // The duplicate kept is the first one (close 10.5), not line 8's 10.6.
    let table =
        arrow::compute::concat_batches(&loaded.table.schema, &loaded.table.batches).unwrap();
    let csv = {
        let mut out = Vec::new();
        arrow::csv::Writer::new(&mut out).write(&table).unwrap();
        String::from_utf8(out).unwrap()
    };
    assert!(csv.contains("2024-01-03,GOOD,10.0,11.0,9.0,10.5"), "{csv}");
    assert!(
        !csv.contains("10.6") && !csv.contains("FUTR") && !csv.contains("OHLC"),
        "{csv}"
    );

    let warning = Policies {
        ohlc_consistent: Policy::Warn,
        positive_prices: Policy::Warn,
        volume_non_negative: Policy::Warn,
        unique_bar: Policy::Warn,
        ..Policies::default()
    };
    let loaded = load(warning, true).await.unwrap();
    assert_eq!(
        loaded.report.rows_kept, 13,
        "warn keeps all but the later duplicate"
    );
    assert!(loaded.report.rejected.is_empty());
    assert_eq!(loaded.report.warnings["ohlc_consistent"], 1);
}
