//! Ctrl-C and SIGTERM: the command stops, says so, exits 130 / 143, and
//! leaves no partial file anywhere nor replaces a good one.

mod common;

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Sandbox, signal, stderr};

/// A file big enough that loading and writing it takes a while.
fn big_csv(sandbox: &Sandbox) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(sandbox.path("big.csv")).unwrap());
    writeln!(file, "Date,Ticker,Open,High,Low,Close,Adj Close,Volume").unwrap();
    let start = chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap();
    for day in 0..300 {
        let date = start + chrono::Duration::days(day);
        for ticker in 0..2000 {
            writeln!(
                file,
                "{date},T{ticker:04},10,11,9,10.5,10.4,{}",
                1000 + ticker
            )
            .unwrap();
        }
    }
}

fn spawn(sandbox: &Sandbox) -> Child {
    sandbox
        .command()
        .args(["fetch", "big.csv", "--output", "out.parquet", "--quiet"])
        .env("NASDAQ_QUALITY_MISSING_SESSIONS", "drop")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn leftovers(sandbox: &Sandbox) -> Vec<String> {
    sandbox
        .files()
        .into_iter()
        .filter(|f| f.starts_with(".nasdaq-output-") || f.ends_with(".partial"))
        .collect()
}

#[test]
fn ctrl_c_while_writing_leaves_the_old_output_and_no_partial_file() {
    let sandbox = Sandbox::new();
    big_csv(&sandbox);
    sandbox.write("out.parquet", "the good copy");
    let child = spawn(&sandbox);
    // Interrupt once the writer has its temporary file: the hardest moment.
    let deadline = Instant::now() + Duration::from_secs(120);
    while leftovers(&sandbox).is_empty() {
        assert!(Instant::now() < deadline, "the write never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("interrupted by SIGINT"),
        "{}",
        stderr(&out)
    );
    assert_eq!(leftovers(&sandbox), Vec::<String>::new());
    assert_eq!(
        std::fs::read(sandbox.path("out.parquet")).unwrap(),
        b"the good copy"
    );
}

#[test]
fn sigterm_while_loading_exits_143_and_writes_nothing() {
    let sandbox = Sandbox::new();
    big_csv(&sandbox);
    let child = spawn(&sandbox);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGTERM);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert_eq!(leftovers(&sandbox), Vec::<String>::new());
    assert!(!sandbox.path("out.parquet").exists());
}

/// Stands in for an S3 endpoint: answers HEADs, and one GET with a body it trickles.
fn slow_object_server() -> (String, std::thread::JoinHandle<()>) {
    use std::io::{Read, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let size = 64 << 20;
        let headers = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {size}\r\nETag: \"slow-1\"\r\n\
             Last-Modified: Tue, 01 Dec 2026 00:00:00 GMT\r\n\r\n"
        );
        let mut stream = loop {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut request = [0u8; 4096];
            let n = stream.read(&mut request).unwrap_or(0);
            if !request[..n].starts_with(b"HEAD") {
                break stream;
            }
            // A HEAD (the checksum lookup): headers, no body, next connection.
            let _ = stream.write_all(headers.as_bytes());
        };
        let head = format!("{headers}Date,Ticker,Open,High,Low,Close\n");
        if stream.write_all(head.as_bytes()).is_err() {
            return;
        }
        let row = b"2024-01-02,AAPL,1,2,0.5,1.5\n".repeat(256);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if stream.write_all(&row).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    });
    (endpoint, handle)
}

#[test]
fn ctrl_c_during_a_download_leaves_no_partial_cache_entry() {
    let sandbox = Sandbox::new();
    let (endpoint, server) = slow_object_server();
    let cache = sandbox.path("cache");
    let child = sandbox
        .command()
        .args([
            "fetch",
            "s3://market/NASDAQ.csv",
            "--no-fallback",
            "--quiet",
        ])
        .args(["--endpoint", &endpoint, "--allow-http", "--no-sign-request"])
        .args(["--cache-dir", cache.to_str().unwrap()])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = || {
        std::fs::read_dir(&cache).ok().is_some_and(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !partial() {
        assert!(Instant::now() < deadline, "the download never started");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    assert!(!partial(), "a partial entry was left");
    let entries: Vec<String> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".data") || n.ends_with(".json"))
        .collect();
    assert!(entries.is_empty(), "{entries:?}");
    let _ = server.join();
}
