#!/usr/bin/env bash
# Runs `herald bench` scenarios against a 3-node cluster on one Redis, all on
# this machine (loopback), and prints Redis's CPU, memory and command counts
# around each. Used for bench/results/*-cluster*.md.
#
#   bench/cluster.sh [herald binary] -- <bench args...>
#   e.g. bench/cluster.sh bin/herald -- fanout --subscribers 10000 --rate 1 --duration 8s
#
# Env: OUT (work dir, default /tmp/herald-cluster-bench), REDIS_PORT (16399),
# BASE_PORT (7001: nodes on 7001-7003, admin on 9701-9703).
set -euo pipefail
bin=${1:-bin/herald}
shift || true
[ "${1:-}" = "--" ] && shift
out=${OUT:-/tmp/herald-cluster-bench}
rport=${REDIS_PORT:-16399}
base=${BASE_PORT:-7001}
mkdir -p "$out"
pids=()
cleanup() { # nodes (and samplers) first, Redis last: the nodes leave cleanly
  for ((k = ${#pids[@]} - 1; k >= 1; k--)); do kill "${pids[k]}" 2>/dev/null || true; done
  for ((k = ${#pids[@]} - 1; k >= 1; k--)); do wait "${pids[k]}" 2>/dev/null || true; done
  kill "${pids[0]}" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

redis-server --port "$rport" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" >"$out/redis.log" 2>&1 &
pids+=($!)
for _ in $(seq 50); do redis-cli -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
rpid=$(redis-cli -p "$rport" info server | awk -F: '/^process_id/{print $2}' | tr -d '\r')

addrs=()
for i in 1 2 3; do
  port=$((base + i - 1))
  cat >"$out/node-$i.yaml" <<YAML
node_id: node-$i
host: 127.0.0.1
port: $port
admin_listen: 127.0.0.1:$((9700 + i))
data_dir: $out/data-$i
log:
  level: warn
redis:
  url: redis://127.0.0.1:$rport/0
  prefix: bench
apps:
  - id: "1"
    key: app-key
    secret: app-secret
    enable_client_messages: true
    client_events_per_sec: 1000000
    max_presence_members: 100
YAML
  "$bin" serve --config "$out/node-$i.yaml" >"$out/node-$i.log" 2>&1 &
  pids+=($!)
  addrs+=("127.0.0.1:$port")
done
for i in 1 2 3; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$((base + i - 1))/ready" >/dev/null && break; sleep 0.1; done
done
n1=$(pgrep -f "serve --config $out/node-1.yaml" | head -1)

ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rinfo() { redis-cli -p "$rport" info "$1" | tr -d '\r'; }
redis-cli -p "$rport" config resetstat >/dev/null
echo "# redis before: $(rinfo memory | grep -E '^used_memory:')"
n1rss0=$(awk '/VmRSS/{print $2}' "/proc/$n1/status")
echo "# node-1 RSS before: $n1rss0 kB"
# Redis memory and node-1 RSS sampled while the scenario runs (peaks)
( peak=0; while sleep 0.5; do m=$(rinfo memory | awk -F: '/^used_memory:/{print $2}'); [ -n "$m" ] && [ "$m" -gt "$peak" ] && peak=$m && echo "$peak" >"$out/redis-peak"; done ) &
pids+=($!)
( peak=0; while sleep 0.5; do m=$(awk '/VmRSS/{print $2}' "/proc/$n1/status" 2>/dev/null); [ -n "$m" ] && [ "$m" -gt "$peak" ] && peak=$m && echo "$peak" >"$out/node1-peak"; done ) &
pids+=($!)
r0=$(ticks "$rpid"); t0=$(date +%s.%N)
echo "# nodes ${addrs[*]}, node-1 pid $n1, redis pid $rpid" >&2
"$bin" bench --host 127.0.0.1 --port "$base" --ws-addrs "$(IFS=,; echo "${addrs[*]}")" --server-pid "$n1" "$@"
r1=$(ticks "$rpid"); t1=$(date +%s.%N)
echo "# redis: CPU $(( r1 - r0 )) ticks (1/100 s) over $(echo "$t1 - $t0" | bc) s wall"
rinfo memory | grep -E '^(used_memory|used_memory_peak|used_memory_rss):' | sed 's/^/# redis /'
echo "# redis used_memory sampled peak during the run: $(cat "$out/redis-peak" 2>/dev/null)"
echo "# node-1 RSS sampled peak during the run: $(cat "$out/node1-peak" 2>/dev/null) kB"
rm -f "$out/redis-peak" "$out/node1-peak"
rinfo stats | grep -E '^total_commands_processed' | sed 's/^/# redis /'
rinfo commandstats | sed -n 's/^cmdstat_\([a-z|]*\):calls=\([0-9]*\),usec=\([0-9]*\).*/# redis cmd \1 calls=\2 usec=\3/p'
for i in 1 2 3; do
  p=$(pgrep -f "serve --config $out/node-$i.yaml" | head -1)
  echo "# node-$i RSS $(awk '/VmRSS/{print $2" "$3}' /proc/$p/status), CPU $(ticks "$p") ticks"
done
