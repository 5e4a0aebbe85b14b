//! The loaded table: canonical batches sorted by (date, ticker), no duplicates.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Date32Array, RecordBatch};
use arrow::compute::concat;
use arrow::datatypes::{Date32Type, SchemaRef, UInt32Type};
use rayon::prelude::*;

use crate::quality::{Flag, Origins, Rule};
use crate::reader::BatchLines;
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
    pub(crate) lines: Vec<BatchLines>,
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
///
/// The order is worked out on the parsed batches as they are (dates and
/// ticker ranks); then each column is put together on its own, and its
/// parsed parts are freed before the next begins. Concatenating the whole
/// table and then taking the sorted rows from it held the rows three times
/// at the peak; this way they are held about once, plus one column.
pub(crate) fn sort_rows(files: Vec<FileRows>, names: &[String]) -> Result<Sorted> {
    let schema = schema::canonical();
    let rows: usize = files
        .iter()
        .flat_map(|f| &f.batches)
        .map(RecordBatch::num_rows)
        .sum();
    let mut sources: Vec<(u32, BatchLines)> = Vec::new();
    let mut negative_in: Vec<usize> = Vec::new();
    let mut batches = Vec::new();
    let mut base_row = 0usize;
    for (index, file) in files.into_iter().enumerate() {
        for ((batch, batch_lines), negative) in file
            .batches
            .into_iter()
            .zip(file.lines)
            .zip(file.negative_volume)
        {
            let base = base_row;
            base_row += batch.num_rows();
            negative_in.extend(negative.iter().map(|r| base + *r as usize));
            sources.push((index as u32, batch_lines));
            batches.push(batch);
        }
    }
    // One table of where each batch begins serves the gather below and,
    // kept in the origins, every later lookup of a row's line.
    let places = Places::new(batches.iter().map(RecordBatch::num_rows));
    let mut day: Vec<i32> = Vec::with_capacity(rows);
    for batch in &batches {
        day.extend_from_slice(batch.column(0).as_primitive::<Date32Type>().values());
    }
    let (ranks, names_sorted) = ticker_ranks(&batches, rows);
    let distinct = names_sorted.len();
    // The batches give up their columns, each column's parts to go as soon
    // as the column is whole. Dates and tickers go now: `day` holds the
    // dates, and a ticker is its rank among the names, so both columns are
    // written from those in the final order, and the tickers' text, as
    // long as a price column, only at the end. (Neither is ever null: the
    // canonical schema says so, and the parser writes a value or rejects
    // the row.)
    let mut parts: Vec<Vec<ArrayRef>> = (0..schema.fields().len())
        .map(|i| batches.iter().map(|b| b.column(i).clone()).collect())
        .collect();
    drop(batches);
    for column in [DATE_COLUMN, TICKER_COLUMN] {
        if parts[column].iter().any(|p| p.null_count() > 0) {
            return Err(crate::Error::Internal {
                message: format!("a parsed chunk has a null {}", schema.field(column).name()),
            });
        }
        parts[column].clear();
    }

    let in_order = (1..rows).all(|i| (day[i - 1], ranks[i - 1]) < (day[i], ranks[i]));
    let negative_flag = |row: usize| Flag {
        rule: Rule::VolumeNonNegative,
        row,
        detail: "negative volume".to_owned(),
    };
    let (order, ranks, flags) = if in_order {
        let flags = negative_in.into_iter().map(negative_flag).collect();
        (None, ranks, flags)
    } else {
        let (min_day, max_day) = (
            day.iter().copied().min().unwrap_or(0),
            day.iter().copied().max().unwrap_or(0),
        );
        let order = order_by_date_then_rank(&day, &ranks, distinct, min_day, max_day);
        let mut flags: Vec<Flag> = Vec::new();
        if !negative_in.is_empty() {
            let mut position = vec![0usize; rows];
            for (new, old) in order.rows.iter().enumerate() {
                position[*old as usize] = new;
            }
            flags.extend(negative_in.into_iter().map(|r| negative_flag(position[r])));
        }
        let sorted_ranks = order.rows.par_iter().map(|i| ranks[*i as usize]).collect();
        // Now, not at the end of the function: the load's peak is ahead.
        drop(ranks);
        (Some(order), sorted_ranks, flags)
    };

    let dates: ArrayRef = match &order {
        Some(order) => sorted_dates(&day, order),
        None => Arc::new(Date32Array::new(day.into(), None)),
    };
    // A column without parts (the dates and tickers, or every column of no
    // rows) starts empty.
    let empty = |i: usize| arrow::array::new_empty_array(schema.field(i).data_type());
    let mut columns: Vec<ArrayRef> = match &order {
        // One column at a time, its rows gathered on every core (straight
        // from the parts: no concatenated copy): only one column is ever
        // held twice.
        Some(order) => parts
            .iter_mut()
            .enumerate()
            .map(|(i, parts)| match parts.as_slice() {
                [] => Ok(empty(i)),
                _ => gather(&std::mem::take(parts), &places, order),
            })
            .collect::<Result<_>>()?,
        None => parts
            .par_iter_mut()
            .enumerate()
            .map(|(i, parts)| {
                let parts = std::mem::take(parts);
                Ok(match parts.as_slice() {
                    [] => empty(i),
                    [one] => one.clone(),
                    many => concat(&many.iter().map(AsRef::as_ref).collect::<Vec<&dyn Array>>())?,
                })
            })
            .collect::<Result<_>>()?,
    };
    columns[DATE_COLUMN] = dates;
    columns[TICKER_COLUMN] = sorted_tickers(&ranks, &names_sorted)?;
    Ok(Sorted {
        table: RecordBatch::try_new(schema, columns)?,
        origins: Origins {
            files: names.to_vec(),
            places,
            sources,
            order: order.map(|o| o.rows),
        },
        ranks,
        tickers: distinct,
        flags,
    })
}

/// Where each row of a run of batches lies: (batch, row within it), found
/// in a step or two through a table of where each block of rows begins.
pub(crate) struct Places {
    /// Each batch's first row, and the total at the end.
    starts: Vec<usize>,
    /// For each block of `1 << BLOCK_BITS` rows, the batch its first row is in.
    blocks: Vec<u32>,
}

/// Rows per block of [`Places`]: fewer than a parsed chunk holds, so that
/// a row is at most a batch or two past its block's.
const BLOCK_BITS: u32 = 12;

impl Places {
    /// The places of batches of these row counts, laid end to end.
    pub(crate) fn new(lengths: impl IntoIterator<Item = usize>) -> Self {
        let mut starts = vec![0];
        let mut total = 0;
        for length in lengths {
            total += length;
            starts.push(total);
        }
        let batches = starts.len() - 1;
        let mut blocks = Vec::with_capacity((total >> BLOCK_BITS) + 1);
        let mut batch = 0usize;
        for block in 0..=(total >> BLOCK_BITS) {
            while batch + 1 < batches && starts[batch + 1] <= block << BLOCK_BITS {
                batch += 1;
            }
            blocks.push(batch as u32);
        }
        Self { starts, blocks }
    }

    /// The batch of `row` and its index there; `None` past the last row.
    pub(crate) fn get(&self, row: usize) -> Option<(usize, usize)> {
        (row < *self.starts.last()?).then(|| self.of(row))
    }

    /// The batch of `row` (which must be below the total) and its index there.
    fn of(&self, row: usize) -> (usize, usize) {
        let mut batch = self.blocks[row >> BLOCK_BITS] as usize;
        while self.starts[batch + 1] <= row {
            batch += 1;
        }
        (batch, row - self.starts[batch])
    }
}

/// Rows in (date, rank) order, and where each date's rows begin.
pub(crate) struct Order {
    /// Sorted row -> row in file order.
    pub(crate) rows: Vec<u32>,
    /// Where each date's rows begin in `rows` (dates that have rows), and
    /// the total at the end.
    days: Vec<usize>,
}

impl Order {
    /// Runs of whole dates, as ranges of `days`, of about [`GATHER_ROWS`]
    /// rows each: a gather's units of work.
    fn tiles(&self) -> Vec<std::ops::Range<usize>> {
        let dates = self.days.len().saturating_sub(1);
        let mut tiles = Vec::new();
        let mut first = 0;
        for date in 0..dates {
            if self.days[date + 1] - self.days[first] >= GATHER_ROWS {
                tiles.push(first..date + 1);
                first = date + 1;
            }
        }
        if first < dates {
            tiles.push(first..dates);
        }
        tiles
    }

    /// The sorted positions of a tile's rows.
    fn span(&self, tile: &std::ops::Range<usize>) -> std::ops::Range<usize> {
        self.days[tile.start]..self.days[tile.end]
    }

    /// Cuts `out` (a slot per sorted row) into the tiles' pieces and
    /// fills each on some core: `fill(piece, tile)`; its answers in order.
    fn fill_tiles<T: Send, R: Send>(
        &self,
        out: &mut [T],
        fill: impl Fn(&mut [T], &std::ops::Range<usize>) -> R + Sync,
    ) -> Vec<R> {
        let tiles = self.tiles();
        cut(out, tiles.iter().map(|t| self.span(t).len()))
            .into_par_iter()
            .zip(&tiles)
            .map(|(piece, tile)| fill(piece, tile))
            .collect()
    }

    /// Calls `visit(position, row)` for every sorted position of a tile
    /// and the row in file order it holds: the first row of each date,
    /// then the second of each, and so on. A ticker-major source holds a
    /// ticker's dates side by side, and each date's rows in the same
    /// ticker order: so consecutive visits read neighbouring rows, where
    /// visiting the positions in order jumps to another ticker (another
    /// page of memory) every row.
    fn visit(&self, tile: &std::ops::Range<usize>, mut visit: impl FnMut(usize, usize)) {
        let dates = &self.days[tile.start..=tile.end];
        let longest = dates.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
        for k in 0..longest {
            for w in dates.windows(2) {
                let at = w[0] + k;
                if at < w[1] {
                    visit(at, self.rows[at] as usize);
                }
            }
        }
    }
}

/// `all` cut into consecutive pieces of these lengths.
fn cut<T>(all: &mut [T], lengths: impl IntoIterator<Item = usize>) -> Vec<&mut [T]> {
    let mut pieces = Vec::new();
    let mut rest = all;
    for length in lengths {
        let (piece, tail) = rest.split_at_mut(length);
        pieces.push(piece);
        rest = tail;
    }
    pieces
}

/// Rows `order` (indices into the parts laid end to end) of one column,
/// copied straight from its parts into the result.
fn gather(parts: &[ArrayRef], places: &Places, order: &Order) -> Result<ArrayRef> {
    use arrow::datatypes::{DataType, Float64Type, UInt64Type};
    let Some(first) = parts.first() else {
        return Err(crate::Error::Internal {
            message: "gathering rows from no batches".to_owned(),
        });
    };
    Ok(match first.data_type() {
        DataType::Float64 => gather_primitive::<Float64Type>(parts, places, order),
        DataType::UInt64 => gather_primitive::<UInt64Type>(parts, places, order),
        other => {
            return Err(crate::Error::Internal {
                message: format!("gathering rows of a {other} column"),
            });
        }
    })
}

/// The validity of the gathered rows, when a part has nulls.
fn gather_nulls(
    parts: &[ArrayRef],
    places: &Places,
    order: &[u32],
) -> Option<arrow::buffer::NullBuffer> {
    if parts.iter().all(|p| p.null_count() == 0) {
        return None;
    }
    let valid = arrow::buffer::BooleanBuffer::collect_bool(order.len(), |row| {
        let (batch, index) = places.of(order[row] as usize);
        parts[batch].is_valid(index)
    });
    Some(arrow::buffer::NullBuffer::new(valid))
}

/// Rows a gathering task copies: enough to be worth a task, few enough to
/// spread a column over every core.
const GATHER_ROWS: usize = 64 * 1024;

fn gather_primitive<T: arrow::datatypes::ArrowPrimitiveType>(
    parts: &[ArrayRef],
    places: &Places,
    order: &Order,
) -> ArrayRef {
    let values: Vec<&[T::Native]> = parts
        .iter()
        .map(|p| p.as_primitive::<T>().values().as_ref())
        .collect();
    // Zeroes come from fresh pages, not from writing them.
    let mut gathered = vec![T::Native::default(); order.rows.len()];
    order.fill_tiles(&mut gathered, |piece, tile| {
        let base = order.span(tile).start;
        // The visit reads a ticker's dates one after another: mostly the
        // next row of the same part, found without a lookup.
        let mut part: &[T::Native] = &[];
        let mut first = 0;
        order.visit(tile, |at, row| {
            if row < first || row - first >= part.len() {
                let (batch, index) = places.of(row);
                part = values[batch];
                first = row - index;
            }
            piece[at - base] = part[row - first];
        });
    });
    let nulls = gather_nulls(parts, places, &order.rows);
    std::sync::Arc::new(arrow::array::PrimitiveArray::<T>::new(
        gathered.into(),
        nulls,
    ))
}

/// The canonical schema's date column.
const DATE_COLUMN: usize = 0;
/// The canonical schema's ticker column.
const TICKER_COLUMN: usize = 1;

/// The sorted rows' dates: each of the order's runs of one date, filled
/// with it.
fn sorted_dates(day: &[i32], order: &Order) -> ArrayRef {
    let mut dates = vec![0i32; order.rows.len()];
    for run in order.days.windows(2) {
        dates[run[0]..run[1]].fill(day[order.rows[run[0]] as usize]);
    }
    Arc::new(Date32Array::new(dates.into(), None))
}

/// A column's text fits an array's 32-bit offsets.
fn check_ticker_text(text: usize) -> Result<()> {
    if i32::try_from(text).is_err() {
        return Err(crate::Error::Internal {
            message: "the tickers of the loaded rows exceed 2 GiB of text; \
                      load fewer rows at a time (filter by tickers or dates)"
                .to_owned(),
        });
    }
    Ok(())
}

/// The sorted rows' tickers, written from their ranks among `names`, in
/// pieces on every core: each piece's text length first, then its offsets
/// and text.
fn sorted_tickers(ranks: &[u32], names: &[String]) -> Result<ArrayRef> {
    let pieces = ranks.len().div_ceil(GATHER_ROWS).max(1);
    let bounds: Vec<usize> = (0..=pieces)
        .map(|p| (p * GATHER_ROWS).min(ranks.len()))
        .collect();
    let lengths: Vec<usize> = bounds
        .par_windows(2)
        .map(|w| {
            ranks[w[0]..w[1]]
                .iter()
                .map(|rank| names[*rank as usize].len())
                .sum()
        })
        .collect();
    let end: usize = lengths.iter().sum();
    // Checked before the offsets are written: they all fit.
    check_ticker_text(end)?;
    let firsts: Vec<usize> = lengths
        .iter()
        .scan(0, |at, length| {
            let first = *at;
            *at += length;
            Some(first)
        })
        .collect();
    let mut offsets = vec![0i32; ranks.len() + 1];
    let mut values = vec![0u8; end];
    let rows = bounds.windows(2).map(|w| w[1] - w[0]);
    cut(&mut offsets[1..], rows)
        .into_par_iter()
        .zip(cut(&mut values, lengths.iter().copied()))
        .zip(bounds.par_windows(2))
        .zip(firsts)
        .for_each(|(((piece_offsets, piece), w), first)| {
            let mut at = 0;
            for (offset, rank) in piece_offsets.iter_mut().zip(&ranks[w[0]..w[1]]) {
                let name = names[*rank as usize].as_bytes();
                piece[at..at + name.len()].copy_from_slice(name);
                at += name.len();
                *offset = (first + at) as i32;
            }
        });
    // Whole names, rising offsets: `try_new`'s checks hold by construction.
    Ok(Arc::new(arrow::array::StringArray::try_new(
        arrow::buffer::OffsetBuffer::new(offsets.into()),
        values.into(),
        None,
    )?))
}

/// Per row of `batches` (in order), the rank of its ticker among the
/// sorted distinct names, so that (date, rank) orders like (date, ticker);
/// and the sorted distinct names.
fn ticker_ranks(batches: &[RecordBatch], rows: usize) -> (Vec<u32>, Vec<String>) {
    let mut ids: HashMap<&str, u32> = HashMap::new();
    let mut row_ids = Vec::with_capacity(rows);
    fn id_of<'a>(name: &'a str, ids: &mut HashMap<&'a str, u32>) -> u32 {
        let next = ids.len() as u32;
        *ids.entry(name).or_insert(next)
    }
    for batch in batches {
        let column = batch.column(TICKER_COLUMN);
        // A parsed chunk's tickers: its few names get ids, its rows follow.
        if let Some(tickers) = column.as_dictionary_opt::<UInt32Type>() {
            let names = tickers.values().as_string::<i32>();
            let chunk_ids: Vec<u32> = names
                .iter()
                .map(|name| id_of(name.unwrap_or_default(), &mut ids))
                .collect();
            row_ids.extend(
                tickers
                    .keys()
                    .values()
                    .iter()
                    .map(|k| chunk_ids[*k as usize]),
            );
            continue;
        }
        // Rows read back from Parquet: a name each.
        let mut last: Option<(&str, u32)> = None;
        for name in column.as_string::<i32>().iter() {
            let name = name.unwrap_or_default();
            let id = match last {
                Some((previous, id)) if previous == name => id,
                _ => id_of(name, &mut ids),
            };
            last = Some((name, id));
            row_ids.push(id);
        }
    }
    let mut names_sorted: Vec<(&str, u32)> = ids.into_iter().collect();
    names_sorted.sort_unstable();
    let mut rank = vec![0u32; names_sorted.len()];
    for (position, (_, id)) in names_sorted.iter().enumerate() {
        rank[*id as usize] = position as u32;
    }
    // In place: the ids become ranks.
    for id in &mut row_ids {
        *id = rank[*id as usize];
    }
    let names = names_sorted
        .into_iter()
        .map(|(name, _)| name.to_owned())
        .collect();
    (row_ids, names)
}

/// Row indices in (date, rank) order, equal pairs in row order. Trading
/// data spans a few thousand days and a few thousand tickers: two stable
/// counting sorts, by rank and then by date, order it in four passes
/// without a comparison (sorting each day's rows by rank took several
/// times as long: a rank looked up at random for every comparison).
fn order_by_date_then_rank(
    day: &[i32],
    ranks: &[u32],
    tickers: usize,
    min_day: i32,
    max_day: i32,
) -> Order {
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
        let mut days: Vec<usize> = (0..keyed.len())
            .filter(|i| *i == 0 || keyed[*i].0 >> 32 != keyed[i - 1].0 >> 32)
            .collect();
        days.push(keyed.len());
        let rows = keyed.into_iter().map(|(_, i)| i).collect();
        return Order { rows, days };
    }
    let slot = |d: i32| (i64::from(d) - i64::from(min_day)) as usize;
    // A file of one ticker after another, tickers in name order (how
    // per-ticker exports are put together), is in rank order already: the
    // sort by date alone, stable, finishes it.
    let RowGroups { mut starts, items } = if ranks.windows(2).all(|w| w[0] <= w[1]) {
        RowGroups::new(day.len(), span, |row| slot(day[row]), |row| row as u32)
    } else {
        let by_rank = RowGroups::new(
            day.len(),
            tickers,
            |row| ranks[row] as usize,
            |row| row as u32,
        );
        let rows = &by_rank.items;
        RowGroups::new(
            rows.len(),
            span,
            |i| slot(day[rows[i] as usize]),
            |i| rows[i],
        )
    };
    // Dates with rows only (the range has weekends and holidays).
    starts.dedup();
    Order {
        rows: items,
        days: starts,
    }
}

/// Rows grouped by a small dense key (days of a date range, ticker ranks)
/// with a stable counting sort: counting beats comparing when the keys are
/// few, and within a group the rows keep their order: the sort by (date,
/// rank) is two of these.
struct RowGroups {
    /// Group `k` is `items[starts[k]..starts[k + 1]]`.
    starts: Vec<usize>,
    /// The items, group after group.
    items: Vec<u32>,
}

/// Rows from which a counting sort is cut into a piece per core.
const PARALLEL_SORT_ROWS: usize = 1 << 16;

impl RowGroups {
    /// Groups `item(row)` of rows `0..rows` by `key(row)`, which must be
    /// below `groups`.
    ///
    /// On several cores: the rows are cut into a piece per core; each piece
    /// counts its keys, and then places its rows after those of the pieces
    /// before it, so that the order within a group is still the rows'.
    fn new(
        rows: usize,
        groups: usize,
        key: impl Fn(usize) -> usize + Sync,
        item: impl Fn(usize) -> u32 + Sync,
    ) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        let pieces = if rows < PARALLEL_SORT_ROWS {
            1
        } else {
            rayon::current_num_threads().clamp(1, rows / (PARALLEL_SORT_ROWS / 2))
        };
        let bounds: Vec<usize> = (0..=pieces).map(|p| p * rows / pieces).collect();
        let counts: Vec<Vec<usize>> = bounds
            .par_windows(2)
            .map(|w| {
                let mut counts = vec![0usize; groups];
                for row in w[0]..w[1] {
                    counts[key(row)] += 1;
                }
                counts
            })
            .collect();
        // Where each piece's first row of each group goes.
        let mut next = vec![vec![0usize; groups]; pieces];
        let mut starts = Vec::with_capacity(groups + 1);
        let mut at = 0;
        for k in 0..groups {
            starts.push(at);
            for (piece, counts) in counts.iter().enumerate() {
                next[piece][k] = at;
                at += counts[k];
            }
        }
        starts.push(at);
        // Places are disjoint between pieces; atomics let every core write
        // into the one vector without unsafe code (a relaxed store is a
        // plain store).
        let items: Vec<AtomicU32> = std::iter::repeat_with(|| AtomicU32::new(0))
            .take(rows)
            .collect();
        bounds
            .par_windows(2)
            .zip(next.into_par_iter())
            .for_each(|(w, mut next)| {
                for row in w[0]..w[1] {
                    let k = key(row);
                    items[next[k]].store(item(row), Ordering::Relaxed);
                    next[k] += 1;
                }
            });
        // Same layout: collected in place.
        let items = items.into_iter().map(AtomicU32::into_inner).collect();
        Self { starts, items }
    }

    /// The groups in key order, empty ones included.
    #[cfg(test)]
    fn iter(&self) -> impl Iterator<Item = &[u32]> {
        self.starts.windows(2).map(|w| &self.items[w[0]..w[1]])
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
        let groups = RowGroups::new(keys.len(), 4, |row| keys[row], |row| row as u32);
        let got: Vec<&[u32]> = groups.iter().collect();
        let expected: [&[u32]; 4] = [&[1, 4], &[3], &[0, 2, 5], &[]];
        assert_eq!(got, expected);
        // Enough rows to be cut into pieces, one per core: the same groups
        // as one pass in row order.
        let rows = 5 * PARALLEL_SORT_ROWS + 17;
        let key = |row: usize| (row * 7919 + row / 3) % 61;
        let groups = RowGroups::new(rows, 61, key, |row| row as u32);
        for (k, group) in groups.iter().enumerate() {
            let expected: Vec<u32> = (0..rows)
                .filter(|r| key(*r) == k)
                .map(|r| r as u32)
                .collect();
            assert_eq!(group, expected.as_slice(), "group {k}");
        }
    }

    #[test]
    fn rows_sort_by_date_then_rank_stably() {
        let day = [5, 3, 5, 3, 4, 3];
        let ranks = [0, 1, 0, 0, 2, 1];
        // Rows 1 and 5 are the same pair: file order is kept.
        assert_eq!(
            order_by_date_then_rank(&day, &ranks, 3, 3, 5).rows,
            [3, 1, 5, 4, 0, 2]
        );
    }

    #[test]
    fn rows_sort_like_a_stable_sort_on_dense_and_sparse_dates() {
        // A small generator: many repeated pairs, dates dense and sparse.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |below: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % below
        };
        // Ranks at random, and in rank order (a file of one ticker after
        // another, by name), which the sort by date alone finishes.
        for (spread, ranked) in [(40u64, false), (1_000_000, false), (40, true)] {
            let rows = 20_000;
            let day: Vec<i32> = (0..rows).map(|_| next(spread) as i32 - 7).collect();
            let mut ranks: Vec<u32> = (0..rows).map(|_| next(50) as u32).collect();
            if ranked {
                ranks.sort_unstable();
            }
            let mut expected: Vec<u32> = (0..rows as u32).collect();
            expected.sort_by_key(|row| (day[*row as usize], ranks[*row as usize]));
            let (min, max) = (*day.iter().min().unwrap(), *day.iter().max().unwrap());
            let order = order_by_date_then_rank(&day, &ranks, 50, min, max);
            assert_eq!(
                order.rows, expected,
                "dates spread over {spread} days, {ranked}"
            );
            // Each date's run holds that date alone, the runs in date order.
            let date = |at: usize| day[order.rows[at] as usize];
            assert_eq!((order.days[0], order.days.last()), (0, Some(&rows)));
            for w in order.days.windows(2) {
                assert!(w[0] < w[1]);
                assert!((w[0]..w[1]).all(|at| date(at) == date(w[0])));
                assert!(w[1] == rows || date(w[1]) > date(w[0]));
            }
            // A tiled visit reaches every position once, with its row.
            let mut seen = vec![0u32; rows];
            for tile in order.tiles() {
                order.visit(&tile, |at, row| {
                    assert_eq!(order.rows[at] as usize, row);
                    seen[at] += 1;
                });
            }
            assert!(seen.iter().all(|n| *n == 1));
        }
    }
}
