#!/usr/bin/env bash
# Data-API benchmark: GET of one row by id through /rest/v1 with a user's JWT and an owner
# policy (row-level security on), measured with wrk on loopback against `dist/cave serve`.
# Prints requests/s and latency percentiles and writes bench/results/rest.txt; `make bench-api`
# runs it. Env: CAVE (default dist/cave), DURATION (default 10s), CONNECTIONS (default 32),
# ROWS (default 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
CAVE=${CAVE:-dist/cave}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
ROWS=${ROWS:-1000}
OUT=bench/results
mkdir -p "$OUT"

command -v wrk >/dev/null || { apt-get update && apt-get install -y --no-install-recommends wrk; }
command -v jq >/dev/null || { apt-get update && apt-get install -y --no-install-recommends jq; }
command -v curl >/dev/null || { apt-get update && apt-get install -y --no-install-recommends curl; }
[[ -x $CAVE ]] || { echo "$CAVE missing: run make build" >&2; exit 1; }

data=$(mktemp -d /tmp/cave-bench-rest.XXXXXX)
log=$data/serve.log
cleanup() { [[ -n ${pid:-} ]] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT
"$CAVE" serve --port 0 --data-dir "$data" 2>"$log" &
pid=$!
for _ in $(seq 100); do grep -q 'listening on' "$log" && break; sleep 0.1; done
url=$(grep -o 'listening on [^ ]*' "$log" | cut -d' ' -f3)
[[ -n $url ]] || { cat "$log" >&2; exit 1; }
keys=$("$CAVE" db keys --json --data-dir "$data")
anon=$(jq -r .anon_key <<<"$keys")
service=$(jq -r .service_role_key <<<"$keys")

q() { curl -sf "$url/query" -H "apikey: $service" -H "authorization: Bearer $service" -H 'content-type: application/json' -d "$(jq -nc --arg s "$1" '{sql: $s}')" >/dev/null; }
q "CREATE TABLE items (id bigserial PRIMARY KEY, owner uuid NOT NULL DEFAULT auth.uid(), title text NOT NULL)"
q "ALTER TABLE items ENABLE ROW LEVEL SECURITY"
q "CREATE POLICY owner_only ON items FOR ALL TO authenticated USING (owner = auth.uid()) WITH CHECK (owner = auth.uid())"
session=$(curl -sf "$url/auth/v1/signup" -H "apikey: $anon" -H 'content-type: application/json' -d '{"email":"bench@example.com","password":"bench-password"}')
token=$(jq -r .access_token <<<"$session")
[[ $token != null ]] || { echo "signup gave no access token: $session" >&2; exit 1; }
rows=$(jq -nc --argjson n "$ROWS" '[range($n) | {title: "item \(.)"}]')
curl -sf "$url/rest/v1/items" -H "apikey: $anon" -H "authorization: Bearer $token" -H 'content-type: application/json' -d "$rows" >/dev/null
check=$(curl -sf "$url/rest/v1/items?id=eq.7&select=id,title" -H "apikey: $anon" -H "authorization: Bearer $token")
[[ $check == '[{"id":7,"title":"item 6"}]' ]] || { echo "unexpected answer: $check" >&2; exit 1; }

cat >"$data/get.lua" <<LUA
wrk.headers["apikey"] = "$anon"
wrk.headers["authorization"] = "Bearer $token"
request = function()
  return wrk.format("GET", "/rest/v1/items?id=eq." .. math.random(1, $ROWS) .. "&select=id,title")
end
done = function(summary, latency, requests)
  io.write(string.format("non-2xx or errors: %d\n", summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
LUA
# Warm-up (plan and token caches, JIT), then the measured run.
wrk -t1 -c"$CONNECTIONS" -d3s -s "$data/get.lua" "$url" >/dev/null
{
  echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
  wrk -t1 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$data/get.lua" "$url"
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT/rest.txt"
