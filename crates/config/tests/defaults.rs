//! The defaults live in three places: the key table (what `.env.example` and
//! `config show` document), `Settings::default()` (what a load uses) and
//! `S3SourceBuilder::new` (what a library user of the storage crate gets).
//! These tests keep them in step.

use std::time::Duration;

use figment::Figment;
use figment::value::Value;
use nasdaq_config::keys::{KEYS, KeySpec, by_path};
use nasdaq_config::{DEFAULT_LOCAL_FALLBACK, Settings};
use nasdaq_storage::S3SourceBuilder;

/// `Settings::default()` at `path`, written as the key table writes
/// defaults; `None` when the default leaves the key unset.
fn settings_default(figment: &Figment, path: &str) -> Option<String> {
    match figment.find_value(path).ok()? {
        Value::Empty(..) => None,
        Value::String(_, text) => Some(text),
        other => Some(serde_json::to_string(&other).unwrap()),
    }
}

#[test]
fn the_key_table_documents_the_defaults_a_load_uses() {
    let figment = Figment::from(Settings::default());
    for spec in KEYS {
        let actual = match spec.path {
            // Unset in `Settings` so that "set anywhere?" stays answerable;
            // `Settings::local_fallback()` supplies the default.
            "local_fallback" => {
                assert_eq!(settings_default(&figment, spec.path), None);
                assert_eq!(
                    Settings::default().local_fallback(),
                    std::path::Path::new(DEFAULT_LOCAL_FALLBACK)
                );
                Some(DEFAULT_LOCAL_FALLBACK.to_owned())
            }
            path => settings_default(&figment, path),
        };
        let documented = Some(spec.default).filter(|d| !d.is_empty());
        assert_eq!(
            documented.map(str::to_owned),
            actual,
            "{}: the key table's default differs from Settings::default()",
            spec.env
        );
    }
}

#[test]
fn the_s3_builder_defaults_to_the_documented_values() {
    let builder = S3SourceBuilder::new("b");
    let secs = |d: Duration| d.as_secs().to_string();
    let pairs: [(&str, String); 7] = [
        (
            "aws_region",
            builder
                .region()
                .unwrap_or(nasdaq_storage::DEFAULT_REGION)
                .to_owned(),
        ),
        ("aws_allow_http", builder.allow_http().to_string()),
        ("retry.max_retries", builder.max_retries().to_string()),
        ("retry.timeout_secs", secs(builder.retry_timeout())),
        (
            "retry.backoff_ms",
            builder.backoff().as_millis().to_string(),
        ),
        ("timeout.connect_secs", secs(builder.connect_timeout())),
        ("timeout.request_secs", secs(builder.request_timeout())),
    ];
    for (path, built) in pairs {
        let spec: &KeySpec = by_path(path).unwrap();
        assert_eq!(
            spec.default, built,
            "{}: S3SourceBuilder::new defaults differ from the key table",
            spec.env
        );
    }
}
