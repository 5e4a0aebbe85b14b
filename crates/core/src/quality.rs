//! Data-quality rules: each with a policy (error, warn or drop), counted,
//! with the first examples named by file and line.
//!
//! | rule                  | checks                                                     | default |
//! |-----------------------|------------------------------------------------------------|---------|
//! | `ohlc_consistent`     | high >= max(open, close), low <= min(open, close), low <= high | error |
//! | `positive_prices`     | open, high, low, close (and adj close) > 0                  | error   |
//! | `volume_non_negative` | volume >= 0                                                  | error   |
//! | `unique_bar`          | no (date, ticker) twice                                     | error   |
//! | `future_date`         | no date after today (UTC)                                   | warn    |
//! | `price_jump`          | no ~100x jump between consecutive closes of a ticker unless the adjusted close absorbs it (a split) | warn |
//! | `missing_sessions`    | no NASDAQ session missing between a ticker's first and last bar | warn |
//!
//! `error` fails the load (and `validate` exits non-zero), `warn` keeps the
//! rows and reports them, `drop` removes them and reports them. Two
//! exceptions: `unique_bar` under `warn` still removes the later duplicate
//! (the output never holds a pair twice; the first occurrence is kept), and
//! `missing_sessions` has no row to drop, so `drop` acts as `warn`.

use std::collections::BTreeMap;
use std::fmt;

use arrow::array::{Array, AsArray, BooleanArray, RecordBatch};
use arrow::datatypes::{Date32Type, Float64Type};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

use crate::calendar::TradingDays;
use crate::parse::EPOCH_DAYS_FROM_CE;
use crate::table::format_date;

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

/// The rules.
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
    pub const ALL: [Rule; 7] = [
        Rule::OhlcConsistent,
        Rule::PositivePrices,
        Rule::VolumeNonNegative,
        Rule::UniqueBar,
        Rule::FutureDate,
        Rule::PriceJump,
        Rule::MissingSessions,
    ];

    /// The rule's name in reports and settings.
    pub fn name(self) -> &'static str {
        match self {
            Rule::OhlcConsistent => "ohlc_consistent",
            Rule::PositivePrices => "positive_prices",
            Rule::VolumeNonNegative => "volume_non_negative",
            Rule::UniqueBar => "unique_bar",
            Rule::FutureDate => "future_date",
            Rule::PriceJump => "price_jump",
            Rule::MissingSessions => "missing_sessions",
        }
    }

    /// The documented default policy.
    pub fn default_policy(self) -> Policy {
        match self {
            Rule::FutureDate | Rule::PriceJump | Rule::MissingSessions => Policy::Warn,
            _ => Policy::Error,
        }
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
#[derive(Debug, Clone, PartialEq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleOutcome {
    /// The rule's name.
    pub rule: &'static str,
    /// Its policy.
    pub policy: Policy,
    /// How many violations.
    pub count: u64,
    /// The first violations.
    pub examples: Vec<Violation>,
}

/// The quality report of one load.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
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
            .filter(|r| {
                r.policy != Policy::Warn && r.count > 0 && r.rule != Rule::MissingSessions.name()
            })
            .map(|r| (r.rule.to_owned(), r.count))
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
const EXAMPLES: usize = 5;

/// Where each row of the sorted table came from.
pub(crate) struct Origins {
    /// File names, by index.
    pub(crate) files: Vec<String>,
    /// Per row in file order: (file index, line).
    pub(crate) rows: Vec<(u32, u64)>,
    /// The sort: sorted row -> row in file order (`None`: already in order).
    pub(crate) order: Option<Vec<u32>>,
}

impl Origins {
    /// The file and line of a row of the sorted table.
    pub(crate) fn at(&self, row: usize) -> (Option<&str>, u64) {
        let original = self.order.as_ref().map_or(row, |o| o[row] as usize);
        let (file, line) = self.rows.get(original).copied().unwrap_or((0, 0));
        (self.files.get(file as usize).map(String::as_str), line)
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
/// `flags` are violations found earlier (duplicates, negative volumes), by row.
pub(crate) fn evaluate(
    table: &RecordBatch,
    origins: &Origins,
    ranks: &Ranks<'_>,
    mut flags: Vec<Flag>,
    policies: &Policies,
    today: NaiveDate,
) -> Verdict {
    let rows = table.num_rows();
    let date = table.column(0).as_primitive::<Date32Type>();
    let ticker = table.column(1).as_string::<i32>();
    let price = |i: usize| table.column(i).as_primitive::<Float64Type>();
    let (open, high, low, close, adj) = (price(2), price(3), price(4), price(5), price(6));
    let today_days = chrono::Datelike::num_days_from_ce(&today) - EPOCH_DAYS_FROM_CE;

    for row in 0..rows {
        let (o, h, l, c) = (
            open.value(row),
            high.value(row),
            low.value(row),
            close.value(row),
        );
        if h < o.max(c) || l > o.min(c) || l > h {
            flags.push(Flag {
                rule: Rule::OhlcConsistent,
                row,
                detail: format!("open {o}, high {h}, low {l}, close {c}"),
            });
        }
        let adj_bad = adj.is_valid(row) && adj.value(row) <= 0.0;
        if o <= 0.0 || h <= 0.0 || l <= 0.0 || c <= 0.0 || adj_bad {
            flags.push(Flag {
                rule: Rule::PositivePrices,
                row,
                detail: format!("open {o}, high {h}, low {l}, close {c}"),
            });
        }
        if date.value(row) > today_days {
            flags.push(Flag {
                rule: Rule::FutureDate,
                row,
                detail: format!("after today ({today})"),
            });
        }
    }

    // Per ticker, in date order (a counting sort on the rank): price jumps
    // and missing sessions.
    let mut starts = vec![0usize; ranks.tickers + 1];
    for &rank in ranks.ranks {
        starts[rank as usize + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut grouped = vec![0usize; rows];
    for (row, &rank) in ranks.ranks.iter().enumerate() {
        grouped[next[rank as usize]] = row;
        next[rank as usize] += 1;
    }
    let mut missing: Vec<Violation> = Vec::new();
    let mut missing_count = 0u64;
    let bounds = (0..rows).map(|r| date.value(r));
    let (first, last) = (bounds.clone().min(), bounds.max());
    let to_date = |days: i32| {
        NaiveDate::from_num_days_from_ce_opt(days + EPOCH_DAYS_FROM_CE).unwrap_or_default()
    };
    let calendar = match (first, last) {
        (Some(first), Some(last)) => Some(TradingDays::between(to_date(first), to_date(last))),
        _ => None,
    };
    for window in starts.windows(2) {
        let series = &grouped[window[0]..window[1]];
        let Some(&first_row) = series.first() else {
            continue;
        };
        let symbol = ticker.value(first_row);
        for pair in series.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            let ratio = close.value(b) / close.value(a);
            let jumped = !(1.0 / 50.0..=50.0).contains(&ratio);
            if jumped {
                let adjusted = adj.is_valid(a) && adj.is_valid(b) && {
                    let adj_ratio = adj.value(b) / adj.value(a);
                    (1.0 / 50.0..=50.0).contains(&adj_ratio)
                };
                if !adjusted {
                    flags.push(Flag {
                        rule: Rule::PriceJump,
                        row: b,
                        detail: format!(
                            "close {} -> {} ({ratio:.1}x)",
                            close.value(a),
                            close.value(b)
                        ),
                    });
                }
            }
        }
        let (Some(calendar), Some(&last_row)) = (&calendar, series.last()) else {
            continue;
        };
        // Both walks are in date order: merge them.
        let mut present = series.iter().map(|r| date.value(*r)).peekable();
        for session in calendar.sessions(
            to_date(date.value(first_row)),
            to_date(date.value(last_row)),
        ) {
            let days = chrono::Datelike::num_days_from_ce(&session) - EPOCH_DAYS_FROM_CE;
            while present.next_if(|d| *d < days).is_some() {}
            if present.peek() != Some(&days) {
                missing_count += 1;
                if missing.len() < EXAMPLES {
                    missing.push(Violation {
                        file: None,
                        line: None,
                        ticker: symbol.to_owned(),
                        date: format_date(days),
                        detail: "no bar on this NASDAQ session".to_owned(),
                    });
                }
            }
        }
    }

    flags.sort_by_key(|f| (f.rule, f.row));
    let mut rejected_by: Vec<Option<Rule>> = vec![None; rows];
    let mut outcomes: BTreeMap<Rule, RuleOutcome> = Rule::ALL
        .iter()
        .map(|r| {
            (
                *r,
                RuleOutcome {
                    rule: r.name(),
                    policy: policies.of(*r),
                    count: 0,
                    examples: Vec::new(),
                },
            )
        })
        .collect();
    for flag in &flags {
        let Some(outcome) = outcomes.get_mut(&flag.rule) else {
            continue;
        };
        outcome.count += 1;
        if outcome.examples.len() < EXAMPLES {
            let (file, line) = origins.at(flag.row);
            outcome.examples.push(Violation {
                file: file.map(str::to_owned),
                line: Some(line),
                ticker: ticker.value(flag.row).to_owned(),
                date: format_date(date.value(flag.row)),
                detail: flag.detail.clone(),
            });
        }
        // The output never holds a (date, ticker) twice: under warn too, the later duplicate goes.
        let removes = outcome.policy != Policy::Warn || flag.rule == Rule::UniqueBar;
        if removes && rejected_by[flag.row].is_none() {
            rejected_by[flag.row] = Some(flag.rule);
        }
    }
    if let Some(outcome) = outcomes.get_mut(&Rule::MissingSessions) {
        outcome.count = missing_count;
        outcome.examples = missing;
        // Nothing to drop for a missing row: drop acts as warn.
    }
    let failed = outcomes
        .values()
        .any(|o| o.policy == Policy::Error && o.count > 0);
    let keep: BooleanArray = rejected_by
        .iter()
        .map(|r| {
            Some(!matches!(r, Some(rule) if policies.of(*rule) == Policy::Drop || *rule == Rule::UniqueBar))
        })
        .collect();
    let dropped = keep.false_count() as u64;
    Verdict {
        report: QualityReport {
            rules: outcomes.into_values().collect(),
            dropped,
            failed,
        },
        rejected_by,
        keep,
    }
}
