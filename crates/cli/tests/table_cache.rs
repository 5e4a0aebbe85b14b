//! The table cache as a user meets it: a repeated `fetch` of an unchanged
//! file reads the parsed table instead of parsing, gives the same table and
//! the same report, and never serves a table of other bytes or options.

mod common;

use std::fs::File;
use std::path::Path;
use std::process::Output;

use arrow::array::RecordBatch;
use common::{Sandbox, signal, stderr, stdout};
use nasdaq_testkit::generate::{BarsSpec, generate_csv};

fn json(out: &Output) -> serde_json::Value {
    assert!(out.status.success(), "{}{}", stdout(out), stderr(out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The rows of an Arrow IPC output, as one batch (without the file's
/// metadata, which holds the run's report and so differs between runs).
fn read_ipc(path: &Path) -> RecordBatch {
    let reader = arrow::ipc::reader::FileReader::try_new(File::open(path).unwrap(), None).unwrap();
    let schema = std::sync::Arc::new(arrow::datatypes::Schema::new(
        reader.schema().fields().clone(),
    ));
    let batches: Vec<RecordBatch> = reader
        .map(|b| RecordBatch::try_new(schema.clone(), b.unwrap().columns().to_vec()).unwrap())
        .collect();
    arrow::compute::concat_batches(&schema, &batches).unwrap()
}

/// A report without the fields that differ between two runs of one load.
fn facts(report: &serde_json::Value) -> serde_json::Value {
    let mut report = report.clone();
    for field in ["loaded_at", "elapsed_ms", "table_cache", "output"] {
        report.as_object_mut().unwrap().remove(field);
    }
    report
}

fn cache_listing(sandbox: &Sandbox) -> serde_json::Value {
    json(&sandbox.run(&["cache", "ls", "--json"]))
}

#[test]
fn a_repeated_load_of_each_real_dialect_reads_the_same_table_from_the_cache() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../core/tests/fixtures/dialects");
    let files = [
        "yahoo/AAPL.csv",
        "nasdaq-com/AAPL.csv",
        "stooq/aapl.us.txt",
        "stooq-bulk/aapl.us.txt",
        "yfinance/prices.csv",
        "alpha-vantage/AAPL.csv",
        "long/prices.csv",
    ];
    for file in files {
        let sandbox = Sandbox::new();
        let name = Path::new(file).file_name().unwrap().to_str().unwrap();
        std::fs::copy(fixtures.join(file), sandbox.path(name)).unwrap();
        common::settle(&sandbox.path(name));
        let fetch = |output: &str, extra: &[&str]| {
            let mut args = vec!["fetch", name, "--json", "--output", output];
            args.extend_from_slice(extra);
            json(&sandbox.run(&args))
        };
        let cold = fetch("cold.arrow", &[]);
        assert_eq!(cold["table_cache"], "miss", "{file}: {cold}");
        let warm = fetch("warm.arrow", &[]);
        assert_eq!(warm["table_cache"], "hit", "{file}: {warm}");
        assert_eq!(facts(&warm), facts(&cold), "{file}: the same report");
        let (cold_rows, warm_rows) = (
            read_ipc(&sandbox.path("cold.arrow")),
            read_ipc(&sandbox.path("warm.arrow")),
        );
        assert!(cold_rows.num_rows() > 0, "{file}");
        assert_eq!(
            warm_rows, cold_rows,
            "{file}: the same table, value for value"
        );
        // --refresh parses again (and stores again).
        let refreshed = fetch("refreshed.arrow", &["--refresh"]);
        assert_eq!(refreshed["table_cache"], "miss", "{file}");
        assert_eq!(read_ipc(&sandbox.path("refreshed.arrow")), cold_rows);
        // With the cache off, no table cache is in the way.
        let out = sandbox
            .command()
            .env("NASDAQ_CACHE_ENABLED", "false")
            .args(["fetch", name, "--json"])
            .output()
            .unwrap();
        assert!(json(&out)["table_cache"].is_null(), "{file}");
        let listing = cache_listing(&sandbox);
        assert_eq!(listing["tables"].as_array().unwrap().len(), 1, "{listing}");
    }
}

#[test]
fn changed_bytes_or_options_are_never_served_an_old_table() {
    let sandbox = Sandbox::new();
    let spec = BarsSpec::new(5, 1);
    let mut csv = generate_csv(&spec);
    sandbox.write_settled("bars.csv", &csv);
    let fetch = |extra: &[&str]| {
        let mut args = vec!["fetch", "bars.csv", "--json"];
        args.extend_from_slice(extra);
        json(&sandbox.run(&args))
    };
    assert_eq!(fetch(&[])["table_cache"], "miss");
    let all = fetch(&[]);
    assert_eq!(all["table_cache"], "hit");
    assert_eq!(all["rows"], spec.rows());

    // Other options: another table, stored beside the first.
    let one = fetch(&["--tickers", "AAPL"]);
    assert_eq!(one["table_cache"], "miss");
    assert_eq!(one["tickers"], 1);
    let one = fetch(&["--tickers", "aapl"]);
    assert_eq!(
        one["table_cache"], "hit",
        "tickers are compared upper-cased"
    );
    assert_eq!(one["tickers"], 1);
    let later = fetch(&["--from", "2015-06-01"]);
    assert_eq!(later["table_cache"], "miss");
    assert_eq!(
        cache_listing(&sandbox)["tables"].as_array().unwrap().len(),
        3
    );

    // Other bytes, even of the same size: one volume changed in place.
    let at = csv.windows(5).position(|w| w == b"AAPL,").unwrap();
    let line_end = at + csv[at..].iter().position(|b| *b == b'\n').unwrap();
    let digit = (at..line_end)
        .rev()
        .find(|i| csv[*i].is_ascii_digit())
        .unwrap();
    csv[digit] = if csv[digit] == b'9' {
        b'8'
    } else {
        csv[digit] + 1
    };
    sandbox.write_settled("bars.csv", &csv);
    let changed = fetch(&[]);
    assert_eq!(changed["table_cache"], "miss", "{changed}");
    assert_ne!(changed["sha256"], all["sha256"]);
    assert_eq!(fetch(&[])["table_cache"], "hit");
    // The table of the old bytes under the same options is gone, the others stay.
    let listing = cache_listing(&sandbox);
    let tables = listing["tables"].as_array().unwrap();
    assert_eq!(tables.len(), 3, "{listing}");
}

#[test]
fn a_damaged_table_is_found_by_verify_and_replaced_by_the_next_load() {
    let sandbox = Sandbox::new();
    sandbox.write_settled("bars.csv", generate_csv(&BarsSpec::new(3, 1)));
    let first = json(&sandbox.run(&["fetch", "bars.csv", "--json", "--output", "a.arrow"]));
    assert_eq!(first["table_cache"], "miss");
    let tables = sandbox.path(".cache/nasdaq-data/tables");
    let stored: Vec<_> = std::fs::read_dir(&tables)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "arrow"))
        .collect();
    assert_eq!(stored.len(), 1);
    // One flipped byte in the middle of the table.
    let mut bytes = std::fs::read(&stored[0]).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    std::fs::write(&stored[0], &bytes).unwrap();

    let verify = sandbox.run(&["cache", "verify"]);
    assert_eq!(verify.status.code(), Some(3), "{}", stdout(&verify));
    assert!(
        stdout(&verify).contains("BAD   table  file://") && stdout(&verify).contains("XXH3"),
        "{}",
        stdout(&verify)
    );
    let again = sandbox.run(&["fetch", "bars.csv", "--json", "--output", "b.arrow"]);
    assert!(
        stderr(&again).contains("the cached table is unsound; parsing again"),
        "{}",
        stderr(&again)
    );
    assert_eq!(json(&again)["table_cache"], "miss");
    assert_eq!(
        read_ipc(&sandbox.path("b.arrow")),
        read_ipc(&sandbox.path("a.arrow"))
    );
    let verify = sandbox.run(&["cache", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    let third = json(&sandbox.run(&["fetch", "bars.csv", "--json"]));
    assert_eq!(third["table_cache"], "hit");

    // A truncated table, the same.
    let bytes = std::fs::read(&stored[0]).unwrap();
    std::fs::write(&stored[0], &bytes[..bytes.len() - 100]).unwrap();
    let out = sandbox.run(&["fetch", "bars.csv", "--json"]);
    assert!(
        stderr(&out).contains("differs from the recorded"),
        "{}",
        stderr(&out)
    );
    assert_eq!(json(&out)["table_cache"], "miss");
}

#[test]
fn killed_or_concurrent_loads_leave_only_sound_entries() {
    let sandbox = Sandbox::new();
    // Big enough that a load takes about a second in a debug build (parse
    // ~0.8 s, sort and rules ~0.2 s, store ~0.06 s): 100 tickers x 4 years.
    let csv = generate_csv(&BarsSpec::new(100, 4));
    sandbox.write_settled("bars.csv", &csv);
    let reference = json(&sandbox.run(&["fetch", "bars.csv", "--json", "--refresh"]));
    let clear = sandbox.run(&["cache", "clear"]);
    assert!(clear.status.success(), "{}", stderr(&clear));

    // SIGKILL at several points of a cold load: parse, sort, store.
    for delay_ms in [30u64, 300, 700, 900, 1000, 1100] {
        let child = sandbox
            .command()
            .args(["fetch", "bars.csv", "--json", "--quiet"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(delay_ms));
        signal(&child, libc::SIGKILL);
        let mut child = child;
        child.wait().unwrap();
        let verify = sandbox.run(&["cache", "verify", "--json"]);
        assert!(
            verify.status.success(),
            "after {delay_ms} ms: {}",
            stdout(&verify)
        );
        let out = json(&sandbox.run(&["fetch", "bars.csv", "--json"]));
        assert_eq!(
            facts(&out),
            facts(&reference),
            "after a kill at {delay_ms} ms"
        );
        let clear = sandbox.run(&["cache", "clear"]);
        assert!(clear.status.success());
    }

    // Two cold loads at once: both parse and store; one sound entry remains.
    let loads = (0..2).map(|_| {
        let mut command = sandbox.command();
        command.args(["fetch", "bars.csv", "--json"]);
        command
    });
    for out in common::run_at_once(loads) {
        assert_eq!(facts(&json(&out)), facts(&reference));
    }
    let listing = cache_listing(&sandbox);
    assert_eq!(listing["tables"].as_array().unwrap().len(), 1, "{listing}");
    let verify = sandbox.run(&["cache", "verify"]);
    assert!(verify.status.success(), "{}", stdout(&verify));
    let hit = json(&sandbox.run(&["fetch", "bars.csv", "--json"]));
    assert_eq!(hit["table_cache"], "hit");
    assert_eq!(facts(&hit), facts(&reference));
    // Nothing half-written is left.
    let partials: Vec<String> = std::fs::read_dir(sandbox.path(".cache/nasdaq-data/tables"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".partial"))
        .collect();
    assert!(partials.is_empty(), "{partials:?}");
}

#[test]
fn a_validation_never_reads_or_writes_the_table_cache() {
    let sandbox = Sandbox::new();
    // One negative volume: a fetch keeps the row (volume null, flagged),
    // a validation lists it as rejected, which a stored table cannot say.
    let csv = String::from_utf8(generate_csv(&BarsSpec::new(3, 1))).unwrap();
    let mut lines: Vec<String> = csv.lines().map(str::to_owned).collect();
    let fields: Vec<&str> = lines[5].split(',').collect();
    lines[5] = format!("{},-{}", fields[..7].join(","), fields[7]);
    sandbox.write_settled("bars.csv", lines.join("\n") + "\n");
    let fetched = json(&sandbox.run(&["fetch", "bars.csv", "--json"]));
    assert_eq!(fetched["table_cache"], "miss");
    let stored = cache_listing(&sandbox);
    assert_eq!(stored["tables"].as_array().unwrap().len(), 1, "{stored}");
    for _ in 0..2 {
        let out = sandbox.run(&["validate", "bars.csv", "--json"]);
        let text = stdout(&out);
        assert!(
            text.contains("volume_non_negative"),
            "{text}{}",
            stderr(&out)
        );
        assert!(!text.contains("\"table_cache\":\"hit\""), "{text}");
    }
    assert_eq!(
        cache_listing(&sandbox),
        stored,
        "validate collects rejected rows, which a table does not keep: nothing stored"
    );
}

#[test]
fn a_file_rewritten_within_its_clock_tick_is_never_served_an_old_table() {
    use std::os::unix::fs::MetadataExt;
    let sandbox = Sandbox::new();
    let mut csv = generate_csv(&BarsSpec::new(3, 1));
    let path = sandbox.write("bars.csv", &csv);
    let written = std::fs::metadata(&path).unwrap();
    let first = json(&sandbox.run(&["fetch", "bars.csv", "--json"]));
    assert_eq!(first["table_cache"], "miss");
    assert_eq!(
        cache_listing(&sandbox)["tables"],
        serde_json::json!([]),
        "a file written this moment: its time cannot yet tell a rewrite, so nothing is stored"
    );
    // The same size, inode and time, other bytes: what a rewrite in the
    // same tick of a coarse clock (or `cp -p`, `touch -r`) leaves.
    let at = csv.len() - 3;
    csv[at] = if csv[at] == b'9' { b'8' } else { b'9' };
    std::fs::write(&path, &csv).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(written.modified().unwrap())
        .unwrap();
    let rewritten = std::fs::metadata(&path).unwrap();
    assert_eq!(
        (rewritten.ino(), rewritten.len(), rewritten.mtime_nsec()),
        (written.ino(), written.len(), written.mtime_nsec())
    );
    let second = json(&sandbox.run(&["fetch", "bars.csv", "--json"]));
    assert_eq!(second["table_cache"], "miss");
    assert_ne!(second["sha256"], first["sha256"], "the new bytes, read");
    // Once settled, its table is stored and served.
    common::settle(&path);
    assert_eq!(
        json(&sandbox.run(&["fetch", "bars.csv", "--json"]))["table_cache"],
        "miss"
    );
    let hit = json(&sandbox.run(&["fetch", "bars.csv", "--json"]));
    assert_eq!(hit["table_cache"], "hit");
    assert_eq!(hit["sha256"], second["sha256"]);
}
