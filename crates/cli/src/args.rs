//! The command line, as clap derive types. Flags are `Option`s: when given
//! they become the top configuration layer.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// Load daily NASDAQ market data (OHLCV bars) from S3 or local files into
/// Arrow, Parquet or CSV: verified, cached, and with a record of where every
/// row came from.
#[derive(Debug, Parser)]
#[command(name = "nasdaq-cli", version, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Args)]
pub(crate) struct GlobalArgs {
    /// More detail on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Only errors on stderr; no progress.
    #[arg(short, long, global = true)]
    pub(crate) quiet: bool,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Load market data and print a summary, or write it to a file.
    Fetch(FetchArgs),
}

/// `nasdaq-cli fetch`.
#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    /// What to load: a file path or file:// URL. Without it, the configured
    /// source, or else the bundled sample data set.
    pub(crate) source: Option<String>,
    /// Write the table here; the extension picks the format:
    /// .parquet, .arrow / .ipc / .feather, or .csv.
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Print the load report as one JSON object on stdout instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
}
