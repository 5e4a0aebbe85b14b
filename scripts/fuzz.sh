#!/usr/bin/env bash
# Fuzzes dialect detection and the parser (fuzz/fuzz_targets/parse.rs) with
# cargo-fuzz for SECONDS (default 30; the test command runs it that long,
# run it for hours by hand). Installs cargo-fuzz when missing. libFuzzer's
# limits make a blow-up a failure: one allocation over 512 MB, or 2 GB RSS.
# A crash leaves its input in fuzz/artifacts/parse/: make it a regression
# test in crates/core/tests/hostile.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-30}"

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --version 0.13.2 --locked --quiet
fi

# Seeds: every real file the dialect tests use, behind the byte that picks
# the file name the target loads them under.
corpus=fuzz/corpus/parse
mkdir -p "$corpus"
for file in crates/core/tests/fixtures/dialects/*/* crates/core/tests/fixtures/quality/*; do
  seed="$corpus/seed-$(basename "$(dirname "$file")")-$(basename "$file")"
  [ -f "$seed" ] || { printf '\000'; cat "$file"; } > "$seed"
done

echo "== cargo fuzz run parse ($seconds s)"
# Stable Rust: no sanitizer (cargo-fuzz's default needs nightly); coverage
# instrumentation and libFuzzer's own limits do the work. `--dev`: the dev
# profile of fuzz/Cargo.toml, which optimises only the crates that do the
# per-byte work (the build took ten minutes optimised, under five so),
# and keeps overflow checks and debug assertions on, as the tests have them.
(cd fuzz && cargo fuzz run --dev --sanitizer none parse "../$corpus" -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=512 -print_final_stats=1)
