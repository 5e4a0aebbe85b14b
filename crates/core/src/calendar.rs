//! The NASDAQ trading calendar: weekdays that are not exchange holidays.
//!
//! Regular holidays follow the exchange's rules (a Saturday holiday is
//! observed the Friday before, a Sunday one the Monday after):
//! New Year's Day; Martin Luther King Jr. Day (third Monday of January, from
//! 1998); Washington's Birthday (third Monday of February); Good Friday;
//! Memorial Day (last Monday of May); Juneteenth (June 19, from 2022);
//! Independence Day; Labor Day (first Monday of September); Thanksgiving
//! (fourth Thursday of November); Christmas. A New Year's Day falling on a
//! Saturday is not observed on the Friday before (that Friday ends the year).
//!
//! Special closures are listed in [`SPECIAL_CLOSURES`]: the election days of
//! 1972, 1976 and 1980; 1972-12-28 (President Truman); 1973-01-25 (President
//! Johnson); 1977-07-14 (the New York blackout); 1985-09-27 (Hurricane
//! Gloria); 1994-04-27 (President Nixon); 2001-09-11 to 14
//! (September 11), 2004-06-11 (President Reagan), 2007-01-02 (President Ford),
//! 2012-10-29 and 30 (Hurricane Sandy), 2018-12-05 (President G. H. W. Bush),
//! 2025-01-09 (President Carter). A test checks every day from 1971-02-08
//! (NASDAQ's first session) to 2030 against the `exchange_calendars`
//! package's XNAS calendar.

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Days the exchange closed outside its regular holiday rules.
pub const SPECIAL_CLOSURES: &[(i32, u32, u32)] = &[
    (1972, 11, 7),
    (1972, 12, 28),
    (1973, 1, 25),
    (1976, 11, 2),
    (1977, 7, 14),
    (1980, 11, 4),
    (1985, 9, 27),
    (1994, 4, 27),
    (2001, 9, 11),
    (2001, 9, 12),
    (2001, 9, 13),
    (2001, 9, 14),
    (2004, 6, 11),
    (2007, 1, 2),
    (2012, 10, 29),
    (2012, 10, 30),
    (2018, 12, 5),
    (2025, 1, 9),
];

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
}

/// The n-th (1-based) `weekday` of a month.
fn nth_weekday(year: i32, month: u32, weekday: Weekday, n: u32) -> NaiveDate {
    let first = date(year, month, 1);
    let offset = (7 + weekday.num_days_from_monday() - first.weekday().num_days_from_monday()) % 7;
    first + Duration::days(i64::from(offset + 7 * (n - 1)))
}

/// The last `weekday` of a month.
fn last_weekday(year: i32, month: u32, weekday: Weekday) -> NaiveDate {
    let next_month = if month == 12 {
        date(year + 1, 1, 1)
    } else {
        date(year, month + 1, 1)
    };
    let last = next_month - Duration::days(1);
    let back = (7 + last.weekday().num_days_from_monday() - weekday.num_days_from_monday()) % 7;
    last - Duration::days(i64::from(back))
}

/// Easter Sunday (Gregorian, anonymous algorithm).
fn easter(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    date(year, month as u32, day as u32)
}

/// A fixed-date holiday moved off the weekend.
fn observed(day: NaiveDate) -> NaiveDate {
    match day.weekday() {
        Weekday::Sat => day - Duration::days(1),
        Weekday::Sun => day + Duration::days(1),
        _ => day,
    }
}

/// The exchange holidays of `year` that fall on weekdays.
pub fn holidays(year: i32) -> Vec<NaiveDate> {
    let mut days = Vec::new();
    let new_year = date(year, 1, 1);
    if new_year.weekday() != Weekday::Sat {
        days.push(observed(new_year));
    }
    if year >= 1998 {
        days.push(nth_weekday(year, 1, Weekday::Mon, 3));
    }
    days.push(nth_weekday(year, 2, Weekday::Mon, 3));
    days.push(easter(year) - Duration::days(2));
    days.push(last_weekday(year, 5, Weekday::Mon));
    if year >= 2022 {
        days.push(observed(date(year, 6, 19)));
    }
    days.push(observed(date(year, 7, 4)));
    days.push(nth_weekday(year, 9, Weekday::Mon, 1));
    days.push(nth_weekday(year, 11, Weekday::Thu, 4));
    days.push(observed(date(year, 12, 25)));
    days.extend(
        SPECIAL_CLOSURES
            .iter()
            .filter(|(y, _, _)| *y == year)
            .map(|(y, m, d)| date(*y, *m, *d)),
    );
    days
}

/// Trading days between two dates, inclusive, as a lookup over that span.
#[derive(Debug, Clone)]
pub struct TradingDays {
    first: NaiveDate,
    /// For each calendar day from `first`: is it a session?
    open: Vec<bool>,
    /// For each calendar day from `first`: the sessions before it (and the
    /// total at the end), so that a span's sessions are counted at once.
    before: Vec<u32>,
}

impl TradingDays {
    /// The calendar from `first` to `last`.
    pub fn between(first: NaiveDate, last: NaiveDate) -> Self {
        let span = (last - first).num_days().max(0) as usize + 1;
        // Weekdays by arithmetic, not a date per day: a span can be
        // millions of days long (the years 1 to 9999), and it is built on
        // every load. Day 0 (0001-01-01) was a Monday.
        let monday_offset = i64::from(first.num_days_from_ce() - 1).rem_euclid(7) as usize;
        let mut open: Vec<bool> = (0..span).map(|i| (monday_offset + i) % 7 < 5).collect();
        for year in first.year()..=last.year() {
            for holiday in holidays(year) {
                if holiday >= first && holiday <= last {
                    open[(holiday - first).num_days() as usize] = false;
                }
            }
        }
        let mut before = Vec::with_capacity(open.len() + 1);
        let mut sessions = 0u32;
        before.push(0);
        for is_open in &open {
            sessions += u32::from(*is_open);
            before.push(sessions);
        }
        Self {
            first,
            open,
            before,
        }
    }

    /// How many sessions there are from `from` to `to`, inclusive (those
    /// within the calendar's span).
    pub fn count(&self, from: NaiveDate, to: NaiveDate) -> usize {
        let span = self.open.len() as i64;
        let start = (from - self.first).num_days().clamp(0, span) as usize;
        let end = ((to - self.first).num_days() + 1).clamp(0, span) as usize;
        self.before[end].saturating_sub(self.before[start]) as usize
    }

    /// Whether `day` is a session (false outside the span).
    pub fn is_session(&self, day: NaiveDate) -> bool {
        self.is_session_at((day - self.first).num_days())
    }

    /// Whether the day `offset` days after the calendar's first is a
    /// session (false outside the span): [`TradingDays::is_session`] by
    /// number, for a walk along millions of rows.
    pub fn is_session_at(&self, offset: i64) -> bool {
        usize::try_from(offset)
            .ok()
            .and_then(|i| self.open.get(i))
            .copied()
            .unwrap_or(false)
    }

    /// The sessions from `from` to `to`, inclusive.
    pub fn sessions(&self, from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> + '_ {
        let start = (from - self.first).num_days().max(0);
        let end = (to - self.first).num_days();
        (start..=end)
            .filter(move |i| self.open.get(*i as usize).copied().unwrap_or(false))
            .map(move |i| self.first + Duration::days(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holidays_of_2024_match_the_exchange_schedule() {
        let expected = [
            (1, 1),
            (1, 15),
            (2, 19),
            (3, 29),
            (5, 27),
            (6, 19),
            (7, 4),
            (9, 2),
            (11, 28),
            (12, 25),
        ];
        let got: Vec<(u32, u32)> = holidays(2024)
            .iter()
            .map(|d| (d.month(), d.day()))
            .collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn weekend_holidays_are_observed_on_weekdays() {
        // 2021-07-04 was a Sunday: observed Monday the 5th; 2022-12-25 Sunday: Monday the 26th;
        // 2022-01-01 was a Saturday: not observed.
        assert!(holidays(2021).contains(&date(2021, 7, 5)));
        assert!(holidays(2022).contains(&date(2022, 12, 26)));
        assert!(!holidays(2022).contains(&date(2021, 12, 31)));
        assert_eq!(easter(2025), date(2025, 4, 20));
    }

    #[test]
    fn sessions_skip_weekends_and_holidays() {
        let calendar = TradingDays::between(date(2024, 12, 20), date(2025, 1, 10));
        let sessions: Vec<NaiveDate> = calendar
            .sessions(date(2024, 12, 23), date(2025, 1, 3))
            .collect();
        // 23, 24, 26, 27, 30, 31 Dec; 2, 3 Jan (25 Dec and 1 Jan closed).
        assert_eq!(sessions.len(), 8);
        assert_eq!(calendar.count(date(2024, 12, 23), date(2025, 1, 3)), 8);
        assert_eq!(calendar.count(date(2024, 12, 25), date(2024, 12, 25)), 0);
        assert_eq!(calendar.count(date(2025, 1, 3), date(2024, 12, 23)), 0);
        // Clamped to the span: 20 Dec 2024 to 10 Jan 2025 has 13 sessions.
        let weekdays = |first: NaiveDate, days: i64| {
            (0..days)
                .filter(|i| {
                    let day = first + Duration::days(*i);
                    !matches!(day.weekday(), Weekday::Sat | Weekday::Sun)
                        && !holidays(day.year()).contains(&day)
                })
                .count()
        };
        for first in [date(1, 1, 1), date(1969, 12, 25), date(2024, 12, 20)] {
            let calendar = TradingDays::between(first, first + Duration::days(400));
            assert_eq!(
                calendar.count(first, first + Duration::days(400)),
                weekdays(first, 401)
            );
        }
        assert_eq!(calendar.count(date(2000, 1, 1), date(2030, 1, 1)), 13);
        assert!(
            !calendar.is_session(date(2025, 1, 9)),
            "Carter day of mourning"
        );
    }
}
