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
    /// Read settings from this TOML file (default: ./nasdaq.toml if present) [env: NASDAQ_CONFIG].
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) config: Option<PathBuf>,
    /// Read variables from this file instead of ./.env [env: NASDAQ_ENV_FILE].
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) env_file: Option<PathBuf>,
    /// AWS region of the bucket [env: AWS_REGION].
    #[arg(long, global = true, value_name = "REGION")]
    pub(crate) region: Option<String>,
    /// Profile in ~/.aws/credentials and ~/.aws/config [env: AWS_PROFILE].
    #[arg(long, global = true, value_name = "NAME")]
    pub(crate) profile: Option<String>,
    /// Endpoint of an S3-compatible store, e.g. http://127.0.0.1:9000 [env: AWS_ENDPOINT_URL].
    #[arg(long, global = true, value_name = "URL")]
    pub(crate) endpoint: Option<String>,
    /// Allow a plain-http endpoint [env: AWS_ALLOW_HTTP].
    #[arg(long, global = true)]
    pub(crate) allow_http: bool,
    /// Send unsigned requests (public buckets) [env: NASDAQ_NO_SIGN_REQUEST].
    #[arg(long, global = true)]
    pub(crate) no_sign_request: bool,
    /// Cache directory [env: NASDAQ_CACHE_DIR].
    #[arg(long, global = true, value_name = "DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Retries of a failed request [env: NASDAQ_RETRY_MAX_RETRIES].
    #[arg(long, global = true, value_name = "N")]
    pub(crate) max_retries: Option<String>,
    /// Seconds allowed for one request [env: NASDAQ_TIMEOUT_SECS].
    #[arg(long, global = true, value_name = "SECONDS")]
    pub(crate) timeout: Option<String>,
}

impl GlobalArgs {
    /// The flags that set settings, by the setting's environment name.
    pub(crate) fn setting_flags(&self) -> Vec<(&'static str, String)> {
        let mut flags = Vec::new();
        let mut text = |env: &'static str, value: Option<String>| {
            if let Some(value) = value {
                flags.push((env, value));
            }
        };
        text("AWS_REGION", self.region.clone());
        text("AWS_PROFILE", self.profile.clone());
        text("AWS_ENDPOINT_URL", self.endpoint.clone());
        text("AWS_ALLOW_HTTP", self.allow_http.then(|| "true".to_owned()));
        text(
            "NASDAQ_NO_SIGN_REQUEST",
            self.no_sign_request.then(|| "true".to_owned()),
        );
        text(
            "NASDAQ_CACHE_DIR",
            self.cache_dir.as_ref().map(|p| p.display().to_string()),
        );
        text("NASDAQ_RETRY_MAX_RETRIES", self.max_retries.clone());
        text("NASDAQ_TIMEOUT_SECS", self.timeout.clone());
        flags
    }
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Load market data and print a summary, or write it to a file.
    Fetch(FetchArgs),
    /// Check data quality: per rule, the count and the first examples with file and line.
    Validate(ValidateArgs),
    /// List objects with size, last-modified and ETag.
    Ls(LsArgs),
    /// Test the connection: endpoint, region, credentials, list, head, ranged read.
    Check(CheckArgs),
    /// Upload a file to S3 (multipart when large), with its SHA-256 in the metadata.
    Upload(UploadArgs),
    /// Show or create the configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// List, verify or clear the disk cache of downloaded objects.
    #[command(subcommand)]
    Cache(CacheCommand),
}

/// `nasdaq-cli ls`.
#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// s3://BUCKET/PREFIX or a local directory; default: the configured bucket.
    pub(crate) location: Option<String>,
    /// One JSON array on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `nasdaq-cli check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// s3://BUCKET/KEY to check; default: AWS_S3_BUCKET_NAME and AWS_S3_KEY.
    pub(crate) target: Option<String>,
    /// One JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `nasdaq-cli upload`.
#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    /// The local file to upload.
    pub(crate) file: PathBuf,
    /// s3://BUCKET/KEY; default: AWS_S3_BUCKET_NAME and AWS_S3_KEY.
    pub(crate) target: Option<String>,
    /// Replace an object that has different content.
    #[arg(long)]
    pub(crate) force: bool,
    /// One JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `nasdaq-cli cache ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum CacheCommand {
    /// The cached objects: address, size, ETag, when fetched.
    Ls {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every entry; non-zero exit when one is unsound.
    Verify {
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Remove every entry.
    Clear,
}

/// `nasdaq-cli config ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum ConfigCommand {
    /// Every effective setting and where it came from (secrets as set/unset).
    Show {
        /// One JSON object on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Write a commented .env (mode 0600) with every key; never overwrites one.
    Init {
        /// Where to write it.
        #[arg(long, value_name = "PATH", default_value = ".env")]
        path: PathBuf,
        /// Print the template on stdout instead of writing a file.
        #[arg(long, conflicts_with = "path")]
        stdout: bool,
    },
}

/// What to load and how: shared by `fetch` and `validate`.
#[derive(Debug, Args)]
pub(crate) struct LoadArgs {
    /// What to load: a file, a directory, file:// URL, s3://BUCKET/KEY or an
    /// s3://BUCKET/PREFIX/ (every matching object). Without it, the
    /// configured source, or else the bundled sample data set.
    pub(crate) source: Option<String>,
    /// With a directory or prefix: only files whose name matches, e.g. '*.csv'.
    #[arg(long, value_name = "PATTERN")]
    pub(crate) glob: Option<String>,
    /// Only these tickers (comma-separated).
    #[arg(long, value_name = "LIST", value_delimiter = ',')]
    pub(crate) tickers: Vec<String>,
    /// Only bars on or after this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub(crate) from: Option<chrono::NaiveDate>,
    /// Only bars on or before this date (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub(crate) to: Option<chrono::NaiveDate>,
    /// Read the file(s) as this dialect instead of detecting it: yfinance,
    /// stooq-bulk, nasdaq-com, alpha-vantage, yahoo, stooq, long.
    #[arg(long, value_name = "NAME")]
    pub(crate) dialect: Option<String>,
    /// The ticker of a one-ticker file without a ticker column (default: from the file name).
    #[arg(long, value_name = "SYMBOL")]
    pub(crate) ticker: Option<String>,
    /// Only the primary source: no secondary bucket, no LOCAL_FALLBACK.
    #[arg(long, conflicts_with = "fallback")]
    pub(crate) no_fallback: bool,
    /// Make every data-quality rule an error (by default only a duplicate
    /// (date, ticker) is; the others are counted and reported).
    #[arg(long)]
    pub(crate) strict: bool,
    /// Let a SOURCE named here fall back to the secondary bucket and
    /// LOCAL_FALLBACK, as the configured source does.
    #[arg(long)]
    pub(crate) fallback: bool,
    /// Use the cached copy without any request (fails when not cached).
    #[arg(long, conflicts_with = "refresh")]
    pub(crate) offline: bool,
    /// Download again even when the cached copy is current.
    #[arg(long)]
    pub(crate) refresh: bool,
}

/// `nasdaq-cli fetch`.
#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// Write the table here; the extension picks the format:
    /// .parquet, .arrow / .ipc / .feather, or .csv.
    #[arg(short, long, value_name = "PATH")]
    pub(crate) output: Option<PathBuf>,
    /// Print the load report as one JSON object on stdout instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `nasdaq-cli validate`.
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// Write the rejected rows, with the rule, file and line of each, to this CSV.
    #[arg(long, value_name = "PATH")]
    pub(crate) rejects: Option<PathBuf>,
    /// Print the quality report as one JSON object on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}
