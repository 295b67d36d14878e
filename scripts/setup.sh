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

# Guest toolchains for UDFs in Python, JavaScript and C (docs/languages.md), each installed only
# when missing. Versions are the ones Weir is tested with.
if ! command -v componentize-py >/dev/null 2>&1; then
  echo "installing componentize-py (Python UDFs)" >&2
  python3 -m pip install --quiet componentize-py==0.25.1 >&2
fi
# The metrics tests parse Weir's Prometheus endpoints with Prometheus' own Python parser.
if ! python3 -c "import prometheus_client" >/dev/null 2>&1; then
  echo "installing prometheus-client (the metrics tests' exposition parser)" >&2
  python3 -m pip install --quiet prometheus-client==0.21.1 >&2
fi
if [ ! -f "$(npm root -g 2>/dev/null)/@bytecodealliance/componentize-js/src/componentize.js" ]; then
  echo "installing componentize-js (JavaScript UDFs)" >&2
  npm install -g --no-audit --no-fund --loglevel=error @bytecodealliance/componentize-js@0.23.0 >&2
fi
# The dashboard test drives Debian's Chromium through Playwright.
if [ ! -x /usr/lib/chromium/chromium ]; then
  echo "installing chromium (the dashboard's browser test)" >&2
  sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if_needed apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -q chromium >&2
fi
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  echo "installing playwright-core (the dashboard's browser test)" >&2
  npm install --prefix tests/browser --no-audit --no-fund --loglevel=error >&2
fi
# libclang-dev: the rocksdb crate generates its bindings with bindgen at build time.
if ! command -v clang >/dev/null 2>&1 || [ ! -d /usr/include/wasm32-wasi ] \
   || ! ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 \
   || ! ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1; then
  echo "installing clang, lld, wasi-libc (C UDFs) and libclang (RocksDB bindings)" >&2
  sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if_needed apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -q \
    clang lld wasi-libc libclang-rt-14-dev-wasm32 libclang-dev >&2
fi

# The connector tests run real servers (docs/connectors.md): noida-db's Kafka-compatible broker
# (transactions, read_committed) and a private PostgreSQL 15 cluster. librdkafka builds from the
# rdkafka crate and needs OpenSSL's headers.
if ! command -v noida-db >/dev/null 2>&1; then
  echo "installing noida-db (the Kafka tests' broker)" >&2
  python3 -m pip install --quiet noida-db==0.2.3 >&2
  if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
  hash -r
fi
if [ ! -x /usr/lib/postgresql/15/bin/initdb ] || ! command -v psql >/dev/null 2>&1 \
   || ! pkg-config --exists openssl 2>/dev/null; then
  echo "installing PostgreSQL 15 (the PostgreSQL sink's tests) and OpenSSL headers (librdkafka)" >&2
  sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if_needed apt-get update -q >&2
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -q \
    postgresql-15 postgresql-client-15 libssl-dev pkg-config >&2
fi

cargo build --release -p weir >&2
