#!/bin/bash
# Issue 16 measurements: base = c44eafa (before this session's issue-16 work), new = HEAD.
set -u
cd /tmp/perf2
B=/tmp/hb/herald   # the bench tool (new build) for every run
cfg() { # name port tls
  cat > $1.yaml <<EOC
host: 127.0.0.1
port: $2
data_dir: /tmp/perf2/data-$1
admin_listen: "off"
log:
  level: warn
apps:
  - id: "1"
    key: "app-key"
    secret: "app-secret"
EOC
  if [ "$3" = tls ]; then printf 'tls:\n  cert_file: /tmp/perf2/cert.pem\n  key_file: /tmp/perf2/key.pem\n' >> $1.yaml; fi
}
start() { # bin cfgname -> PID
  rm -rf /tmp/perf2/data-$2
  /tmp/hb/$1 serve --config /tmp/perf2/$2.yaml > /tmp/perf2/serve-$1-$2.log 2>&1 &
  PID=$!
  for i in $(seq 50); do curl -sk -o /dev/null https://127.0.0.1:$3/ready 2>/dev/null && break; curl -s -o /dev/null http://127.0.0.1:$3/ready 2>/dev/null && break; sleep 0.1; done
}
stop() { kill $PID; wait $PID 2>/dev/null; sleep 1; }
cfg plain 47101 plain; cfg tls 47102 tls
tlsf="--tls --insecure"
run() { # label bin cfg port benchargs...
  local label=$1 bin=$2 c=$3 port=$4; shift 4
  start $bin $c $port
  echo "=== $label ($bin, $c) $(date +%T)"
  local extra=""; [ $c = tls ] && extra="$tlsf"
  timeout 600 $B bench "$@" --port $port $extra --server-pid $PID --progress 0 --json /tmp/perf2/$label.json > /tmp/perf2/$label.txt 2>&1
  echo "exit $?"
  stop
}
# 1. idle memory, 18,500 connections, 60 s hold (idle CPU too)
for r in 1 2; do
  run idle-plain-new-$r herald plain 47101 idle --connections 18500 --duration 60s
  run idle-plain-base-$r herald-base plain 47101 idle --connections 18500 --duration 60s
  run idle-tls-new-$r herald tls 47102 idle --connections 18500 --duration 60s
  run idle-tls-base-$r herald-base tls 47102 idle --connections 18500 --duration 30s
done
# 2. connect: handshakes/s
for r in 1 2; do
  run connect-plain-new-$r herald plain 47101 connect --duration 10s
  run connect-tls-new-$r herald tls 47102 connect --duration 10s
  run connect-tlsfull-new-$r herald tls 47102 connect --duration 10s --tls-resume=false
  run connect-tls-base-$r herald-base tls 47102 connect --duration 10s
done
# 3. fan-out, one channel of 10k subscribers
for r in 1 2; do
  run fanout-plain-new-$r herald plain 47101 fanout --subscribers 10000 --channels 1 --rate 10,30,60,100 --duration 10s --keep-going
  run fanout-tls-new-$r herald tls 47102 fanout --subscribers 10000 --channels 1 --rate 10,30,60,100 --duration 10s --keep-going
  run fanout-tls-base-$r herald-base tls 47102 fanout --subscribers 10000 --channels 1 --rate 10,30 --duration 10s --keep-going
done
echo DONE $(date +%T)
