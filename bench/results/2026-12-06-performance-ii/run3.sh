#!/bin/bash
set -u
cd /tmp/perf2
source <(sed -n '/^B=/,/^tlsf=/p' run.sh)
runb() { local label=$1 bench=$2 bin=$3; shift 3
  start $bin plain 47101; echo "=== $label ($bench -> $bin) $(date +%T)"
  timeout 300 /tmp/hb/$bench bench "$@" --port 47101 --server-pid $PID --progress 0 --json /tmp/perf2/$label.json > /tmp/perf2/$label.txt 2>&1
  echo "exit $?"; stop; }
for r in 4 5 6; do
  runb api3-base-$r herald-rawapi herald-base api --concurrency 32 --duration 10s
  runb api3-new-$r herald-rawapi herald api --concurrency 32 --duration 10s
done
echo DONE $(date +%T)
