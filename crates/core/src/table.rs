//! The loaded table: canonical batches sorted by (date, ticker), no duplicates.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat, take};
use arrow::datatypes::{Date32Type, SchemaRef};
use rayon::prelude::*;

use crate::{Error, Result, schema};

/// Rows per batch of a sorted table.
const BATCH_ROWS: usize = 64 * 1024;

/// Canonical batches sorted by (date, ticker), each pair at most once.
#[derive(Debug, Clone)]
pub struct Table {
    /// Always [`schema::canonical`].
    pub schema: SchemaRef,
    /// The rows, in order.
    pub batches: Vec<RecordBatch>,
}

/// Counts and bounds of a table.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    /// Number of rows.
    pub rows: usize,
    /// Number of distinct tickers.
    pub tickers: usize,
    /// First date, YYYY-MM-DD.
    pub first_date: Option<String>,
    /// Last date, YYYY-MM-DD.
    pub last_date: Option<String>,
}

impl Table {
    /// Number of rows.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }
}

/// Renders Date32 days as YYYY-MM-DD.
pub(crate) fn format_date(days: i32) -> String {
    days.checked_add(crate::parse::EPOCH_DAYS_FROM_CE)
        .and_then(chrono::NaiveDate::from_num_days_from_ce_opt)
        .map(|d| d.format("%Y-%m-%d").to_string())
        .unwrap_or_else(|| format!("day {days}"))
}

/// Counts rows and tickers and finds the date bounds of a sorted table.
pub fn summarize(table: &Table) -> Summary {
    let mut tickers = std::collections::HashSet::new();
    let mut dates = Vec::new();
    for batch in &table.batches {
        let ticker = batch.column(1).as_string::<i32>();
        tickers.extend(ticker.iter().flatten());
        let date = batch.column(0).as_primitive::<Date32Type>();
        if !date.is_empty() {
            dates.push(date.value(0));
            dates.push(date.value(date.len() - 1));
        }
    }
    Summary {
        rows: table.num_rows(),
        tickers: tickers.len(),
        first_date: dates.iter().min().map(|d| format_date(*d)),
        last_date: dates.iter().max().map(|d| format_date(*d)),
    }
}

/// Sorts rows by (date, ticker); a pair seen twice is an error naming both lines.
///
/// `lines` gives each row's source line, batch by batch. Returns the table and
/// its summary (known along the way, so never recomputed).
pub(crate) fn sort_unique(
    batches: Vec<RecordBatch>,
    lines: &[Vec<u64>],
    file: &str,
) -> Result<(Table, Summary)> {
    let schema = schema::canonical();
    // Concatenate column by column, in parallel.
    let columns: Vec<ArrayRef> = (0..schema.fields().len())
        .into_par_iter()
        .map(|i| {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            concat(&parts)
        })
        .collect::<std::result::Result<_, _>>()?;
    drop(batches);
    let rows = columns[0].len();
    let dates = columns[0].as_primitive::<Date32Type>().clone();
    let tickers = columns[1].as_string::<i32>().clone();

    // Rank tickers by name so that (date, rank) orders like (date, ticker).
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut row_ids = Vec::with_capacity(rows);
    let mut last: Option<(&str, u32)> = None;
    for name in tickers.iter() {
        let name = name.unwrap_or_default();
        let id = match last {
            Some((previous, id)) if previous == name => id,
            _ => {
                let next = ids.len() as u32;
                *ids.entry(name).or_insert(next)
            }
        };
        last = Some((name, id));
        row_ids.push(id);
    }
    let mut names: Vec<(&str, u32)> = ids.into_iter().collect();
    names.sort_unstable();
    let mut rank = vec![0u32; names.len()];
    for (position, (_, id)) in names.iter().enumerate() {
        rank[*id as usize] = position as u32;
    }
    let ranks: Vec<u32> = row_ids.iter().map(|id| rank[*id as usize]).collect();
    drop(row_ids);

    let day = dates.values();
    let (Some(&min_day), Some(&max_day)) = (day.iter().min(), day.iter().max()) else {
        return Ok((
            Table {
                schema,
                batches: Vec::new(),
            },
            Summary::default(),
        ));
    };
    let summary = Summary {
        rows,
        tickers: names.len(),
        first_date: Some(format_date(min_day)),
        last_date: Some(format_date(max_day)),
    };
    let in_order = (1..rows).all(|i| (day[i - 1], ranks[i - 1]) < (day[i], ranks[i]));
    if in_order {
        let all = RecordBatch::try_new(schema.clone(), columns)?;
        return Ok((
            Table {
                schema,
                batches: slices(&all),
            },
            summary,
        ));
    }

    let order = order_by_date_then_rank(day, &ranks, min_day, max_day);
    if let Some(pair) = order.windows(2).find(|p| {
        day[p[0] as usize] == day[p[1] as usize] && ranks[p[0] as usize] == ranks[p[1] as usize]
    }) {
        let (a, b) = (pair[0] as usize, pair[1] as usize);
        let line = |row: usize| lines.iter().flatten().nth(row).copied().unwrap_or(0);
        let (la, lb) = (line(a), line(b));
        return Err(Error::Duplicate {
            file: file.to_owned(),
            ticker: tickers.value(a).to_owned(),
            date: format_date(day[a]),
            first_line: la.min(lb),
            second_line: la.max(lb),
        });
    }
    let indices = UInt32Array::from(order);
    let sorted: Vec<ArrayRef> = columns
        .par_iter()
        .map(|column| take(column.as_ref(), &indices, None))
        .collect::<std::result::Result<_, _>>()?;
    let all = RecordBatch::try_new(schema.clone(), sorted)?;
    Ok((
        Table {
            schema,
            batches: slices(&all),
        },
        summary,
    ))
}

/// Row indices in (date, rank) order: a counting sort on the date (trading
/// data spans a few thousand days), then each day's rows sorted by rank.
fn order_by_date_then_rank(day: &[i32], ranks: &[u32], min_day: i32, max_day: i32) -> Vec<u32> {
    let span = (i64::from(max_day) - i64::from(min_day) + 1) as usize;
    if span > 4 * day.len() + 1024 {
        // Sparse dates: a plain sort on the packed key.
        let mut keyed: Vec<(u64, u32)> = (0..day.len())
            .map(|i| {
                let d = (i64::from(day[i]) - i64::from(i32::MIN)) as u64;
                ((d << 32) | u64::from(ranks[i]), i as u32)
            })
            .collect();
        keyed.par_sort_unstable();
        return keyed.into_iter().map(|(_, i)| i).collect();
    }
    let slot = |d: i32| (i64::from(d) - i64::from(min_day)) as usize;
    let mut starts = vec![0usize; span + 1];
    for &d in day {
        starts[slot(d) + 1] += 1;
    }
    for i in 1..starts.len() {
        starts[i] += starts[i - 1];
    }
    let mut next = starts.clone();
    let mut placed = vec![(0u32, 0u32); day.len()];
    for (row, &d) in day.iter().enumerate() {
        let s = slot(d);
        placed[next[s]] = (ranks[row], row as u32);
        next[s] += 1;
    }
    // Sort each day's run by rank, days in parallel.
    let mut runs: Vec<&mut [(u32, u32)]> = Vec::with_capacity(span);
    let mut rest: &mut [(u32, u32)] = &mut placed;
    for w in starts.windows(2) {
        let (run, tail) = rest.split_at_mut(w[1] - w[0]);
        runs.push(run);
        rest = tail;
    }
    runs.par_iter_mut().for_each(|run| run.sort_unstable());
    placed.into_iter().map(|(_, row)| row).collect()
}

/// Cuts a batch into zero-copy slices of [`BATCH_ROWS`].
fn slices(all: &RecordBatch) -> Vec<RecordBatch> {
    let total = all.num_rows();
    (0..total)
        .step_by(BATCH_ROWS)
        .map(|start| all.slice(start, BATCH_ROWS.min(total - start)))
        .collect()
}
