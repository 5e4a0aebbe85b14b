//! The loaded table: canonical batches sorted by (date, ticker), no duplicates.

use std::collections::HashMap;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array};
use arrow::compute::{concat, take};
use arrow::datatypes::{Date32Type, SchemaRef};
use rayon::prelude::*;

use crate::quality::{Flag, Origins, Rule};
use crate::{Result, schema};

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
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
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

/// One file's parsed rows, as the reader produced them.
pub(crate) struct FileRows {
    pub(crate) batches: Vec<RecordBatch>,
    /// Per batch, the source line of each row.
    pub(crate) lines: Vec<Vec<u64>>,
    /// Per batch, the rows whose volume was negative.
    pub(crate) negative_volume: Vec<Vec<u32>>,
}

/// All rows sorted by (date, ticker), with where each came from.
pub(crate) struct Sorted {
    /// The rows.
    pub(crate) table: RecordBatch,
    /// Where each row came from.
    pub(crate) origins: Origins,
    /// Per row: the ticker's rank among the sorted ticker names.
    pub(crate) ranks: Vec<u32>,
    /// Distinct tickers.
    pub(crate) tickers: usize,
    /// Negative volumes, by row (the parser alone sees them; duplicates are
    /// the `unique_bar` rule's to find, in the sorted table).
    pub(crate) flags: Vec<Flag>,
}

/// Sorts the rows of all files by (date, ticker); equal pairs stay in file
/// order, so a duplicate follows the row it repeats.
pub(crate) fn sort_rows(files: Vec<FileRows>, names: &[String]) -> Result<Sorted> {
    let schema = schema::canonical();
    let mut origins_in: Vec<(u32, u64)> = Vec::new();
    let mut negative_in: Vec<usize> = Vec::new();
    let mut batches = Vec::new();
    for (index, file) in files.into_iter().enumerate() {
        for ((batch, lines), negative) in file
            .batches
            .into_iter()
            .zip(file.lines)
            .zip(file.negative_volume)
        {
            let base = origins_in.len();
            negative_in.extend(negative.iter().map(|r| base + *r as usize));
            origins_in.extend(lines.into_iter().map(|l| (index as u32, l)));
            batches.push(batch);
        }
    }
    // Concatenate column by column, in parallel.
    let columns: Vec<ArrayRef> = (0..schema.fields().len())
        .into_par_iter()
        .map(|i| {
            let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(i).as_ref()).collect();
            if parts.is_empty() {
                Ok(arrow::array::new_empty_array(schema.field(i).data_type()))
            } else {
                concat(&parts)
            }
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
    let mut names_sorted: Vec<(&str, u32)> = ids.into_iter().collect();
    names_sorted.sort_unstable();
    let mut rank = vec![0u32; names_sorted.len()];
    for (position, (_, id)) in names_sorted.iter().enumerate() {
        rank[*id as usize] = position as u32;
    }
    let ranks: Vec<u32> = row_ids.iter().map(|id| rank[*id as usize]).collect();
    drop(row_ids);
    let distinct = names_sorted.len();

    let day = dates.values();
    let in_order = (1..rows).all(|i| (day[i - 1], ranks[i - 1]) < (day[i], ranks[i]));
    let negative_flag = |row: usize| Flag {
        rule: Rule::VolumeNonNegative,
        row,
        detail: "negative volume".to_owned(),
    };
    if in_order {
        let flags = negative_in.into_iter().map(negative_flag).collect();
        return Ok(Sorted {
            table: RecordBatch::try_new(schema, columns)?,
            origins: Origins {
                files: names.to_vec(),
                rows: origins_in,
                order: None,
            },
            ranks,
            tickers: distinct,
            flags,
        });
    }
    let (min_day, max_day) = (
        day.iter().copied().min().unwrap_or(0),
        day.iter().copied().max().unwrap_or(0),
    );
    let order = order_by_date_then_rank(day, &ranks, min_day, max_day);
    let mut flags: Vec<Flag> = Vec::new();
    if !negative_in.is_empty() {
        let mut position = vec![0usize; rows];
        for (new, old) in order.iter().enumerate() {
            position[*old as usize] = new;
        }
        flags.extend(negative_in.into_iter().map(|r| negative_flag(position[r])));
    }
    let indices = UInt32Array::from(order);
    let sorted: Vec<ArrayRef> = columns
        .par_iter()
        .map(|column| take(column.as_ref(), &indices, None))
        .collect::<std::result::Result<_, _>>()?;
    let ranks = indices
        .values()
        .iter()
        .map(|i| ranks[*i as usize])
        .collect();
    Ok(Sorted {
        table: RecordBatch::try_new(schema, sorted)?,
        origins: Origins {
            files: names.to_vec(),
            rows: origins_in,
            order: Some(indices.values().to_vec()),
        },
        ranks,
        tickers: distinct,
        flags,
    })
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
    let mut by_day = RowGroups::new(
        day.len(),
        span,
        |row| slot(day[row]),
        |row| (ranks[row], row as u32),
    );
    // Sort each day's run by rank, days in parallel.
    by_day
        .groups_mut()
        .par_iter_mut()
        .for_each(|run| run.sort_unstable());
    by_day.items.into_iter().map(|(_, row)| row).collect()
}

/// Items grouped by a small dense key (days of a date range, ticker ranks)
/// with a stable counting sort: counting beats comparing when the keys are
/// few, and within a group the items keep their rows' order. Sorting by date
/// and walking each ticker's series both group this way.
pub(crate) struct RowGroups<T> {
    /// Group `k` is `items[starts[k]..starts[k + 1]]`.
    starts: Vec<usize>,
    /// The items, group after group.
    items: Vec<T>,
}

impl<T: Clone + Default> RowGroups<T> {
    /// Groups `item(row)` of rows `0..rows` by `key(row)`, which must be
    /// below `groups`.
    pub(crate) fn new(
        rows: usize,
        groups: usize,
        key: impl Fn(usize) -> usize,
        item: impl Fn(usize) -> T,
    ) -> Self {
        let mut starts = vec![0usize; groups + 1];
        for row in 0..rows {
            starts[key(row) + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut next = starts.clone();
        let mut items = vec![T::default(); rows];
        for row in 0..rows {
            let k = key(row);
            items[next[k]] = item(row);
            next[k] += 1;
        }
        Self { starts, items }
    }
}

impl<T> RowGroups<T> {
    /// The groups in key order, empty ones included.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &[T]> {
        self.starts.windows(2).map(|w| &self.items[w[0]..w[1]])
    }

    /// The groups in key order, each mutable on its own (to sort them in parallel).
    fn groups_mut(&mut self) -> Vec<&mut [T]> {
        let mut groups = Vec::with_capacity(self.starts.len().saturating_sub(1));
        let mut rest: &mut [T] = &mut self.items;
        for w in self.starts.windows(2) {
            let (group, tail) = rest.split_at_mut(w[1] - w[0]);
            groups.push(group);
            rest = tail;
        }
        groups
    }
}

/// Cuts a batch into zero-copy slices of [`BATCH_ROWS`].
pub(crate) fn slices(all: &RecordBatch) -> Vec<RecordBatch> {
    let total = all.num_rows();
    (0..total)
        .step_by(BATCH_ROWS)
        .map(|start| all.slice(start, BATCH_ROWS.min(total - start)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_groups_keep_row_order_within_a_key() {
        let keys = [2usize, 0, 2, 1, 0, 2];
        let groups = RowGroups::new(keys.len(), 4, |row| keys[row], |row| row);
        let got: Vec<&[usize]> = groups.iter().collect();
        let expected: [&[usize]; 4] = [&[1, 4], &[3], &[0, 2, 5], &[]];
        assert_eq!(got, expected);
    }

    #[test]
    fn rows_sort_by_date_then_rank_stably() {
        let day = [5, 3, 5, 3, 4, 3];
        let ranks = [0, 1, 0, 0, 2, 1];
        // Rows 1 and 5 are the same pair: file order is kept.
        assert_eq!(
            order_by_date_then_rank(&day, &ranks, 3, 5),
            [3, 1, 5, 4, 0, 2]
        );
    }
}
