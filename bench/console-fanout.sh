#!/usr/bin/env bash
# The fan-out benchmark with the dashboard's debug console closed and open
# (issue 14: the console must cost nothing unwatched and never slow
# delivery when watched). One herald (embedded default with the dashboard),
# one app created through the admin API, and `herald bench fanout` against
# it, alternating: console closed, console open (a logged-in SSE stream of
# that app, read by curl), ROUNDS times each, on the same server.
#
#   bench/console-fanout.sh [ROUNDS] [RATES]     (defaults: 3, "1,15,30")
#
# Results (JSON per run and a summary table) go to $OUT (default
# /tmp/console-fanout). Needs curl and jq.
set -euo pipefail

ROUNDS=${1:-3}
RATES=${2:-1,15,30}
SUBS=${SUBS:-10000}
OUT=${OUT:-/tmp/console-fanout}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/console-*.out
work=$(mktemp -d)
cleanup() {
	[[ -n ${viewer:-} ]] && kill "$viewer" 2>/dev/null || true
	[[ -n ${server:-} ]] && kill "$server" 2>/dev/null && wait "$server" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$work/herald" "$ROOT/cmd/herald"
port=$(free_port)
aport=$(free_port)
token="bench-token-$RANDOM$RANDOM$RANDOM"
admin="http://127.0.0.1:$aport"
ulimit -n "$(ulimit -Hn)"

env -u HERALD_CONFIG HERALD_ADMIN_TOKEN="$token" HERALD_LOG_LEVEL=warn \
	"$work/herald" serve --host 127.0.0.1 --port "$port" --admin-listen "127.0.0.1:$aport" \
	--data-dir "$work/data" >"$OUT/herald.log" 2>&1 &
server=$!
for _ in $(seq 100); do
	curl -fs "http://127.0.0.1:$port/ready" >/dev/null && curl -fs "$admin/login" >/dev/null && break
	sleep 0.1
done

# The benchmark's app, in the app store so that the dashboard knows it.
curl -fsS -X POST -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
	-d '{"id":"bench","key":"bench-key","secret":"bench-secret-0123456789abcdef"}' "http://127.0.0.1:$port/admin/apps" >/dev/null

# A dashboard session: the login form's CSRF token, then the token.
jar="$work/cookies"
csrf=$(curl -fsS -c "$jar" "$admin/login" | sed -n 's/.*name="csrf" value="\([^"]*\)".*/\1/p' | head -1)
curl -fsS -o /dev/null -b "$jar" -c "$jar" -H "Origin: $admin" \
	--data-urlencode "csrf=$csrf" --data-urlencode "token=$token" "$admin/login"

run() { # run NAME
	"$work/herald" bench fanout --port "$port" --app-id bench --key bench-key \
		--secret bench-secret-0123456789abcdef --subscribers "$SUBS" --channels 1 \
		--rate "$RATES" --keep-going --duration 10s --progress 0 --server-pid "$server" \
		--json "$OUT/$1.json" >"$OUT/$1.txt" 2>&1
}

for r in $(seq "$ROUNDS"); do
	run "closed-$r"
	curl -sS -N -b "$jar" "$admin/apps/bench/console/stream" >"$OUT/console-$r.out" &
	viewer=$!
	sleep 1
	run "open-$r"
	kill "$viewer" 2>/dev/null || true
	wait "$viewer" 2>/dev/null || true
	viewer=
	echo "round $r: the console received $(grep -c '^data:' "$OUT/console-$r.out" || true) events" >&2
done

{
	echo "| run | rate | deliveries/s | lost | dup | p50 ms | p99 ms | server µs/delivery |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for f in "$OUT"/closed-*.json "$OUT"/open-*.json; do
		name=$(basename "$f" .json)
		jq -r --arg n "$name" '.steps[] | "| \($n) | \(.rate_target_events_per_sec) | \(.deliveries_per_sec|floor) | \(.lost) | \(.duplicates) | \(.latency.p50_ms*10|round/10) | \(.latency.p99_ms*10|round/10) | \(.server_cpu_us_per_delivery*100|round/100) |"' "$f"
	done
} | tee "$OUT/summary.md"
