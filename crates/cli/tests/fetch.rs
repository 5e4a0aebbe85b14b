//! `nasdaq-cli fetch` as a user runs it.

mod common;

use std::fs::File;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Float64Type;
use common::{Sandbox, python, python_with_pyarrow, stderr, stdout};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

const SAMPLE_ROWS: usize = 5220;

fn read_parquet(
    path: &std::path::Path,
) -> (Vec<RecordBatch>, std::collections::HashMap<String, String>) {
    let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(path).unwrap()).unwrap();
    let metadata = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .map(|kvs| {
            kvs.iter()
                .map(|kv| (kv.key.clone(), kv.value.clone().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    let batches = builder
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (batches, metadata)
}

fn total_close(batches: &[RecordBatch]) -> f64 {
    batches
        .iter()
        .flat_map(|b| b.column(5).as_primitive::<Float64Type>().values().to_vec())
        .sum()
}

#[test]
fn without_a_source_it_loads_the_bundled_sample_and_says_so() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["fetch"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains(&format!("Loaded {SAMPLE_ROWS} rows, 20 tickers")),
        "{text}"
    );
    assert!(text.contains("bundled sample"), "{text}");
    assert!(text.contains("2024-01-02 to 2024-12-31"), "{text}");
    assert!(
        text.contains("| date ") && text.contains("AAPL"),
        "preview: {text}"
    );
}

#[test]
fn json_report_has_the_promised_fields() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["fetch", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["rows"], SAMPLE_ROWS);
    assert_eq!(report["tickers"], 20);
    assert_eq!(report["first_date"], "2024-01-02");
    assert_eq!(report["last_date"], "2024-12-31");
    assert!(report["source"].as_str().unwrap().contains("NASDAQ.csv"));
    assert!(report["output"].is_null());
    assert!(report["elapsed_ms"].is_u64());
    assert_eq!(report["sha256"].as_str().unwrap().len(), 64);
}

#[test]
fn parquet_output_reads_back_with_the_same_rows() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["fetch", "--output", "x.parquet", "--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["output"], "x.parquet");

    let (batches, metadata) = read_parquet(&sandbox.path("x.parquet"));
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    assert_eq!(rows, SAMPLE_ROWS);
    assert_eq!(
        metadata["nasdaq.sha256"],
        report["sha256"].as_str().unwrap()
    );

    // The same rows as loading the CSV copy of the sample from disk.
    let csv = sandbox.write(
        "NASDAQ.csv",
        include_bytes!("../../../data/sample/NASDAQ.csv"),
    );
    let again = sandbox.run(&["fetch", csv.to_str().unwrap(), "--output", "y.parquet"]);
    assert!(again.status.success(), "{}", stderr(&again));
    let (from_disk, _) = read_parquet(&sandbox.path("y.parquet"));
    assert_eq!(batches.len(), from_disk.len());
    for (a, b) in batches.iter().zip(&from_disk) {
        assert_eq!(a, b);
    }
    // No table stored either: the bundled sample and a file written this
    // moment have no time that could tell a rewrite (tests/table_cache.rs).
    assert_eq!(
        sandbox.files(),
        ["NASDAQ.csv", "x.parquet", "y.parquet"],
        "no temp files left"
    );
}

#[test]
fn pyarrow_reads_the_parquet_output() {
    let Some(interpreter) = python_with_pyarrow() else {
        return;
    };
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["fetch", "--output", "x.parquet"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let (batches, _) = read_parquet(&sandbox.path("x.parquet"));
    let code = r#"
import json, sys, pyarrow.parquet as pq
t = pq.read_table(sys.argv[1])
meta = {k.decode(): v.decode() for k, v in (t.schema.metadata or {}).items()}
print(json.dumps({
    "rows": t.num_rows,
    "columns": t.column_names,
    "types": [str(f.type) for f in t.schema],
    "first": [str(t.column("date")[0]), str(t.column("ticker")[0])],
    "close_sum": sum(t.column("close").to_pylist()),
    "source": json.loads(meta["nasdaq.load_report"])["source"],
    "kv_sha256": pq.read_metadata(sys.argv[1]).metadata[b"nasdaq.sha256"].decode(),
}))
"#;
    let seen: serde_json::Value =
        serde_json::from_str(&python(&interpreter, code, &sandbox.path("x.parquet"))).unwrap();
    assert_eq!(seen["rows"], SAMPLE_ROWS);
    assert_eq!(
        seen["columns"],
        serde_json::json!([
            "date",
            "ticker",
            "open",
            "high",
            "low",
            "close",
            "adj_close",
            "volume"
        ])
    );
    assert_eq!(
        seen["types"],
        serde_json::json!([
            "date32[day]",
            "string",
            "double",
            "double",
            "double",
            "double",
            "double",
            "uint64"
        ])
    );
    assert_eq!(seen["first"], serde_json::json!(["2024-01-02", "AAPL"]));
    let ours = total_close(&batches);
    assert!((seen["close_sum"].as_f64().unwrap() - ours).abs() < 1e-6 * ours);
    assert!(seen["source"].as_str().unwrap().ends_with("NASDAQ.csv"));
    let (_, metadata) = read_parquet(&sandbox.path("x.parquet"));
    assert_eq!(
        seen["kv_sha256"].as_str(),
        Some(metadata["nasdaq.sha256"].as_str())
    );
}

#[test]
fn arrow_ipc_and_csv_outputs_read_back() {
    let sandbox = Sandbox::new();
    for name in ["x.arrow", "x.feather", "x.csv"] {
        let output = sandbox.run(&["fetch", "--output", name]);
        assert!(output.status.success(), "{name}: {}", stderr(&output));
    }
    let reader =
        arrow::ipc::reader::FileReader::try_new(File::open(sandbox.path("x.arrow")).unwrap(), None)
            .unwrap();
    assert!(
        reader
            .schema()
            .metadata()
            .contains_key("nasdaq.load_report")
    );
    let rows: usize = reader.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, SAMPLE_ROWS);

    let csv = std::fs::read_to_string(sandbox.path("x.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some("date,ticker,open,high,low,close,adj_close,volume")
    );
    assert!(lines.next().unwrap().starts_with("2024-01-02,AAPL,"));
    assert_eq!(csv.lines().count(), SAMPLE_ROWS + 1);
    // The CSV output loads again to the same table.
    let again = sandbox.run(&["fetch", "x.csv", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["rows"], SAMPLE_ROWS);
}

/// Each bad input: non-zero exit, a one-line cause naming the file (and line,
/// column), and no output file left behind; an existing output is untouched.
#[test]
fn bad_inputs_fail_clearly_and_leave_nothing_behind() {
    let header = "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n";
    let cases: [(&str, String, &[&str]); 5] = [
        ("empty.csv", String::new(), &["empty.csv", "empty"]),
        (
            "header.csv",
            "Date,Symbol,Price\n2024-01-02,AAPL,1\n".to_owned(),
            &["header.csv", "line 1", "Open, High, Low, Close"],
        ),
        (
            "price.csv",
            format!(
                "{header}2024-01-02,AAPL,1,2,0.5,1.5,1.4,10\n2024-01-03,AAPL,1,2,0.5,12O.5,1.4,10\n"
            ),
            &["price.csv", "line 3, column 6 (Close)", "\"12O.5\""],
        ),
        (
            "date.csv",
            format!(
                "{header}2024-01-02,AAPL,1,2,0.5,1.5,1.4,10\n2024-01-32,AAPL,1,2,0.5,1.5,1.4,10\n"
            ),
            &["date.csv", "line 3, column 1 (Date)", "2024-01-32"],
        ),
        (
            "dup.csv",
            format!(
                "{header}2024-01-02,AAPL,1,2,0.5,1.5,1.4,10\n2024-01-02,AAPL,1,2,0.5,1.5,1.4,10\n"
            ),
            &[
                "dup.csv: line 3: AAPL 2024-01-02: duplicate of",
                "dup.csv: line 2",
            ],
        ),
    ];
    for (name, contents, needles) in cases {
        let sandbox = Sandbox::new();
        sandbox.write(name, &contents);
        sandbox.write("good.parquet", b"previous good output");
        for target in ["out.parquet", "good.parquet"] {
            let output = sandbox.run(&["fetch", name, "--output", target]);
            let err = stderr(&output);
            assert_eq!(output.status.code(), Some(3), "{name}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{name}: one line: {err}");
            for needle in needles {
                assert!(err.contains(needle), "{name}: {needle:?} not in {err}");
            }
            assert!(!err.contains("panicked"), "{err}");
        }
        let mut expected = vec![name.to_owned(), "good.parquet".to_owned()];
        expected.sort();
        assert_eq!(sandbox.files(), expected, "{name}: nothing left behind");
        assert_eq!(
            std::fs::read(sandbox.path("good.parquet")).unwrap(),
            b"previous good output"
        );
    }
}

#[test]
fn missing_file_and_bad_output_name_are_clear_errors() {
    let sandbox = Sandbox::new();
    let output = sandbox.run(&["fetch", "nowhere.csv"]);
    assert_eq!(output.status.code(), Some(4));
    assert!(
        stderr(&output).contains("nowhere.csv: no such file"),
        "{}",
        stderr(&output)
    );

    let output = sandbox.run(&["fetch", "--output", "x.xlsx"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("x.xlsx: unknown output format"),
        "{}",
        stderr(&output)
    );

    let output = sandbox.run(&["fetch", "--output", "no/such/dir/x.parquet"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("no/such/dir"),
        "{}",
        stderr(&output)
    );
    assert!(sandbox.files().is_empty());
}

#[test]
fn an_output_that_is_an_input_is_refused_and_the_input_kept() {
    let sandbox = Sandbox::new();
    let csv = "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n\
               2024-01-02,AAPL,187.2,188.4,183.9,185.6,184.9,82000000\n";
    sandbox.write("prices.csv", csv);
    std::os::unix::fs::symlink(sandbox.path("prices.csv"), sandbox.path("link.csv")).unwrap();
    std::fs::create_dir(sandbox.path("daily")).unwrap();
    sandbox.write("daily/a.csv", csv);
    for (source, output) in [
        ("prices.csv", "prices.csv"),
        ("prices.csv", "./link.csv"),
        ("daily", "daily/a.csv"),
    ] {
        let out = sandbox.run(&["fetch", source, "--output", output]);
        assert_eq!(out.status.code(), Some(2), "{source} -> {output}");
        let err = stderr(&out);
        assert!(
            err.contains("is an input of the load") && err.contains("nothing was written"),
            "{err}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(sandbox.path("prices.csv")).unwrap(),
        csv
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.path("daily/a.csv")).unwrap(),
        csv
    );
    // A new file beside the input is fine.
    let out = sandbox.run(&["fetch", "prices.csv", "--output", "prices.parquet"]);
    assert!(out.status.success(), "{}", stderr(&out));
}
