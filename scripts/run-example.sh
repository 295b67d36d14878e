#!/usr/bin/env bash
# README command 1: runs an example job on the embedded mini-cluster (default: the polyglot
# pipeline: Python -> C -> Rust -> JavaScript).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
exec "$CARGO_TARGET_DIR/release/weir" run "${1:-examples/polyglot.yaml}" "${@:2}"
