#!/usr/bin/env bash
# Runs the example end to end on this machine: a noida-db Kafka broker and a private
# PostgreSQL 15 cluster in a temporary directory (unless KAFKA and POSTGRES name servers of
# yours), the topic filled from the Nexmark generator, then the polyglot pipeline; prints what
# reached the topic and the table. Needs what scripts/setup.sh installs.
#   bash examples/kafka/run.sh            # EVENTS=100000 PARALLELISM=2 by default
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
weir="${WEIR:-${CARGO_TARGET_DIR:-$HOME/.cache/weir-target}/release/weir}"
work="$(mktemp -d)"
pg_bin=/usr/lib/postgresql/15/bin

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
as_postgres() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

cleanup() {
  [ -n "${kafka_pid:-}" ] && kill -s KILL -- "-$kafka_pid" 2>/dev/null || true
  [ -d "$work/pg" ] && as_postgres "$pg_bin/pg_ctl" -m immediate -D "$work/pg" stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -z "${KAFKA:-}" ]; then
  port="$(free_port)"
  setsid noida-db start --only kafka --kafka-port "$port" --data-dir "$work/kafka" >"$work/kafka.log" 2>&1 &
  kafka_pid=$!
  until (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do sleep 0.2; done
  export KAFKA="127.0.0.1:$port"
fi
if [ -z "${POSTGRES:-}" ]; then
  port="$(free_port)"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$work"
  as_postgres "$pg_bin/initdb" -A trust -U postgres -D "$work/pg" >/dev/null
  as_postgres "$pg_bin/pg_ctl" -w -l "$work/pg.log" -D "$work/pg" \
    -o "-p $port -k $work -c listen_addresses=127.0.0.1" start >/dev/null
  export POSTGRES="postgres://postgres@127.0.0.1:$port/postgres"
fi
psql -X -q -d "$POSTGRES" -c "CREATE TABLE IF NOT EXISTS auction_totals
  (auction BIGINT PRIMARY KEY, bids BIGINT NOT NULL, total_eur BIGINT NOT NULL)"

echo "== filling the topic bids from the Nexmark generator" >&2
"$weir" run --checkpoint-dir "$work/checkpoints" "$here/fill-bids.yaml"
echo "== the polyglot pipeline: Kafka bids -> C -> Python -> Rust -> JavaScript -> Kafka, and -> PostgreSQL" >&2
"$weir" run --checkpoint-dir "$work/checkpoints" "$here/pipeline.yaml"

echo "== the topic auction-lines (first 5 lines)" >&2
TOPIC=auction-lines "$weir" run -q "$here/print-topic.yaml" >"$work/lines.txt"
head -5 "$work/lines.txt"; echo "... $(wc -l <"$work/lines.txt") lines"
echo "== the table auction_totals (top 5 by total)" >&2
psql -X -d "$POSTGRES" -c "SELECT * FROM auction_totals ORDER BY total_eur DESC, auction LIMIT 5"
psql -X -A -t -d "$POSTGRES" -c "SELECT count(*) || ' auctions, ' || sum(bids) || ' bids' FROM auction_totals"
