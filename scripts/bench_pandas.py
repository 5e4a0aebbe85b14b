"""The Python loader's way, for comparison with `cargo bench -p nasdaq-cli --bench fetch`.

Loads the benchmark's CSV with pandas as the old loader did (read_csv with
parsed dates, then the (Date, Ticker) MultiIndex, sorted) and prints the
median and minimum of N runs. Needs pandas (not installed by the test suite):

    python3 -m venv /tmp/pd && /tmp/pd/bin/pip install pandas
    /tmp/pd/bin/python scripts/bench_pandas.py target/bench-data/nasdaq-3000x10.csv 5
"""
import statistics
import sys
import time

import pandas as pd

path = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 5
plain, loader = [], []
for _ in range(runs):
    start = time.perf_counter()
    frame = pd.read_csv(path)
    plain.append(time.perf_counter() - start)
    start = time.perf_counter()
    frame = pd.read_csv(path, parse_dates=["Date"])
    frame = frame.set_index(["Date", "Ticker"]).sort_index()
    loader.append(time.perf_counter() - start)
    rows = len(frame)
print(f"pandas {pd.__version__}: {rows} rows, {runs} runs")
print(f"read_csv only:                      median {statistics.median(plain):.3f} s, min {min(plain):.3f} s")
print(f"read_csv + dates + MultiIndex sort: median {statistics.median(loader):.3f} s, min {min(loader):.3f} s")
