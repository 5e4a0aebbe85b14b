//! The quality rules, each a small unit: a [`RuleSpec`] (name, default
//! policy, description, what a violation removes) next to its check, and one
//! ordered list, [`RULES`], that drives [`Rule::ALL`], names, defaults,
//! descriptions and evaluation.
//!
//! Adding a rule means: a [`Rule`] variant, a `RuleSpec` and its check here,
//! its place in [`RULES`] (in variant order; the build checks it), and a
//! field of [`Policies`](super::Policies) so settings can name it.

use arrow::array::{Array, Date32Array, Float64Array, StringArray};
use chrono::NaiveDate;

use super::{EXAMPLES, Origins, Policy, Rule, Violation};
use crate::calendar::TradingDays;
use crate::parse::EPOCH_DAYS_FROM_CE;
use crate::table::format_date;

/// One rule: what it is called, how strict it is by default, and how it checks.
#[derive(Debug)]
pub(crate) struct RuleSpec {
    /// The rule this unit describes.
    pub(crate) rule: Rule,
    /// The name in reports and settings (snake_case).
    pub(crate) name: &'static str,
    /// The policy when settings name none.
    pub(crate) default_policy: Policy,
    /// What the rule checks, in one sentence.
    pub(crate) description: &'static str,
    /// What a violation removes from the output.
    pub(crate) removes: Removes,
    /// Where violations are found.
    pub(crate) check: Check,
}

/// What a violation of a rule removes from the output. The two exceptions
/// to "drop removes, warn and error keep" are declared here, per rule, and
/// interpreted only by [`RuleSpec::removes_rows`] and
/// [`RuleSpec::reports_rejected_rows`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Removes {
    /// The flagged row, under `drop` only.
    WhenDropped,
    /// The flagged row, whatever the policy: the output never holds a
    /// (date, ticker) twice, so under `warn` the later duplicate still goes.
    Always,
    /// Nothing: the violations are no rows (a missing session), so `drop`
    /// acts as `warn`.
    Nothing,
}

/// Where a rule's violations are found.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Check {
    /// By the parser, which alone sees the raw value (a negative volume is
    /// stored as null); [`evaluate`](super::evaluate) gets them as flags.
    Parser,
    /// By a look at the sorted table.
    Table(fn(&Bars<'_>, &mut Findings)),
}

impl RuleSpec {
    /// Whether a row this rule flags leaves the output under `policy`.
    pub(crate) fn removes_rows(&self, policy: Policy) -> bool {
        match self.removes {
            Removes::WhenDropped => policy == Policy::Drop,
            Removes::Always => true,
            Removes::Nothing => false,
        }
    }

    /// Whether a row this rule flags is rejected under `policy`: listed with
    /// this rule among the rejected rows. Error rows are, even when a
    /// validating load keeps them, and so are the rows the rule removes.
    pub(crate) fn rejects_rows(&self, policy: Policy) -> bool {
        policy == Policy::Error || self.removes_rows(policy)
    }

    /// Whether the rule's count belongs among the load report's rejected
    /// rows: error and drop rules, when their violations are rows.
    pub(crate) fn reports_rejected_rows(&self, policy: Policy) -> bool {
        policy != Policy::Warn && self.removes != Removes::Nothing
    }
}

/// Every rule, in report order, which is also [`Rule`]'s variant order.
pub(crate) const RULES: &[RuleSpec] = &[
    OHLC_CONSISTENT,
    POSITIVE_PRICES,
    VOLUME_NON_NEGATIVE,
    UNIQUE_BAR,
    FUTURE_DATE,
    PRICE_JUMP,
    MISSING_SESSIONS,
];

// `Rule::spec` indexes RULES by variant: a list out of order fails the build.
const _: () = {
    let mut i = 0;
    while i < RULES.len() {
        assert!(
            RULES[i].rule as usize == i,
            "RULES must list the rules in Rule's variant order"
        );
        i += 1;
    }
};

/// What the checks look at: the table sorted by (date, ticker), by column.
/// The rules along a ticker's series rely on that order: a ticker's rows
/// come in date order, and the first and last rows hold the date range.
pub(crate) struct Bars<'a> {
    pub(crate) date: &'a Date32Array,
    pub(crate) ticker: &'a StringArray,
    pub(crate) open: &'a Float64Array,
    pub(crate) high: &'a Float64Array,
    pub(crate) low: &'a Float64Array,
    pub(crate) close: &'a Float64Array,
    pub(crate) adj_close: &'a Float64Array,
    /// Per row: the ticker's rank; equal (date, rank) neighbours are duplicates.
    pub(crate) ranks: &'a [u32],
    /// Where each row came from, for details that name another row.
    pub(crate) origins: &'a Origins,
    /// Distinct tickers: ranks are below it.
    pub(crate) tickers: usize,
    /// Today (UTC).
    pub(crate) today: NaiveDate,
}

impl Bars<'_> {
    fn rows(&self) -> usize {
        self.date.len()
    }

    /// Calls `visit(row, previous)` for every row in table order, with the
    /// row before it of the same ticker (`None` for a ticker's first). The
    /// rows are in (date, ticker) order, so a ticker's rows come in date
    /// order: one walk with each ticker's last row visits every pair of
    /// consecutive bars of a ticker, without a list of each ticker's rows
    /// (as long as the table).
    fn along_series(&self, mut visit: impl FnMut(usize, Option<usize>)) {
        let mut last: Vec<Option<u32>> = vec![None; self.tickers];
        for row in 0..self.rows() {
            let previous = last[self.ranks[row] as usize].replace(row as u32);
            visit(row, previous.map(|p| p as usize));
        }
    }

    fn ohlc(&self, row: usize) -> (f64, f64, f64, f64) {
        (
            self.open.value(row),
            self.high.value(row),
            self.low.value(row),
            self.close.value(row),
        )
    }
}

/// What one rule's check found.
#[derive(Debug, Default)]
pub(crate) struct Findings {
    /// Flagged rows with what is wrong, in the order found.
    pub(crate) rows: Vec<(usize, String)>,
    /// Violations that are no row (missing sessions): all counted, the first kept.
    pub(crate) absent: u64,
    /// The first of those.
    pub(crate) absent_examples: Vec<Violation>,
}

impl Findings {
    fn flag(&mut self, row: usize, detail: String) {
        self.rows.push((row, detail));
    }

    /// Whether a violation that is no row would still be kept as an example.
    fn wants_absent_examples(&self) -> bool {
        self.absent_examples.len() < EXAMPLES
    }

    /// Counts a violation that is no row; builds it only while examples are wanted.
    fn absent(&mut self, violation: impl FnOnce() -> Violation) {
        self.absent += 1;
        if self.wants_absent_examples() {
            self.absent_examples.push(violation());
        }
    }
}

const OHLC_CONSISTENT: RuleSpec = RuleSpec {
    rule: Rule::OhlcConsistent,
    name: "ohlc_consistent",
    default_policy: Policy::Warn,
    description: "high >= max(open, close), low <= min(open, close), low <= high",
    removes: Removes::WhenDropped,
    check: Check::Table(ohlc_consistent),
};

fn ohlc_consistent(bars: &Bars<'_>, found: &mut Findings) {
    for row in 0..bars.rows() {
        let (o, h, l, c) = bars.ohlc(row);
        if h < o.max(c) || l > o.min(c) || l > h {
            found.flag(row, format!("open {o}, high {h}, low {l}, close {c}"));
        }
    }
}

const POSITIVE_PRICES: RuleSpec = RuleSpec {
    rule: Rule::PositivePrices,
    name: "positive_prices",
    default_policy: Policy::Warn,
    description: "open, high, low, close (and adj close) > 0",
    removes: Removes::WhenDropped,
    check: Check::Table(positive_prices),
};

fn positive_prices(bars: &Bars<'_>, found: &mut Findings) {
    let adj = bars.adj_close;
    for row in 0..bars.rows() {
        let (o, h, l, c) = bars.ohlc(row);
        let adj_bad = adj.is_valid(row) && adj.value(row) <= 0.0;
        if o <= 0.0 || h <= 0.0 || l <= 0.0 || c <= 0.0 || adj_bad {
            found.flag(row, format!("open {o}, high {h}, low {l}, close {c}"));
        }
    }
}

const VOLUME_NON_NEGATIVE: RuleSpec = RuleSpec {
    rule: Rule::VolumeNonNegative,
    name: "volume_non_negative",
    default_policy: Policy::Warn,
    description: "volume >= 0",
    removes: Removes::WhenDropped,
    check: Check::Parser,
};

const UNIQUE_BAR: RuleSpec = RuleSpec {
    rule: Rule::UniqueBar,
    name: "unique_bar",
    default_policy: Policy::Error,
    description: "no (date, ticker) twice",
    removes: Removes::Always,
    check: Check::Table(unique_bar),
};

/// The sort keeps equal pairs in file order, so each later occurrence
/// follows the one before it.
fn unique_bar(bars: &Bars<'_>, found: &mut Findings) {
    let day = bars.date.values();
    for row in 1..bars.rows() {
        if day[row] == day[row - 1] && bars.ranks[row] == bars.ranks[row - 1] {
            let (file, line) = bars.origins.at(row - 1);
            let file = file.unwrap_or_default();
            found.flag(row, format!("duplicate of {file}: line {line}"));
        }
    }
}

const FUTURE_DATE: RuleSpec = RuleSpec {
    rule: Rule::FutureDate,
    name: "future_date",
    default_policy: Policy::Warn,
    description: "no date after today (UTC)",
    removes: Removes::WhenDropped,
    check: Check::Table(future_date),
};

fn future_date(bars: &Bars<'_>, found: &mut Findings) {
    let today = days(bars.today);
    for (row, day) in bars.date.values().iter().enumerate() {
        if *day > today {
            found.flag(row, format!("after today ({})", bars.today));
        }
    }
}

const PRICE_JUMP: RuleSpec = RuleSpec {
    rule: Rule::PriceJump,
    name: "price_jump",
    default_policy: Policy::Warn,
    description: "no ~100x jump between consecutive closes of a ticker unless the adjusted close absorbs it (a split)",
    removes: Removes::WhenDropped,
    check: Check::Table(price_jump),
};

/// Flags the later bar of a jump; a split shows in the close but not in the
/// adjusted close, so a calm adjusted close excuses it.
fn price_jump(bars: &Bars<'_>, found: &mut Findings) {
    let plausible = |ratio: f64| (1.0 / 50.0..=50.0).contains(&ratio);
    let (close, adj) = (bars.close, bars.adj_close);
    bars.along_series(|b, previous| {
        let Some(a) = previous else { return };
        let ratio = close.value(b) / close.value(a);
        if plausible(ratio) {
            return;
        }
        let adjusted = adj.is_valid(a) && adj.is_valid(b) && plausible(adj.value(b) / adj.value(a));
        if !adjusted {
            found.flag(
                b,
                format!(
                    "close {} -> {} ({ratio:.1}x)",
                    close.value(a),
                    close.value(b)
                ),
            );
        }
    });
}

const MISSING_SESSIONS: RuleSpec = RuleSpec {
    rule: Rule::MissingSessions,
    name: "missing_sessions",
    default_policy: Policy::Warn,
    description: "no NASDAQ session missing between a ticker's first and last bar",
    removes: Removes::Nothing,
    check: Check::Table(missing_sessions),
};

/// One ticker's span of rows, as [`missing_sessions`] walks the table.
#[derive(Clone, Copy)]
struct Span {
    first_row: u32,
    last_row: u32,
    /// Distinct sessions with a bar.
    present: u32,
}

fn missing_sessions(bars: &Bars<'_>, found: &mut Findings) {
    let day = bars.date.values();
    // One calendar for the whole table; each ticker counts in its own span of it.
    let (Some(first), Some(last)) = (day.first(), day.last()) else {
        return;
    };
    let calendar = TradingDays::between(to_date(*first), to_date(*last));
    // One walk along each ticker's series: its first and last rows and its
    // distinct sessions, with a slot a ticker.
    let mut spans: Vec<Option<Span>> = vec![None; bars.tickers];
    bars.along_series(|row, previous| {
        let date = day[row];
        let new_date = previous.is_none_or(|p| day[p] != date);
        let session = new_date && calendar.is_session_at(i64::from(date) - i64::from(*first));
        let span = spans[bars.ranks[row] as usize].get_or_insert(Span {
            first_row: row as u32,
            last_row: row as u32,
            present: 0,
        });
        span.last_row = row as u32;
        span.present += u32::from(session);
    });
    for (rank, span) in spans.iter().enumerate() {
        let Some(span) = span else { continue };
        let (first_row, last_row) = (span.first_row as usize, span.last_row as usize);
        // Counted, not walked: the sessions of the ticker's span less the
        // distinct sessions it has. (Walking every session of every span
        // made a small file of far-apart dates, 0001 to 9999 for a few
        // thousand tickers, take hours.)
        let sessions = calendar.count(to_date(day[first_row]), to_date(day[last_row]));
        let mut absent = sessions.saturating_sub(span.present as usize);
        // The first few missing sessions, as examples: found by walking the
        // span only while examples are still wanted.
        let symbol = bars.ticker.value(first_row);
        let mut present = (first_row..=last_row)
            .filter(|r| bars.ranks[*r] as usize == rank)
            .map(|r| day[r])
            .peekable();
        let mut walk = calendar.sessions(to_date(day[first_row]), to_date(day[last_row]));
        while absent > 0 && found.wants_absent_examples() {
            let Some(session) = walk.next() else { break };
            let session = days(session);
            while present.next_if(|d| *d < session).is_some() {}
            if present.peek() != Some(&session) {
                absent -= 1;
                found.absent(|| Violation {
                    file: None,
                    line: None,
                    ticker: symbol.to_owned(),
                    date: format_date(session),
                    detail: "no bar on this NASDAQ session".to_owned(),
                });
            }
        }
        found.absent += absent as u64;
    }
}

/// Date32 days of a date.
fn days(date: NaiveDate) -> i32 {
    chrono::Datelike::num_days_from_ce(&date) - EPOCH_DAYS_FROM_CE
}

/// The date of Date32 days.
fn to_date(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + EPOCH_DAYS_FROM_CE).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_distinct_snake_case_and_described() {
        let mut names: Vec<&str> = RULES.iter().map(|r| r.name).collect();
        for spec in RULES {
            assert!(
                !spec.name.is_empty()
                    && spec
                        .name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c == '_'),
                "{}",
                spec.name
            );
            assert!(!spec.description.trim().is_empty(), "{}", spec.name);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), RULES.len(), "two rules share a name");
    }

    #[test]
    fn the_module_table_documents_every_rule_as_its_unit_does() {
        let doc = include_str!("mod.rs");
        for spec in RULES {
            let prefix = format!("//! | `{}`", spec.name);
            let row = doc
                .lines()
                .find(|l| l.starts_with(&prefix))
                .unwrap_or_else(|| panic!("{} is missing from the table", spec.name));
            let cells: Vec<&str> = row.split('|').map(str::trim).collect();
            // "//! ", name, checks, default, "".
            assert_eq!(cells[2], spec.description, "{}", spec.name);
            assert_eq!(cells[3], spec.default_policy.to_string(), "{}", spec.name);
        }
    }

    #[test]
    fn drop_removes_warn_and_error_keep_with_two_exceptions() {
        use Policy::{Drop, Error, Warn};
        for spec in RULES {
            let removed: Vec<bool> = [Error, Warn, Drop]
                .into_iter()
                .map(|p| spec.removes_rows(p))
                .collect();
            let expected = match spec.rule {
                // The output never holds a pair twice.
                Rule::UniqueBar => [true, true, true],
                // No row to remove: drop acts as warn.
                Rule::MissingSessions => [false, false, false],
                _ => [false, false, true],
            };
            assert_eq!(removed, expected, "{}", spec.name);
        }
        // A warned duplicate is removed, so it is listed among the rejected
        // rows, but it is a warning in the load report, not a rejection.
        assert!(UNIQUE_BAR.rejects_rows(Warn) && !UNIQUE_BAR.reports_rejected_rows(Warn));
        assert!(!OHLC_CONSISTENT.rejects_rows(Warn) && OHLC_CONSISTENT.rejects_rows(Error));
        // Missing sessions reject no row, whatever the policy.
        for policy in [Error, Warn, Drop] {
            assert!(!MISSING_SESSIONS.reports_rejected_rows(policy), "{policy}");
        }
        assert!(POSITIVE_PRICES.reports_rejected_rows(Drop));
    }
}
