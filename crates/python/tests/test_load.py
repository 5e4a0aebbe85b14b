"""nasdaq_data.load and load_pandas against local files, directories, the
bundled sample and a real S3 server, compared with what nasdaq-cli writes."""

import concurrent.futures
import datetime
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import nasdaq_data


def test_a_local_file_equals_the_parquet_the_cli_writes(sample_copy, sandbox, cli):
    import pandas as pd
    import polars as pl

    cli("fetch", str(sample_copy), "--output", "bars.parquet", "--quiet", cwd=sandbox)
    written = pq.read_table(sandbox / "bars.parquet")
    loaded = nasdaq_data.load(sample_copy)
    assert loaded.table.num_rows == 5220
    assert loaded.table.equals(written.replace_schema_metadata(None))
    pd.testing.assert_frame_equal(loaded.to_pandas(), written.to_pandas())
    assert loaded.to_polars().equals(pl.read_parquet(sandbox / "bars.parquet"))
    stored = json.loads(written.schema.metadata[b"nasdaq.load_report"])
    assert stored["sha256"] == loaded.report["sha256"]
    assert stored["settings_hash"] == loaded.report["settings_hash"]


def test_a_repeated_load_reads_the_parsed_table_from_the_cache(sample_copy):
    import os
    import time

    import pandas as pd

    # Written a minute ago: a file's table is stored only once its time can
    # tell a rewrite (a file written this very moment is parsed every time).
    fresh = nasdaq_data.load(sample_copy)
    assert fresh.report["table_cache"] == "miss"
    assert nasdaq_data.load(sample_copy).report["table_cache"] == "miss"
    minute_ago = time.time() - 60
    os.utime(sample_copy, (minute_ago, minute_ago))
    cold = nasdaq_data.load(sample_copy)
    assert cold.report["table_cache"] == "miss"
    warm = nasdaq_data.load(sample_copy)
    assert warm.report["table_cache"] == "hit"
    assert warm.table.equals(cold.table)
    assert warm.report["sha256"] == cold.report["sha256"]
    pd.testing.assert_frame_equal(warm.to_pandas(), cold.to_pandas())
    # refresh=True parses again; other options are another table.
    assert nasdaq_data.load(sample_copy, refresh=True).report["table_cache"] == "miss"
    some = nasdaq_data.load(sample_copy, tickers="AAPL")
    assert some.report["table_cache"] == "miss"
    assert set(some.table.column("ticker").to_pylist()) == {"AAPL"}


def test_a_directory_loads_every_file(sandbox):
    data = sandbox / "daily"
    data.mkdir()
    header = "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n"
    (data / "a.csv").write_text(header + "2024-01-02,AAPL,187.2,188.4,183.9,185.6,184.9,82000000\n")
    (data / "b.csv").write_text(header + "2024-01-02,MSFT,373.9,375.9,366.8,370.9,368.2,25300000\n")
    loaded = nasdaq_data.load(data)
    assert loaded.table.column("ticker").to_pylist() == ["AAPL", "MSFT"]
    assert len(loaded.report["files"]) == 2


def test_nothing_configured_loads_the_bundled_sample(sandbox):
    loaded = nasdaq_data.load(tickers="AAPL,msft", start=datetime.date(2024, 3, 1), end="2024-03-31")
    assert loaded.report["served_by"] == "bundled sample"
    assert loaded.source.startswith("bundled sample")
    assert set(loaded.table.column("ticker").to_pylist()) == {"AAPL", "MSFT"}
    dates = loaded.table.column("date").to_pylist()
    assert min(dates) >= datetime.date(2024, 3, 1) and max(dates) <= datetime.date(2024, 3, 31)


def test_load_pandas_has_the_old_loaders_shape(sample_copy):
    import pandas as pd

    df = nasdaq_data.load_pandas(sample_copy)
    assert list(df.index.names) == ["Date", "Ticker"]
    assert list(df.columns) == ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
    assert df.index.is_monotonic_increasing and df.index.is_unique
    assert df.index.get_level_values("Date").dtype == "datetime64[ns]"
    assert df["Volume"].dtype == "int64"
    # The old loader: pd.read_csv, to_datetime, set_index, sort_index.
    old = pd.read_csv(sample_copy)
    old["Date"] = pd.to_datetime(old["Date"])
    old = old.set_index(["Date", "Ticker"]).sort_index()
    pd.testing.assert_frame_equal(df, old, check_index_type=False, check_column_type=False)


def test_s3_then_the_local_fallback_when_s3_is_down(s3_env, sample_copy, monkeypatch):
    endpoint, client = s3_env
    receipt = nasdaq_data.upload(sample_copy, "s3://market/NASDAQ.csv")
    assert receipt["action"] == "uploaded"
    listed = nasdaq_data.ls("s3://market/")
    assert [o["key"] for o in listed] == ["NASDAQ.csv"]

    loaded = nasdaq_data.load()
    assert loaded.report["served_by"] == "primary"
    assert loaded.report["source"] == "s3://market/NASDAQ.csv"
    assert loaded.report["cache"] == "miss"
    assert loaded.report["credentials"].startswith("access keys from environment")
    assert loaded.report["credentials"].endswith("key id AKIA…")
    assert "example-secret" not in json.dumps(loaded.report)
    again = nasdaq_data.load()
    assert again.report["cache"] == "revalidated"

    # S3 down (nothing listens on port 1), no cache: the local file serves, and says so.
    monkeypatch.setenv("LOCAL_FALLBACK", str(sample_copy))
    fallback = nasdaq_data.load(aws_endpoint_url="http://127.0.0.1:1", nasdaq_cache_enabled=False,
                                nasdaq_retry_max_retries=0)
    assert fallback.report["served_by"] == "local fallback"
    assert fallback.report["fallbacks"][0]["role"] == "primary"
    assert fallback.table.equals(loaded.table)
    with pytest.raises(nasdaq_data.SourceError):
        nasdaq_data.load(aws_endpoint_url="http://127.0.0.1:1", nasdaq_cache_enabled=False,
                         nasdaq_retry_max_retries=0, fallback=False)


def test_check_reports_each_step(s3_env, sample_copy):
    nasdaq_data.upload(sample_copy, "s3://market/NASDAQ.csv")
    report = nasdaq_data.check("s3://market/NASDAQ.csv")
    assert report["ok"], report
    assert [s["name"] for s in report["steps"]] == ["credentials", "list", "head", "read"]


def test_the_table_is_not_copied_when_handed_over(sandbox):
    rows = ["Date,Ticker,Open,High,Low,Close,Adj Close,Volume"]
    day = datetime.date(2020, 1, 1)
    for i in range(1500):
        d = (day + datetime.timedelta(days=i)).isoformat()
        rows.extend(f"{d},T{t:03d},10,11,9,10.5,10.4,{1000 + t}" for t in range(40))
    (sandbox / "big.csv").write_text("\n".join(rows) + "\n")
    before = pa.total_allocated_bytes()
    loaded = nasdaq_data.load(sandbox / "big.csv", nasdaq_quality_missing_sessions="drop",
                              nasdaq_quality_future_date="drop")
    grown = pa.total_allocated_bytes() - before
    assert loaded.table.num_rows == 60000
    # Buffers imported through the C data interface stay Rust's: pyarrow's
    # own pool does not grow by the table's size (a copy would).
    assert loaded.table.nbytes > 3_000_000
    assert grown < loaded.table.nbytes // 10, (grown, loaded.table.nbytes)


def test_two_threads_load_at_once(sample_copy):
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: nasdaq_data.load(sample_copy), range(2)))
    assert results[0].table.equals(results[1].table)
    assert all(r.table.num_rows == 5220 for r in results)


def test_validate_reports_instead_of_failing(sandbox):
    (sandbox / "bad.csv").write_text(
        "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-02,AAPL,187.2,188.4,183.9,185.6,184.9,82000000\n"
        "2024-01-03,AAPL,187.2,150.0,183.9,185.6,184.9,82000000\n"
    )
    # An inconsistent bar is counted, not fatal, by default; strict refuses it.
    assert nasdaq_data.load(sandbox / "bad.csv").report["warnings"]["ohlc_consistent"] == 1
    with pytest.raises(nasdaq_data.DataError, match="ohlc_consistent"):
        nasdaq_data.load(sandbox / "bad.csv", strict=True)
    checked = nasdaq_data.validate(sandbox / "bad.csv", strict=True, rejects=sandbox / "rejects.csv")
    rules = {r["rule"]: r for r in checked.quality["rules"]}
    assert rules["ohlc_consistent"]["count"] == 1
    assert checked.rejects.num_rows == 1
    assert checked.rejects.column("line").to_pylist() == [3]
    assert (sandbox / "rejects.csv").exists()


def test_help_is_useful():
    doc = nasdaq_data.load.__doc__
    for word in ("tickers", "start", "fallback", "SourceError", "settings", "GIL"):
        assert word in doc, word


def test_a_dataset_written_from_python_reads_back_in_pyarrow_and_through_load(sample_copy, sandbox):
    import pyarrow.dataset as ds

    report = nasdaq_data.write_dataset(sample_copy, sandbox / "curated", partition_by="year")
    assert (report["version"], report["committed"], report["rows"]) == (1, True, 5220)
    assert all(p.startswith("year=2024/part-") for p in report["files_written"])
    # Nothing new: no new version.
    again = nasdaq_data.write_dataset(sample_copy, sandbox / "curated", partition_by="year", append=True)
    assert (again["version"], again["committed"], again["unchanged"]) == (1, False, 1)

    direct = nasdaq_data.load(sample_copy).table
    table = ds.dataset(sandbox / "curated", format="parquet", partitioning="hive").to_table()
    assert table.num_rows == direct.num_rows
    assert set(table.column("year").to_pylist()) == {2024}
    back = nasdaq_data.load(sandbox / "curated", tickers=["AAPL"], start="2024-06-01")
    assert back.report["dialect"].startswith("parquet (dataset version 1)")
    want = nasdaq_data.load(sample_copy, tickers=["AAPL"], start="2024-06-01").table
    assert back.table.equals(want)

    with pytest.raises(nasdaq_data.ConfigError, match='partition_by="week": expected one of none, year, month'):
        nasdaq_data.write_dataset(sample_copy, sandbox / "other", partition_by="week")
    with pytest.raises(nasdaq_data.ConfigError, match="partitioned by year, not month"):
        nasdaq_data.write_dataset(sample_copy, sandbox / "curated", partition_by="month", append=True)
