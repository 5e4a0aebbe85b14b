//! Layer precedence, provenance and error messages of the settings.

#![allow(
    clippy::result_large_err,
    reason = "the closure type of figment::Jail is fixed by figment"
)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use nasdaq_config::keys::by_env;
use nasdaq_config::{ConfigSources, Configured, DataSource, Error, Provenance, Settings};

fn sources(dir: &Path, env: &[(&str, &str)]) -> ConfigSources {
    ConfigSources {
        cwd: dir.to_owned(),
        environment: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        ..ConfigSources::default()
    }
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

fn origin(configured: &Configured, env: &str) -> String {
    configured.provenance(by_env(env).unwrap()).to_string()
}

#[test]
fn defaults_apply_when_nothing_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let c = Settings::load(&sources(dir.path(), &[])).unwrap();
    assert_eq!(c.settings.aws_region, "us-east-1");
    assert_eq!(c.settings.aws_s3_key, "NASDAQ.csv");
    assert_eq!(c.settings.local_fallback(), Path::new("NASDAQ.csv"));
    assert_eq!(c.settings.retry.max_retries, 3);
    assert_eq!(c.settings.data_source().unwrap(), DataSource::Sample);
    assert_eq!(origin(&c, "AWS_REGION"), "default");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn config_file_beats_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "nasdaq.toml",
        "aws_region = \"eu-west-1\"\n[retry]\nmax_retries = 7\n",
    );
    let c = Settings::load(&sources(dir.path(), &[])).unwrap();
    assert_eq!(c.settings.aws_region, "eu-west-1");
    assert_eq!(c.settings.retry.max_retries, 7);
    assert_eq!(origin(&c, "AWS_REGION"), file.display().to_string());
    assert_eq!(
        origin(&c, "NASDAQ_RETRY_MAX_RETRIES"),
        file.display().to_string()
    );
}

#[test]
fn dotenv_beats_config_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "nasdaq.toml", "aws_region = \"eu-west-1\"\n");
    let env_file = write(dir.path(), ".env", "AWS_REGION=ap-south-1\n");
    let c = Settings::load(&sources(dir.path(), &[])).unwrap();
    assert_eq!(c.settings.aws_region, "ap-south-1");
    assert_eq!(
        origin(&c, "AWS_REGION"),
        format!(".env ({})", env_file.display())
    );
}

#[test]
fn environment_beats_dotenv_and_dotenv_never_overrides_it() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".env",
        "AWS_REGION=ap-south-1\nAWS_S3_KEY=from-dotenv.csv\n",
    );
    let c = Settings::load(&sources(dir.path(), &[("AWS_REGION", "us-west-2")])).unwrap();
    assert_eq!(c.settings.aws_region, "us-west-2");
    assert_eq!(origin(&c, "AWS_REGION"), "environment AWS_REGION");
    // Keys the environment does not set still come from .env.
    assert_eq!(c.settings.aws_s3_key, "from-dotenv.csv");
}

#[test]
fn flags_beat_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = sources(
        dir.path(),
        &[("AWS_REGION", "us-west-2"), ("NASDAQ_TIMEOUT_SECS", "10")],
    );
    s.flags = vec![
        ("AWS_REGION", "eu-central-1".to_owned()),
        ("NASDAQ_TIMEOUT_SECS", "3".to_owned()),
    ];
    let c = Settings::load(&s).unwrap();
    assert_eq!(c.settings.aws_region, "eu-central-1");
    assert_eq!(c.settings.timeout.request_secs, 3);
    assert_eq!(origin(&c, "AWS_REGION"), "flag --region");
    assert_eq!(origin(&c, "NASDAQ_TIMEOUT_SECS"), "flag --timeout");
}

#[test]
fn the_python_loaders_env_file_works_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        ".env",
        "# AWS S3 Configuration\n\
         AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\n\
         AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\
         AWS_REGION=us-east-2\n\
         AWS_S3_BUCKET_NAME=my-trading-data\n\
         AWS_S3_KEY=market/NASDAQ.csv\n\
         \n\
         # Data source\n\
         USE_S3=true\n\
         LOCAL_FALLBACK=NASDAQ.csv\n",
    );
    let c = Settings::load(&sources(dir.path(), &[])).unwrap();
    let s = &c.settings;
    assert_eq!(
        s.data_source().unwrap(),
        DataSource::S3 {
            bucket: "my-trading-data".into(),
            key: "market/NASDAQ.csv".into()
        }
    );
    assert_eq!(s.aws_region, "us-east-2");
    assert_eq!(s.aws_access_key_id.as_deref(), Some("AKIAIOSFODNN7EXAMPLE"));
    assert_eq!(
        s.aws_secret_access_key.as_ref().unwrap().expose(),
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
    );
    assert_eq!(s.local_fallback(), Path::new("NASDAQ.csv"));
    // Secrets never show in Debug or in config show values.
    let debug = format!("{c:?}");
    assert!(!debug.contains("wJalrXUtnFEMI"), "{debug}");
    let shown = c
        .shown_value(by_env("AWS_SECRET_ACCESS_KEY").unwrap())
        .unwrap();
    assert_eq!(shown, "(set)");
    let shown = c.shown_value(by_env("AWS_ACCESS_KEY_ID").unwrap()).unwrap();
    assert_eq!(shown, "AKIA… (set)");
}

#[test]
fn use_s3_false_loads_local_fallback_and_accepts_yes_no_spellings() {
    let dir = tempfile::tempdir().unwrap();
    for (value, expected) in [
        ("false", false),
        ("0", false),
        ("no", false),
        ("YES", true),
        ("1", true),
    ] {
        let env = [
            ("USE_S3", value),
            ("AWS_S3_BUCKET_NAME", "b"),
            ("LOCAL_FALLBACK", "data/x.csv"),
        ];
        let s = Settings::load(&sources(dir.path(), &env)).unwrap().settings;
        assert_eq!(s.use_s3, Some(expected), "USE_S3={value}");
        let source = s.data_source().unwrap();
        if expected {
            assert!(matches!(source, DataSource::S3 { .. }), "{value}");
        } else {
            assert_eq!(source, DataSource::Local("data/x.csv".into()), "{value}");
        }
    }
    let s = Settings::load(&sources(dir.path(), &[("USE_S3", "true")]))
        .unwrap()
        .settings;
    let err = s.data_source().unwrap_err().to_string();
    assert!(err.contains("AWS_S3_BUCKET_NAME is not set"), "{err}");
}

#[test]
fn a_bad_boolean_names_key_value_and_dotenv() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".env", "USE_S3=maybe\n");
    let err = Settings::load(&sources(dir.path(), &[])).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Invalid { .. }), "{text}");
    assert!(text.starts_with("USE_S3=maybe (from .env ("), "{text}");
    assert!(text.ends_with("): expected true or false"), "{text}");
}

#[test]
fn a_negative_timeout_names_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let err = Settings::load(&sources(dir.path(), &[("NASDAQ_TIMEOUT_SECS", "-5")])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "NASDAQ_TIMEOUT_SECS=-5 (from environment): expected a whole number of seconds, 1 or more"
    );
    let mut s = sources(dir.path(), &[]);
    s.flags = vec![("NASDAQ_RETRY_MAX_RETRIES", "lots".to_owned())];
    let err = Settings::load(&s).unwrap_err().to_string();
    assert_eq!(
        err,
        "--max-retries=lots (from command line): expected a whole number, 0 or more"
    );
}

#[test]
fn a_bad_value_in_the_toml_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(dir.path(), "nasdaq.toml", "[timeout]\nconnect_secs = -1\n");
    let err = Settings::load(&sources(dir.path(), &[]))
        .unwrap_err()
        .to_string();
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(
        err.contains("-1") && err.contains("expected a whole number of seconds"),
        "{err}"
    );
}

#[test]
fn an_unknown_key_in_the_toml_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "nasdaq.toml",
        "[cache]\ndirectory = \"/tmp/x\"\n",
    );
    let err = Settings::load(&sources(dir.path(), &[])).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::UnknownKey { .. }), "{text}");
    assert!(
        text.contains("cache.directory") && text.contains(&file.display().to_string()),
        "{text}"
    );
}

#[test]
fn an_unknown_nasdaq_key_in_dotenv_is_an_error_but_only_a_warning_in_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), ".env", "NASDAQ_CACHE_DIRECTORY=/tmp\n");
    let err = Settings::load(&sources(dir.path(), &[]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("unknown key NASDAQ_CACHE_DIRECTORY in .env"),
        "{err}"
    );

    let other = tempfile::tempdir().unwrap();
    let c = Settings::load(&sources(
        other.path(),
        &[("NASDAQ_CACHE_DIRECTORY", "/tmp")],
    ))
    .unwrap();
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("NASDAQ_CACHE_DIRECTORY")),
        "{:?}",
        c.warnings
    );
}

#[test]
fn a_toml_syntax_error_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "nasdaq.toml",
        "aws_region = \"eu-west-1\"\n[retry\n",
    );
    let err = Settings::load(&sources(dir.path(), &[]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with(&file.display().to_string()), "{err}");
    assert!(
        err.contains("TOML syntax error") && err.contains("line 2"),
        "{err}"
    );
}

#[test]
fn a_missing_explicit_config_file_is_an_error_a_missing_default_is_not() {
    let dir = tempfile::tempdir().unwrap();
    assert!(Settings::load(&sources(dir.path(), &[])).is_ok());
    let err = Settings::load(&sources(dir.path(), &[("NASDAQ_CONFIG", "prod.toml")]))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("prod.toml: no such file (named by environment NASDAQ_CONFIG)"),
        "{err}"
    );
    let mut s = sources(dir.path(), &[]);
    s.config_file = Some("other.toml".into());
    let err = Settings::load(&s).unwrap_err().to_string();
    assert!(
        err.contains("other.toml: no such file (named by flag --config)"),
        "{err}"
    );
    let mut s = sources(dir.path(), &[]);
    s.env_file = Some("prod.env".into());
    let err = Settings::load(&s).unwrap_err().to_string();
    assert!(
        err.contains("prod.env: no such file (named by flag --env-file)"),
        "{err}"
    );
}

#[test]
fn a_readable_dotenv_with_a_secret_warns() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), ".env", "AWS_SECRET_ACCESS_KEY=abc\n");
    assert!(
        Settings::load(&sources(dir.path(), &[]))
            .unwrap()
            .warnings
            .is_empty()
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let warnings = Settings::load(&sources(dir.path(), &[])).unwrap().warnings;
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("chmod 600") && warnings[0].contains("AWS_SECRET_ACCESS_KEY"));
    assert!(!warnings[0].contains("abc"));
    // No secret, no warning.
    write(dir.path(), ".env", "AWS_REGION=us-east-2\n");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(
        Settings::load(&sources(dir.path(), &[]))
            .unwrap()
            .warnings
            .is_empty()
    );
}

#[test]
fn settings_figment_reads_the_process_layers_in_a_jail() {
    figment::Jail::expect_with(|jail| {
        jail.create_file(
            "nasdaq.toml",
            "aws_s3_key = \"from-toml.csv\"\naws_region = \"eu-west-1\"",
        )?;
        jail.create_file(".env", "AWS_REGION=ap-south-1\nUSE_S3=no\n")?;
        jail.set_env("LOCAL_FALLBACK", "env.csv");
        let settings = Settings::extract(&Settings::figment().unwrap()).unwrap();
        assert_eq!(settings.aws_s3_key, "from-toml.csv");
        assert_eq!(settings.aws_region, "ap-south-1");
        assert_eq!(
            settings.data_source().unwrap(),
            DataSource::Local("env.csv".into())
        );
        Ok(())
    });
}

#[test]
fn a_provider_merged_by_the_program_is_named_by_figment() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = Settings::load(&sources(dir.path(), &[])).unwrap();
    let settings = Settings {
        aws_region: "eu-north-1".to_owned(),
        ..Settings::default()
    };
    c.figment = c.figment.merge(settings);
    let spec = by_env("AWS_REGION").unwrap();
    assert_eq!(
        c.provenance(spec),
        Provenance::Provider {
            name: "nasdaq-data settings".to_owned()
        }
    );
    assert_eq!(origin(&c, "AWS_REGION"), "nasdaq-data settings");
}

#[test]
fn a_zero_timeout_is_refused_naming_key_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "NASDAQ_TIMEOUT_CONNECT_SECS=0\n").unwrap();
    let sources = |environment: Vec<(String, String)>, flags: Vec<(&'static str, String)>| {
        nasdaq_config::ConfigSources {
            cwd: dir.path().into(),
            environment,
            flags,
            ..Default::default()
        }
    };
    let err = Settings::load(&sources(vec![], vec![]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("NASDAQ_TIMEOUT_CONNECT_SECS=0 (from .env (")
            && err.ends_with("expected a whole number of seconds, 1 or more"),
        "{err}"
    );
    std::fs::write(dir.path().join(".env"), "").unwrap();
    let err = Settings::load(&sources(vec![], vec![("NASDAQ_TIMEOUT_SECS", "0".into())]))
        .unwrap_err()
        .to_string();
    assert!(err.starts_with("--timeout=0 (from command line)"), "{err}");
    let env = vec![("NASDAQ_RETRY_TIMEOUT_SECS".to_owned(), "0".to_owned())];
    let err = Settings::load(&sources(env, vec![]))
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("NASDAQ_RETRY_TIMEOUT_SECS=0 (from environment)"),
        "{err}"
    );
}

#[test]
fn a_zstd_level_outside_1_to_22_is_refused_naming_key_and_origin() {
    let dir = tempfile::tempdir().unwrap();
    let load = |environment: &[(&str, &str)]| Settings::load(&sources(dir.path(), environment));
    for bad in ["0", "23", "300", "-1", "fast"] {
        let err = load(&[("NASDAQ_OUTPUT_ZSTD_LEVEL", bad)])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(&format!(
                "NASDAQ_OUTPUT_ZSTD_LEVEL={bad} (from environment)"
            )),
            "{bad}: {err}"
        );
    }
    let err = load(&[("NASDAQ_OUTPUT_ZSTD_LEVEL", "23")])
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with("expected a whole number from 1 to 22"),
        "{err}"
    );
    std::fs::write(dir.path().join("nasdaq.toml"), "[output]\nzstd_level = 0\n").unwrap();
    let err = load(&[]).unwrap_err().to_string();
    assert!(err.contains("nasdaq.toml"), "{err}");
    std::fs::remove_file(dir.path().join("nasdaq.toml")).unwrap();
    let configured = load(&[("NASDAQ_OUTPUT_ZSTD_LEVEL", "9")]).unwrap();
    assert_eq!(configured.settings.output.zstd_level, 9);
    assert_eq!(
        configured.settings.output.write_options(vec![]).zstd_level,
        9
    );
    assert_eq!(
        load(&[])
            .unwrap()
            .settings
            .output
            .write_options(vec![])
            .zstd_level,
        nasdaq_core::DEFAULT_ZSTD_LEVEL
    );
}

#[test]
fn a_settings_file_that_is_a_directory_is_an_error() {
    for name in ["nasdaq.toml", ".env"] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join(name)).unwrap();
        let sources = nasdaq_config::ConfigSources {
            cwd: dir.path().into(),
            ..Default::default()
        };
        let err = Settings::load(&sources).unwrap_err().to_string();
        assert!(
            err.contains(name) && err.contains("is a directory, not a settings file"),
            "{err}"
        );
    }
}

#[test]
fn syntax_errors_never_print_a_secret() {
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENGbPxRfiCYEXAMPLEKEY";
    let dir = tempfile::tempdir().unwrap();
    let sources = || nasdaq_config::ConfigSources {
        cwd: dir.path().into(),
        ..Default::default()
    };
    std::fs::write(
        dir.path().join("nasdaq.toml"),
        format!("aws_region = \"eu-west-1\"\naws_secret_access_key = \"{SECRET}\n"),
    )
    .unwrap();
    let err = Settings::load(&sources()).unwrap_err().to_string();
    assert!(
        err.contains("nasdaq.toml") && err.contains("TOML syntax error"),
        "{err}"
    );
    assert!(err.contains("line 2"), "{err}");
    assert!(!err.contains(&SECRET[..8]), "{err}");

    std::fs::remove_file(dir.path().join("nasdaq.toml")).unwrap();
    for line in [
        format!("AWS_SECRET_ACCESS_KEY {SECRET}\n"),
        format!("AWS_SECRET_ACCESS_KEY=\"{SECRET}\n"),
    ] {
        std::fs::write(
            dir.path().join(".env"),
            format!("AWS_REGION=us-east-1\n{line}"),
        )
        .unwrap();
        let err = Settings::load(&sources()).unwrap_err().to_string();
        assert!(err.contains(".env"), "{err}");
        assert!(!err.contains(&SECRET[..8]), "{err}");
    }
}

#[test]
fn a_password_in_an_endpoint_is_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let sources = nasdaq_config::ConfigSources {
        cwd: dir.path().into(),
        environment: vec![(
            "AWS_ENDPOINT_URL".to_owned(),
            "http://minio:hunter2secret@127.0.0.1:9000".to_owned(),
        )],
        ..Default::default()
    };
    let configured = Settings::load(&sources).unwrap();
    let shown: Vec<String> = nasdaq_config::describe(&configured)
        .into_iter()
        .filter_map(|(_, value, _)| value)
        .collect();
    assert!(
        shown.iter().any(|v| v == "http://minio:***@127.0.0.1:9000"),
        "{shown:?}"
    );
    assert!(!shown.iter().any(|v| v.contains("hunter2")), "{shown:?}");
    assert!(!format!("{configured:?}").contains("hunter2"));
}
