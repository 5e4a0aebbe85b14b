//! Who says what: the libraries describe a failure in their own terms; only
//! the CLI names its flags and commands, as hints added at its edge.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{Sandbox, stderr};

/// Every long flag and subcommand name that `nasdaq-cli --help` shows.
fn cli_vocabulary(sandbox: &Sandbox) -> (BTreeSet<String>, BTreeSet<String>) {
    let help = |args: &[&str]| {
        let output = sandbox.run(args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        common::stdout(&output)
    };
    let top = help(&["--help"]);
    let mut commands: BTreeSet<String> = BTreeSet::new();
    let mut in_commands = false;
    for line in top.lines() {
        if line.starts_with("Commands:") {
            in_commands = true;
            continue;
        }
        if in_commands {
            match line.split_whitespace().next() {
                Some(name) if line.starts_with("  ") && name != "help" => {
                    commands.insert(name.to_owned());
                }
                _ if line.trim().is_empty() => in_commands = false,
                _ => {}
            }
        }
    }
    assert!(
        commands.contains("fetch") && commands.contains("upload"),
        "{top}"
    );
    let mut flags = BTreeSet::new();
    let mut texts = vec![top];
    for command in &commands {
        texts.push(help(&[command, "--help"]));
    }
    for text in &texts {
        for word in text.split(|c: char| c.is_whitespace() || c == ',' || c == '=' || c == '[') {
            if let Some(name) = word.strip_prefix("--")
                && name.len() > 1
                && name.chars().all(|c| c.is_ascii_lowercase() || c == '-')
                && name != "help"
            {
                flags.insert(format!("--{name}"));
            }
        }
    }
    assert!(
        flags.contains("--ticker") && flags.contains("--force"),
        "{flags:?}"
    );
    (flags, commands)
}

/// The string literals of a Rust file outside comments and `#[cfg(test)]`
/// code, with the line each starts on. Strings may span lines (a `\` at a
/// line's end continues them); char literals such as `'"'` are skipped.
fn literals(source: &str) -> Vec<(usize, String)> {
    let code = match source.find("#[cfg(test)]") {
        Some(end) => &source[..end],
        None => source,
    };
    let chars: Vec<char> = code.chars().collect();
    let mut found = Vec::new();
    let (mut i, mut line) = (0, 1);
    while i < chars.len() {
        match chars[i] {
            '\n' => line += 1,
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '\'' if chars.get(i + 2) == Some(&'\'') => i += 2,
            '\'' if chars.get(i + 1) == Some(&'\\') && chars.get(i + 3) == Some(&'\'') => i += 3,
            '"' => {
                let start = line;
                let mut text = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    if chars[i] == '\\' && i + 1 < chars.len() {
                        text.push(chars[i]);
                        i += 1;
                        if chars[i] == '\n' {
                            line += 1;
                        }
                    }
                    text.push(chars[i]);
                    i += 1;
                }
                found.push((start, text));
            }
            _ => {}
        }
        i += 1;
    }
    found
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_library_message_names_a_cli_flag_or_command() {
    let sandbox = Sandbox::new();
    let (flags, commands) = cli_vocabulary(&sandbox);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    for library in ["core", "storage", "config", "data"] {
        rust_files(&root.join(library).join("src"), &mut files);
    }
    assert!(files.len() > 20, "found only {files:?}");
    let mut offences = Vec::new();
    for file in &files {
        let source = std::fs::read_to_string(file).unwrap();
        for (line, literal) in literals(&source) {
            // A literal that is just a flag is data (the key table's flag
            // column, provenance), not a message.
            if flags.contains(literal.as_str()) {
                continue;
            }
            let names_flag = flags.iter().any(|flag| {
                literal.match_indices(flag.as_str()).any(|(at, _)| {
                    let next = literal[at + flag.len()..].chars().next();
                    !next.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
                })
            });
            let names_command = literal.contains("nasdaq-cli")
                || commands.iter().any(|c| {
                    literal.contains(&format!("`{c} ")) || literal.contains(&format!("`{c}`"))
                });
            if names_flag || names_command {
                offences.push(format!("{}:{line}: {literal:?}", file.display()));
            }
        }
    }
    assert!(
        offences.is_empty(),
        "library messages naming the CLI:\n{}",
        offences.join("\n")
    );
}

#[test]
fn the_cli_adds_its_hints_to_library_errors() {
    let sandbox = Sandbox::new();
    // A one-ticker Stooq file with no ticker in its name or columns.
    sandbox.write(
        "daily_prices.csv",
        "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1,10\n",
    );
    let output = sandbox.run(&["fetch", "daily_prices.csv"]);
    assert!(!output.status.success());
    let err = stderr(&output);
    assert!(
        err.contains("no ticker column") && err.contains("--ticker SYMBOL"),
        "{err}"
    );

    let output = sandbox.run(&["fetch", "missing.csv"]);
    let err = stderr(&output);
    assert!(err.contains("missing.csv: no such file"), "{err}");
    assert!(
        err.contains("without a source to load the bundled sample"),
        "{err}"
    );

    let output = sandbox
        .command()
        .args(["ls", "s3://market/", "--endpoint", "http://127.0.0.1:1"])
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE000")
        .env("AWS_SECRET_ACCESS_KEY", "example-secret")
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(
        err.contains("AWS_ALLOW_HTTP=true") && err.contains("or pass --allow-http"),
        "{err}"
    );
    assert!(!err.contains("example-secret"), "{err}");

    let output = sandbox
        .command()
        .args(["fetch", "s3://market/NASDAQ.csv", "--no-fallback"])
        .args(["--endpoint", "http://127.0.0.1:1", "--allow-http"])
        .output()
        .unwrap();
    let err = stderr(&output);
    assert!(
        err.contains("no AWS credentials found")
            && err.contains("NASDAQ_NO_SIGN_REQUEST=true")
            && err.contains("pass --no-sign-request"),
        "{err}"
    );
}

#[test]
fn a_password_in_the_endpoint_is_never_printed() {
    let sandbox = Sandbox::new();
    let endpoint = "http://minio:hunter2secret@127.0.0.1:1";
    let runs: [&[&str]; 5] = [
        &["config", "show"],
        &["config", "show", "--json"],
        &["check", "s3://market/NASDAQ.csv", "--json"],
        &["fetch", "s3://market/NASDAQ.csv"],
        &[
            "-vvv",
            "fetch",
            "s3://market/NASDAQ.csv",
            "--allow-http",
            "--max-retries",
            "0",
        ],
    ];
    for args in runs {
        let out = sandbox
            .command()
            .args(args)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE000")
            .env("AWS_SECRET_ACCESS_KEY", "example-secret")
            .output()
            .unwrap();
        let all = format!("{}{}", common::stdout(&out), stderr(&out));
        assert!(!all.contains("hunter2"), "{args:?}: {all}");
        assert!(!all.contains("example-secret"), "{args:?}: {all}");
        assert!(
            all.contains("minio:***@127.0.0.1") || all.contains("plain http"),
            "{args:?}: {all}"
        );
    }
}
