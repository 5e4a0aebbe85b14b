//! The command line, as clap derive types. Flags are `Option`s: when given
//! they become the top configuration layer.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit::after_help;

/// `--version`: the release, the commit and the build date.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CLI_BUILD_COMMIT"),
    ", built ",
    env!("CLI_BUILD_DATE"),
    ")"
);

const MAIN_EXAMPLES: &str = "\
Examples:
  nasdaq-cli fetch                          load the bundled sample and preview it
  nasdaq-cli setup                          set up S3 access step by step
  nasdaq-cli fetch s3://my-bucket/NASDAQ.csv -o bars.parquet
  nasdaq-cli check                          test the connection to the configured object
  nasdaq-cli completions bash > ~/.local/share/bash-completion/completions/nasdaq-cli";

const FETCH_EXAMPLES: &str = "\
Examples:
  nasdaq-cli fetch                                   the configured source, or the bundled sample
  nasdaq-cli fetch NASDAQ.csv -o bars.parquet        a local file to Parquet
  nasdaq-cli fetch s3://my-bucket/NASDAQ.csv --json  the load report as JSON
  nasdaq-cli fetch s3://my-bucket/daily/ --glob '*.csv' --tickers AAPL,MSFT --from 2024-01-01
  nasdaq-cli fetch --offline                         the cached copy, no request
  nasdaq-cli fetch s3://my-bucket/raw/ -o s3://my-bucket/curated/ --partition-by year
  nasdaq-cli fetch s3://my-bucket/raw/ -o s3://my-bucket/curated/ --partition-by year --append
  nasdaq-cli fetch s3://my-bucket/curated/ --tickers AAPL --from 2024-01-01   read a dataset back";

const WATCH_EXAMPLES: &str = "\
Examples:
  nasdaq-cli watch s3://my-bucket/raw/ --output s3://my-bucket/curated/ --partition-by year
  nasdaq-cli watch ./incoming/ --glob '*.csv' --output ./dataset/ --every 5m
  nasdaq-cli watch s3://my-bucket/raw/ -o s3://my-bucket/curated/ --rounds 1   one round, for cron";

const VALIDATE_EXAMPLES: &str = "\
Examples:
  nasdaq-cli validate NASDAQ.csv
  nasdaq-cli validate s3://my-bucket/NASDAQ.csv --rejects rejected.csv
  nasdaq-cli validate --strict --json";

const LS_EXAMPLES: &str = "\
Examples:
  nasdaq-cli ls                           the configured bucket
  nasdaq-cli ls s3://my-bucket/daily/ --json
  nasdaq-cli ls ./data";

const CHECK_EXAMPLES: &str = "\
Examples:
  nasdaq-cli check                        the configured bucket and key
  nasdaq-cli check s3://my-bucket/NASDAQ.csv --profile analytics
  nasdaq-cli check --json";

const UPLOAD_EXAMPLES: &str = "\
Examples:
  nasdaq-cli upload NASDAQ.csv                         to AWS_S3_BUCKET_NAME / AWS_S3_KEY
  nasdaq-cli upload NASDAQ.csv s3://my-bucket/NASDAQ.csv
  nasdaq-cli upload NASDAQ.csv --force                 replace different content";

const SETUP_EXAMPLES: &str = "\
Examples:
  nasdaq-cli setup                        answer the questions
  nasdaq-cli setup --yes --storage s3 --bucket my-bucket --key NASDAQ.csv --region us-east-1 \\
      --auth profile --profile analytics
  nasdaq-cli setup --yes --storage local --local-file NASDAQ.csv
  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... nasdaq-cli setup --yes --storage s3 \\
      --bucket my-bucket --auth keys     (keys are read from the environment, never flags)";

const CONFIG_EXAMPLES: &str = "\
Examples:
  nasdaq-cli config show                  every setting and where it came from
  nasdaq-cli config init                  a commented .env to fill in";

const CACHE_EXAMPLES: &str = "\
Examples:
  nasdaq-cli cache ls
  nasdaq-cli cache verify --json
  nasdaq-cli cache clear";

const COMPLETIONS_EXAMPLES: &str = "\
Examples:
  nasdaq-cli completions bash > ~/.local/share/bash-completion/completions/nasdaq-cli
  nasdaq-cli completions zsh > ~/.zfunc/_nasdaq-cli
  nasdaq-cli completions fish > ~/.config/fish/completions/nasdaq-cli.fish
  nasdaq-cli completions powershell >> $PROFILE";

const MAN_EXAMPLES: &str = "\
Examples:
  nasdaq-cli man > ~/.local/share/man/man1/nasdaq-cli.1 && man nasdaq-cli";

/// Load daily NASDAQ market data (OHLCV bars) from S3 or local files into
/// Arrow, Parquet or CSV: verified, cached, and with a record of where every
/// row came from.
#[derive(Debug, Parser)]
#[command(
    name = "nasdaq-cli",
    version = VERSION,
    propagate_version = true,
    after_help = after_help(MAIN_EXAMPLES)
)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: GlobalArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "Global options")]
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
    #[command(after_help = after_help(FETCH_EXAMPLES))]
    Fetch(FetchArgs),
    /// Check data quality: per rule, the count and the first examples with file and line.
    #[command(after_help = after_help(VALIDATE_EXAMPLES))]
    Validate(ValidateArgs),
    /// Poll a source prefix and append what is new to a Parquet dataset.
    ///
    /// Each round runs `fetch SOURCE --output DATASET --append`: only
    /// source files the dataset's manifest has not seen are loaded. Stops
    /// cleanly on SIGINT or SIGTERM, between rounds or by dropping an
    /// unfinished round (nothing of it is committed).
    #[command(after_help = after_help(WATCH_EXAMPLES))]
    Watch(WatchArgs),
    /// List objects with size, last-modified and ETag.
    #[command(after_help = after_help(LS_EXAMPLES))]
    Ls(LsArgs),
    /// Test the connection: endpoint, region, credentials, list, head, ranged read.
    #[command(after_help = after_help(CHECK_EXAMPLES))]
    Check(CheckArgs),
    /// Upload a file to S3 (multipart when large), with its SHA-256 in the metadata.
    #[command(after_help = after_help(UPLOAD_EXAMPLES))]
    Upload(UploadArgs),
    /// Set up step by step: storage, sign-in, .env, test, upload, verify.
    ///
    /// Asks where the data lives and how to sign in, writes .env (mode 600,
    /// after confirmation), runs the connection test, offers to upload the
    /// local file when the object is missing, and ends with a verification
    /// load. Every step can be skipped; --yes takes the answers from flags.
    #[command(after_help = after_help(SETUP_EXAMPLES))]
    Setup(SetupArgs),
    /// Show or create the configuration.
    #[command(subcommand, after_help = after_help(CONFIG_EXAMPLES))]
    Config(ConfigCommand),
    /// List, verify or clear the disk cache of downloaded objects.
    #[command(subcommand, after_help = after_help(CACHE_EXAMPLES))]
    Cache(CacheCommand),
    /// Print a shell completion script on stdout.
    #[command(after_help = after_help(COMPLETIONS_EXAMPLES))]
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff) on stdout.
    #[command(after_help = after_help(MAN_EXAMPLES))]
    Man,
}

/// Where the data lives, as `setup` asks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Storage {
    /// Amazon S3.
    S3,
    /// An S3-compatible store at --endpoint (MinIO, Ceph, R2, ...).
    Compatible,
    /// Local files only, no cloud account.
    Local,
}

/// How `setup` signs requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Auth {
    /// A profile in ~/.aws/config (static keys, SSO, a role to assume); --profile names it.
    Profile,
    /// Access keys stored in .env (read from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY with --yes).
    Keys,
    /// Whatever the AWS chain finds: an IAM role on EC2/ECS/Lambda, web identity, the environment.
    Role,
    /// Unsigned requests, for a public bucket.
    Public,
}

/// `nasdaq-cli setup`.
#[derive(Debug, Args)]
pub(crate) struct SetupArgs {
    /// Ask nothing: take every answer from the flags (for scripts). Without
    /// a terminal, setup needs it.
    #[arg(long, short = 'y')]
    pub(crate) yes: bool,
    /// Where the data lives.
    #[arg(long, value_enum)]
    pub(crate) storage: Option<Storage>,
    /// The S3 bucket.
    #[arg(long, value_name = "NAME")]
    pub(crate) bucket: Option<String>,
    /// The object key in the bucket (default NASDAQ.csv).
    #[arg(long, value_name = "KEY")]
    pub(crate) key: Option<String>,
    /// The local file: the source with --storage local, else the fallback
    /// when S3 fails and what is offered for upload (default ./NASDAQ.csv if present).
    #[arg(long, value_name = "PATH")]
    pub(crate) local_file: Option<PathBuf>,
    /// How requests are signed.
    #[arg(long, value_enum)]
    pub(crate) auth: Option<Auth>,
    /// With --yes: update keys in an existing .env (other lines are kept).
    #[arg(long)]
    pub(crate) update_env: bool,
    /// With --yes: upload the local file when the object does not exist.
    #[arg(long)]
    pub(crate) upload: bool,
    /// Skip the connection test.
    #[arg(long)]
    pub(crate) skip_check: bool,
    /// Skip the verification load.
    #[arg(long)]
    pub(crate) skip_verify: bool,
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
    /// The cached objects (address, size, ETag, when fetched) and parsed
    /// tables (size, rows, when stored, the objects parsed).
    Ls {
        /// One JSON object on stdout: `{"objects": [...], "tables": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every object and table; non-zero exit when one is unsound.
    Verify {
        /// One JSON object on stdout: `{"objects": [...], "tables": [...]}`.
        #[arg(long)]
        json: bool,
    },
    /// Remove every cached object and parsed table.
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
#[derive(Debug, Default, Args)]
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
    /// Read and parse the source again even when a cached copy or parsed table is current.
    #[arg(long)]
    pub(crate) refresh: bool,
}

/// `nasdaq-cli fetch`.
#[derive(Debug, Args)]
pub(crate) struct FetchArgs {
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// Write the table here: a path or s3://BUCKET/KEY, whose extension
    /// picks the format (.parquet, .arrow / .ipc / .feather, .csv); or a
    /// Parquet dataset (a folder, file:// or s3:// URL ending in /, or with
    /// --partition-by / --append).
    #[arg(short, long, value_name = "PATH|URL")]
    pub(crate) output: Option<PathBuf>,
    /// Print the load report as one JSON object on stdout instead of the summary.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) dataset: DatasetArgs,
}

/// How a Parquet dataset is written: shared by `fetch` and `watch`.
#[derive(Debug, Default, Args)]
#[command(next_help_heading = "Dataset options")]
pub(crate) struct DatasetArgs {
    /// Write a Hive-partitioned dataset at --output: year (year=2024/),
    /// month (year=2024/month=3/) or none.
    #[arg(long, value_enum, value_name = "LAYOUT", requires = "output")]
    pub(crate) partition_by: Option<PartitionBy>,
    /// Add to the dataset at --output: load only the source files its
    /// manifest has not seen (by ETag and SHA-256); a changed source file
    /// replaces the rows it contributed.
    #[arg(long, requires = "output")]
    pub(crate) append: bool,
    /// Close a dataset's part file at about this size, in MiB [default: 128].
    #[arg(long, value_name = "MIB", requires = "output", value_parser = clap::value_parser!(u32).range(1..=65536))]
    pub(crate) target_file_size: Option<u32>,
    /// Source files loaded at once when writing a dataset [default: 4].
    #[arg(long, value_name = "N", requires = "output", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) jobs: Option<u16>,
}

/// A dataset's folder layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum PartitionBy {
    /// All files in the dataset's folder.
    None,
    /// year=YYYY/.
    Year,
    /// year=YYYY/month=M/.
    Month,
}

impl PartitionBy {
    /// The library's name for it.
    pub(crate) fn layout(self) -> nasdaq_data::Partitioning {
        match self {
            Self::None => nasdaq_data::Partitioning::None,
            Self::Year => nasdaq_data::Partitioning::Year,
            Self::Month => nasdaq_data::Partitioning::Month,
        }
    }
}

/// `nasdaq-cli watch`.
#[derive(Debug, Args)]
pub(crate) struct WatchArgs {
    #[command(flatten)]
    pub(crate) load: LoadArgs,
    /// The dataset to append to: a folder, file:// or s3:// URL.
    #[arg(short, long, value_name = "URL")]
    pub(crate) output: PathBuf,
    /// How long to wait between two looks at the source, e.g. 30s, 5m, 1h.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub(crate) every: std::time::Duration,
    /// Stop after this many rounds (default: until SIGINT or SIGTERM).
    #[arg(long, value_name = "N")]
    pub(crate) rounds: Option<u64>,
    /// Print each round's report as one JSON object per line.
    #[arg(long)]
    pub(crate) json: bool,
    #[command(flatten)]
    pub(crate) dataset: DatasetArgs,
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
