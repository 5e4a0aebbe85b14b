//! The progress bar: drawn on a terminal, never when piped or with --quiet.

mod common;

use std::process::Command;

use common::{Sandbox, stderr};
use nasdaq_testkit::{BarsSpec, generate_csv};

/// What a command line prints under a pseudo-terminal (util-linux `script`).
fn on_a_terminal(sandbox: &Sandbox, command_line: &str) -> Option<String> {
    if Command::new("script").arg("--version").output().is_err() {
        return nasdaq_testkit::s3_server::skip_or_fail(
            "util-linux `script` (a pseudo-terminal)",
            "not installed",
        );
    }
    let out = sandbox
        .command_for("script")
        // A terminal has a TERM; without one the bar stays off, as on a dumb terminal.
        .env("TERM", "xterm")
        .args(["-qec", command_line, "/dev/null"])
        .output()
        .expect("script runs");
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn a_bar_on_a_terminal_and_none_when_piped_or_quiet() {
    let sandbox = Sandbox::new();
    sandbox.write("bars.csv", generate_csv(&BarsSpec::new(300, 2)));
    let binary = env!("CARGO_BIN_EXE_nasdaq-cli");

    let piped = sandbox.run(&["fetch", "bars.csv"]);
    assert!(piped.status.success());
    assert_eq!(stderr(&piped), "", "nothing on a piped stderr");

    // --refresh: the piped run stored the parsed table, and a load served
    // from it reads nothing a bar could show.
    let Some(drawn) = on_a_terminal(&sandbox, &format!("{binary} fetch --refresh bars.csv")) else {
        return;
    };
    assert!(drawn.contains("Loaded 156600 rows"), "{drawn}");
    assert!(
        drawn.contains("bars.csv") && drawn.contains("ETA") && drawn.contains("MiB"),
        "{drawn}"
    );
    let Some(quiet) = on_a_terminal(
        &sandbox,
        &format!("{binary} --quiet fetch --refresh bars.csv"),
    ) else {
        return;
    };
    assert!(
        quiet.contains("Loaded 156600 rows") && !quiet.contains("ETA"),
        "{quiet}"
    );
}
