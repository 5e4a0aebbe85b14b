//! Every setting key, once: its path, its environment name, its flag, its
//! default and its documentation. `config show`, `config init`, `.env.example`
//! and the error messages all read this table.

/// How a key's value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visibility {
    /// Shown as is.
    Plain,
    /// Shown as its first 4 characters (access key ids).
    Partial,
    /// Shown as set / unset only.
    Secret,
}

/// One setting.
#[derive(Debug, Clone, Copy)]
pub struct KeySpec {
    /// The dotted path in [`crate::Settings`] and in the TOML file: `cache.dir`.
    pub path: &'static str,
    /// The environment / `.env` variable: `NASDAQ_CACHE_DIR`.
    pub env: &'static str,
    /// The command-line flag that sets it, if any.
    pub flag: Option<&'static str>,
    /// The default, as written in `.env`; empty when unset by default.
    pub default: &'static str,
    /// What a valid value looks like, for error messages.
    pub expected: &'static str,
    /// How the value is shown.
    pub visibility: Visibility,
    /// The group in `.env.example`.
    pub group: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
}

const fn key(
    path: &'static str,
    env: &'static str,
    flag: Option<&'static str>,
    default: &'static str,
    expected: &'static str,
    group: &'static str,
    doc: &'static str,
) -> KeySpec {
    KeySpec {
        path,
        env,
        flag,
        default,
        expected,
        visibility: Visibility::Plain,
        group,
        doc,
    }
}

const fn hidden(spec: KeySpec, visibility: Visibility) -> KeySpec {
    KeySpec { visibility, ..spec }
}

const TEXT: &str = "a text value";
const BOOL: &str = "true or false";
const SECONDS: &str = "a whole number of seconds, 1 or more";
const COUNT: &str = "a whole number, 0 or more";
const POLICY: &str = "error, warn or drop";
const QUALITY: &str = "Data-quality rules (error, warn or drop)";

/// All keys, in the order `config show` and `.env.example` list them.
pub const KEYS: &[KeySpec] = &[
    // The Python loader's keys, exactly as its users' .env files spell them.
    key(
        "use_s3",
        "USE_S3",
        None,
        "",
        BOOL,
        "Data source (the Python loader's keys)",
        "Load from S3 (true) or from LOCAL_FALLBACK (false); unset: S3 when a bucket is set",
    ),
    key(
        "aws_s3_bucket_name",
        "AWS_S3_BUCKET_NAME",
        None,
        "",
        TEXT,
        "Data source (the Python loader's keys)",
        "The S3 bucket holding the data",
    ),
    key(
        "aws_s3_key",
        "AWS_S3_KEY",
        None,
        "NASDAQ.csv",
        TEXT,
        "Data source (the Python loader's keys)",
        "The object key (or prefix ending in /) in the bucket",
    ),
    key(
        "local_fallback",
        "LOCAL_FALLBACK",
        None,
        "NASDAQ.csv",
        TEXT,
        "Data source (the Python loader's keys)",
        "Local file used when USE_S3=false, and when S3 fails",
    ),
    key(
        "aws_region",
        "AWS_REGION",
        Some("--region"),
        "us-east-1",
        TEXT,
        "AWS",
        "Region of the bucket; unset, the profile's `region`, else us-east-1",
    ),
    hidden(
        key(
            "aws_access_key_id",
            "AWS_ACCESS_KEY_ID",
            None,
            "",
            TEXT,
            "AWS",
            "Access key id (leave unset to use a profile or an IAM role)",
        ),
        Visibility::Partial,
    ),
    hidden(
        key(
            "aws_secret_access_key",
            "AWS_SECRET_ACCESS_KEY",
            None,
            "",
            TEXT,
            "AWS",
            "Secret access key; keep .env private (chmod 600)",
        ),
        Visibility::Secret,
    ),
    hidden(
        key(
            "aws_session_token",
            "AWS_SESSION_TOKEN",
            None,
            "",
            TEXT,
            "AWS",
            "Session token of temporary credentials",
        ),
        Visibility::Secret,
    ),
    key(
        "aws_profile",
        "AWS_PROFILE",
        Some("--profile"),
        "",
        TEXT,
        "AWS",
        "Profile in ~/.aws/credentials and ~/.aws/config",
    ),
    key(
        "aws_shared_credentials_file",
        "AWS_SHARED_CREDENTIALS_FILE",
        None,
        "",
        TEXT,
        "AWS",
        "Shared credentials file (default ~/.aws/credentials)",
    ),
    key(
        "aws_config_file",
        "AWS_CONFIG_FILE",
        None,
        "",
        TEXT,
        "AWS",
        "Shared config file (default ~/.aws/config)",
    ),
    key(
        "aws_endpoint_url",
        "AWS_ENDPOINT_URL",
        Some("--endpoint"),
        "",
        TEXT,
        "AWS",
        "Endpoint of an S3-compatible store (MinIO, Ceph, moto); path-style addressing",
    ),
    key(
        "aws_allow_http",
        "AWS_ALLOW_HTTP",
        Some("--allow-http"),
        "false",
        BOOL,
        "AWS",
        "Allow a plain-http endpoint",
    ),
    key(
        "no_sign_request",
        "NASDAQ_NO_SIGN_REQUEST",
        Some("--no-sign-request"),
        "false",
        BOOL,
        "AWS",
        "Anonymous access to a public bucket",
    ),
    key(
        "cache.enabled",
        "NASDAQ_CACHE_ENABLED",
        None,
        "true",
        BOOL,
        "Cache",
        "Keep downloaded objects and parsed tables in the disk cache",
    ),
    key(
        "cache.dir",
        "NASDAQ_CACHE_DIR",
        Some("--cache-dir"),
        "",
        TEXT,
        "Cache",
        "Cache directory (default: the user cache directory, .../nasdaq-data)",
    ),
    key(
        "retry.max_retries",
        "NASDAQ_RETRY_MAX_RETRIES",
        Some("--max-retries"),
        "3",
        COUNT,
        "Retries and timeouts",
        "Retries of a failed request",
    ),
    key(
        "retry.timeout_secs",
        "NASDAQ_RETRY_TIMEOUT_SECS",
        None,
        "30",
        SECONDS,
        "Retries and timeouts",
        "Give up retrying after this long",
    ),
    key(
        "retry.backoff_ms",
        "NASDAQ_RETRY_BACKOFF_MS",
        None,
        "100",
        "a whole number of milliseconds",
        "Retries and timeouts",
        "First backoff between retries (doubles each time)",
    ),
    key(
        "timeout.connect_secs",
        "NASDAQ_TIMEOUT_CONNECT_SECS",
        None,
        "5",
        SECONDS,
        "Retries and timeouts",
        "Time allowed to connect",
    ),
    key(
        "timeout.request_secs",
        "NASDAQ_TIMEOUT_SECS",
        Some("--timeout"),
        "60",
        SECONDS,
        "Retries and timeouts",
        "Time allowed for one request, body included",
    ),
    key(
        "output.compression",
        "NASDAQ_OUTPUT_COMPRESSION",
        None,
        "zstd",
        "zstd, snappy or none",
        "Output",
        "Parquet compression",
    ),
    key(
        "output.zstd_level",
        "NASDAQ_OUTPUT_ZSTD_LEVEL",
        None,
        "3",
        "a whole number from 1 to 22",
        "Output",
        "Parquet zstd level: 1 fastest, 22 smallest",
    ),
    key(
        "secondary.bucket",
        "NASDAQ_SECONDARY_BUCKET",
        None,
        "",
        TEXT,
        "Fallback chain: S3, then a secondary, then LOCAL_FALLBACK",
        "A replica bucket tried when the primary fails",
    ),
    key(
        "secondary.key",
        "NASDAQ_SECONDARY_KEY",
        None,
        "",
        TEXT,
        "Fallback chain: S3, then a secondary, then LOCAL_FALLBACK",
        "Its key (default: AWS_S3_KEY)",
    ),
    key(
        "secondary.region",
        "NASDAQ_SECONDARY_REGION",
        None,
        "",
        TEXT,
        "Fallback chain: S3, then a secondary, then LOCAL_FALLBACK",
        "Its region (default: AWS_REGION)",
    ),
    key(
        "secondary.endpoint_url",
        "NASDAQ_SECONDARY_ENDPOINT_URL",
        None,
        "",
        TEXT,
        "Fallback chain: S3, then a secondary, then LOCAL_FALLBACK",
        "Its endpoint (default: AWS_ENDPOINT_URL)",
    ),
    key(
        "max_decompressed_bytes",
        "NASDAQ_MAX_DECOMPRESSED_BYTES",
        None,
        "17179869184",
        COUNT,
        "Output",
        "Cap on the decoded size of a .gz / .zst object (decompression bombs)",
    ),
    key(
        "quality.ohlc_consistent",
        "NASDAQ_QUALITY_OHLC_CONSISTENT",
        None,
        "warn",
        POLICY,
        QUALITY,
        "high >= max(open, close), low <= min(open, close), low <= high",
    ),
    key(
        "quality.positive_prices",
        "NASDAQ_QUALITY_POSITIVE_PRICES",
        None,
        "warn",
        POLICY,
        QUALITY,
        "prices > 0",
    ),
    key(
        "quality.volume_non_negative",
        "NASDAQ_QUALITY_VOLUME_NON_NEGATIVE",
        None,
        "warn",
        POLICY,
        QUALITY,
        "volume >= 0",
    ),
    key(
        "quality.unique_bar",
        "NASDAQ_QUALITY_UNIQUE_BAR",
        None,
        "error",
        POLICY,
        QUALITY,
        "no duplicate (date, ticker); drop keeps the first",
    ),
    key(
        "quality.future_date",
        "NASDAQ_QUALITY_FUTURE_DATE",
        None,
        "warn",
        POLICY,
        QUALITY,
        "no date after today",
    ),
    key(
        "quality.price_jump",
        "NASDAQ_QUALITY_PRICE_JUMP",
        None,
        "warn",
        POLICY,
        QUALITY,
        "no ~100x jump between consecutive closes unless the adjusted close absorbs it",
    ),
    key(
        "quality.missing_sessions",
        "NASDAQ_QUALITY_MISSING_SESSIONS",
        None,
        "warn",
        POLICY,
        QUALITY,
        "no NASDAQ session missing between a ticker's first and last bar",
    ),
];

/// The spec of a dotted path.
pub fn by_path(path: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.path == path)
}

/// The spec of an environment variable name.
pub fn by_env(name: &str) -> Option<&'static KeySpec> {
    KEYS.iter().find(|k| k.env == name)
}

/// Whether any key is a secret that a file should not show to others.
pub fn is_secret_env(name: &str) -> bool {
    by_env(name).is_some_and(|k| k.visibility == Visibility::Secret)
}

/// A value as it may be shown: secrets as set/unset, key ids shortened.
pub fn redact(spec: &KeySpec, value: &str) -> String {
    match spec.visibility {
        Visibility::Plain => nasdaq_storage::redact_url(value),
        Visibility::Partial => {
            let shown: String = value.chars().take(4).collect();
            format!("{shown}… (set)")
        }
        Visibility::Secret => "(set)".to_owned(),
    }
}

/// The commented `.env` template: every key, grouped, with its default.
pub fn env_template() -> String {
    let mut out = String::from(
        "# nasdaq-data settings. Every key is optional; defaults are shown.\n\
         # Precedence: flags > environment > this .env > nasdaq.toml > defaults.\n\
         # This file may hold secrets: keep it private (chmod 600) and out of git.\n",
    );
    let mut group = "";
    for key in KEYS {
        if key.group != group {
            group = key.group;
            out.push_str(&format!("\n# --- {group} ---\n"));
        }
        out.push_str(&format!("# {}", key.doc));
        if let Some(flag) = key.flag {
            out.push_str(&format!(" (flag {flag})"));
        }
        out.push('\n');
        out.push_str(&format!("# {}={}\n", key.env, key.default));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, a) in KEYS.iter().enumerate() {
            for b in &KEYS[i + 1..] {
                assert_ne!(a.path, b.path);
                assert_ne!(a.env, b.env);
            }
        }
    }

    #[test]
    fn redaction_never_shows_a_secret() {
        let secret = by_env("AWS_SECRET_ACCESS_KEY").unwrap();
        assert_eq!(redact(secret, "wJalrXUtnFEMI/K7MDENG"), "(set)");
        let id = by_env("AWS_ACCESS_KEY_ID").unwrap();
        assert_eq!(redact(id, "AKIAIOSFODNN7EXAMPLE"), "AKIA… (set)");
    }

    #[test]
    fn the_repository_env_example_is_the_template() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.env.example");
        let file = std::fs::read_to_string(path).unwrap();
        assert!(
            file == env_template(),
            ".env.example is out of date: run `nasdaq-cli config init --stdout > .env.example`"
        );
    }
}
