"""Fixtures: a scrubbed working directory and environment per test, a real
S3 server (moto) on 127.0.0.1, the nasdaq-cli binary to compare against.

A test that needs a tool or server that cannot start fails under CI
(CI=true) and is skipped loudly otherwise.
"""

import os
import pathlib
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "data" / "sample" / "NASDAQ.csv"


def unavailable(what: str, why: str):
    message = f"{what} unavailable: {why} (run `bash scripts/test.sh`, which installs it)"
    if os.environ.get("CI") in ("true", "1"):
        pytest.fail(message)
    print(f"\n!!!!! SKIPPED: {message} !!!!!\n", file=sys.stderr)
    pytest.skip(message)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """An empty working directory and home; no AWS or NASDAQ variable of the caller."""
    for name in list(os.environ):
        if name.startswith(("AWS_", "NASDAQ_")) or name in ("USE_S3", "LOCAL_FALLBACK"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
    # Never probe the real instance-metadata address: nothing listens on port 1.
    monkeypatch.setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:1")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def moto_s3():
    """moto's S3 server on a port the OS picks, with a bucket `market`."""
    try:
        from moto.server import ThreadedMotoServer
        import boto3
    except ImportError as err:
        unavailable("moto", str(err))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{server._server.server_port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLE000",
        aws_secret_access_key="example-secret",
    )
    client.create_bucket(Bucket="market")
    yield endpoint, client
    server.stop()


@pytest.fixture
def s3_env(sandbox, moto_s3, monkeypatch):
    """The environment a user of the S3 setup has: endpoint, keys, bucket."""
    endpoint, client = moto_s3
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "example-secret")
    monkeypatch.setenv("AWS_S3_BUCKET_NAME", "market")
    return endpoint, client


@pytest.fixture
def cli_path():
    """The nasdaq-cli binary of this workspace (built by the test command)."""
    path = os.environ.get("NASDAQ_CLI_BIN") or str(ROOT / "target" / "debug" / "nasdaq-cli")
    if not os.path.exists(path):
        unavailable("nasdaq-cli", f"no binary at {path}")
    return path


@pytest.fixture
def cli(cli_path):
    """Runs nasdaq-cli in the current environment; it must succeed."""

    def run(*args, cwd):
        done = subprocess.run([cli_path, *args], cwd=cwd, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return done

    return run


@pytest.fixture
def sample_copy(sandbox):
    """The bundled sample as a file of the user's."""
    path = sandbox / "prices.csv"
    shutil.copy(SAMPLE, path)
    return path
