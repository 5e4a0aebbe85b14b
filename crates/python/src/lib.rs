//! `nasdaq_data._native`: the nasdaq-data entry point as a Python extension.
//!
//! A thin front end, like the CLI: keyword arguments become `LoadOptions`
//! and settings overrides, `nasdaq_data::Session` does the rest. The GIL is
//! released while the load runs on a shared tokio runtime; the calling
//! thread wakes every few milliseconds to let Python deliver signals, so
//! Ctrl-C cancels the load (the cancelled future drops its temporary files).
//! The table crosses into pyarrow through the Arrow C data interface: the
//! column buffers Rust filled are the ones Python reads.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use arrow::pyarrow::{IntoPyArrow, Table as PyArrowTable};
use nasdaq_config::{ConfigSources, OverridesFrom, keys};
use nasdaq_data::{Error, Fallback, LoadOptions, Purpose, Session};
use nasdaq_storage::MarketSource;
use pyo3::exceptions::{PyException, PyUserWarning};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

pyo3::create_exception!(
    _native,
    NasdaqDataError,
    PyException,
    "Any nasdaq-data failure; the message names the thing and what to do."
);
pyo3::create_exception!(
    _native,
    SourceError,
    NasdaqDataError,
    "A source failed: not found, unreachable, access denied, damaged bytes."
);
pyo3::create_exception!(
    _native,
    DataError,
    NasdaqDataError,
    "The data is wrong: not CSV, a bad value (file, line, column), a quality rule."
);
pyo3::create_exception!(
    _native,
    ConfigError,
    NasdaqDataError,
    "A setting is wrong or missing (key, value, and where it was set)."
);

/// mimalloc, as in the CLI: on the benchmark file a load took 1.37-1.53 s
/// (four runs) instead of 1.48-1.83 s (three runs, the system allocator).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How often the waiting thread takes the GIL back to check for signals.
const SIGNAL_POLL: Duration = Duration::from_millis(50);

/// One runtime for the process: loads from several Python threads share it.
fn runtime() -> PyResult<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .thread_name("nasdaq-data")
                .build()
                .map_err(|err| err.to_string())
        })
        .as_ref()
        .map_err(|err| NasdaqDataError::new_err(format!("cannot start the async runtime: {err}")))
}

/// Runs `work` without the GIL; a signal handler that raises (Ctrl-C's
/// KeyboardInterrupt) cancels it and waits until it has been dropped, so
/// no temporary file outlives the call.
fn run<T, F>(py: Python<'_>, work: F) -> PyResult<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = nasdaq_data::Result<T>> + Send + 'static,
{
    let runtime = runtime()?;
    let mut handle = runtime.spawn(work);
    loop {
        let polled = py.detach(|| {
            runtime.block_on(async { tokio::time::timeout(SIGNAL_POLL, &mut handle).await })
        });
        match polled {
            Ok(Ok(result)) => return result.map_err(to_py),
            Ok(Err(join)) => {
                return Err(NasdaqDataError::new_err(format!(
                    "internal error: the load stopped: {join}"
                )));
            }
            Err(_still_running) => {
                if let Err(interrupt) = py.check_signals() {
                    handle.abort();
                    py.detach(|| {
                        runtime.block_on(async {
                            let _ = (&mut handle).await;
                            // An interrupted multipart upload is aborted on the server.
                            nasdaq_storage::cleanup::finish(Duration::from_secs(10)).await;
                        })
                    });
                    return Err(interrupt);
                }
            }
        }
    }
}

/// The exception class for an error, with the message the CLI prints
/// (without its flag hints, which name command-line options).
fn to_py(err: Error) -> PyErr {
    let message = nasdaq_storage::error_chain(&err);
    use nasdaq_config::Error as ConfigErr;
    match &err {
        Error::Config(ConfigErr::NoSuchFile { .. } | ConfigErr::Storage(_)) => {
            SourceError::new_err(message)
        }
        Error::Config(_) | Error::BadTarget { .. } | Error::OutputIsInput { .. } => {
            ConfigError::new_err(message)
        }
        Error::Storage(_) | Error::Conflict { .. } => SourceError::new_err(message),
        Error::HeldTwice { .. }
        | Error::Load(
            nasdaq_core::Error::BadManifest { .. } | nasdaq_core::Error::DatasetFileChanged { .. },
        ) => DataError::new_err(message),
        Error::Load(load) if load.is_source_failure() => SourceError::new_err(message),
        Error::Load(nasdaq_core::Error::UnknownFormat { .. }) => ConfigError::new_err(message),
        Error::Load(nasdaq_core::Error::Write { .. } | nasdaq_core::Error::Internal { .. }) => {
            NasdaqDataError::new_err(message)
        }
        Error::Load(_) => DataError::new_err(message),
        _ => NasdaqDataError::new_err(message),
    }
}

/// A keyword setting as the key table's environment name: `aws_region`,
/// `AWS_REGION` and `retry.max_retries` all name a key.
fn setting_key(name: &str) -> Option<&'static str> {
    let upper = name.to_ascii_uppercase();
    keys::by_env(&upper)
        .or_else(|| keys::by_path(name))
        .or_else(|| keys::KEYS.iter().find(|k| k.path.replace('.', "_") == name))
        .map(|spec| spec.env)
}

/// A Python value as the text a `.env` line would hold.
fn setting_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if let Ok(flag) = value.extract::<bool>() {
        return Ok(flag.to_string());
    }
    Ok(value.str()?.to_string())
}

/// The settings: the default layering from this process (working directory,
/// environment), explicit files, and keyword overrides on top.
fn session(
    py: Python<'_>,
    env_file: Option<PathBuf>,
    config: Option<PathBuf>,
    settings: Option<&Bound<'_, PyDict>>,
) -> PyResult<Session> {
    let mut flags = Vec::new();
    if let Some(settings) = settings {
        for (name, value) in settings.iter() {
            let name: String = name.extract()?;
            if value.is_none() {
                continue;
            }
            let key = setting_key(&name).ok_or_else(|| {
                ConfigError::new_err(format!(
                    "unknown setting {name:?}: use a key of .env.example, e.g. aws_region or nasdaq_timeout_secs"
                ))
            })?;
            flags.push((key, setting_text(&value)?));
        }
    }
    let sources = ConfigSources {
        config_file: config,
        env_file,
        flags,
        overrides_from: OverridesFrom::Keywords,
        ..ConfigSources::from_process()
    };
    let session = Session::from_sources(&sources).map_err(to_py)?;
    for warning in &session.configured().warnings {
        let text = std::ffi::CString::new(warning.replace('\0', " "))
            .unwrap_or_else(|_| c"nasdaq-data: a settings warning".to_owned());
        PyErr::warn(py, &py.get_type::<PyUserWarning>(), &text, 1)?;
    }
    Ok(session)
}

fn date(text: Option<String>, name: &str) -> PyResult<Option<chrono::NaiveDate>> {
    text.map(|t| {
        chrono::NaiveDate::parse_from_str(&t, "%Y-%m-%d").map_err(|err| {
            ConfigError::new_err(format!("{name}={t:?}: expected a date YYYY-MM-DD ({err})"))
        })
    })
    .transpose()
}

/// Loads a table; see `nasdaq_data.load` for the arguments.
#[pyfunction]
#[pyo3(signature = (
    source=None, *, tickers=None, start=None, end=None, ticker=None, dialect=None, glob=None,
    env_file=None, config=None, offline=false, refresh=false, fallback=None, validate=false,
    strict=false, output=None, rejects=None, settings=None
))]
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the Python keyword arguments one to one"
)]
fn load<'py>(
    py: Python<'py>,
    source: Option<String>,
    tickers: Option<Vec<String>>,
    start: Option<String>,
    end: Option<String>,
    ticker: Option<String>,
    dialect: Option<String>,
    glob: Option<String>,
    env_file: Option<PathBuf>,
    config: Option<PathBuf>,
    offline: bool,
    refresh: bool,
    fallback: Option<bool>,
    validate: bool,
    strict: bool,
    output: Option<PathBuf>,
    rejects: Option<PathBuf>,
    settings: Option<Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyTuple>> {
    nasdaq_data::memory::purge_freed_memory(output.is_some());
    let session = session(py, env_file, config, settings.as_ref())?;
    let options = LoadOptions {
        source,
        glob,
        tickers: tickers.unwrap_or_default(),
        from: date(start, "start")?,
        to: date(end, "end")?,
        dialect,
        ticker,
        fallback: Fallback::from_choice(fallback),
        cache_mode: nasdaq_data::cache_mode(offline, refresh).map_err(to_py)?,
        purpose: if validate {
            Purpose::Validate
        } else {
            Purpose::Fetch
        },
        strict,
        output,
        rejects,
        progress: None,
    };
    let loaded = run(py, async move { session.load(&options).await })?;
    let report = serde_json::to_string(&loaded.report).map_err(json_error)?;
    let quality = serde_json::to_string(&loaded.quality).map_err(json_error)?;
    let table = PyArrowTable::try_new(loaded.table.batches, loaded.table.schema)
        .map_err(|err| NasdaqDataError::new_err(format!("internal error: {err}")))?
        .into_pyarrow(py)?;
    let rejected = match loaded.rejects {
        Some(batch) => {
            let schema = batch.schema();
            PyArrowTable::try_new(vec![batch], schema)
                .map_err(|err| NasdaqDataError::new_err(format!("internal error: {err}")))?
                .into_pyarrow(py)?
        }
        None => py.None().into_bound(py),
    };
    PyTuple::new(
        py,
        [
            table,
            report.into_pyobject(py)?.into_any(),
            quality.into_pyobject(py)?.into_any(),
            rejected,
        ],
    )
}

fn json_error(err: serde_json::Error) -> PyErr {
    NasdaqDataError::new_err(format!("internal error: {err}"))
}

/// Runs one command over a session and returns its report as JSON, the
/// shape every non-load function shares.
fn command<T, F>(
    py: Python<'_>,
    env_file: Option<PathBuf>,
    config: Option<PathBuf>,
    settings: Option<Bound<'_, PyDict>>,
    work: impl FnOnce(Session) -> F,
) -> PyResult<String>
where
    T: serde::Serialize + Send + 'static,
    F: std::future::Future<Output = nasdaq_data::Result<T>> + Send + 'static,
{
    let session = session(py, env_file, config, settings.as_ref())?;
    let report = run(py, work(session))?;
    serde_json::to_string(&report).map_err(json_error)
}

/// The connection test; returns its report as JSON.
#[pyfunction]
#[pyo3(signature = (target=None, *, env_file=None, config=None, settings=None))]
fn check(
    py: Python<'_>,
    target: Option<String>,
    env_file: Option<PathBuf>,
    config: Option<PathBuf>,
    settings: Option<Bound<'_, PyDict>>,
) -> PyResult<String> {
    command(py, env_file, config, settings, |session| async move {
        session
            .check(target.as_deref(), &mut |_| {}, &mut |_| {})
            .await
    })
}

/// The objects under a location; returns them as JSON.
#[pyfunction]
#[pyo3(signature = (location=None, *, env_file=None, config=None, settings=None))]
fn ls(
    py: Python<'_>,
    location: Option<String>,
    env_file: Option<PathBuf>,
    config: Option<PathBuf>,
    settings: Option<Bound<'_, PyDict>>,
) -> PyResult<String> {
    command(py, env_file, config, settings, |session| async move {
        let (source, prefix) = session.listing(location.as_deref()).await?;
        Ok(source.list(&prefix).await?)
    })
}

/// Uploads a file; returns the upload report as JSON.
#[pyfunction]
#[pyo3(signature = (file, target=None, *, force=false, env_file=None, config=None, settings=None))]
fn upload(
    py: Python<'_>,
    file: PathBuf,
    target: Option<String>,
    force: bool,
    env_file: Option<PathBuf>,
    config: Option<PathBuf>,
    settings: Option<Bound<'_, PyDict>>,
) -> PyResult<String> {
    command(py, env_file, config, settings, |session| async move {
        session.upload(&file, target.as_deref(), force).await
    })
}

/// Writes or appends to a Parquet dataset; returns the dataset report as JSON.
#[pyfunction]
#[pyo3(signature = (
    source, output, *, partition_by="none", append=false, glob=None, tickers=None, start=None,
    end=None, ticker=None, dialect=None, strict=false, target_file_size_mb=128, jobs=4,
    env_file=None, config=None, settings=None
))]
#[allow(
    clippy::too_many_arguments,
    reason = "mirrors the Python keyword arguments one to one"
)]
fn write_dataset(
    py: Python<'_>,
    source: String,
    output: String,
    partition_by: &str,
    append: bool,
    glob: Option<String>,
    tickers: Option<Vec<String>>,
    start: Option<String>,
    end: Option<String>,
    ticker: Option<String>,
    dialect: Option<String>,
    strict: bool,
    target_file_size_mb: u32,
    jobs: usize,
    env_file: Option<PathBuf>,
    config: Option<PathBuf>,
    settings: Option<Bound<'_, PyDict>>,
) -> PyResult<String> {
    let partition_by = nasdaq_data::Partitioning::from_name(partition_by).ok_or_else(|| {
        ConfigError::new_err(format!(
            "partition_by={partition_by:?}: expected one of {}",
            nasdaq_data::Partitioning::NAMES.join(", ")
        ))
    })?;
    nasdaq_data::memory::purge_freed_memory(true);
    let load = LoadOptions {
        source: Some(source),
        glob,
        tickers: tickers.unwrap_or_default(),
        from: date(start, "start")?,
        to: date(end, "end")?,
        dialect,
        ticker,
        strict,
        ..LoadOptions::default()
    };
    let options = nasdaq_data::DatasetOptions {
        partition_by,
        append,
        ..nasdaq_data::DatasetOptions::new(load, output)
            .with_target_file_mib(Some(target_file_size_mb))
            .with_concurrency(Some(jobs))
    };
    command(py, env_file, config, settings, |session| async move {
        session.write_dataset(&options).await
    })
}

/// The module.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("NasdaqDataError", py.get_type::<NasdaqDataError>())?;
    m.add("SourceError", py.get_type::<SourceError>())?;
    m.add("DataError", py.get_type::<DataError>())?;
    m.add("ConfigError", py.get_type::<ConfigError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_function(wrap_pyfunction!(load, m)?)?;
    m.add_function(wrap_pyfunction!(check, m)?)?;
    m.add_function(wrap_pyfunction!(ls, m)?)?;
    m.add_function(wrap_pyfunction!(upload, m)?)?;
    m.add_function(wrap_pyfunction!(write_dataset, m)?)?;
    Ok(())
}
