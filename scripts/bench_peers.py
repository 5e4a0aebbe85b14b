"""nasdaq-cli against the tools a user would pick instead, interleaved in one run.

After one warm-up round (which also fills the table cache that the
repeated-load job reads and writes polars' Parquet file that read_parquet
reads), each job is a whole process (interpreter start and imports included for the
Python peers), run in turn, round after round, so that the machine's noise
falls on all of them alike. Prints per job the median and minimum wall time
and the median peak RSS, and each nasdaq-cli job's ratio to its peers.

    .venv/bin/python scripts/bench_peers.py target/release/nasdaq-cli FILE.csv [ROUNDS]

FILE.csv: e.g. `target/debug/gen-bars 3000 10 target/bench-data/nasdaq-3000x10.csv`
(the benchmark's data: 7.83 M rows, ticker-major).
"""
import os
import statistics
import subprocess
import sys
import tempfile
import time

cli, path = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
python = sys.executable
out = tempfile.mkdtemp(prefix="bench-peers-")
# nasdaq-cli's cold jobs run with the cache off (every run parses); the
# repeated-load job uses a table cache of its own, filled once below.
cold_env = dict(os.environ, NASDAQ_CACHE_ENABLED="false")
warm_env = dict(os.environ, NASDAQ_CACHE_DIR=os.path.join(out, "cache"))

JOBS = {
    "nasdaq-cli fetch --json (memory)": [cli, "fetch", path, "--json", "--quiet"],
    "polars read_csv(try_parse_dates)": [python, "-c",
        "import sys, polars as pl; pl.read_csv(sys.argv[1], try_parse_dates=True)", path],
    "pandas old loader (dates + sorted MultiIndex)": [python, "-c",
        "import sys, pandas as pd; "
        "pd.read_csv(sys.argv[1], parse_dates=['Date']).set_index(['Date', 'Ticker']).sort_index()",
        path],
    "nasdaq-cli fetch --output x.parquet": [cli, "fetch", path, "--output",
        os.path.join(out, "nasdaq.parquet"), "--quiet"],
    "polars read_csv + write_parquet(zstd)": [python, "-c",
        "import sys, polars as pl; "
        "pl.read_csv(sys.argv[1], try_parse_dates=True).write_parquet(sys.argv[2], compression='zstd')",
        path, os.path.join(out, "polars.parquet")],
    "nasdaq-cli fetch --json, repeated (table cache)": [cli, "fetch", path, "--json", "--quiet"],
    "polars read_parquet (its file from above)": [python, "-c",
        "import sys, polars as pl; pl.read_parquet(sys.argv[1])", os.path.join(out, "polars.parquet")],
}
WARM = {"nasdaq-cli fetch --json, repeated (table cache)"}
RATIOS = [
    ("nasdaq-cli fetch --json (memory)", "polars read_csv(try_parse_dates)"),
    ("nasdaq-cli fetch --json (memory)", "pandas old loader (dates + sorted MultiIndex)"),
    ("nasdaq-cli fetch --output x.parquet", "polars read_csv + write_parquet(zstd)"),
    ("nasdaq-cli fetch --json, repeated (table cache)", "polars read_parquet (its file from above)"),
    ("nasdaq-cli fetch --json, repeated (table cache)", "nasdaq-cli fetch --json (memory)"),
]


def run(argv, env):
    start = time.perf_counter()
    child = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if status != 0:
        sys.exit(f"{argv[:3]} failed: {child.stderr.read().decode()[-500:]}")
    return wall, usage.ru_maxrss * 1024


def env_of(name):
    return warm_env if name in WARM else cold_env


# Warm-up: fills the page cache, the table cache and polars' Parquet file.
for name, argv in JOBS.items():
    run(argv, env_of(name))

times = {name: [] for name in JOBS}
rss = {name: [] for name in JOBS}
for round_ in range(rounds):
    for name, argv in JOBS.items():
        wall, peak = run(argv, env_of(name))
        times[name].append(wall)
        rss[name].append(peak)
    print(f"round {round_ + 1}/{rounds} done", file=sys.stderr)

size = os.path.getsize(path)
print(f"{path}: {size / 1e6:.0f} MB, {rounds} interleaved rounds")
print(f"{'job':48} {'median s':>9} {'min s':>7} {'peak RSS':>9}")
for name in JOBS:
    print(f"{name:48} {statistics.median(times[name]):9.2f} {min(times[name]):7.2f} "
          f"{statistics.median(rss[name]) / 1e9:7.2f} GB")
for ours, peer in RATIOS:
    ratio = statistics.median(times[ours]) / statistics.median(times[peer])
    print(f"{ours} / {peer}: {ratio:.2f}x (median wall)")
for name in ("nasdaq.parquet", "polars.parquet"):
    print(f"{name}: {os.path.getsize(os.path.join(out, name)) / 1e6:.0f} MB")
