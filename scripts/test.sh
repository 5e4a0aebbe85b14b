#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs what the tests need
# (a Python venv with moto's S3 server, pyarrow, maturin, pytest, pandas,
# polars, streamlit), builds the Python package into it, then runs lints,
# the Rust tests, the Python tests, and 30 s of fuzzing the parser.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
requirements=scripts/requirements-test.txt
stamp="$venv/.installed-$(sha256sum "$requirements" | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "== installing test tools into $venv ($(grep -v '^#' "$requirements" | tr '\n' ' '))"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
  touch "$stamp"
fi
export NASDAQ_TEST_PYTHON="$PWD/$venv/bin/python"

echo "== cargo fmt --check"
cargo fmt --all --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== cargo test"
cargo test --workspace
echo "== building the Python package into $venv (maturin develop)"
VIRTUAL_ENV="$PWD/$venv" PATH="$PWD/$venv/bin:$PATH" \
  "$venv/bin/maturin" develop --quiet -m crates/python/Cargo.toml
echo "== pytest"
NASDAQ_CLI_BIN="$PWD/target/debug/nasdaq-cli" "$venv/bin/python" -m pytest -q -p no:cacheprovider crates/python/tests
echo "== fuzzing the parser for 30 s (scripts/fuzz.sh SECONDS runs longer)"
bash scripts/fuzz.sh 30
