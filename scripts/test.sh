#!/usr/bin/env bash
# README command 2 (and CI): formatting, lints, the guest UDF builds, every test.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

echo "== format and lints" >&2
cargo fmt --all -- --check
# --release: shares the release build (and its RocksDB C++ build) instead of a second debug one.
cargo clippy --release --workspace --all-targets -- -D warnings

echo "== crate layering" >&2
# The protocol cores and the shared types build without the engine's heavy dependencies, and
# the client without the engine: what each crate may pull in is part of its contract.
forbid() {
  local crate="$1" pattern="$2" found
  found="$(cargo tree -p "$crate" -e normal,build --prefix none | grep -E "^($pattern) v" | sort -u || true)"
  if [ -n "$found" ]; then
    echo "error: $crate depends on what it must not: $found" >&2
    exit 1
  fi
}
forbid weir-proto 'wasmtime|rocksdb|quinn|tokio'
forbid weir-core 'wasmtime|rocksdb|quinn|tokio'
forbid weir-client 'wasmtime|rocksdb|quinn|tokio'
forbid weir-blob 'wasmtime|rocksdb|quinn|tokio'
forbid weir-state 'wasmtime|quinn|tokio'

echo "== guest UDFs (wasm32-wasip2)" >&2
for workspace in udfs/rust tests/udfs/rust; do
  (cd "$workspace" && env -u CARGO_TARGET_DIR cargo build --release)
done

echo "== tests" >&2
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
WEIR_BIN="$CARGO_TARGET_DIR/release/weir" cargo test --release --workspace 2>&1 | tee "$log"
awk '/^test result:/ { passed += $4; failed += $6 } END { printf "%d passed, %d failed\n", passed, failed }' "$log"
