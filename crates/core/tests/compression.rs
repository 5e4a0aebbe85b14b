//! gzip and zstd objects decode while streaming; corrupt, truncated and
//! oversized ones are errors.

use std::sync::Arc;

use async_compression::tokio::write::{GzipEncoder, ZstdEncoder};
use nasdaq_core::{Error, LoadRequest, Loaded, Loader, ReadOptions};
use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};
use nasdaq_testkit::{BarsSpec, generate_csv};
use tokio::io::AsyncWriteExt;

async fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = GzipEncoder::new(Vec::new());
    encoder.write_all(data).await.unwrap();
    encoder.shutdown().await.unwrap();
    encoder.into_inner()
}

async fn zstd(data: &[u8]) -> Vec<u8> {
    let mut encoder = ZstdEncoder::new(Vec::new());
    encoder.write_all(data).await.unwrap();
    encoder.shutdown().await.unwrap();
    encoder.into_inner()
}

async fn load(name: &str, body: Vec<u8>, options: ReadOptions) -> Result<Loaded, Error> {
    let source = Arc::new(ObjectStoreSource::memory());
    source
        .put(name, body.into(), PutOptions::default())
        .await
        .unwrap();
    Loader::new(source)
        .with_read_options(options)
        .load(&LoadRequest::new(name))
        .await
}

#[tokio::test]
async fn gzip_and_zstd_load_like_the_plain_file() {
    let csv = generate_csv(&BarsSpec::new(4, 1));
    let plain = load("bars.csv", csv.clone(), ReadOptions::default())
        .await
        .unwrap();
    // Small chunks: the decoder's output is cut and parsed as it streams.
    let small = || ReadOptions {
        chunk_size: 4096,
        ..ReadOptions::default()
    };
    for (name, body) in [
        ("bars.csv.gz", gzip(&csv).await),
        ("bars.csv.zst", zstd(&csv).await),
        // Named plainly: recognised by its magic bytes.
        ("bars.csv", gzip(&csv).await),
    ] {
        let size = body.len() as u64;
        let loaded = load(name, body, small())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(loaded.table.batches, plain.table.batches, "{name}");
        assert_eq!(
            loaded.report.bytes, size,
            "{name}: bytes counts what was read"
        );
    }
    // Several gzip members, as `cat a.gz b.gz` makes.
    let (head, tail) = csv.split_at(csv.len() / 2);
    let cut = head.iter().rposition(|b| *b == b'\n').unwrap() + 1;
    let mut two = gzip(&csv[..cut]).await;
    two.extend(gzip(&[&head[cut..], tail].concat()).await);
    let loaded = load("bars.csv.gz", two, ReadOptions::default())
        .await
        .unwrap();
    assert_eq!(loaded.table.batches, plain.table.batches);
}

#[tokio::test]
async fn truncated_and_corrupt_streams_are_errors() {
    let csv = generate_csv(&BarsSpec::new(4, 1));
    let gz = gzip(&csv).await;
    let truncated = gz[..gz.len() / 2].to_vec();
    let err = load("bars.csv.gz", truncated, ReadOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("bars.csv.gz") && err.contains("corrupt or truncated gzip"),
        "{err}"
    );

    let mut corrupt = zstd(&csv).await;
    let middle = corrupt.len() / 2;
    for byte in &mut corrupt[middle..middle + 16] {
        *byte ^= 0xff;
    }
    let err = load("bars.csv.zst", corrupt, ReadOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("corrupt or truncated zstd"), "{err}");
}

#[tokio::test]
async fn a_decompression_bomb_is_refused() {
    let zeros = vec![b'0'; 4 << 20];
    let bomb = gzip(&zeros).await;
    assert!(bomb.len() < 64 << 10, "compresses well");
    let options = ReadOptions {
        max_decompressed: 1 << 20,
        ..ReadOptions::default()
    };
    let err = load("bomb.csv.gz", bomb, options)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("more than 1048576 bytes") && err.contains("NASDAQ_MAX_DECOMPRESSED_BYTES"),
        "{err}"
    );
}
