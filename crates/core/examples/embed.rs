//! Embedding the loader in a service: load a CSV held in memory, then use the batches.
//!
//! Run with `cargo run -p nasdaq-core --example embed`.

use std::sync::Arc;

use arrow::array::AsArray;
use arrow::datatypes::Float64Type;
use nasdaq_core::{LoadRequest, Loader};
use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};

/// Loads three bars and returns the mean close of AAPL.
async fn mean_aapl_close() -> Result<f64, Box<dyn std::error::Error>> {
    // Any MarketSource works here: S3, a local directory, memory.
    let source = Arc::new(ObjectStoreSource::memory());
    let csv = "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n\
               2024-01-03,AAPL,184.2,185.9,183.4,184.3,183.6,58400000\n\
               2024-01-02,AAPL,187.2,188.4,183.9,185.6,184.9,82000000\n\
               2024-01-02,MSFT,373.9,375.9,366.8,370.9,368.2,25300000\n";
    source
        .put("NASDAQ.csv", csv.into(), PutOptions::default())
        .await?;

    let loaded = Loader::new(source)
        .load(&LoadRequest::new("NASDAQ.csv"))
        .await?;
    println!(
        "{} rows from {} (sha256 {})",
        loaded.report.rows, loaded.report.source, loaded.report.sha256
    );

    let (mut sum, mut count) = (0.0, 0);
    for batch in &loaded.table.batches {
        let tickers = batch.column(1).as_string::<i32>();
        let closes = batch.column(5).as_primitive::<Float64Type>();
        for (ticker, close) in tickers.iter().zip(closes.iter()) {
            if ticker == Some("AAPL") {
                sum += close.unwrap_or_default();
                count += 1;
            }
        }
    }
    Ok(sum / f64::from(count))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mean = mean_aapl_close().await?;
    println!("mean AAPL close: {mean:.2}");
    Ok(())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn example_computes_the_mean_close() {
        let mean = super::mean_aapl_close().await.unwrap();
        assert!((mean - 184.95).abs() < 1e-9, "{mean}");
    }
}
