//! `nasdaq-cli upload` of a large file against moto on 127.0.0.1: memory
//! stays a few parts whatever the file's size, and Ctrl-C aborts the
//! multipart upload, leaving nothing at the key.

mod common;

use std::io::Write;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::{Sandbox, signal, stderr, stdout};
use nasdaq_testkit::S3TestServer;

const MIB: usize = 1024 * 1024;

/// A CSV file of about `mib` MiB in the sandbox.
fn big_file(sandbox: &Sandbox, name: &str, mib: usize) -> std::path::PathBuf {
    let path = sandbox.path(name);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
    writeln!(out, "Date,Ticker,Open,High,Low,Close,Volume").unwrap();
    let mut written = 0;
    let mut day = 0u64;
    while written < mib * MIB {
        let line = format!("2024-01-02,T{day:07},1.5,2.5,1.25,2.0,{day}\n");
        written += line.len();
        out.write_all(line.as_bytes()).unwrap();
        day += 1;
    }
    out.flush().unwrap();
    path
}

/// The peak resident set of `child` until it exits (VmHWM, polled), in MiB.
fn peak_rss_mib(child: &mut Child) -> (u64, std::process::ExitStatus) {
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    loop {
        if let Ok(text) = std::fs::read_to_string(&status_file)
            && let Some(line) = text.lines().find(|l| l.starts_with("VmHWM:"))
        {
            let kib = line
                .split_whitespace()
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            peak_kib = peak_kib.max(kib);
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (peak_kib / 1024, status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_200_mib_upload_peaks_far_below_200_mib_of_memory() {
    let Some(server) = S3TestServer::start(&["bulk"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    let path = big_file(&sandbox, "big.csv", 200);
    let size = std::fs::metadata(&path).unwrap().len();
    let mut child = sandbox
        .s3_command(&server.endpoint, "AKIABULKUPLOAD00", "bulk-secret")
        .args(["upload", "big.csv", "s3://bulk/big.csv", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (peak, status) = peak_rss_mib(&mut child);
    let out = child.wait_with_output().unwrap();
    assert!(status.success(), "{}", stderr(&out));
    eprintln!("upload of {} MiB: peak RSS {peak} MiB", size / MIB as u64);
    // Parts are 8 MiB, three in flight: memory is the program plus a few parts.
    assert!(peak < 100, "peak RSS {peak} MiB for a {size}-byte upload");
    let report: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["bytes"], size);
    assert_eq!(report["action"], "uploaded");
    let parts = server
        .requests()
        .iter()
        .filter(|l| l.contains("partNumber="))
        .count();
    assert_eq!(
        parts as u64,
        size.div_ceil(8 * MIB as u64),
        "one request per part"
    );
}

#[test]
fn ctrl_c_during_an_upload_aborts_it_and_stores_nothing() {
    let Some(server) = S3TestServer::start(&["bulk"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    big_file(&sandbox, "big.csv", 120);
    let child = sandbox
        .s3_command(&server.endpoint, "AKIABULKUPLOAD00", "bulk-secret")
        .args(["upload", "big.csv", "s3://bulk/big.csv"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once parts are going up.
    let deadline = Instant::now() + Duration::from_secs(120);
    while !server.requests().iter().any(|l| l.contains("partNumber=")) {
        assert!(Instant::now() < deadline, "no part was ever sent");
        std::thread::sleep(Duration::from_millis(10));
    }
    signal(&child, libc::SIGINT);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "{}", stderr(&out));
    let log = server.requests();
    assert!(
        log.iter()
            .any(|l| l.contains("DELETE /bulk/big.csv?uploadId=")),
        "the multipart upload was not aborted: {log:#?}"
    );
    assert!(
        !log.iter()
            .any(|l| l.contains("POST /bulk/big.csv?uploadId=")),
        "the upload was completed: {log:#?}"
    );
    let listed = sandbox
        .s3_command(&server.endpoint, "AKIABULKUPLOAD00", "bulk-secret")
        .args(["ls", "s3://bulk/"])
        .output()
        .unwrap();
    assert!(listed.status.success(), "{}", stderr(&listed));
    assert!(!stdout(&listed).contains("big.csv"), "{}", stdout(&listed));
}
