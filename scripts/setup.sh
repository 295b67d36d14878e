#!/usr/bin/env bash
# Installs what building Weir needs on a fresh machine (idempotent), then builds the weir binary.
# Sourced by run-example.sh and test.sh; prints the path of the built binary's directory.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/weir-target}"

if ! command -v cargo >/dev/null 2>&1; then
  echo "error: Rust is not installed; install it from https://rustup.rs" >&2
  exit 1
fi
if ! rustc --print target-libdir --target wasm32-wasip2 >/dev/null 2>&1 \
   || [ ! -d "$(rustc --print sysroot)/lib/rustlib/wasm32-wasip2" ]; then
  echo "installing the wasm32-wasip2 Rust target" >&2
  rustup target add wasm32-wasip2
fi

cargo build --release -p weir >&2
