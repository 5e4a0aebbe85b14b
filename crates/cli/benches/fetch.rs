//! Benchmark of `nasdaq-cli fetch` on a large local CSV.
//!
//! Generates (once, under `target/bench-data/`) NASDAQ_BENCH_TICKERS x
//! NASDAQ_BENCH_YEARS of bars (default 3000 x 10: ~7.8 M rows, ~0.5 GB), then
//! runs the release binary NASDAQ_BENCH_RUNS times (default 5) per mode and
//! prints median seconds, MB/s, rows/s and peak resident memory:
//! - `memory`:  `fetch FILE --json` (load into an in-memory table, no output);
//! - `parquet`: `fetch FILE --output OUT.parquet --json`.
//!
//! Every run is a cold load: the caches are off (`NASDAQ_CACHE_ENABLED=false`),
//! or all but the first run would read the table cache the first one filled.
//!
//! Run: `cargo bench -p nasdaq-cli --bench fetch`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use nasdaq_testkit::{BarsSpec, generate_csv};

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Waits for `child`, returning its peak resident set size in bytes.
#[allow(
    unsafe_code,
    reason = "wait4 is the one call that returns a child's own rusage"
)]
fn wait_peak_rss(child: &std::process::Child) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: a zeroed rusage is a valid out-parameter; pid is our unwaited child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = child.id() as libc::pid_t;
    // SAFETY: valid pointers to locals; the child has not been reaped by std.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    (status, usage.ru_maxrss as u64 * 1024)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn data_file(tickers: usize, years: usize) -> (PathBuf, usize) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-data");
    std::fs::create_dir_all(&dir).expect("bench data dir");
    let spec = BarsSpec::new(tickers, years);
    let path = dir.join(format!("nasdaq-{tickers}x{years}.csv"));
    if !path.exists() {
        eprintln!(
            "generating {} rows into {} ...",
            spec.rows(),
            path.display()
        );
        let partial = path.with_extension("partial");
        std::fs::write(&partial, generate_csv(&spec)).expect("write bench data");
        std::fs::rename(&partial, &path).expect("rename bench data");
    }
    (path, spec.rows())
}

#[allow(
    clippy::zombie_processes,
    reason = "children are reaped by wait4 in wait_peak_rss"
)]
fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let tickers = env_or("NASDAQ_BENCH_TICKERS", 3000);
    let years = env_or("NASDAQ_BENCH_YEARS", 10);
    let runs = env_or("NASDAQ_BENCH_RUNS", 5).max(1);
    let (input, rows) = data_file(tickers, years);
    let bytes = std::fs::metadata(&input).expect("bench data").len();
    let out_dir = tempfile::tempdir().expect("temp dir");
    let parquet = out_dir.path().join("out.parquet");
    let binary = env!("CARGO_BIN_EXE_nasdaq-cli");
    println!(
        "fetch benchmark: {} ({} rows, {:.1} MB), {runs} runs per mode, binary {binary}",
        input.display(),
        rows,
        bytes as f64 / 1e6
    );
    println!(
        "{:<8} {:>9} {:>9} {:>9} {:>12} {:>13}",
        "mode", "median s", "min s", "MB/s", "rows/s", "peak RSS MB"
    );
    let input_arg = input.to_string_lossy().into_owned();
    let parquet_arg = parquet.to_string_lossy().into_owned();
    let modes: [(&str, Vec<&str>); 2] = [
        ("memory", vec!["fetch", &input_arg, "--json"]),
        (
            "parquet",
            vec!["fetch", &input_arg, "--output", &parquet_arg, "--json"],
        ),
    ];
    for (mode, args) in modes {
        let mut seconds = Vec::new();
        let mut peaks = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            let child = Command::new(binary)
                .args(&args)
                .env_remove("NASDAQ_BENCH_RUNS")
                .env_remove("NASDAQ_BENCH_TICKERS")
                .env_remove("NASDAQ_BENCH_YEARS")
                .env("NASDAQ_CACHE_ENABLED", "false")
                .stdout(Stdio::null())
                .spawn()
                .expect("run nasdaq-cli");
            let (status, peak) = wait_peak_rss(&child);
            seconds.push(started.elapsed().as_secs_f64());
            assert_eq!(status, 0, "{mode}: nasdaq-cli failed");
            peaks.push(peak as f64);
        }
        let min = seconds.iter().copied().fold(f64::INFINITY, f64::min);
        let med = median(&mut seconds);
        println!(
            "{mode:<8} {med:>9.3} {min:>9.3} {:>9.0} {:>12.0} {:>13.0}",
            bytes as f64 / 1e6 / med,
            rows as f64 / med,
            median(&mut peaks) / 1e6
        );
    }
}
