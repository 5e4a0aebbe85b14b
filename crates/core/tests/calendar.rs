//! The NASDAQ calendar against an independent source: the sessions of the
//! `exchange_calendars` package's XNAS calendar, every day of its range.
//! Under CI a missing package fails the test; locally it skips loudly.

use chrono::{Datelike, NaiveDate, Weekday};
use nasdaq_core::calendar::TradingDays;

const FIRST: &str = "1971-02-08";
const LAST: &str = "2030-12-31";

/// XNAS sessions from exchange_calendars, or None when it cannot be run.
fn xnas_sessions() -> Option<Vec<NaiveDate>> {
    let python = nasdaq_testkit::s3_server::python();
    let script = format!(
        "import exchange_calendars as xc\n\
         c = xc.get_calendar('XNAS', start='{FIRST}', end='{LAST}')\n\
         print('\\n'.join(d.strftime('%Y-%m-%d') for d in c.sessions))"
    );
    let output = std::process::Command::new(&python)
        .args(["-c", &script])
        .output();
    match output {
        Ok(out) if out.status.success() => Some(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| NaiveDate::parse_from_str(l, "%Y-%m-%d").unwrap())
                .collect(),
        ),
        Ok(out) => nasdaq_testkit::s3_server::skip_or_fail(
            "exchange_calendars",
            &String::from_utf8_lossy(&out.stderr),
        ),
        Err(err) => nasdaq_testkit::s3_server::skip_or_fail("python", &err.to_string()),
    }
}

#[test]
fn every_day_agrees_with_exchange_calendars_xnas() {
    let Some(sessions) = xnas_sessions() else {
        return;
    };
    let first = NaiveDate::parse_from_str(FIRST, "%Y-%m-%d").unwrap();
    let last = NaiveDate::parse_from_str(LAST, "%Y-%m-%d").unwrap();
    assert_eq!(sessions.first(), Some(&first));
    let theirs: std::collections::BTreeSet<NaiveDate> = sessions.into_iter().collect();
    let ours = TradingDays::between(first, last);
    let mut differences = Vec::new();
    for day in first.iter_days().take_while(|d| *d <= last) {
        let (a, b) = (ours.is_session(day), theirs.contains(&day));
        if a != b {
            let who = if a {
                "we open, XNAS closed"
            } else {
                "we closed, XNAS open"
            };
            differences.push(format!("{day} {:?}: {who}", day.weekday()));
        }
    }
    assert!(
        differences.is_empty(),
        "{} days differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
    assert!(!ours.is_session(NaiveDate::from_ymd_opt(2024, 1, 6).unwrap()));
    assert_eq!(
        NaiveDate::from_ymd_opt(2024, 1, 6).unwrap().weekday(),
        Weekday::Sat
    );
}
