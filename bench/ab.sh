#!/bin/bash
# bench/ab.sh — side-by-side A/B of two Switchyard builds on the hot path:
#   direct (the upstream alone), the featureless forwarder, BASE (another checkout's dist/) and
#   this work tree's dist/, interleaved rounds of small GETs at 64 connections; prints per target
#   and round: req/s and CPU µs per request of that process.
# Usage: sh bench/ab.sh /path/to/base-checkout   (build both first: npm run build in each)
#   ROUNDS=5 DUR=4 sh bench/ab.sh …   (defaults 3 rounds of 5 s)
# wrk pinned to CPU 0, every proxy to CPU 1 (taskset); loopback only; every process is stopped at the end.
set -eu
BASE=${1:?usage: sh bench/ab.sh BASE_CHECKOUT_DIR}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TMP=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; rm -rf "$TMP"' EXIT
cd "$ROOT"
node --import tsx bench/upstream.ts up > "$TMP/up.out" 2>&1 & UP=$!
for _ in $(seq 50); do grep -q '"port"' "$TMP/up.out" 2>/dev/null && break; sleep 0.1; done
UPORT=$(grep -o '"port":[0-9]*' "$TMP/up.out" | cut -d: -f2)
conf() { printf 'listen: { http: 127.0.0.1:%s, admin: 127.0.0.1:%s }\nadmin: { token: t }\nlive: blue\npools:\n  blue: { servers: [ { address: 127.0.0.1:%s } ] }\n  green: { servers: [ { address: 127.0.0.1:%s } ] }\nlog: { level: warn }\n' "$2" "$3" "$UPORT" "$UPORT" > "$TMP/$1.yaml"; }
conf base 18281 19281; conf work 18282 19282
taskset -c 1 node "$BASE/dist/cli.js" start --config "$TMP/base.yaml" > "$TMP/base.out" 2>&1 & B=$!
taskset -c 1 node dist/cli.js start --config "$TMP/work.yaml" > "$TMP/work.out" 2>&1 & W=$!
taskset -c 1 node --import tsx bench/forwarder.ts "http://127.0.0.1:$UPORT" > "$TMP/fw.out" 2>&1 & F=$!
for _ in $(seq 100); do grep -q '"port"' "$TMP/fw.out" 2>/dev/null && curl -s -o /dev/null http://127.0.0.1:18281/ && curl -s -o /dev/null http://127.0.0.1:18282/ && break; sleep 0.1; done
FPORT=$(grep -o '"port":[0-9]*' "$TMP/fw.out" | cut -d: -f2)
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
measure() {
  taskset -c 0 wrk -t1 -c64 -d1s "$3" > /dev/null
  c0=$(cpu "$2"); r=$(taskset -c 0 wrk -t1 -c64 -d"${DUR:-5}"s "$3" | awk '/Requests\/sec/{print $2}'); c1=$(cpu "$2")
  echo "$1 $r req/s $(python3 -c "print(round(($c1-$c0)*1e6/100/($r*${DUR:-5}),1))") µs/req"
}
for i in $(seq "${ROUNDS:-3}"); do
  echo "round $i"
  measure direct $UP "http://127.0.0.1:$UPORT/"
  measure forwarder $F "http://127.0.0.1:$FPORT/"
  measure base $B http://127.0.0.1:18281/
  measure work $W http://127.0.0.1:18282/
done
