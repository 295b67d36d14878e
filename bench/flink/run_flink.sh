#!/usr/bin/env bash
# Apache Flink beside Weir, on this machine, for `weir bench --peer flink` (which calls this):
#   bash bench/flink/run_flink.sh setup     # a venv with apache-flink from PyPI, WeirPeer compiled
#   bash bench/flink/run_flink.sh one --workload w2 --rows 10000000 --parallelism 1 [--state rocksdb]
#                                       [--ckpt-interval 10s]   # w4: w3 with checkpoints
#                                       [--key auction|bidder] # w3/w4: 10,000 or 1 M keys
# Each `one` appends a JSON line to $RESULTS: the run's figures (`rps_job`: rows per second of
# the job's runtime), `rc`, and `maxrss_kb`/`user_s` from GNU time. Needs Java 17 and python3.
# Everything is written under $WEIR_PEERS (default /tmp/weir-peers).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
peers="${WEIR_PEERS:-/tmp/weir-peers}"
venv="$peers/venv"
classes="$peers/classes"
results="${RESULTS:-$peers/results.jsonl}"
flink_version="${FLINK_VERSION:-2.3.0}"

flink_dir() { "$venv/bin/python" -c 'import os, pyflink; print(os.path.dirname(pyflink.__file__))'; }

setup() {
  mkdir -p "$peers" "$classes"
  [ -x "$venv/bin/python" ] || python3 -m venv "$venv"
  if ! "$venv/bin/python" -c 'import pyflink' 2>/dev/null; then
    "$venv/bin/pip" install --quiet "apache-flink==$flink_version"
  fi
  if [ ! -f "$classes/WeirPeer.class" ] || [ "$here/WeirPeer.java" -nt "$classes/WeirPeer.class" ]; then
    javac -d "$classes" -cp "$(flink_dir)/lib/*" "$here/WeirPeer.java"
  fi
}

one() {
  local args=() interval=""
  while [ $# -gt 0 ]; do
    case "$1" in
      --ckpt-interval) interval="${2%s}"; shift 2 ;;
      *) args+=("$1"); shift ;;
    esac
  done
  [ -n "$interval" ] && args+=(--checkpoint-interval-s "$interval")
  mkdir -p "$(dirname "$results")"
  local work; work="$(mktemp -d)"
  # The options Flink's own launcher passes on Java 17 (its config.yaml, env.java.opts.all).
  local opens; opens="$(grep -E '^\s+all:' "$(flink_dir)/conf/config.yaml" | head -1 | sed 's/^\s*all:\s*//')"
  local rc=0
  # shellcheck disable=SC2086
  /usr/bin/time -f '%M %U' -o "$work/time" java -Xmx2g $opens \
    -Dlog4j2.level=WARN -cp "$(flink_dir)/lib/*:$classes" WeirPeer "${args[@]}" \
    --checkpoint-dir "$work/checkpoints" >"$work/out" 2>"$work/log" || rc=$?
  python3 - "$work" "$rc" >>"$results" <<'PY'
import json, sys
work, rc = sys.argv[1], int(sys.argv[2])
lines = [l for l in open(f"{work}/out") if l.startswith("{")]
record = json.loads(lines[-1]) if lines else {"error": open(f"{work}/log").read()[-2000:]}
maxrss, user = (open(f"{work}/time").read().split()[-2:] + ["0", "0"])[:2]
record.update(rc=rc, maxrss_kb=int(maxrss), user_s=float(user))
print(json.dumps(record))
PY
  rm -rf "$work"
  tail -1 "$results"
}

command="${1:-}"; shift || true
case "$command" in
  setup) setup ;;
  one) setup >/dev/null; one "$@" ;;
  *) echo "usage: run_flink.sh setup | one --workload w2|w3|w4 --rows N --parallelism P [--state hashmap|rocksdb] [--ckpt-interval Ns] [--key auction|bidder]" >&2; exit 2 ;;
esac
