#!/bin/bash
set -u
cd /tmp/perf2
source <(sed -n '/^B=/,/^tlsf=/p' run.sh)
run() { local label=$1 bin=$2 c=$3 port=$4; shift 4
  start $bin $c $port; echo "=== $label ($bin, $c) $(date +%T)"
  local extra=""; [ $c = tls ] && extra="$tlsf"
  timeout 600 $B bench "$@" --port $port $extra --server-pid $PID --progress 0 --json /tmp/perf2/$label.json > /tmp/perf2/$label.txt 2>&1
  echo "exit $?"; stop; }
# broadcast latency: 10k subscribers, one channel, 1 event/s, 5 runs of 20 s
for r in 1 2 3 4 5; do run b1-plain-new-$r herald plain 47101 fanout --subscribers 10000 --channels 1 --rate 1 --duration 20s --keep-going; done
# API: base and new alternated, 3 rounds
for r in 1 2 3; do
  run api-base-$r herald-base plain 47101 api --concurrency 32 --duration 10s
  run api-new-$r herald plain 47101 api --concurrency 32 --duration 10s
done
# 10k subscribers over 1,000 channels, 10k events/s, publishers 8/32/64
for p in 8 32 64; do run c1000-p$p-new herald plain 47101 fanout --subscribers 10000 --channels 1000 --rate 5000,7000,10000 --publishers $p --duration 10s --keep-going; done
echo DONE $(date +%T)
