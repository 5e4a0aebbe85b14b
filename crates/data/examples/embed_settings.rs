//! Embedding nasdaq-data with the user's own settings: `.env`, `nasdaq.toml`
//! and the environment, layered as `nasdaq-cli` reads them, through the one
//! entry point every front end uses.
//!
//! Run with `cargo run -p nasdaq-data --example embed_settings` in a
//! directory holding your `.env` (or none: the bundled sample serves).

use nasdaq_data::{ConfigSources, LoadOptions, Loaded, Session};

/// Loads AAPL and MSFT from wherever the settings say the data lives.
async fn load_my_data(sources: &ConfigSources) -> Result<Loaded, nasdaq_data::Error> {
    let session = Session::from_sources(sources)?;
    let options = LoadOptions::new().with_tickers(["AAPL", "MSFT"]);
    let loaded = session.load(&options).await?;
    let report = &loaded.report;
    println!(
        "{} rows, {} from {} (served by the {}, sha256 {})",
        report.rows,
        report.tickers_text(),
        report.source_label.as_deref().unwrap_or(&report.source),
        report.served_by,
        report.sha256
    );
    Ok(loaded)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    load_my_data(&ConfigSources::from_process()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use nasdaq_data::{ConfigSources, Role};

    #[tokio::test]
    async fn example_loads_what_the_users_env_names() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("prices.csv");
        std::fs::write(
            &csv,
            "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n\
             2024-01-02,AAPL,187.2,188.4,183.9,185.6,184.9,82000000\n\
             2024-01-02,MSFT,373.9,375.9,366.8,370.9,368.2,25300000\n\
             2024-01-02,NVDA,492.4,494.0,475.9,481.7,481.6,41100000\n",
        )
        .unwrap();
        let env = format!("USE_S3=false\nLOCAL_FALLBACK={}\n", csv.display());
        std::fs::write(dir.path().join(".env"), env).unwrap();
        let sources = ConfigSources {
            cwd: dir.path().into(),
            ..ConfigSources::default()
        };
        let loaded = super::load_my_data(&sources).await.unwrap();
        assert_eq!(loaded.report.rows, 2, "NVDA filtered out");
        assert_eq!(loaded.report.served_by, Role::Primary);
        assert_eq!(loaded.report.source, format!("file://{}", csv.display()));
        assert!(loaded.report.settings_hash.is_some());
    }
}
