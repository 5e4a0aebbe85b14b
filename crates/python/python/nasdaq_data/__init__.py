"""Daily NASDAQ bars from S3, local files or the bundled sample, as pyarrow,
pandas or polars, verified, cached, with a record of where every row came from.

The same loader as ``nasdaq-cli fetch``: the same settings (``.env``,
``nasdaq.toml``, the environment, keyword overrides), the same chain of
sources (S3, then an optional secondary bucket, then ``LOCAL_FALLBACK``),
the same cache and the same load report.

    >>> import nasdaq_data
    >>> df = nasdaq_data.load_pandas()          # what load_nasdaq_data() returned
    >>> loaded = nasdaq_data.load(tickers=["AAPL"])
    >>> loaded.report["served_by"], loaded.report["rows"]
"""

from __future__ import annotations

import datetime as _dt
import json as _json
import os as _os
from typing import Any, Dict, Iterable, List, Optional, Union

from . import _native
from ._native import ConfigError, DataError, NasdaqDataError, SourceError

__all__ = [
    "Loaded",
    "load",
    "load_pandas",
    "validate",
    "check",
    "ls",
    "upload",
    "write_dataset",
    "NasdaqDataError",
    "SourceError",
    "DataError",
    "ConfigError",
]

__version__: str = _native.__version__

PathLike = Union[str, "_os.PathLike[str]"]
DateLike = Union[str, _dt.date, None]

#: The old loader's column names, in its order, for ``load_pandas``.
PANDAS_COLUMNS = {
    "open": "Open",
    "high": "High",
    "low": "Low",
    "close": "Close",
    "adj_close": "Adj Close",
    "volume": "Volume",
}


class Loaded:
    """A finished load: the table and the report of how it was made.

    Attributes:
        table: a ``pyarrow.Table`` in the canonical schema (date, ticker,
            open, high, low, close, adj_close, volume), sorted by
            (date, ticker) with no pair twice. Its buffers are the ones the
            Rust loader filled (handed over through the Arrow C interface).
        report: the load report as a dict, the same as ``nasdaq-cli fetch
            --json`` prints: ``source``, ``served_by`` (primary, secondary,
            local fallback, bundled sample), ``fallbacks`` (who failed before
            and why), ``cache``, ``stale``, ``sha256``, ``rows``, ``files``...
        quality: the quality report as a dict: per rule its policy, count
            and first examples.
        rejects: when validating, the rejected rows with ``rule``, ``file``
            and ``line`` columns; otherwise None.
    """

    __slots__ = ("table", "report", "quality", "rejects")

    def __init__(self, table: Any, report: Dict[str, Any], quality: Dict[str, Any], rejects: Any) -> None:
        self.table = table
        self.report = report
        self.quality = quality
        self.rejects = rejects

    @property
    def source(self) -> str:
        """Where the rows came from, as a person would name it."""
        return self.report.get("source_label") or self.report["source"]

    def to_pandas(self) -> Any:
        """The table as a pandas DataFrame, one column per canonical column."""
        return self.table.to_pandas()

    def to_polars(self) -> Any:
        """The table as a polars DataFrame (needs polars)."""
        import polars as pl

        return pl.from_arrow(self.table)

    def __repr__(self) -> str:
        r = self.report
        return (
            f"<Loaded {r['rows']} rows, {r['tickers']} tickers, "
            f"{r.get('first_date')} to {r.get('last_date')} from {self.source} "
            f"(served by the {r['served_by']})>"
        )


def _date(value: DateLike, name: str) -> Optional[str]:
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.date().isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if isinstance(value, str):
        return value
    raise TypeError(f"{name} must be a date or a YYYY-MM-DD string, not {type(value).__name__}")


def _tickers(tickers: Union[str, Iterable[str], None]) -> Optional[List[str]]:
    if tickers is None:
        return None
    if isinstance(tickers, str):
        return [t for t in tickers.split(",") if t.strip()]
    return [str(t) for t in tickers]


def _path(path: Optional[PathLike]) -> Optional[str]:
    return None if path is None else _os.fspath(path)


def load(
    source: Optional[PathLike] = None,
    *,
    tickers: Union[str, Iterable[str], None] = None,
    start: DateLike = None,
    end: DateLike = None,
    ticker: Optional[str] = None,
    dialect: Optional[str] = None,
    glob: Optional[str] = None,
    env_file: Optional[PathLike] = None,
    config: Optional[PathLike] = None,
    offline: bool = False,
    refresh: bool = False,
    fallback: Optional[bool] = None,
    strict: bool = False,
    output: Optional[PathLike] = None,
    **settings: Any,
) -> Loaded:
    """Load daily bars into a ``Loaded`` (``.table``, ``.report``, ``.quality``).

    Args:
        source: a path, a directory, ``file://`` or ``s3://BUCKET/KEY`` URL.
            None: the configured source (``USE_S3`` / ``AWS_S3_BUCKET_NAME``
            / ``AWS_S3_KEY``, else ``LOCAL_FALLBACK``, else the bundled sample).
        tickers: keep only these symbols (a list, or "AAPL,MSFT").
        start, end: keep only bars on or after / on or before these dates
            (``datetime.date`` or "YYYY-MM-DD").
        ticker: the symbol of a one-ticker file that does not name it.
        dialect: read as this layout instead of detecting it (yahoo, stooq, ...).
        glob: with a prefix or directory, only files whose name matches.
        env_file: the ``.env`` to read (default: ``./.env`` if present).
        config: the ``nasdaq.toml`` to read (default: ``./nasdaq.toml`` if present).
        offline: read the disk cache only, make no request.
        refresh: download again even when the cache is current.
        fallback: None: the configured source falls back to the secondary
            bucket and ``LOCAL_FALLBACK`` (as the old loader did), a source
            named here does not; True: any S3 source falls back; False: only
            the primary source.
        strict: make every quality rule an error (by default only a
            duplicate (date, ticker) is; the others are counted in
            ``report["warnings"]`` and listed by ``validate``).
        output: also write the table here (.parquet, .arrow, .csv), with the
            report in its metadata.
        **settings: any setting by its ``.env`` name, lower or upper case:
            ``aws_region="eu-west-1"``, ``nasdaq_cache_dir="/tmp/c"``,
            ``aws_endpoint_url=...``. They override every other layer.

    Raises:
        SourceError: the source failed (not found, unreachable, denied, damaged).
        DataError: the data is wrong (not CSV, a bad value, a quality rule).
        ConfigError: a setting is wrong or missing.

    The GIL is released while loading; Ctrl-C interrupts cleanly.
    """
    return _load(
        source,
        dict(tickers=tickers, start=start, end=end, ticker=ticker, dialect=dialect, glob=glob,
             env_file=env_file, config=config, offline=offline, refresh=refresh,
             fallback=fallback, strict=strict, output=output),
        settings,
    )


#: The keyword arguments of ``load`` that are not settings.
_LOAD_KEYWORDS = (
    "tickers", "start", "end", "ticker", "dialect", "glob", "env_file", "config",
    "offline", "refresh", "fallback", "strict", "output",
)


def _load(source: Optional[PathLike], options: Dict[str, Any], settings: Dict[str, Any],
          validating: bool = False, rejects: Optional[PathLike] = None) -> Loaded:
    table, report, quality, rejected = _native.load(
        _path(source),
        tickers=_tickers(options.get("tickers")),
        start=_date(options.get("start"), "start"),
        end=_date(options.get("end"), "end"),
        ticker=options.get("ticker"),
        dialect=options.get("dialect"),
        glob=options.get("glob"),
        env_file=_path(options.get("env_file")),
        config=_path(options.get("config")),
        offline=bool(options.get("offline", False)),
        refresh=bool(options.get("refresh", False)),
        fallback=options.get("fallback"),
        validate=validating,
        strict=bool(options.get("strict", False)),
        output=_path(options.get("output")),
        rejects=_path(rejects),
        settings=settings,
    )
    return Loaded(table, _json.loads(report), _json.loads(quality), rejected)


def load_pandas(source: Optional[PathLike] = None, **kwargs: Any) -> Any:
    """The old ``load_nasdaq_data()`` result: a pandas DataFrame indexed by a
    sorted (Date, Ticker) MultiIndex with the columns Open, High, Low,
    Close, Adj Close, Volume. Takes the same arguments as ``load``.

    Date is ``datetime64[ns]`` as ``pd.to_datetime`` gave; Volume is int64
    (float64 when a file lacks some volumes, as pandas read them).
    """
    import pandas as pd

    loaded = load(source, **kwargs)
    df = loaded.table.to_pandas()
    df = df.rename(columns={"date": "Date", "ticker": "Ticker", **PANDAS_COLUMNS})
    df["Date"] = pd.to_datetime(df["Date"]).astype("datetime64[ns]")
    if df["Volume"].isna().any():
        df["Volume"] = df["Volume"].astype("float64")
    else:
        df["Volume"] = df["Volume"].astype("int64")
    df["Ticker"] = df["Ticker"].astype(object)
    df = df.set_index(["Date", "Ticker"])
    df.attrs["nasdaq_data_report"] = loaded.report
    return df


def validate(
    source: Optional[PathLike] = None,
    *,
    rejects: Optional[PathLike] = None,
    **kwargs: Any,
) -> Loaded:
    """The quality report of a source, like ``nasdaq-cli validate``: error
    rules report instead of failing; ``Loaded.rejects`` holds the rejected
    rows (also written to ``rejects`` when given). Same arguments as ``load``.
    """
    options = {k: v for k, v in kwargs.items() if k in _LOAD_KEYWORDS}
    settings = {k: v for k, v in kwargs.items() if k not in _LOAD_KEYWORDS}
    return _load(source, options, settings, validating=True, rejects=rejects)


def check(target: Optional[str] = None, *, env_file: Optional[PathLike] = None,
          config: Optional[PathLike] = None, **settings: Any) -> Dict[str, Any]:
    """The connection test of ``nasdaq-cli check``: endpoint, region, the
    credentials' provider, then list, head and a first read of the object,
    each step with its timing and, on failure, the likely cause."""
    return _json.loads(_native.check(target, env_file=_path(env_file),
                                     config=_path(config), settings=settings))


def ls(location: Optional[str] = None, *, env_file: Optional[PathLike] = None,
       config: Optional[PathLike] = None, **settings: Any) -> List[Dict[str, Any]]:
    """The objects under ``s3://BUCKET/PREFIX`` (or a local directory, or
    the configured bucket): key, size, last_modified, etag, metadata."""
    return _json.loads(_native.ls(location, env_file=_path(env_file),
                                  config=_path(config), settings=settings))


def upload(file: PathLike, target: Optional[str] = None, *, force: bool = False,
           env_file: Optional[PathLike] = None, config: Optional[PathLike] = None,
           **settings: Any) -> Dict[str, Any]:
    """Upload a local file to S3 with its SHA-256 in the object's metadata,
    like ``nasdaq-cli upload``; the same content is not sent twice, and
    different content is replaced only with ``force=True``."""
    return _json.loads(_native.upload(_os.fspath(file), target, force=force,
                                      env_file=_path(env_file), config=_path(config),
                                      settings=settings))


def write_dataset(source: PathLike, output: PathLike, *, partition_by: str = "none",
                  append: bool = False, glob: Optional[str] = None,
                  tickers: Union[str, Iterable[str], None] = None, start: DateLike = None,
                  end: DateLike = None, ticker: Optional[str] = None,
                  dialect: Optional[str] = None, strict: bool = False,
                  target_file_size_mb: int = 128, jobs: int = 4,
                  env_file: Optional[PathLike] = None, config: Optional[PathLike] = None,
                  **settings: Any) -> Dict[str, Any]:
    """Write the source files under ``source`` (a prefix, a directory or one
    file) as a Parquet dataset at ``output`` (``s3://BUCKET/PREFIX/``, a
    directory), like ``nasdaq-cli fetch SOURCE --output DATASET``.

    ``partition_by`` is "none", "year" (``year=2024/``) or "month"
    (``year=2024/month=3/``). With ``append=True`` only source files the
    dataset's manifest has not seen are loaded, and a changed source file
    replaces the rows it contributed. Read the dataset back with
    ``load(output)`` (pruned by the manifest), DuckDB, pyarrow, polars,
    Spark or Athena. Returns the dataset report (version, committed, files
    written and removed, rows, each source's load report).
    """
    return _json.loads(_native.write_dataset(
        _os.fspath(source), _os.fspath(output), partition_by=partition_by, append=append,
        glob=glob, tickers=_tickers(tickers), start=_date(start, "start"),
        end=_date(end, "end"), ticker=ticker, dialect=dialect, strict=strict,
        target_file_size_mb=target_file_size_mb, jobs=jobs, env_file=_path(env_file),
        config=_path(config), settings=settings))
