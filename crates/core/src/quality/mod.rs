//! Data-quality rules: each with a policy (error, warn or drop), counted,
//! with the first examples named by file and line.
//!
//! | rule                  | checks                                                     | default |
//! |-----------------------|------------------------------------------------------------|---------|
//! | `ohlc_consistent`     | high >= max(open, close), low <= min(open, close), low <= high | warn |
//! | `positive_prices`     | open, high, low, close (and adj close) > 0                  | warn    |
//! | `volume_non_negative` | volume >= 0                                                  | warn    |
//! | `unique_bar`          | no (date, ticker) twice                                     | error   |
//! | `future_date`         | no date after today (UTC)                                   | warn    |
//! | `price_jump`          | no ~100x jump between consecutive closes of a ticker unless the adjusted close absorbs it (a split) | warn |
//! | `missing_sessions`    | no NASDAQ session missing between a ticker's first and last bar | warn |
//!
//! The defaults load real published files (Yahoo's own data has bars whose
//! open lies outside [low, high]): only a duplicate (date, ticker), which
//! makes the table itself wrong, is an error; the rest are counted and
//! reported. [`Policies::strict`] makes every rule an error.
//!
//! `error` fails the load (and `validate` exits non-zero), `warn` keeps the
//! rows and reports them, `drop` removes them and reports them. Two
//! exceptions: `unique_bar` under `warn` still removes the later duplicate
//! (the output never holds a pair twice; the first occurrence is kept), and
//! `missing_sessions` has no row to drop, so `drop` acts as `warn`.
//!
//! Each rule is one small unit in `rules.rs` (its name, default, description,
//! check and what it removes), in one ordered list that drives [`Rule::ALL`]
//! and the evaluation.

mod rules;

use std::collections::BTreeMap;
use std::fmt;

use arrow::array::{AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type};
use chrono::NaiveDate;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::reader::BatchLines;
use crate::table::{Places, format_date};
use rules::{Bars, Check, Findings, RULES, RuleSpec};

/// What happens to rows that break a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Fail the load.
    Error,
    /// Keep the rows, report them.
    Warn,
    /// Remove the rows, report them.
    Drop,
}

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Error => "error",
            Self::Warn => "warn",
            Self::Drop => "drop",
        })
    }
}

/// The rules. What each checks, its name and its default live in one unit
/// per rule (`quality/rules.rs`), listed in this order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    /// high >= max(open, close), low <= min(open, close), low <= high.
    OhlcConsistent,
    /// Prices > 0.
    PositivePrices,
    /// Volume >= 0.
    VolumeNonNegative,
    /// No duplicate (date, ticker).
    UniqueBar,
    /// No date in the future.
    FutureDate,
    /// No ~100x close jump without an adjusted-close break.
    PriceJump,
    /// No missing NASDAQ session per ticker.
    MissingSessions,
}

impl Rule {
    /// Every rule, in report order.
    pub const ALL: [Rule; RULES.len()] = {
        let mut all = [Rule::OhlcConsistent; RULES.len()];
        let mut i = 0;
        while i < RULES.len() {
            all[i] = RULES[i].rule;
            i += 1;
        }
        all
    };

    /// The rule's unit: [`RULES`] is in variant order (checked when building).
    pub(crate) fn spec(self) -> &'static RuleSpec {
        &RULES[self as usize]
    }

    /// The rule's name in reports and settings.
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// The documented default policy.
    pub fn default_policy(self) -> Policy {
        self.spec().default_policy
    }

    /// What the rule checks, in one sentence.
    pub fn description(self) -> &'static str {
        self.spec().description
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `pad`, so that `{:<20}` aligns names in tables.
        f.pad(self.name())
    }
}

/// As its name, so reports read `"rule": "ohlc_consistent"`.
impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

/// From its name, as reports write it.
impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Rule::ALL
            .into_iter()
            .find(|rule| rule.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown rule {name:?}")))
    }
}

/// A policy per rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policies {
    /// `ohlc_consistent`.
    pub ohlc_consistent: Policy,
    /// `positive_prices`.
    pub positive_prices: Policy,
    /// `volume_non_negative`.
    pub volume_non_negative: Policy,
    /// `unique_bar`.
    pub unique_bar: Policy,
    /// `future_date`.
    pub future_date: Policy,
    /// `price_jump`.
    pub price_jump: Policy,
    /// `missing_sessions`.
    pub missing_sessions: Policy,
}

impl Default for Policies {
    fn default() -> Self {
        Self {
            ohlc_consistent: Rule::OhlcConsistent.default_policy(),
            positive_prices: Rule::PositivePrices.default_policy(),
            volume_non_negative: Rule::VolumeNonNegative.default_policy(),
            unique_bar: Rule::UniqueBar.default_policy(),
            future_date: Rule::FutureDate.default_policy(),
            price_jump: Rule::PriceJump.default_policy(),
            missing_sessions: Rule::MissingSessions.default_policy(),
        }
    }
}

impl Policies {
    /// Every rule an error: `--strict`, for data that must be clean.
    pub fn strict() -> Self {
        Self {
            ohlc_consistent: Policy::Error,
            positive_prices: Policy::Error,
            volume_non_negative: Policy::Error,
            unique_bar: Policy::Error,
            future_date: Policy::Error,
            price_jump: Policy::Error,
            missing_sessions: Policy::Error,
        }
    }

    /// The policy of `rule`.
    pub fn of(&self, rule: Rule) -> Policy {
        match rule {
            Rule::OhlcConsistent => self.ohlc_consistent,
            Rule::PositivePrices => self.positive_prices,
            Rule::VolumeNonNegative => self.volume_non_negative,
            Rule::UniqueBar => self.unique_bar,
            Rule::FutureDate => self.future_date,
            Rule::PriceJump => self.price_jump,
            Rule::MissingSessions => self.missing_sessions,
        }
    }
}

/// One violation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Violation {
    /// The file, when the violation is a row.
    pub file: Option<String>,
    /// The line, when the violation is a row.
    pub line: Option<u64>,
    /// The ticker.
    pub ticker: String,
    /// The date, YYYY-MM-DD.
    pub date: String,
    /// What is wrong.
    pub detail: String,
}

/// How one rule fared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleOutcome {
    /// The rule (serialized as its name).
    pub rule: Rule,
    /// Its policy.
    pub policy: Policy,
    /// How many violations.
    pub count: u64,
    /// The first violations.
    pub examples: Vec<Violation>,
}

/// The quality report of one load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QualityReport {
    /// Per rule, in [`Rule::ALL`] order.
    pub rules: Vec<RuleOutcome>,
    /// Rows removed by `drop` rules.
    pub dropped: u64,
    /// Whether an `error` rule fired.
    pub failed: bool,
}

impl QualityReport {
    /// Rejected rows per rule name (error and drop rules), for the load report.
    pub fn rejected(&self) -> BTreeMap<String, u64> {
        self.rules
            .iter()
            .filter(|r| r.count > 0 && r.rule.spec().reports_rejected_rows(r.policy))
            .map(|r| (r.rule.name().to_owned(), r.count))
            .collect()
    }

    /// Violations of warn-policy rules per rule name, for the load report.
    pub fn warnings(&self) -> BTreeMap<String, u64> {
        self.rules
            .iter()
            .filter(|r| r.policy == Policy::Warn && r.count > 0)
            .map(|r| (r.rule.name().to_owned(), r.count))
            .collect()
    }

    /// A one-paragraph account of the error rules that fired.
    pub fn failure_summary(&self) -> String {
        self.rules
            .iter()
            .filter(|r| r.policy == Policy::Error && r.count > 0)
            .map(|r| {
                let example = r.examples.first().map(|v| {
                    let place = match (&v.file, v.line) {
                        (Some(file), Some(line)) => format!("{file}: line {line}: "),
                        _ => String::new(),
                    };
                    format!(", e.g. {place}{} {}: {}", v.ticker, v.date, v.detail)
                });
                format!(
                    "{} ({} rows{})",
                    r.rule,
                    r.count,
                    example.unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Examples kept per rule.
pub(crate) const EXAMPLES: usize = 5;

/// Where each row of the sorted table came from.
pub(crate) struct Origins {
    /// File names, by index.
    pub(crate) files: Vec<String>,
    /// The rows in file order, in batches (one a parsed chunk) that each
    /// share a file and a line offset: where each batch lies.
    pub(crate) places: Places,
    /// Per batch: its file's index and its rows' lines.
    pub(crate) sources: Vec<(u32, BatchLines)>,
    /// The sort: sorted row -> row in file order (`None`: already in order).
    pub(crate) order: Option<Vec<u32>>,
}

impl Origins {
    /// The file and line of a row of the sorted table.
    pub(crate) fn at(&self, row: usize) -> (Option<&str>, u64) {
        let original = self.order.as_ref().map_or(row, |o| o[row] as usize);
        let Some(((file, lines), row)) = self
            .places
            .get(original)
            .and_then(|(batch, row)| Some((self.sources.get(batch)?, row)))
        else {
            return (None, 0);
        };
        (
            self.files.get(*file as usize).map(String::as_str),
            lines.line(row),
        )
    }
}

/// The tickers of the sorted table, by rank.
pub(crate) struct Ranks<'a> {
    /// Per row: the ticker's rank (its position among the sorted ticker names).
    pub(crate) ranks: &'a [u32],
    /// How many distinct tickers.
    pub(crate) tickers: usize,
}

/// A row flagged by a rule.
pub(crate) struct Flag {
    pub(crate) rule: Rule,
    pub(crate) row: usize,
    pub(crate) detail: String,
}

/// What [`evaluate`] decided.
pub(crate) struct Verdict {
    pub(crate) report: QualityReport,
    /// Per row: the first rule that rejects it (error or drop policy).
    pub(crate) rejected_by: Vec<Option<Rule>>,
    /// Per row: kept in the output.
    pub(crate) keep: BooleanArray,
}

/// Checks every rule over a table sorted by (date, ticker).
///
/// `flags` are violations the parser found (negative volumes), by row.
pub(crate) fn evaluate(
    table: &RecordBatch,
    origins: &Origins,
    ranks: &Ranks<'_>,
    flags: Vec<Flag>,
    policies: &Policies,
    today: NaiveDate,
) -> Verdict {
    let rows = table.num_rows();
    let price = |i: usize| table.column(i).as_primitive::<Float64Type>();
    let bars = Bars {
        date: table.column(0).as_primitive::<Date32Type>(),
        ticker: table.column(1).as_string::<i32>(),
        open: price(2),
        high: price(3),
        low: price(4),
        close: price(5),
        adj_close: price(6),
        ranks: ranks.ranks,
        origins,
        tickers: ranks.tickers,
        today,
    };
    // The rules are independent: check them in parallel.
    let mut findings: Vec<Findings> = RULES
        .par_iter()
        .map(|spec| {
            let mut found = Findings::default();
            if let Check::Table(check) = spec.check {
                check(&bars, &mut found);
            }
            found
        })
        .collect();
    // `findings` is in RULES order, which is variant order.
    for flag in flags {
        findings[flag.rule as usize]
            .rows
            .push((flag.row, flag.detail));
    }

    let mut rejected_by: Vec<Option<Rule>> = vec![None; rows];
    let mut outcomes = Vec::with_capacity(RULES.len());
    // In rule order, so that a row is rejected by the first rule that rejects it.
    for (spec, mut found) in RULES.iter().zip(findings) {
        let policy = policies.of(spec.rule);
        found.rows.sort_by_key(|(row, _)| *row);
        let mut examples: Vec<Violation> = found
            .rows
            .iter()
            .take(EXAMPLES)
            .map(|(row, detail)| {
                let (file, line) = origins.at(*row);
                Violation {
                    file: file.map(str::to_owned),
                    line: Some(line),
                    ticker: bars.ticker.value(*row).to_owned(),
                    date: format_date(bars.date.value(*row)),
                    detail: detail.clone(),
                }
            })
            .collect();
        let room = EXAMPLES - examples.len();
        examples.extend(found.absent_examples.into_iter().take(room));
        if spec.rejects_rows(policy) {
            for (row, _) in &found.rows {
                rejected_by[*row].get_or_insert(spec.rule);
            }
        }
        outcomes.push(RuleOutcome {
            rule: spec.rule,
            policy,
            count: found.rows.len() as u64 + found.absent,
            examples,
        });
    }
    let failed = outcomes
        .iter()
        .any(|o| o.policy == Policy::Error && o.count > 0);
    let keep: BooleanArray = rejected_by
        .iter()
        .map(|r| Some(!r.is_some_and(|rule| rule.spec().removes_rows(policies.of(rule)))))
        .collect();
    let dropped = keep.false_count() as u64;
    Verdict {
        report: QualityReport {
            rules: outcomes,
            dropped,
            failed,
        },
        rejected_by,
        keep,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Date32Array, Float64Array, StringArray, UInt64Array};

    use super::*;

    /// Evaluates sorted bars (date as days since 2024-01-01, a Monday;
    /// ticker; close), each ticker ranked by its name.
    fn evaluate_bars(bars: &[(i32, &str, f64)], policies: &Policies) -> Verdict {
        let monday = 19723; // 2024-01-01 in Date32 days.
        let mut names: Vec<&str> = bars.iter().map(|b| b.1).collect();
        names.sort_unstable();
        names.dedup();
        let ranks: Vec<u32> = bars
            .iter()
            .map(|b| names.binary_search(&b.1).unwrap() as u32)
            .collect();
        let close: Vec<f64> = bars.iter().map(|b| b.2).collect();
        let prices = || Arc::new(Float64Array::from(close.clone())) as ArrayRef;
        let table = RecordBatch::try_new(
            crate::schema::canonical(),
            vec![
                Arc::new(Date32Array::from_iter_values(
                    bars.iter().map(|b| monday + b.0),
                )),
                Arc::new(StringArray::from_iter_values(bars.iter().map(|b| b.1))),
                prices(),
                prices(),
                prices(),
                prices(),
                prices(),
                Arc::new(UInt64Array::from_iter_values(bars.iter().map(|_| 1))),
            ],
        )
        .unwrap();
        let origins = Origins {
            files: vec!["f.csv".to_owned()],
            places: Places::new([bars.len()]),
            sources: vec![(
                0,
                BatchLines {
                    offset: 1,
                    relative: Vec::new(),
                },
            )],
            order: None,
        };
        let ranks = Ranks {
            ranks: &ranks,
            tickers: names.len(),
        };
        let today = NaiveDate::from_ymd_opt(2024, 6, 1).unwrap();
        evaluate(&table, &origins, &ranks, Vec::new(), policies, today)
    }

    fn outcome(verdict: &Verdict, rule: Rule) -> &RuleOutcome {
        verdict
            .report
            .rules
            .iter()
            .find(|r| r.rule == rule)
            .unwrap()
    }

    #[test]
    fn a_warned_duplicate_is_still_removed_and_reported_as_a_warning() {
        let policies = Policies {
            unique_bar: Policy::Warn,
            ..Policies::default()
        };
        let verdict = evaluate_bars(&[(1, "A", 1.0), (1, "A", 2.0), (2, "A", 1.0)], &policies);
        let dup = outcome(&verdict, Rule::UniqueBar);
        assert_eq!((dup.count, dup.policy), (1, Policy::Warn));
        assert_eq!(dup.examples[0].detail, "duplicate of f.csv: line 2");
        let kept: Vec<bool> = verdict.keep.iter().map(Option::unwrap).collect();
        assert_eq!(kept, [true, false, true], "the first occurrence stays");
        assert_eq!(verdict.rejected_by[1], Some(Rule::UniqueBar));
        assert_eq!(verdict.report.dropped, 1);
        assert!(!verdict.report.failed);
        assert!(verdict.report.rejected().is_empty());
    }

    #[test]
    fn drop_acts_as_warn_for_missing_sessions() {
        let policies = Policies {
            missing_sessions: Policy::Drop,
            ..Policies::default()
        };
        // Tuesday, then Friday: Wednesday and Thursday are missing.
        let verdict = evaluate_bars(&[(1, "A", 1.0), (4, "A", 1.0)], &policies);
        let missing = outcome(&verdict, Rule::MissingSessions);
        assert_eq!(missing.count, 2);
        let dates: Vec<&str> = missing.examples.iter().map(|v| v.date.as_str()).collect();
        assert_eq!(dates, ["2024-01-03", "2024-01-04"]);
        assert_eq!(verdict.report.dropped, 0);
        assert!(verdict.keep.iter().all(|k| k == Some(true)));
        assert!(!verdict.report.failed);
        assert!(verdict.report.rejected().is_empty());
    }

    #[test]
    fn a_row_is_rejected_by_the_first_rule_that_rejects_it() {
        let policies = Policies {
            positive_prices: Policy::Drop,
            price_jump: Policy::Drop,
            ..Policies::default()
        };
        // Row 1 breaks positive_prices and, after a 100x fall, price_jump.
        let verdict = evaluate_bars(
            &[(1, "A", 100.0), (2, "A", -1.0), (3, "A", 100.0)],
            &policies,
        );
        assert_eq!(verdict.rejected_by[1], Some(Rule::PositivePrices));
        assert_eq!(outcome(&verdict, Rule::PriceJump).count, 2);
        assert_eq!(verdict.rejected_by[2], Some(Rule::PriceJump));
        assert_eq!(verdict.report.dropped, 2);
        let rejected = verdict.report.rejected();
        assert_eq!(rejected["positive_prices"], 1);
        assert_eq!(rejected["price_jump"], 2);
    }

    #[test]
    fn all_lists_every_rule_once_in_variant_order() {
        for (i, rule) in Rule::ALL.iter().enumerate() {
            assert_eq!(*rule as usize, i, "{rule}");
            assert_eq!(rule.spec().rule, *rule);
        }
        // Whoever adds a variant lands here (the match is exhaustive) and
        // names the new last one, which RULES must end with; the build
        // already checks that RULES is in variant order.
        let last = |rule: Rule| match rule {
            Rule::MissingSessions => true,
            Rule::OhlcConsistent
            | Rule::PositivePrices
            | Rule::VolumeNonNegative
            | Rule::UniqueBar
            | Rule::FutureDate
            | Rule::PriceJump => false,
        };
        assert!(Rule::ALL.last().is_some_and(|r| last(*r)));
    }

    #[test]
    fn policies_name_the_rules_and_default_to_their_policy() {
        let defaults = Policies::default();
        let json = serde_json::to_value(&defaults).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut names: Vec<&str> = Rule::ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort_unstable();
        assert_eq!(
            keys_sorted, names,
            "a Policies field per rule, named as the rule"
        );
        for rule in Rule::ALL {
            assert_eq!(defaults.of(rule), rule.default_policy(), "{rule}");
            assert_eq!(
                json[rule.name()],
                rule.default_policy().to_string(),
                "{rule}"
            );
        }
    }

    #[test]
    fn an_outcome_serializes_the_rule_as_its_name() {
        let outcome = RuleOutcome {
            rule: Rule::OhlcConsistent,
            policy: Policy::Error,
            count: 1,
            examples: Vec::new(),
        };
        let json = serde_json::to_value(&outcome).unwrap();
        assert_eq!(json["rule"], "ohlc_consistent");
        assert_eq!(format!("{:<17}|", Rule::UniqueBar), "unique_bar       |");
    }
}
