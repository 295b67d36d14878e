#!/usr/bin/env bash
# README command 2 (and CI): formatting, lints, the guest UDF builds, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

echo "== format and lints" >&2
cargo fmt --all -- --check
# --release: shares the release build (and its RocksDB C++ build) instead of a second debug one.
cargo clippy --release --workspace --all-targets -- -D warnings

echo "== guest UDFs (wasm32-wasip2)" >&2
for workspace in udfs/rust tests/udfs/rust; do
  (cd "$workspace" && env -u CARGO_TARGET_DIR cargo build --release)
done

echo "== tests" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
WEIR_BIN="$CARGO_TARGET_DIR/release/weir" cargo test --release --workspace 2>&1 | tee "$log"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
