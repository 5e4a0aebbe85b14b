//! Stamps `--version` with the commit and the build date, so a bug report
//! says exactly which build it is about.

use std::process::Command;

fn main() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|out| out.status.success())
            .and_then(|out| String::from_utf8(out.stdout).ok())
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty())
    };
    // A source tarball has no repository: say so rather than fail the build.
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    // SOURCE_DATE_EPOCH makes the stamp reproducible when a packager sets it.
    let date = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|secs| secs.parse::<i64>().ok())
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .unwrap_or_else(chrono::Utc::now)
        .format("%Y-%m-%d");
    // Not NASDAQ_*: `cargo run` also puts these in the program's
    // environment, where the settings would warn about unknown NASDAQ_ keys.
    println!("cargo:rustc-env=CLI_BUILD_COMMIT={commit}");
    println!("cargo:rustc-env=CLI_BUILD_DATE={date}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
    if let Some(dir) = git(&["rev-parse", "--absolute-git-dir"]) {
        println!("cargo:rerun-if-changed={dir}/HEAD");
        // A branch's ref is a loose file or a line of packed-refs; watching
        // a file that does not exist would rerun this on every build.
        if let Some(head) = git(&["symbolic-ref", "-q", "HEAD"]) {
            let loose = format!("{dir}/{head}");
            if std::path::Path::new(&loose).exists() {
                println!("cargo:rerun-if-changed={loose}");
            }
        }
        if std::path::Path::new(&format!("{dir}/packed-refs")).exists() {
            println!("cargo:rerun-if-changed={dir}/packed-refs");
        }
    }
}
