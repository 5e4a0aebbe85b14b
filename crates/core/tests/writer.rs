//! Written files read back to the same rows: Parquet over several row groups
//! (columns encoded in parallel), Arrow IPC, CSV; a failed write leaves nothing.

use std::sync::Arc;

use arrow::array::RecordBatch;
use nasdaq_core::{Compression, LoadRequest, Loader, Table, WriteOptions, write_table};
use nasdaq_storage::{MarketSource, ObjectStoreSource, PutOptions};
use nasdaq_testkit::{BarsSpec, generate_csv};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

async fn table() -> Table {
    table_of(BarsSpec::new(5, 1)).await
}

/// The loaded table of a generated file.
async fn table_of(spec: BarsSpec) -> Table {
    let source = Arc::new(ObjectStoreSource::memory());
    let csv = generate_csv(&spec);
    source
        .put("bars.csv", csv.into(), PutOptions::default())
        .await
        .unwrap();
    Loader::new(source)
        .load(&LoadRequest::new("bars.csv"))
        .await
        .unwrap()
        .table
}

fn concat(table: &Table, batches: &[RecordBatch]) -> RecordBatch {
    arrow::compute::concat_batches(&table.schema, batches).unwrap()
}

#[tokio::test]
async fn parquet_with_many_row_groups_reads_back_identically() {
    let table = table().await;
    let dir = tempfile::tempdir().unwrap();
    for compression in [Compression::Zstd, Compression::Snappy, Compression::None] {
        let path = dir.path().join(format!("{compression:?}.parquet"));
        let options = WriteOptions {
            compression,
            metadata: vec![("nasdaq.test".into(), "yes".into())],
            row_group_rows: 400,
            ..WriteOptions::default()
        };
        write_table(&table, &path, &options).unwrap();
        let builder =
            ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(
            builder.metadata().num_row_groups(),
            (5 * 261usize).div_ceil(400)
        );
        let kv = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .unwrap()
            .clone();
        assert!(
            kv.iter()
                .any(|k| k.key == "nasdaq.test" && k.value.as_deref() == Some("yes"))
        );
        let metadata = builder.schema().metadata().clone();
        assert_eq!(metadata.get("nasdaq.test").map(String::as_str), Some("yes"));
        let read: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
        let read = concat(&table, &read);
        let read = read.with_schema(table.schema.clone()).unwrap();
        assert_eq!(read, concat(&table, &table.batches), "{compression:?}");
    }
}

/// A table in many batches: each row group is made of the slices of the
/// batches it spans (no concatenated copy), whole groups of the set size.
#[tokio::test]
async fn row_groups_spanning_batches_read_back_identically() {
    let whole = table().await;
    let all = concat(&whole, &whole.batches);
    let batches: Vec<RecordBatch> = (0..all.num_rows())
        .step_by(77)
        .map(|start| all.slice(start, 77.min(all.num_rows() - start)))
        .collect();
    let table = Table {
        schema: whole.schema.clone(),
        batches,
    };
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bars.parquet");
    let options = WriteOptions {
        row_group_rows: 400,
        ..WriteOptions::default()
    };
    write_table(&table, &path, &options).unwrap();
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
    let sizes: Vec<i64> = builder
        .metadata()
        .row_groups()
        .iter()
        .map(|g| g.num_rows())
        .collect();
    assert_eq!(sizes, [400, 400, 400, 105]);
    let read: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    let read = concat(&table, &read)
        .with_schema(table.schema.clone())
        .unwrap();
    assert_eq!(read, all);
}

/// Prices and volumes are written without a dictionary (a value per row:
/// it would only cost), volumes delta-encoded; dates and tickers keep one.
#[tokio::test]
async fn each_column_is_encoded_the_way_its_values_compress() {
    use parquet::basic::{Compression as Codec, Encoding};
    let table = table().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bars.parquet");
    write_table(&table, &path, &WriteOptions::default()).unwrap();
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&path).unwrap()).unwrap();
    let group = builder.metadata().row_group(0);
    for column in group.columns() {
        let name = column.column_path().string();
        let encodings: Vec<Encoding> = column.encodings().collect();
        let dictionary = encodings.contains(&Encoding::RLE_DICTIONARY);
        assert!(matches!(column.compression(), Codec::ZSTD(_)), "{name}");
        match name.as_str() {
            "date" | "ticker" => assert!(dictionary, "{name}: {encodings:?}"),
            "volume" => assert!(
                !dictionary && encodings.contains(&Encoding::DELTA_BINARY_PACKED),
                "{name}: {encodings:?}"
            ),
            _ => assert!(!dictionary, "{name}: {encodings:?}"),
        }
    }
    let read: Vec<RecordBatch> = builder.build().unwrap().map(Result::unwrap).collect();
    let read = concat(&table, &read)
        .with_schema(table.schema.clone())
        .unwrap();
    assert_eq!(read, concat(&table, &table.batches));
}

/// The pages are cut for zstd: a price page stays under the 256 KiB up to
/// which zstd takes its small-input parameters, the ticker codes of a row
/// group (the same run every date) share one page so its repeats compress;
/// and the configured zstd level is the one used.
#[tokio::test]
async fn pages_are_cut_for_zstd_and_the_level_is_the_configured_one() {
    use parquet::column::page::Page;
    use parquet::file::reader::{FileReader, SerializedFileReader};

    // 120 tickers x 2 years: 62 640 rows, more than two price pages.
    let table = table_of(BarsSpec::new(120, 2)).await;
    let dir = tempfile::tempdir().unwrap();
    let write = |level: u8| {
        let path = dir.path().join(format!("level-{level}.parquet"));
        let options = WriteOptions {
            zstd_level: level,
            ..WriteOptions::default()
        };
        write_table(&table, &path, &options).unwrap();
        path
    };
    let default = write(nasdaq_core::DEFAULT_ZSTD_LEVEL);
    let reader = SerializedFileReader::new(std::fs::File::open(&default).unwrap()).unwrap();
    let group = reader.get_row_group(0).unwrap();
    assert_eq!(group.metadata().num_rows() as usize, table.num_rows());
    for (i, column) in group.metadata().columns().iter().enumerate() {
        let name = column.column_path().string();
        let data_pages: Vec<(usize, u32)> = group
            .get_column_page_reader(i)
            .unwrap()
            .map(Result::unwrap)
            .filter(|page| !matches!(page, Page::DictionaryPage { .. }))
            .map(|page| (page.buffer().len(), page.num_values()))
            .collect();
        match name.as_str() {
            "ticker" => assert_eq!(data_pages.len(), 1, "{name}: {data_pages:?}"),
            "open" | "high" | "low" | "close" | "adj_close" => {
                assert!(data_pages.len() >= 3, "{name}: {data_pages:?}");
                for (bytes, _) in &data_pages {
                    assert!(*bytes < 256 * 1024, "{name}: {data_pages:?}");
                }
            }
            _ => {}
        }
    }
    let size = |path: &std::path::Path| std::fs::metadata(path).unwrap().len();
    let (fast, small) = (write(1), write(19));
    assert!(
        size(&small) < size(&default) && size(&default) < size(&fast),
        "levels 1, 3, 19: {} {} {} bytes",
        size(&fast),
        size(&default),
        size(&small)
    );
    // A level zstd has not is refused, and nothing is left behind.
    let path = dir.path().join("level-23.parquet");
    let options = WriteOptions {
        zstd_level: 23,
        ..WriteOptions::default()
    };
    let err = write_table(&table, &path, &options)
        .unwrap_err()
        .to_string();
    assert!(err.contains("23"), "{err}");
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 3);
}

#[tokio::test]
async fn a_failed_write_leaves_no_file() {
    let table = table().await;
    let dir = tempfile::tempdir().unwrap();
    let err = write_table(
        &table,
        &dir.path().join("missing/x.parquet"),
        &WriteOptions::default(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("missing"), "{err}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn a_cancelled_write_puts_nothing_in_place() {
    let table = table().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bars.parquet");
    std::fs::write(&path, b"the good copy").unwrap();
    let options = WriteOptions {
        row_group_rows: 100,
        ..WriteOptions::default()
    };
    options.cancel.cancel();
    let err = write_table(&table, &path, &options).unwrap_err();
    assert!(
        err.to_string().contains("cancelled; nothing was written"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), b"the good copy");
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
}

/// An output's mode is a new file's (the umask's), or the mode of the file
/// it replaces; not the private mode of the temporary file it was written as.
#[cfg(unix)]
#[tokio::test]
async fn an_output_gets_a_new_files_mode_or_keeps_the_replaced_ones() {
    use std::os::unix::fs::PermissionsExt;
    let table = table().await;
    let dir = tempfile::tempdir().unwrap();
    let mode =
        |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    let plain = dir.path().join("plain");
    std::fs::File::create(&plain).unwrap();
    let fresh = dir.path().join("fresh.parquet");
    write_table(&table, &fresh, &WriteOptions::default()).unwrap();
    assert_eq!(mode(&fresh), mode(&plain));

    let shared = dir.path().join("shared.parquet");
    std::fs::write(&shared, b"old").unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o640)).unwrap();
    write_table(&table, &shared, &WriteOptions::default()).unwrap();
    assert_eq!(mode(&shared), 0o640);
}
