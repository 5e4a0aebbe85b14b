//! `nasdaq-cli`: load daily NASDAQ bars into Arrow, Parquet or CSV.

mod args;
mod cache;
mod check;
mod config;
mod exit;
mod fetch;
mod hints;
mod load;
mod ls;
mod progress;
mod setup;
mod upload;
mod validate;
mod watch;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};

use crate::args::{Cli, Command};
use crate::exit::Exit;

/// mimalloc: loads allocate and free hundreds of MB in large blocks. On the
/// benchmark file, system time per load went from 1.28 s (one run, system
/// allocator) to 0.46-1.10 s (five runs); wall time differences stayed within noise.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Whether the command encodes a file, for the allocator
/// ([`nasdaq_data::memory::purge_freed_memory`]).
fn purge_freed_memory(command: &Command) {
    let encodes = match command {
        Command::Fetch(args) => args.output.is_some(),
        Command::Watch(_) => true,
        _ => false,
    };
    nasdaq_data::memory::purge_freed_memory(encodes);
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    purge_freed_memory(&cli.command);
    init_logging(cli.global.verbose, cli.global.quiet);
    // Generated text needs no runtime (and no configuration).
    match &cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                *shell,
                &mut Cli::command(),
                "nasdaq-cli",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Command::Man => return man_page(),
        _ => {}
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return Exit::Other.into();
        }
    };
    if let Command::Setup(args) = cli.command {
        // The wizard waits on the terminal, not on futures: it runs here and
        // uses the runtime for its network steps.
        let outcome = setup::run(&runtime, &cli.global, args);
        return finish(outcome);
    }
    // `watch` takes the signals itself: for it they are the way to stop.
    let watching = matches!(cli.command, Command::Watch(_));
    let outcome = runtime.block_on(async {
        if watching {
            return Ok(run(cli).await);
        }
        tokio::select! {
            outcome = run(cli) => Ok(outcome),
            signal = interrupted() => Err(signal),
        }
    });
    {
        // An interrupted or failed multipart upload is being aborted on the
        // server, unfinished dataset files removed (nothing to wait for
        // when none was started).
        runtime.block_on(nasdaq_storage::cleanup::finish(
            std::time::Duration::from_secs(10),
        ));
    }
    // Dropping the runtime waits for blocking work (a write being encoded),
    // which stops at its cancel flag and removes its temporary file.
    drop(runtime);
    match outcome {
        Ok(outcome) => finish(outcome),
        Err(signal) => {
            eprintln!("interrupted by {}: nothing was written", signal.name);
            signal.exit.into()
        }
    }
}

/// Prints a failure and picks its exit code.
fn finish(outcome: anyhow::Result<ExitCode>) -> ExitCode {
    match outcome {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {}", hints::render(&err));
            exit::classify(&err).into()
        }
    }
}

/// `nasdaq-cli man`: the roff page, with the exit codes as their own section.
fn man_page() -> ExitCode {
    let command = Cli::command();
    let man = clap_mangen::Man::new(command.clone());
    let mut page = Vec::new();
    let rendered = (|| {
        man.render_title(&mut page)?;
        man.render_name_section(&mut page)?;
        man.render_synopsis_section(&mut page)?;
        man.render_description_section(&mut page)?;
        man.render_options_section(&mut page)?;
        man.render_subcommands_section(&mut page)?;
        page.extend_from_slice(b".SH \"EXIT STATUS\"\n");
        page.extend_from_slice(b".TP\n0\nsuccess\n");
        for code in exit::ALL {
            page.extend_from_slice(
                format!(".TP\n{}\n{}\n", code.code(), code.meaning()).as_bytes(),
            );
        }
        man.render_version_section(&mut page)?;
        std::io::Write::write_all(&mut std::io::stdout(), &page)
    })();
    match rendered {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: cannot write the man page: {err}");
            Exit::Other.into()
        }
    }
}

/// A signal that stops the command.
pub(crate) struct Stop {
    /// The signal's name.
    pub(crate) name: &'static str,
    /// Its exit code: 128 + the signal number, as shells report it.
    pub(crate) exit: Exit,
}

/// Waits for SIGINT (Ctrl-C) or SIGTERM. When it comes, the command's future
/// is dropped: downloads and writes in progress remove their temporary files
/// on the way out, and no partial file is put in place.
pub(crate) async fn interrupted() -> Stop {
    Signals::listen().next().await
}

/// SIGINT and SIGTERM handlers, installed when this is made (inside the
/// runtime): from then on neither signal kills the process by default.
pub(crate) struct Signals {
    handlers: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    /// Installs the handlers; needs the runtime's context.
    pub(crate) fn listen() -> Self {
        use tokio::signal::unix::{SignalKind, signal};
        let handlers = match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(int), Ok(term)) => Some((int, term)),
            // Without handlers the default action (exit) applies.
            _ => None,
        };
        Self { handlers }
    }

    /// The next signal; never resolves without handlers.
    pub(crate) async fn next(&mut self) -> Stop {
        let Some((int, term)) = &mut self.handlers else {
            return std::future::pending().await;
        };
        // SIGTERM first: a terminal read it interrupts makes the console
        // crate raise SIGINT too, and the signal that was sent must win.
        tokio::select! {
            biased;
            _ = term.recv() => Stop { name: "SIGTERM", exit: Exit::Terminated },
            _ = int.recv() => Stop { name: "SIGINT", exit: Exit::Interrupted },
        }
    }
}

/// Dispatches to the subcommand.
async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Fetch(args) => fetch::run(&cli.global, args).await,
        Command::Watch(args) => watch::run(&cli.global, args).await,
        Command::Validate(args) => validate::run(&cli.global, args).await,
        Command::Ls(args) => ls::run(&cli.global, args).await,
        Command::Check(args) => check::run(&cli.global, args).await,
        Command::Upload(args) => upload::run(&cli.global, args).await,
        Command::Config(command) => config::run(&cli.global, command),
        Command::Cache(command) => cache::run(&cli.global, command),
        // Handled before the runtime starts.
        Command::Setup(_) | Command::Completions { .. } | Command::Man => Ok(ExitCode::SUCCESS),
    }
}

/// Logs go to stderr; `-v` raises the level of our own crates, `RUST_LOG`
/// overrides it. Other crates stay at `warn`: the HTTP stack's debug and
/// trace lines print request URLs whole, passwords in them included.
/// Crates whose trace output can hold secrets.
const SDK_TRACE_CAPPED: &[&str] = &[
    "aws_smithy_runtime",
    "aws_smithy_runtime_api",
    "aws_smithy_http_client",
    "aws_config",
    "aws_runtime",
];

/// Colour only on a terminal, and never with NO_COLOR set (<https://no-color.org>).
pub(crate) fn colour() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let ours = [
        "nasdaq_cli",
        "nasdaq_data",
        "nasdaq_core",
        "nasdaq_storage",
        "nasdaq_config",
    ]
    .map(|target| format!(",{target}={level}"))
    .concat();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        let others = if quiet { "error" } else { "warn" };
        tracing_subscriber::EnvFilter::new(format!("{others}{ours}"))
    });
    // The AWS SDK's runtime prints its whole configuration at trace level,
    // the chains' variables included (a container token, an endpoint's
    // password): its trace events are dropped, whatever RUST_LOG says.
    let no_sdk_trace = tracing_subscriber::filter::filter_fn(|meta| {
        *meta.level() < tracing::Level::TRACE
            || !SDK_TRACE_CAPPED
                .iter()
                .any(|target| meta.target().starts_with(target))
    });
    use tracing_subscriber::prelude::*;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(colour())
                .with_target(false)
                .with_filter(filter)
                .with_filter(no_sdk_trace),
        )
        .try_init();
}
