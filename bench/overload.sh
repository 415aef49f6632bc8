#!/usr/bin/env bash
# Overload with an independent client: wrk sends payments by demo citizens (unique
# Idempotency-Keys, like the table in issue 14) at 64, 256 and 1,000 connections that
# retry at once (wrk ignores Retry-After), and reports payments answered a second, 503s
# a second and p99, against `maeul serve --demo-rate 0` on the same machine.
#
# Amounts are 1 to 19 won (10 on average, for every citizen): a demo citizen holds
# 50,000 won, so 400 of them make about two million payments before money runs out.
# Any answer other than 200 or 503 (a refusal such as insufficient_funds) is counted
# apart and fails the run, so the figure is always payments made, never refusals.
#
#   bench/overload.sh [seconds]    (needs wrk and a release build: cargo build --release -p maeul)
#   MAEUL=/path/to/other/maeul CONNECTIONS="64 1000" bench/overload.sh 10   (a baseline build, some levels)
#   SERVE_ARGS="--http-threads 1" bench/overload.sh 8   (more options for maeul serve)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-10}
maeul=${MAEUL:-target/release/maeul}
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
[ -x "$maeul" ] || { echo "build first: cargo build --release -p maeul" >&2; exit 1; }
if curl -sf http://127.0.0.1:18080/readyz >/dev/null; then
  echo "something already answers on 127.0.0.1:18080: stop it first" >&2; exit 1
fi
dir=$(mktemp -d)
trap 'kill "${server:-}" 2>/dev/null || true; wait "${server:-}" 2>/dev/null || true; rm -rf "$dir"' EXIT
"$maeul" serve --data-dir "$dir/data" --listen 127.0.0.1:18080 --bank-listen 127.0.0.1:17070 \
  --demo-rate 0 --connections-per-address 100000 --sign-ins-per-address 100000 \
  ${SERVE_ARGS:-} >"$dir/server.log" 2>&1 &
server=$!
for _ in $(seq 1 120); do curl -sf http://127.0.0.1:18080/readyz >/dev/null && break; sleep 0.5; done
kill -0 $server 2>/dev/null || { echo "the server did not start:" >&2; tail -5 "$dir/server.log" >&2; exit 1; }
# 400 demo citizens' tokens, and the demo's 100 merchants.
tokens=()
for i in $(seq 1 400); do
  login=$(printf 'citizen-%04d' "$i")
  t=$(curl -sf -X POST http://127.0.0.1:18080/api/v1/sessions -H 'content-type: application/json' \
      -d "{\"login\":\"$login\",\"password\":\"maeul-demo-password\"}" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
  tokens+=("\"$t\"")
done
lua="$dir/pay.lua"
{
  echo "local tokens = {$(IFS=,; echo "${tokens[*]}")}"
  cat <<'LUA'
local n = 0
request = function()
  n = n + 1
  local token = tokens[(n * 7 + id) % #tokens + 1]
  local merchant = 20000 + (n % 100)
  local body = string.format('{"merchant":%d,"amount":%d,"pin":"123456"}', merchant, 1 + n % 19)
  local headers = {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = string.format("wrk-%d-%d-%d", id, os.time(), n),
  }
  return wrk.format("POST", "/api/v1/me/payments", headers, body)
end
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("id", #threads)
end
busy = 0
other = 0
response = function(status, headers, body)
  if status == 503 then busy = busy + 1
  elseif status ~= 200 then other = other + 1 end
end
done = function(summary, latency, requests)
  local b, o = 0, 0
  for _, t in ipairs(threads) do b = b + t:get("busy"); o = o + t:get("other") end
  io.write(string.format("busy %d\n", b))
  io.write(string.format("other %d\n", o))
  io.write(string.format("p50 %.1f ms, p99 %.1f ms (all answers)\n", latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
LUA
} >"$lua"
echo "| connections | payments made/s (200) | 503/s | p99 (all answers) |"
echo "|---|---|---|---|"
for c in ${CONNECTIONS:-64 256 1000}; do
  out=$(wrk -t2 -c"$c" -d"${seconds}s" --timeout 10s -s "$lua" http://127.0.0.1:18080 2>&1) \
    || { echo "wrk failed at $c connections: $out" >&2; failed=1; continue; }
  rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p')
  busy=$(echo "$out" | sed -n 's/^busy \([0-9]*\).*/\1/p')
  other=$(echo "$out" | sed -n 's/^other \([0-9]*\).*/\1/p')
  errors=$(echo "$out" | sed -n 's/^ *Socket errors: *\(.*\)/\1/p')
  p99=$(echo "$out" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')
  awk -v c="$c" -v rps="$rps" -v busy="${busy:-0}" -v s="$seconds" -v p99="$p99" \
    -v other="${other:-0}" \
    'BEGIN { printf "| %d | %.0f | %.0f | %s ms |\n", c, rps - (busy + other) / s, busy / s, p99 }'
  [ -z "$errors" ] || echo "at $c connections, wrk's socket errors: $errors" >&2
  if [ "${other:-0}" != 0 ]; then
    echo "at $c connections: $other answers were neither 200 nor 503 (refusals are not payments)" >&2
    failed=1
  fi
  sleep 2
done
curl -s http://127.0.0.1:18080/metrics | grep -E "^maeul_admission_total\{class=\"counter\"|^maeul_rejections_total" || true
exit "${failed:-0}"
