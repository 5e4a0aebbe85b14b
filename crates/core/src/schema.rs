//! The canonical schema of daily bars (see the crate documentation).

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

/// Column name of the trading day.
pub const DATE: &str = "date";
/// Column name of the symbol.
pub const TICKER: &str = "ticker";
/// Column name of the opening price.
pub const OPEN: &str = "open";
/// Column name of the highest price.
pub const HIGH: &str = "high";
/// Column name of the lowest price.
pub const LOW: &str = "low";
/// Column name of the closing price.
pub const CLOSE: &str = "close";
/// Column name of the adjusted close.
pub const ADJ_CLOSE: &str = "adj_close";
/// Column name of the volume.
pub const VOLUME: &str = "volume";

static CANONICAL: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new(DATE, DataType::Date32, false),
        Field::new(TICKER, DataType::Utf8, false),
        Field::new(OPEN, DataType::Float64, false),
        Field::new(HIGH, DataType::Float64, false),
        Field::new(LOW, DataType::Float64, false),
        Field::new(CLOSE, DataType::Float64, false),
        Field::new(ADJ_CLOSE, DataType::Float64, true),
        Field::new(VOLUME, DataType::UInt64, true),
    ]))
});

/// The canonical schema every load produces.
pub fn canonical() -> SchemaRef {
    CANONICAL.clone()
}
