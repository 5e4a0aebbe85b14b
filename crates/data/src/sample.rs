//! The bundled sample data set, compiled in so that a load with nothing
//! configured works anywhere, without a cloud account or a file.

use std::sync::Arc;

use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};

use crate::Result;

/// Where the sample lives in the repository, for the report's label.
pub const SAMPLE_PATH: &str = "data/sample/NASDAQ.csv";
/// The key of the sample in its in-memory source.
pub const SAMPLE_KEY: &str = "NASDAQ.csv";

static SAMPLE: &[u8] = include_bytes!("../../../data/sample/NASDAQ.csv");

/// An in-memory source holding the sample under [`SAMPLE_KEY`].
pub(crate) async fn source() -> Result<Arc<dyn MarketSource>> {
    let source = ObjectStoreSource::memory();
    source
        .put(SAMPLE_KEY, SAMPLE.into(), PutOptions::default())
        .await?;
    Ok(Arc::new(source))
}
