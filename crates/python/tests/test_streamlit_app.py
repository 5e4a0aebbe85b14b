"""The dashboard example, run headless through Streamlit's own AppTest."""

import pytest

from conftest import ROOT

APP = ROOT / "examples" / "streamlit_app.py"


def run_app():
    try:
        from streamlit.testing.v1 import AppTest
    except ImportError as err:
        from conftest import unavailable

        unavailable("streamlit", str(err))
    app = AppTest.from_file(str(APP), default_timeout=60)
    app.run()
    assert not app.exception, [e.value for e in app.exception]
    return app


def test_the_page_shows_the_source_and_the_row_count(sandbox):
    app = run_app()
    assert any("bundled sample" in s.value for s in app.success), [s.value for s in app.success]
    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Rows"] == "5,220", metrics
    assert metrics["Tickers"] == "20", metrics
    rules = app.table[0].value
    assert "ohlc_consistent" in list(rules["rule"]), rules


def test_the_page_says_when_the_fallback_served(sandbox, monkeypatch):
    from conftest import SAMPLE
    import shutil

    shutil.copy(SAMPLE, sandbox / "NASDAQ.csv")
    (sandbox / ".env").write_text(
        "AWS_S3_BUCKET_NAME=market\nAWS_ENDPOINT_URL=http://127.0.0.1:1\nAWS_ALLOW_HTTP=true\n"
        "NASDAQ_NO_SIGN_REQUEST=true\nNASDAQ_CACHE_ENABLED=false\nNASDAQ_RETRY_MAX_RETRIES=0\n"
    )
    app = run_app()
    warnings = [w.value for w in app.warning]
    assert any("primary source s3://market/NASDAQ.csv failed" in w for w in warnings), warnings
    assert any(w.startswith("Served by the local fallback") for w in warnings), warnings
    assert {m.label: m.value for m in app.metric}["Rows"] == "5,220"
