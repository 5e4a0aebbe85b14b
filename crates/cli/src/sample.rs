//! The bundled sample data set, compiled into the binary so that
//! `nasdaq-cli fetch` works anywhere without a cloud account.

use std::sync::Arc;

use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};

/// Where the sample lives in the repository.
pub(crate) const SAMPLE_PATH: &str = "data/sample/NASDAQ.csv";
/// The key of the sample in its in-memory source.
pub(crate) const SAMPLE_KEY: &str = "NASDAQ.csv";

static SAMPLE: &[u8] = include_bytes!("../../../data/sample/NASDAQ.csv");

/// An in-memory source holding the sample under [`SAMPLE_KEY`].
pub(crate) async fn source() -> anyhow::Result<Arc<dyn MarketSource>> {
    let source = ObjectStoreSource::memory();
    source
        .put(SAMPLE_KEY, SAMPLE.into(), PutOptions::default())
        .await?;
    Ok(Arc::new(source))
}
