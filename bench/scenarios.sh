#!/usr/bin/env bash
# The hard days of issue 14, each against a fresh `maeul serve --demo-rate 0` on this
# machine: `maeul loadgen --scenario S` measures what the server serves of the scenario's
# surge, then offers ten times that (clients that follow Retry-After and tickets) over
# counter payments at a third of their capacity, and prints the table per class.
#
#   bench/scenarios.sh [seconds] [scenario...]   (needs: cargo build --release -p maeul)
#   SERVER=/path/to/other/maeul bench/scenarios.sh 5 launch   (another server build, this load generator)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-5}
shift || true
scenarios=${*:-first-of-month launch market-day}
maeul=${MAEUL:-target/release/maeul}
[ -x "$maeul" ] || { echo "build first: cargo build --release -p maeul" >&2; exit 1; }
server_bin=${SERVER:-$maeul}
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; wait 2>/dev/null' EXIT
for s in $scenarios; do
  # A server left on the port would answer in this one's place (and make the figures
  # another build's): refuse to start.
  if curl -sf http://127.0.0.1:18080/readyz >/dev/null; then
    echo "something already answers on 127.0.0.1:18080: stop it first" >&2; exit 1
  fi
  dir=$(mktemp -d)
  "$server_bin" serve --data-dir "$dir/data" --listen 127.0.0.1:18080 --bank-listen 127.0.0.1:17070 \
    --demo-rate 0 --connections-per-address 100000 --sign-ins-per-address 100000 \
    >"$dir/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 120); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.5; done
  kill -0 $server 2>/dev/null || { echo "the server did not start:" >&2; tail -5 "$dir/server.log" >&2; exit 1; }
  "$maeul" loadgen --url http://127.0.0.1:18080 --bank-url http://127.0.0.1:17070 \
    --scenario "$s" --citizens "${CITIZENS:-100}" --seconds "$seconds" --drain "${DRAIN:-90}" \
    ${JOURNEYS:+--journeys-csv "$JOURNEYS.$s.csv"} 2>&1 |
    grep -v '^setting up\|^measuring'
  kill -0 $server 2>/dev/null || { echo "the server died during the run:" >&2; tail -5 "$dir/server.log" >&2; exit 1; }
  echo "server peak memory: $(awk '/VmHWM/ {print $2 / 1024 " MiB"}' /proc/$server/status)"
  # (grep -c exits 1 on no match: with pipefail that would end the script, server left running)
  echo "server warnings and errors: $(grep -c "WARN\|ERROR" "$dir/server.log" || true)"
  grep "WARN\|ERROR" "$dir/server.log" | cut -c1-300 | sort | uniq -c | sort -rn | head -${WARNINGS:-0} || true
  kill $server; wait $server 2>/dev/null || true
  server=
  rm -rf "$dir"
done
