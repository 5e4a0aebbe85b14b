"""nasdaq-cli against the tools a user would pick instead, interleaved in one run.

After one warm-up round (which also fills the table cache that the
repeated-load job reads and writes polars' Parquet file that read_parquet
reads), each job is a whole process (interpreter start and imports included for the
Python peers), run in turn, round after round, so that the machine's noise
falls on all of them alike. Prints per job the median and minimum wall time
and the median peak RSS, and each nasdaq-cli job's ratio to its peers.

Two more of issue 10's targets are measured against nasdaq-cli itself: a
filtered load (two tickers, the last year) against the full load, and a load
from a local S3 server (moto, started here on 127.0.0.1) against the local
load plus 20 % of the raw download of the same object (curl to /dev/null).

    .venv/bin/python scripts/bench_peers.py target/release/nasdaq-cli FILE.csv [ROUNDS]

FILE.csv: e.g. `target/debug/gen-bars 3000 10 target/bench-data/nasdaq-3000x10.csv`
(the benchmark's data: 7.83 M rows, ticker-major).

The issue's peers keep the file's order; a nasdaq-cli load is sorted by
(date, ticker). So each is also run with that sort (`.sort(["Date",
"Ticker"])`, what a polars user writes for the same table), as a
like-for-like figure beside the issue's targets, which stay against the
unsorted peers.
"""
import atexit
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

cli, path = sys.argv[1], sys.argv[2]
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
python = sys.executable
out = tempfile.mkdtemp(prefix="bench-peers-")
# nasdaq-cli's cold jobs run with the cache off (every run parses); the
# repeated-load job uses a table cache of its own, filled once below.
cold_env = dict(os.environ, NASDAQ_CACHE_ENABLED="false")
warm_env = dict(os.environ, NASDAQ_CACHE_DIR=os.path.join(out, "cache"))



def first_tickers_and_last_date(csv_path, count=2):
    """Two tickers of the file and its last date, read from its start and end."""
    tickers, last = [], None
    with open(csv_path, "rb") as f:
        header = f.readline().decode().strip().split(",")
        column = {name: i for i, name in enumerate(header)}
        for line in f:
            ticker = line.decode().split(",")[column["Ticker"]]
            if ticker not in tickers:
                tickers.append(ticker)
            if len(tickers) == count:
                break
        f.seek(max(0, os.path.getsize(csv_path) - 4096))
        for line in f.read().decode(errors="replace").splitlines()[1:]:
            date = line.split(",")[column["Date"]]
            last = max(last or date, date)
    return tickers, last


def start_s3(csv_path):
    """A moto S3 server on a free 127.0.0.1 port holding the file as
    s3://bench/nasdaq.csv; stopped when the benchmark ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    atexit.register(server.terminate)
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(urllib.request.Request(endpoint + "/bench", method="PUT"))
            break
        except OSError:
            time.sleep(0.1)
    else:
        sys.exit(f"moto did not start on {endpoint}")
    # Public-read, so that curl times the bare transfer, unsigned.
    subprocess.run(["curl", "-sf", "-H", "x-amz-acl: public-read", "-T", csv_path,
                    f"{endpoint}/bench/nasdaq.csv"], check=True)
    return endpoint


tickers, last_date = first_tickers_and_last_date(path)
year_before = f"{int(last_date[:4]) - 1}{last_date[4:]}"
endpoint = start_s3(path)
s3_env = dict(cold_env, AWS_ENDPOINT_URL=endpoint, AWS_ALLOW_HTTP="true",
              AWS_ACCESS_KEY_ID="AKIABENCH0000000000", AWS_SECRET_ACCESS_KEY="bench-secret",
              AWS_REGION="us-east-1")

JOBS = {
    "nasdaq-cli fetch --json (memory)": [cli, "fetch", path, "--json", "--quiet"],
    "polars read_csv(try_parse_dates)": [python, "-c",
        "import sys, polars as pl; pl.read_csv(sys.argv[1], try_parse_dates=True)", path],
    "polars read_csv + sort(Date, Ticker)": [python, "-c",
        "import sys, polars as pl; pl.read_csv(sys.argv[1], try_parse_dates=True).sort(['Date', 'Ticker'])",
        path],
    "pandas old loader (dates + sorted MultiIndex)": [python, "-c",
        "import sys, pandas as pd; "
        "pd.read_csv(sys.argv[1], parse_dates=['Date']).set_index(['Date', 'Ticker']).sort_index()",
        path],
    "nasdaq-cli fetch --output x.parquet": [cli, "fetch", path, "--output",
        os.path.join(out, "nasdaq.parquet"), "--quiet"],
    "nasdaq-cli fetch --output x.parquet, zstd level 4": [cli, "fetch", path, "--output",
        os.path.join(out, "nasdaq-level4.parquet"), "--quiet"],
    "polars read_csv + write_parquet(zstd)": [python, "-c",
        "import sys, polars as pl; "
        "pl.read_csv(sys.argv[1], try_parse_dates=True).write_parquet(sys.argv[2], compression='zstd')",
        path, os.path.join(out, "polars.parquet")],
    "polars read_csv + sort(Date, Ticker) + write_parquet(zstd)": [python, "-c",
        "import sys, polars as pl; pl.read_csv(sys.argv[1], try_parse_dates=True)"
        ".sort(['Date', 'Ticker']).write_parquet(sys.argv[2], compression='zstd')",
        path, os.path.join(out, "polars-sorted.parquet")],
    "nasdaq-cli fetch --json, repeated (table cache)": [cli, "fetch", path, "--json", "--quiet"],
    "polars read_parquet (its file from above)": [python, "-c",
        "import sys, polars as pl; pl.read_parquet(sys.argv[1])", os.path.join(out, "polars.parquet")],
    f"nasdaq-cli fetch --tickers {','.join(tickers)} --from {year_before}": [
        cli, "fetch", path, "--tickers", ",".join(tickers), "--from", year_before, "--json", "--quiet"],
    "nasdaq-cli fetch s3://bench/nasdaq.csv --json": [
        cli, "fetch", "s3://bench/nasdaq.csv", "--json", "--quiet"],
    "raw download (curl to /dev/null)": [
        "curl", "-sf", "-o", "/dev/null", f"{endpoint}/bench/nasdaq.csv"],
}
WARM = {"nasdaq-cli fetch --json, repeated (table cache)"}
LEVEL4 = "nasdaq-cli fetch --output x.parquet, zstd level 4"
level4_env = dict(cold_env, NASDAQ_OUTPUT_ZSTD_LEVEL="4")
S3 = {"nasdaq-cli fetch s3://bench/nasdaq.csv --json"}
FILTERED = f"nasdaq-cli fetch --tickers {','.join(tickers)} --from {year_before}"
RATIOS = [
    ("nasdaq-cli fetch --json (memory)", "polars read_csv(try_parse_dates)"),
    ("nasdaq-cli fetch --json (memory)", "polars read_csv + sort(Date, Ticker)"),
    ("nasdaq-cli fetch --json (memory)", "pandas old loader (dates + sorted MultiIndex)"),
    ("nasdaq-cli fetch --output x.parquet", "polars read_csv + write_parquet(zstd)"),
    ("nasdaq-cli fetch --output x.parquet", "polars read_csv + sort(Date, Ticker) + write_parquet(zstd)"),
    (LEVEL4, "polars read_csv + write_parquet(zstd)"),
    ("nasdaq-cli fetch --json, repeated (table cache)", "polars read_parquet (its file from above)"),
    ("nasdaq-cli fetch --json, repeated (table cache)", "nasdaq-cli fetch --json (memory)"),
    (FILTERED, "nasdaq-cli fetch --json (memory)"),
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
    if name == LEVEL4:
        return level4_env
    return warm_env if name in WARM else s3_env if name in S3 else cold_env


# Warm-up: fills the page cache, the table cache and polars' Parquet file.
for name, argv in JOBS.items():
    run(argv, env_of(name))

# The in-memory Arrow size of the result, which the peak RSS target is a multiple of.
arrow_path = os.path.join(out, "nasdaq.arrow")
subprocess.run([cli, "fetch", path, "--output", arrow_path, "--quiet"], env=cold_env, check=True,
               stdout=subprocess.DEVNULL)
# In a process of its own: a table read here would stay in this process,
# and its children's peak RSS counts what they share of it until they exec.
arrow_bytes = int(subprocess.run(
    [python, "-c", "import sys, pyarrow.ipc as ipc; print(ipc.open_file(sys.argv[1]).read_all().nbytes)",
     arrow_path], check=True, capture_output=True, text=True).stdout)
os.remove(arrow_path)

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
print(f"{'job':62} {'median s':>9} {'min s':>7} {'peak RSS':>9}")
for name in JOBS:
    print(f"{name:62} {statistics.median(times[name]):9.2f} {min(times[name]):7.2f} "
          f"{statistics.median(rss[name]) / 1e9:7.2f} GB")
for ours, peer in RATIOS:
    ratio = statistics.median(times[ours]) / statistics.median(times[peer])
    print(f"{ours} / {peer}: {ratio:.2f}x (median wall)")
full = "nasdaq-cli fetch --json (memory)"
memory = statistics.median(rss[FILTERED]) / statistics.median(rss[full])
print(f"{FILTERED} / {full}: {memory:.2f}x (median peak RSS)")
ours_rss = statistics.median(rss[full])
polars_rss = statistics.median(rss["polars read_csv(try_parse_dates)"])
print(f"peak RSS of {full}: {ours_rss / 1e9:.2f} GB = {ours_rss / arrow_bytes:.2f}x the result's "
      f"Arrow size ({arrow_bytes / 1e9:.2f} GB); polars read_csv {polars_rss / 1e9:.2f} GB: "
      f"<= 1.3x {'met' if ours_rss <= 1.3 * arrow_bytes else 'not met'}, "
      f"below polars {'met' if ours_rss < polars_rss else 'not met'}")
local, raw = statistics.median(times[full]), statistics.median(times["raw download (curl to /dev/null)"])
from_s3 = statistics.median(times["nasdaq-cli fetch s3://bench/nasdaq.csv --json"])
print(f"S3 load {from_s3:.2f} s against local load + 20 % of the raw download "
      f"{local:.2f} + 0.2 x {raw:.2f} = {local + 0.2 * raw:.2f} s: "
      f"{'met' if from_s3 <= local + 0.2 * raw else 'not met'} "
      f"(S3 load - local load = {(from_s3 - local) / raw:.2f} x the raw download)")
polars_file = os.path.getsize(os.path.join(out, "polars.parquet"))
sorted_file = os.path.getsize(os.path.join(out, "polars-sorted.parquet"))
print(f"polars.parquet: {polars_file / 1e6:.1f} MB (file order); "
      f"polars-sorted.parquet: {sorted_file / 1e6:.1f} MB (sorted like ours)")
for name in ("nasdaq.parquet", "nasdaq-level4.parquet"):
    ours_file = os.path.getsize(os.path.join(out, name))
    print(f"{name}: {ours_file / 1e6:.1f} MB, no larger than polars': "
          f"{'met' if ours_file <= polars_file else 'not met'}; "
          f"than polars' sorted file: {'yes' if ours_file <= sorted_file else 'no'}")
