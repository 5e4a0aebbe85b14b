//! `nasdaq-cli setup` driven in a pseudo-terminal, as a newcomer runs it,
//! against moto's S3 server with authentication enforced.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::{Sandbox, stderr, stdout};
use nasdaq_testkit::S3TestServer;
use rexpect::session::{PtySession, spawn_command};

/// The bundled sample: a real file for the fallback and the upload.
const SAMPLE: &str = include_str!("../../../data/sample/NASDAQ.csv");
/// Seconds a prompt may take to appear (moto and the first load included).
const TIMEOUT_MS: u64 = 60_000;
const DOWN: &str = "\x1b[B";
const ENTER: &str = "\r";

/// One question and the keys that answer it.
struct Step {
    prompt: &'static str,
    answer: String,
}

fn step(prompt: &'static str, answer: impl Into<String>) -> Step {
    Step {
        prompt,
        answer: answer.into(),
    }
}

/// The wizard in a terminal, colourless so prompts read as plain text.
fn spawn(sandbox: &Sandbox) -> PtySession {
    let mut command: Command = sandbox.command();
    command
        .env("TERM", "xterm")
        .env("NO_COLOR", "1")
        .arg("setup");
    spawn_command(command, Some(TIMEOUT_MS)).expect("spawn setup in a pty")
}

/// The answers up to (not including) the `.env` confirmation, for an
/// S3-compatible store at `endpoint` signed with these keys.
fn questions(endpoint: &str, key_id: &str, secret: &str) -> Vec<Step> {
    vec![
        step("Where does the data live?", format!("{DOWN}{ENTER}")),
        step("S3 bucket", format!("market{ENTER}")),
        step("Object key in the bucket", ENTER),
        step("AWS region of the bucket", ENTER),
        step("Endpoint URL of the store", format!("{endpoint}{ENTER}")),
        step("Local CSV file to fall back to", ENTER),
        step("How should requests be signed?", format!("{DOWN}{ENTER}")),
        step("AWS access key id", format!("{key_id}{ENTER}")),
        step("AWS secret access key", format!("{secret}\n")),
    ]
}

fn answer(session: &mut PtySession, steps: &[Step]) -> String {
    let mut seen = String::new();
    for step in steps {
        seen.push_str(
            &session
                .exp_string(step.prompt)
                .unwrap_or_else(|err| panic!("waiting for {:?}: {err}\n{seen}", step.prompt)),
        );
        session.send(&step.answer).unwrap();
        session.flush().unwrap();
    }
    seen
}

/// Answers `steps`, then reads to the end: everything shown, and the exit code.
fn finish(session: &mut PtySession, steps: &[Step]) -> (String, i32) {
    let mut seen = answer(session, steps);
    seen += &session.exp_eof().unwrap();
    (seen, exit_code(session))
}

/// The exit code (or 128 + signal) of the wizard once it has ended.
fn exit_code(session: &PtySession) -> i32 {
    match session.process().wait().unwrap() {
        nix::sys::wait::WaitStatus::Exited(_, code) => code,
        nix::sys::wait::WaitStatus::Signaled(_, signal, _) => 128 + signal as i32,
        other => panic!("unexpected wait status {other:?}"),
    }
}

#[test]
fn a_newcomer_goes_from_an_empty_directory_to_a_verified_load() {
    let Some(server) = S3TestServer::start_with_auth(&["market"]) else {
        return;
    };
    let admin = server.user("admin").clone();
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    let mut steps = questions(&server.endpoint, &admin.key_id, &admin.secret);
    steps.extend([
        step("Write .env (mode 600)?", "y"),
        step("Run the connection test now?", "y"),
        step("does not exist yet. Upload NASDAQ.csv there now?", "y"),
        step("Run a verification load?", "y"),
    ]);
    let (seen, code) = finish(&mut spawn(&sandbox), &steps);
    assert_eq!(code, 0, "{seen}");

    // Each step said what it did.
    for needle in [
        "AWS_SECRET_ACCESS_KEY=(set)",
        "Wrote .env (mode 600).",
        "[ok  ] credentials",
        "[FAIL] head",
        "Uploaded NASDAQ.csv -> s3://market/NASDAQ.csv",
        "Served by the primary",
        "Next:",
    ] {
        assert!(seen.contains(needle), "{needle:?} missing from:\n{seen}");
    }
    assert!(
        seen.contains("Loaded ") && seen.contains("from s3://market/NASDAQ.csv"),
        "{seen}"
    );
    // The secret was typed without echo and never printed.
    assert!(!seen.contains(&admin.secret), "{seen}");

    let env = sandbox.path(".env");
    assert_eq!(
        std::fs::metadata(&env).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&env).unwrap();
    for line in [
        "USE_S3=true",
        "AWS_S3_BUCKET_NAME=market",
        "AWS_S3_KEY=NASDAQ.csv",
        "AWS_ALLOW_HTTP=true",
        "LOCAL_FALLBACK=NASDAQ.csv",
        &format!("AWS_ENDPOINT_URL={}", server.endpoint),
        &format!("AWS_ACCESS_KEY_ID={}", admin.key_id),
        &format!("AWS_SECRET_ACCESS_KEY={}", admin.secret),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "{line:?} not in .env:\n{text}"
        );
    }
    assert_eq!(sandbox.files(), [".cache", ".env", "NASDAQ.csv"]);

    // The .env alone now serves a plain `fetch` from S3.
    let out = sandbox
        .command()
        .args(["fetch", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["source"], "s3://market/NASDAQ.csv", "{report}");
    assert_eq!(report["served_by"], "primary", "{report}");
}

#[test]
fn ctrl_c_at_any_prompt_leaves_no_env_file() {
    let Some(server) = S3TestServer::start(&["market"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    let mut steps = questions(&server.endpoint, "AKIAEXAMPLEKEY00000", "typed-secret");
    steps.push(step("Write .env (mode 600)?", "y"));
    for stop_at in 0..steps.len() {
        let mut session = spawn(&sandbox);
        let mut seen = answer(&mut session, &steps[..stop_at]);
        seen += &session.exp_string(steps[stop_at].prompt).unwrap();
        session.send_control('c').unwrap();
        seen += &session.exp_eof().unwrap();
        assert_eq!(
            exit_code(&session),
            130,
            "Ctrl-C at {:?}:\n{seen}",
            steps[stop_at].prompt
        );
        assert!(
            seen.contains("nothing was written"),
            "at {:?}: {seen}",
            steps[stop_at].prompt
        );
        // No .env, no temporary file: only what was there before.
        assert_eq!(
            sandbox.files(),
            ["NASDAQ.csv"],
            "Ctrl-C at {:?}",
            steps[stop_at].prompt
        );
    }
}

#[test]
fn sigterm_at_a_prompt_exits_143_and_writes_nothing() {
    let sandbox = Sandbox::new();
    // Repeated: the interrupted terminal read makes the console crate raise
    // SIGINT as well, and the signal sent must be the one reported.
    for _ in 0..8 {
        let mut session = spawn(&sandbox);
        session.exp_string("Where does the data live?").unwrap();
        session
            .process_mut()
            .signal(nix::sys::signal::Signal::SIGTERM)
            .unwrap();
        let seen = session.exp_eof().unwrap();
        assert_eq!(exit_code(&session), 143, "{seen}");
        assert!(
            seen.contains("setup stopped by SIGTERM; nothing was written"),
            "{seen}"
        );
        assert!(sandbox.files().is_empty(), "{:?}", sandbox.files());
    }
}

#[test]
fn an_existing_env_is_kept_unless_the_user_confirms() {
    let Some(server) = S3TestServer::start(&["market"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);
    let mine = "# my settings\nAWS_REGION=eu-west-1\nMY_OWN_KEY=\"keep me\"  # mine\n";
    sandbox.write(".env", mine);
    let steps = |confirm: &str| {
        let mut steps = questions(&server.endpoint, "AKIAEXAMPLEKEY00000", "typed-secret");
        // The region question offers the .env's value; take it.
        steps.push(step("exists: update these keys in it", confirm.to_owned()));
        steps.push(step("Run the connection test now?", "n"));
        steps.push(step("Run a verification load?", "n"));
        steps
    };

    // Declined (and the default): the file is untouched.
    for confirm in ["n", ENTER] {
        let (seen, code) = finish(&mut spawn(&sandbox), &steps(confirm));
        assert_eq!(code, 0, "{seen}");
        assert_eq!(std::fs::read_to_string(sandbox.path(".env")).unwrap(), mine);
    }

    // Confirmed: the keys are updated in place, the rest kept.
    let (seen, code) = finish(&mut spawn(&sandbox), &steps("y"));
    assert_eq!(code, 0, "{seen}");
    let text = std::fs::read_to_string(sandbox.path(".env")).unwrap();
    assert!(
        text.starts_with("# my settings\nAWS_REGION=eu-west-1\nMY_OWN_KEY=\"keep me\"  # mine\n"),
        "{text}"
    );
    assert!(text.contains("AWS_S3_BUCKET_NAME=market\n"), "{text}");
    assert!(
        text.contains("AWS_SECRET_ACCESS_KEY=typed-secret\n"),
        "{text}"
    );
    assert_eq!(
        std::fs::metadata(sandbox.path(".env"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
}

#[test]
fn yes_runs_from_flags_without_a_terminal_and_keys_come_from_the_environment() {
    let Some(server) = S3TestServer::start(&["market"]) else {
        return;
    };
    let sandbox = Sandbox::new();
    sandbox.write("NASDAQ.csv", SAMPLE);

    // Without a terminal and without --yes it asks nothing and says how.
    let out = sandbox.command().arg("setup").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("setup --yes --storage s3"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sandbox.files(), ["NASDAQ.csv"]);

    // --auth keys never takes a secret from a flag: without the variables it refuses.
    let flags = [
        "setup",
        "--yes",
        "--storage",
        "compatible",
        "--endpoint",
        server.endpoint.as_str(),
        "--bucket",
        "market",
        "--auth",
        "keys",
        "--upload",
    ];
    let out = sandbox.command().args(flags).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("AWS_SECRET_ACCESS_KEY"),
        "{}",
        stderr(&out)
    );
    assert_eq!(sandbox.files(), ["NASDAQ.csv"]);

    let out = sandbox
        .command()
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY00000")
        .env("AWS_SECRET_ACCESS_KEY", "env-secret")
        .args(flags)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("Uploaded NASDAQ.csv -> s3://market/NASDAQ.csv"),
        "{text}"
    );
    assert!(text.contains("Served by the primary"), "{text}");
    assert!(!text.contains("env-secret"), "{text}");
    assert!(!stderr(&out).contains("env-secret"), "{}", stderr(&out));
    let env = std::fs::read_to_string(sandbox.path(".env")).unwrap();
    assert!(env.contains("AWS_SECRET_ACCESS_KEY=env-secret\n"), "{env}");

    // Run again: an existing .env is kept without --update-env.
    let local_only = |extra: &[&str]| {
        let mut args = vec![
            "setup",
            "--yes",
            "--storage",
            "local",
            "--local-file",
            "NASDAQ.csv",
        ];
        args.extend_from_slice(extra);
        sandbox.command().args(args).output().unwrap()
    };
    std::fs::write(sandbox.path(".env"), "AWS_REGION=eu-west-1\n").unwrap();
    let out = local_only(&[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("pass --update-env"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read_to_string(sandbox.path(".env")).unwrap(),
        "AWS_REGION=eu-west-1\n"
    );
    let out = local_only(&["--update-env"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let env = std::fs::read_to_string(sandbox.path(".env")).unwrap();
    assert!(
        env.starts_with("AWS_REGION=eu-west-1\n") && env.contains("USE_S3=false\n"),
        "{env}"
    );
    assert!(stdout(&out).contains("/NASDAQ.csv in "), "{}", stdout(&out));
}
