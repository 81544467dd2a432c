#!/usr/bin/env bash
# Benchmark: the monitor's dashboard pages over a large history. Seeds a state directory with
# N findings (a week of daily evaluations, a tenth resolving and coming back every other day)
# and 1,000 alerts, starts `kubevigil monitor --no-cluster` on it, and prints each page's
# latency (median of 5 requests) and size; then sends 16 requests for the findings page at once
# and counts the answers (at most 4 pages are made at once, the others get 503 + Retry-After).
# Usage: bench/dashboard.sh [N] (default 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
cargo build --release -q -p kubevigil
cargo build --release -q -p kubevigil-dashboard --example seed_history
STATE=bench/out/dashboard-$N
if [ ! -s "$STATE/history.db" ]; then
  rm -rf "$STATE"
  start=$(date +%s.%N)
  ./target/release/examples/seed_history "$STATE" "$N"
  echo "seeded $N findings in $(echo "$(date +%s.%N) - $start" | bc) s"
fi
LOG=$(mktemp)
./target/release/kubevigil monitor --no-cluster --listen 127.0.0.1:0 --state-dir "$STATE" 2>"$LOG" >/dev/null &
PID=$!
trap 'kill $PID 2>/dev/null; rm -f "$LOG"' EXIT
for _ in $(seq 50); do grep -q "dashboard on" "$LOG" && break; sleep 0.1; done
ADDR=$(grep -o 'dashboard on http://[^/]*' "$LOG" | sed 's|.*//||')
echo "$N findings, $(du -h "$STATE/history.db" | cut -f1) history"
for page in / "/findings" "/findings?status=all&severity=high" "/findings?q=app-17" /findings/00000000000000000000000000000011 /alerts /compliance; do
  times=$(for _ in 1 2 3 4 5; do curl -s -o /dev/null -w '%{time_total}\n' "http://$ADDR$page"; done | sort -n)
  median=$(echo "$times" | sed -n 3p)
  size=$(curl -s "http://$ADDR$page" | wc -c)
  printf '%-42s median %6.0f ms, %8d bytes\n' "$page" "$(echo "$median * 1000" | bc)" "$size"
done
codes=$(for _ in $(seq 16); do curl -s -o /dev/null -w '%{http_code}\n' "http://$ADDR/findings?status=all" & done; wait)
echo "16 requests at once for /findings?status=all: $(echo "$codes" | sort | uniq -c | awk '{printf "%s x %s  ", $1, $2}')"
