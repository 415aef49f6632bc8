#!/usr/bin/env bash
# Fuzzes the running API with schemathesis (from PyPI) against the OpenAPI document the
# server itself serves: anonymous, as a citizen and as an operator. Fails on any 5xx or
# any answer that does not match the document.
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m pip install --quiet --disable-pip-version-check 'schemathesis==4.32.5' 2>&1 \
    | grep -v "Running pip as the 'root' user" || true

DATA=$(mktemp -d)
cleanup() {
    kill -INT "${SERVER:-0}" 2>/dev/null || true
    wait "${SERVER:-0}" 2>/dev/null || true
    rm -rf "$DATA"
}
trap cleanup EXIT

cargo build --locked -q -p maeul
./target/debug/maeul serve --data-dir "$DATA/data" --listen 127.0.0.1:0 --bank-listen 127.0.0.1:0 \
    --demo-rate 10 --seconds 900 > "$DATA/stdout" 2> "$DATA/stderr" &
SERVER=$!
for _ in $(seq 1 120); do
    grep -q "HTTP API on" "$DATA/stdout" 2>/dev/null && break
    sleep 0.5
done
BASE=$(grep -o 'http://[0-9.:]*' "$DATA/stdout" | head -1)
[ -n "$BASE" ] || { echo "the server did not start"; cat "$DATA/stderr"; exit 1; }
API="$BASE/api/v1"
J='content-type: application/json'

curl -sf -X POST "$API/citizens" -H "$J" \
    -d '{"login":"fuzz","password":"s3cret-pass","pin":"123456","birth_year":1990,"currency":"demo"}' > /dev/null
token() {
    curl -sf -X POST "$API/sessions" -H "$J" -d "{\"login\":\"$1\",\"password\":\"$2\"}" \
        | python3 -c 'import sys, json; print(json.load(sys.stdin)["token"])'
}
CITIZEN=$(token fuzz s3cret-pass)
OPERATOR=$(token operator maeul-demo-password)

for who in anonymous citizen operator; do
    echo "-- schemathesis as $who"
    args=()
    case $who in
        citizen) args=(-H "Authorization: Bearer $CITIZEN") ;;
        operator) args=(-H "Authorization: Bearer $OPERATOR") ;;
    esac
    python3 -m schemathesis.cli run "$API/openapi.json" \
        --checks not_a_server_error,response_schema_conformance \
        --max-examples 30 --seed 1 "${args[@]}"
done
