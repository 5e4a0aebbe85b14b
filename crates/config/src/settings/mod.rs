//! The settings and their layering: defaults < config file < .env <
//! environment < flags, each value remembering where it was set.
//!
//! [`types`] holds what the settings are, [`layering`] how they are read,
//! [`provenance`] where each value came from.

mod layering;
mod provenance;
mod types;

pub use layering::{ConfigSources, Configured, OverridesFrom};
pub(crate) use provenance::value_text;
pub use provenance::{Provenance, describe};
pub use types::{
    CacheSettings, DEFAULT_LOCAL_FALLBACK, DataSource, OutputSettings, RetrySettings,
    SecondarySettings, Secret, Settings, TimeoutSettings,
};
