"""Failures are Python exceptions of the right class, with the messages the CLI prints."""

import subprocess

import pytest

import nasdaq_data


def test_a_missing_file_is_a_source_error(sandbox):
    with pytest.raises(nasdaq_data.SourceError) as caught:
        nasdaq_data.load("missing.csv")
    assert "missing.csv: no such file" in str(caught.value)
    assert isinstance(caught.value, nasdaq_data.NasdaqDataError)


def test_bad_data_names_the_line_and_column(sandbox):
    (sandbox / "bad.csv").write_text(
        "Date,Ticker,Open,High,Low,Close,Adj Close,Volume\n2024-01-02,AAPL,187.2,abc,183.9,185.6,184.9,1\n"
    )
    with pytest.raises(nasdaq_data.DataError) as caught:
        nasdaq_data.load(sandbox / "bad.csv")
    message = str(caught.value)
    assert "line 2, column 4 (High)" in message, message


def test_same_message_as_the_cli(sandbox, cli_path):
    (sandbox / "bad.csv").write_text("Date,Ticker,Open,High,Low,Close\n2024-01-02,AAPL,1,x,1,1\n")
    with pytest.raises(nasdaq_data.DataError) as caught:
        nasdaq_data.load("bad.csv")
    out = subprocess.run([cli_path, "fetch", "bad.csv"], cwd=sandbox, capture_output=True, text=True)
    assert out.returncode == 3  # a data failure
    assert f"error: {caught.value}" in out.stderr, (out.stderr, str(caught.value))


def test_no_credentials_is_a_source_error_listing_what_was_tried(sandbox, moto_s3):
    endpoint, _ = moto_s3
    with pytest.raises(nasdaq_data.SourceError) as caught:
        nasdaq_data.load("s3://market/NASDAQ.csv", fallback=False,
                         aws_endpoint_url=endpoint, aws_allow_http=True)
    message = str(caught.value)
    assert "s3://market: no AWS credentials found. Tried: Environment" in message, message
    # Each provider of the AWS chain says why it had none; the sandbox's metadata
    # endpoint (nothing listens) refused the connection.
    for provider in ["Profile", "WebIdentityToken", "EcsContainer", "Ec2InstanceMetadata"]:
        assert f"{provider}: " in message, message
    assert "Connection refused" in message, message


def test_a_bad_setting_is_a_config_error_naming_key_and_origin(sandbox):
    with pytest.raises(nasdaq_data.ConfigError) as caught:
        nasdaq_data.load(nasdaq_timeout_secs="soon")
    message = str(caught.value)
    assert "NASDAQ_TIMEOUT_SECS=soon" in message and "keyword arguments" in message, message
    with pytest.raises(nasdaq_data.ConfigError, match="unknown setting"):
        nasdaq_data.load(aws_regoin="eu-west-1")
    (sandbox / ".env").write_text("USE_S3=maybe\n")
    with pytest.raises(nasdaq_data.ConfigError, match=r"USE_S3=maybe \(from \.env"):
        nasdaq_data.load()
