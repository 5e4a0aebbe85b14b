//! The command-line conventions: completions and a man page that know every
//! command, `--version` with the commit and build date, examples, exit codes
//! and global options in every `--help`, colour only where it belongs, and
//! each documented exit code produced by the failure it documents.

mod common;

use std::collections::BTreeMap;
use std::process::Command;

use common::{Sandbox, stderr, stdout};

/// The subcommands `--help` lists.
fn subcommands(sandbox: &Sandbox) -> Vec<String> {
    let help = stdout(&sandbox.run(&["--help"]));
    let section = help
        .split("Commands:\n")
        .nth(1)
        .expect("a Commands section")
        .split("\n\n")
        .next()
        .unwrap();
    let names: Vec<String> = section
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    assert!(names.len() >= 10, "{help}");
    names
}

#[test]
fn completions_for_every_shell_and_the_man_page_know_every_command() {
    let sandbox = Sandbox::new();
    let commands = subcommands(&sandbox);
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = sandbox.run(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", stderr(&out));
        let script = stdout(&out);
        for command in &commands {
            assert!(has_word(&script, command), "{shell} lacks {command}");
        }
        assert!(
            script.contains("no-sign-request"),
            "{shell} lacks the global flags"
        );
    }
    // bash accepts the script it is given.
    let script = stdout(&sandbox.run(&["completions", "bash"]));
    let path = sandbox.write("complete.bash", &script);
    let out = Command::new("bash")
        .args(["-n", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    let out = sandbox.run(&["man"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let page = stdout(&out);
    assert!(
        page.starts_with(".ie") || page.contains(".TH nasdaq-cli"),
        "{page}"
    );
    for command in &commands {
        assert!(has_word(&page, command), "man page lacks {command}");
    }
    assert!(page.contains(".SH \"EXIT STATUS\""), "{page}");
    for code in documented_codes(&sandbox).keys() {
        assert!(
            page.contains(&format!(".TP\n{code}\n")),
            "man page lacks code {code}"
        );
    }
    // man(1) renders it, when it is installed.
    if Command::new("man").arg("--version").output().is_ok() {
        let path = sandbox.write("nasdaq-cli.1", &page);
        let out = Command::new("man")
            .args(["-l", path.to_str().unwrap()])
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("EXIT STATUS"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let sandbox = Sandbox::new();
    let version = stdout(&sandbox.run(&["--version"]));
    let rest = version
        .trim()
        .strip_prefix(concat!(
            "nasdaq-cli ",
            env!("CARGO_PKG_VERSION"),
            " (commit "
        ))
        .unwrap_or_else(|| panic!("{version}"));
    let (commit, date) = rest
        .strip_suffix(')')
        .and_then(|r| r.split_once(", built "))
        .unwrap_or_else(|| panic!("{version}"));
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    match head {
        Some(head) => assert_eq!(commit, head, "{version}"),
        None => assert_eq!(commit, "unknown"),
    }
    assert!(
        chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").is_ok(),
        "{version}"
    );
    // Every subcommand says the same.
    let out = sandbox.run(&["fetch", "--version"]);
    assert!(stdout(&out).contains(commit), "{}", stdout(&out));
}

#[test]
fn every_help_has_examples_exit_codes_and_a_global_options_heading() {
    let sandbox = Sandbox::new();
    let mut pages = vec![vec![]];
    for command in subcommands(&sandbox) {
        pages.push(vec![command]);
    }
    pages.push(vec!["config".into(), "show".into()]);
    for page in pages {
        let mut args: Vec<&str> = page.iter().map(String::as_str).collect();
        args.push("--help");
        let out = sandbox.run(&args);
        assert!(out.status.success(), "{args:?}");
        let help = stdout(&out);
        let global = help
            .split("Global options:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("{args:?} has no Global options heading:\n{help}"));
        assert!(
            global.contains("--region") && global.contains("--verbose"),
            "{help}"
        );
        if page.len() < 2 {
            assert!(
                help.contains("Examples:\n  nasdaq-cli"),
                "{args:?}:\n{help}"
            );
            assert!(help.contains("Exit codes:\n"), "{args:?}:\n{help}");
        }
    }
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color() {
    let sandbox = Sandbox::new();
    // Not a terminal: no escape codes in log lines.
    let out = sandbox.command().args(["-v", "fetch"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("INFO"), "{}", stderr(&out));
    assert!(!stderr(&out).contains('\x1b'), "{:?}", stderr(&out));

    let run_in_pty = |no_color: bool| {
        let mut command = sandbox.command();
        command.env("TERM", "xterm").args(["-v", "fetch", "--json"]);
        if no_color {
            command.env("NO_COLOR", "1");
        }
        let mut session = rexpect::session::spawn_command(command, Some(60_000)).unwrap();
        session.exp_eof().unwrap()
    };
    let coloured = run_in_pty(false);
    assert!(
        coloured.contains("INFO") && has_colour(&coloured),
        "{coloured:?}"
    );
    // The progress bar still redraws its line; nothing is coloured.
    let plain = run_in_pty(true);
    assert!(plain.contains("INFO"), "{plain:?}");
    assert!(!has_colour(&plain), "{plain:?}");
}

/// Whether `text` holds an SGR sequence (ESC [ ... m), the escape that colours.
fn has_colour(text: &str) -> bool {
    text.split("\x1b[").skip(1).any(|rest| {
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(rest.len());
        rest[end..].starts_with('m')
    })
}

/// Whether `word` occurs in `text` as a word of its own ("ls" is not in "else").
fn has_word(text: &str, word: &str) -> bool {
    text.match_indices(word).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + word.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric())
            && !after.is_some_and(|c| c.is_ascii_alphanumeric())
    })
}

/// The codes and meanings `--help` documents.
fn documented_codes(sandbox: &Sandbox) -> BTreeMap<i32, String> {
    let help = stdout(&sandbox.run(&["--help"]));
    let table = help
        .split("Exit codes:\n")
        .nth(1)
        .expect("an exit code table");
    table
        .lines()
        .filter_map(|line| {
            let (code, meaning) = line.trim().split_once("  ")?;
            Some((code.parse().ok()?, meaning.trim().to_owned()))
        })
        .collect()
}

#[test]
fn each_documented_exit_code_comes_from_the_failure_it_documents() {
    let sandbox = Sandbox::new();
    sandbox.write(
        "bad.csv",
        "Date,Ticker,Open,High,Low,Close,Volume\n2024-01-02,AAPL,1,x,1,1,10\n",
    );
    let codes = documented_codes(&sandbox);
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut command = sandbox.command();
        command.args(args);
        for (k, v) in env {
            command.env(k, v);
        }
        command.output().unwrap()
    };
    let mut produced = BTreeMap::new();
    let mut expect = |code: i32, what: &str, out: std::process::Output| {
        assert_eq!(out.status.code(), Some(code), "{what}: {}", stderr(&out));
        produced.insert(code, what.to_owned());
    };
    expect(0, "the bundled sample", run(&["fetch"], &[]));
    expect(
        1,
        "an output in a directory that does not exist",
        run(&["fetch", "-o", "no/such/dir/x.parquet"], &[]),
    );
    expect(2, "an unknown flag", run(&["fetch", "--no-such-flag"], &[]));
    expect(3, "a malformed value", run(&["fetch", "bad.csv"], &[]));
    expect(
        4,
        "a source that does not exist",
        run(&["fetch", "missing.csv"], &[]),
    );
    expect(
        5,
        "a setting with a bad value",
        run(&["fetch"], &[("NASDAQ_TIMEOUT_SECS", "soon")]),
    );
    // 130 and 143 come from signals: tests/interrupt.rs (fetch) and
    // tests/setup.rs (the wizard) send them; here, the same through a pty.
    for (signal, code) in [
        (nix::sys::signal::Signal::SIGINT, 130),
        (nix::sys::signal::Signal::SIGTERM, 143),
    ] {
        let mut command = sandbox.command();
        command
            .env("TERM", "xterm")
            .env("NO_COLOR", "1")
            .arg("setup");
        let mut session = rexpect::session::spawn_command(command, Some(60_000)).unwrap();
        session.exp_string("Where does the data live?").unwrap();
        session.process_mut().signal(signal).unwrap();
        let seen = session.exp_eof().unwrap();
        let status = session.process().wait().unwrap();
        assert!(
            matches!(status, nix::sys::wait::WaitStatus::Exited(_, c) if c == code),
            "{signal}: {status:?}: {seen}"
        );
        produced.insert(code, format!("{signal}"));
    }
    let documented: Vec<i32> = codes.keys().copied().collect();
    let tested: Vec<i32> = produced.keys().copied().collect();
    assert_eq!(
        documented, tested,
        "documented {codes:?}, produced {produced:?}"
    );
}
