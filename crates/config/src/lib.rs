//! Settings for nasdaq-data: one typed [`Settings`] from layered sources, in
//! this order of precedence (later wins):
//!
//! 1. defaults;
//! 2. a TOML file: `./nasdaq.toml`, or the path in `--config` / `NASDAQ_CONFIG`;
//! 3. `.env` in the working directory, or `--env-file` / `NASDAQ_ENV_FILE`;
//! 4. the environment;
//! 5. command-line flags.
//!
//! The Python loader's keys (`AWS_S3_BUCKET_NAME`, `AWS_S3_KEY`, `AWS_REGION`,
//! `USE_S3`, `LOCAL_FALLBACK`, the AWS credentials) are accepted as they are;
//! our own keys are `NASDAQ_*`. Every value knows where it was set
//! ([`Configured::provenance`]); [`keys::KEYS`] lists them all.
//!
//! Library use follows figment's advice for library authors:
//!
//! ```
//! use figment::providers::Serialized;
//! use nasdaq_config::Settings;
//!
//! figment::Jail::expect_with(|jail| {
//!     jail.set_env("AWS_S3_BUCKET_NAME", "prices");
//!     // A service merges its own layer on top of the default layering.
//!     let figment = Settings::figment().unwrap()
//!         .merge(Serialized::default("aws_region", "eu-west-1"));
//!     let settings = Settings::extract(&figment).unwrap();
//!     assert_eq!(settings.aws_s3_bucket_name.as_deref(), Some("prices"));
//!     assert_eq!(settings.aws_region, "eu-west-1");
//!     Ok(())
//! });
//! ```

mod error;
pub mod keys;
mod layers;
mod open;
mod settings;
mod spec;

pub use error::{Error, Result};
pub use layers::read_env_file;
pub use settings::{
    CacheSettings, ConfigSources, Configured, DEFAULT_LOCAL_FALLBACK, DataSource, OutputSettings,
    OverridesFrom, Provenance, RetrySettings, SecondarySettings, Secret, Settings, TimeoutSettings,
    describe,
};
pub use spec::SourceSpec;
