//! Mapping a CSV header onto the canonical columns: the one place that knows
//! which header spellings mean which canonical field.

use crate::{Error, Result};

/// A canonical column a CSV column can feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Date,
    Ticker,
    Open,
    High,
    Low,
    Close,
    AdjClose,
    Volume,
}

impl Column {
    pub(crate) const ALL: [Column; 8] = [
        Column::Date,
        Column::Ticker,
        Column::Open,
        Column::High,
        Column::Low,
        Column::Close,
        Column::AdjClose,
        Column::Volume,
    ];

    /// Whether a file must have this column.
    fn required(self) -> bool {
        !matches!(self, Column::AdjClose | Column::Volume)
    }

    /// The name users know the column by, for messages.
    fn display(self) -> &'static str {
        match self {
            Column::Date => "Date",
            Column::Ticker => "Ticker",
            Column::Open => "Open",
            Column::High => "High",
            Column::Low => "Low",
            Column::Close => "Close",
            Column::AdjClose => "Adj Close",
            Column::Volume => "Volume",
        }
    }

    /// The column a header name stands for, compared case-insensitively
    /// with spaces, underscores and dashes ignored.
    fn from_header(name: &str) -> Option<Column> {
        let folded: String = name
            .chars()
            .filter(|c| !matches!(c, ' ' | '_' | '-'))
            .flat_map(char::to_lowercase)
            .collect();
        Some(match folded.as_str() {
            "date" => Column::Date,
            "ticker" | "symbol" | "name" => Column::Ticker,
            "open" => Column::Open,
            "high" => Column::High,
            "low" => Column::Low,
            "close" => Column::Close,
            "adjclose" | "adjustedclose" => Column::AdjClose,
            "volume" => Column::Volume,
            _ => return None,
        })
    }
}

/// Where each canonical column sits in a file's records.
#[derive(Debug, Clone)]
pub(crate) struct ColumnMap {
    /// For each of [`Column::ALL`], the 0-based field index in the file.
    index: [Option<usize>; 8],
    /// The header fields as written.
    pub(crate) headers: Vec<String>,
}

impl ColumnMap {
    /// Maps a header; fails naming the missing required columns.
    pub(crate) fn from_header(file: &str, headers: Vec<String>) -> Result<Self> {
        let mut index = [None; 8];
        for (i, name) in headers.iter().enumerate() {
            if let Some(column) = Column::from_header(name) {
                let slot = &mut index[column as usize];
                // The first spelling wins; a second (e.g. both Ticker and Name) is ignored.
                slot.get_or_insert(i);
            }
        }
        let missing: Vec<&str> = Column::ALL
            .iter()
            .filter(|c| c.required() && index[**c as usize].is_none())
            .map(|c| c.display())
            .collect();
        if !missing.is_empty() {
            return Err(Error::MissingColumns {
                file: file.to_owned(),
                missing: missing.join(", "),
                found: headers.join(","),
            });
        }
        Ok(Self { index, headers })
    }

    /// The field index of `column`, if the file has it.
    pub(crate) fn index(&self, column: Column) -> Option<usize> {
        self.index[column as usize]
    }

    /// The 0-based field index of a required column.
    pub(crate) fn required(&self, column: Column) -> usize {
        self.index[column as usize].unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &str) -> Vec<String> {
        s.split(',').map(str::to_owned).collect()
    }

    #[test]
    fn maps_any_order_and_case() {
        let map = ColumnMap::from_header(
            "f",
            names("volume,CLOSE,adj_close,Low,high,OPEN,symbol,DATE"),
        )
        .unwrap();
        assert_eq!(map.index(Column::Date), Some(7));
        assert_eq!(map.index(Column::Ticker), Some(6));
        assert_eq!(map.index(Column::AdjClose), Some(2));
        assert_eq!(map.index(Column::Volume), Some(0));
    }

    #[test]
    fn adj_close_and_volume_are_optional() {
        let map = ColumnMap::from_header("f", names("Date,Ticker,Open,High,Low,Close")).unwrap();
        assert_eq!(map.index(Column::AdjClose), None);
        assert_eq!(map.index(Column::Volume), None);
    }

    #[test]
    fn missing_columns_are_named() {
        let err = ColumnMap::from_header("prices.csv", names("Date,Open,Close")).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("prices.csv"), "{text}");
        assert!(text.contains("Ticker, High, Low"), "{text}");
    }
}
