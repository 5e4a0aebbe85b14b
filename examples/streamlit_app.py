"""The trading dashboard's loading path on nasdaq_data.

Run with `streamlit run examples/streamlit_app.py` in the directory that
holds your `.env` (AWS_S3_BUCKET_NAME, AWS_S3_KEY, LOCAL_FALLBACK, ...).
It loads the configured source (S3 first, then the local fallback), and
shows the data, where it came from, and the quality report.
"""

import streamlit as st

import nasdaq_data


st.set_page_config(page_title="NASDAQ daily bars", layout="wide")
st.title("NASDAQ daily bars")

try:
    loaded = nasdaq_data.load()
except nasdaq_data.NasdaqDataError as err:
    st.error(f"Could not load the data: {err}")
    st.stop()

report = loaded.report
source = loaded.source
if report["fallbacks"]:
    for failure in report["fallbacks"]:
        st.warning(f"The {failure['role']} source {failure['uri']} failed: {failure['error']}")
    st.warning(f"Served by the {report['served_by']}: {source}")
elif report["stale"]:
    st.warning(f"STALE: S3 could not be reached; showing the cached copy of {source}")
else:
    st.success(f"Data loaded from {source} ({report['served_by']})")
if report.get("cache"):
    st.caption(f"cache: {report['cache']} · sha256 {report['sha256'][:16]}…")

rows, tickers, span = st.columns(3)
rows.metric("Rows", f"{report['rows']:,}")
tickers.metric("Tickers", report["tickers"])
span.metric("Dates", f"{report['first_date']} to {report['last_date']}")

frame = loaded.to_pandas()
chosen = st.multiselect("Tickers", sorted(frame["ticker"].unique()))
if chosen:
    frame = frame[frame["ticker"].isin(chosen)]
st.dataframe(frame, hide_index=True)

st.subheader("Data quality")
st.table(
    [
        {"rule": r["rule"], "policy": r["policy"], "count": r["count"]}
        for r in loaded.quality["rules"]
    ]
)
