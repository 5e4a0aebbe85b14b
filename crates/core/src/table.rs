//! The loaded table: canonical batches sorted by (date, ticker), no duplicates.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take_record_batch};
use arrow::datatypes::{Date32Type, SchemaRef};
use rayon::slice::ParallelSliceMut;

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
        tickers.extend(ticker.iter().flatten().map(str::to_owned));
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
/// `lines` gives each row's source line, batch by batch.
pub(crate) fn sort_unique(
    batches: Vec<RecordBatch>,
    lines: &[Vec<u64>],
    file: &str,
) -> Result<Table> {
    let schema = schema::canonical();
    let all = concat_batches(&schema, &batches)?;
    drop(batches);
    let lines: Vec<u64> = lines.iter().flatten().copied().collect();
    let dates = all.column(0).as_primitive::<Date32Type>();
    let tickers = all.column(1).as_string::<i32>();

    // Rank tickers by name so a (date, rank) integer key sorts like (date, ticker).
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut row_ids = Vec::with_capacity(all.num_rows());
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
    let key = |row: usize| -> u64 {
        let date = (i64::from(dates.value(row)) - i64::from(i32::MIN)) as u64;
        (date << 32) | u64::from(rank[row_ids[row] as usize])
    };

    let mut order: Vec<(u64, u32)> = (0..all.num_rows())
        .map(|row| (key(row), row as u32))
        .collect();
    let sorted = order.windows(2).all(|pair| pair[0].0 < pair[1].0);
    if !sorted {
        order.par_sort_unstable();
        if let Some(pair) = order.windows(2).find(|pair| pair[0].0 == pair[1].0) {
            let (a, b) = (pair[0].1 as usize, pair[1].1 as usize);
            let (first_line, second_line) = (lines[a].min(lines[b]), lines[a].max(lines[b]));
            return Err(Error::Duplicate {
                file: file.to_owned(),
                ticker: tickers.value(a).to_owned(),
                date: format_date(dates.value(a)),
                first_line,
                second_line,
            });
        }
    }
    let sorted_batch = if sorted {
        all
    } else {
        let indices = UInt32Array::from_iter_values(order.iter().map(|(_, row)| *row));
        take_record_batch(&all, &indices)?
    };
    let total = sorted_batch.num_rows();
    let batches = (0..total)
        .step_by(BATCH_ROWS)
        .map(|start| sorted_batch.slice(start, BATCH_ROWS.min(total - start)))
        .collect();
    Ok(Table {
        schema: Arc::clone(&schema),
        batches,
    })
}
