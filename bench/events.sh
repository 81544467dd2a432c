#!/usr/bin/env bash
# `kubevigil events detect` on a generated day of a busy namespace's Events (JSON lines,
# bench/gen_k8s_events.py: ordinary life plus injected eviction storms, with the alerts
# expected): events/s and MB/s, CPU, peak RSS, and per rule the alerts raised against those
# expected.
#
#   bench/events.sh [EVENTS]      default 300000 (about 145 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-300000}"
OUT=bench/out/events
mkdir -p "$OUT"
LOG="$OUT/events-$EVENTS.jsonl"
cargo build --release -q -p kubevigil
[ -s "$LOG" ] || python3 bench/gen_k8s_events.py "$EVENTS" > "$LOG" 2> "$OUT/expected-$EVENTS.json"
BYTES=$(stat -c %s "$LOG")
N=$(wc -l < "$LOG")
read -r wall cpu kib _ < <(taskset -c 0,1 python3 bench/measure.py ./target/release/kubevigil events detect --fail-on none "$LOG")
./target/release/kubevigil events detect -o json --fail-on none "$LOG" 2>/dev/null > "$OUT/alerts-$EVENTS.jsonl"
python3 - "$N" "$BYTES" "$wall" "$cpu" "$kib" "$OUT/expected-$EVENTS.json" "$OUT/alerts-$EVENTS.jsonl" <<'PY'
import collections, json, sys
n, size, wall, cpu, kib = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
expected = json.load(open(sys.argv[6]))
got = collections.Counter(json.loads(l)["name"] for l in open(sys.argv[7]) if l.strip())
print(f"{n} events ({size / n:.0f} bytes each, {size / 1e6:.0f} MB)")
print(f"wall {wall:.2f} s = {n / wall:,.0f} events/s, {size / wall / 1e6:.0f} MB/s (CPU {cpu:.2f} s, peak RSS {kib / 1024:.0f} MiB)")
for rule in sorted(set(expected) | set(got)):
    print(f"  {rule:34} alerts {got.get(rule, 0):3}  expected {expected.get(rule, 0):3}")
PY
