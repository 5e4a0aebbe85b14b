//! Arbitrary bytes, under any file name the detector looks at, through the
//! whole read: dialect detection, decompression, the parser, the quality
//! rules and the sort. The answer is a table or an error, never a panic;
//! libFuzzer's memory limits (set by scripts/fuzz.sh) catch blow-ups.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use nasdaq_core::{LoadRequest, Loader, ReadOptions};
use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};

static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime")
});

/// Names that steer detection: a ticker from the file name, compression by extension.
const NAMES: [&str; 4] = ["NASDAQ.csv", "AAPL.csv", "aapl.us.txt", "bars.csv.gz"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(selector) % NAMES.len()];
    RUNTIME.block_on(async {
        let source = ObjectStoreSource::memory();
        source
            .put(name, body.to_vec().into(), PutOptions::default())
            .await
            .expect("an in-memory put");
        let options = ReadOptions {
            // Small chunks so that chunk boundaries fall everywhere.
            chunk_size: 64,
            max_decompressed: 1 << 20,
            ..ReadOptions::default()
        };
        let loaded = Loader::new(Arc::new(source))
            .with_read_options(options)
            .load(&LoadRequest {
                fail_on_error_rules: false,
                ..LoadRequest::new(name)
            })
            .await;
        if let Ok(loaded) = loaded {
            // What a table promises: its rows are the report's.
            assert_eq!(loaded.table.num_rows(), loaded.report.rows);
        }
    });
});
