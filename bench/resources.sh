#!/usr/bin/env bash
# `kubevigil resources detect` on generated readings of the metrics API (bench/gen_resources.py:
# PODS pods on 50 nodes, READINGS readings a minute apart, 3 pods hogging CPU from the start):
# PodMetrics/s on one core, CPU, peak RSS, and the alerts per rule against those expected.
#
#   bench/resources.sh [PODS] [READINGS]      default 2000 60
set -euo pipefail
cd "$(dirname "$0")/.."
PODS="${1:-2000}"
READINGS="${2:-60}"
OUT=bench/out/resources-$PODS-$READINGS
cargo build --release -q -p kubevigil
[ -s "$OUT/metrics.jsonl" ] || python3 bench/gen_resources.py "$PODS" "$READINGS" "$OUT" > "$OUT.expected.json"
BYTES=$(stat -c %s "$OUT/metrics.jsonl")
read -r wall cpu kib _ < <(taskset -c 0 python3 bench/measure.py ./target/release/kubevigil resources detect --objects "$OUT/objects.json" --fail-on none "$OUT/metrics.jsonl")
./target/release/kubevigil resources detect --objects "$OUT/objects.json" -o json --fail-on none "$OUT/metrics.jsonl" 2>/dev/null > "$OUT.alerts.jsonl"
python3 - "$PODS" "$READINGS" "$BYTES" "$wall" "$cpu" "$kib" "$OUT.expected.json" "$OUT.alerts.jsonl" <<'PY'
import collections, json, sys
pods, readings, size, wall, cpu, kib = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
expected = json.load(open(sys.argv[7]))
got = collections.Counter(json.loads(l)["name"] for l in open(sys.argv[8]) if l.strip())
n = pods * readings
print(f"{readings} readings of {pods} pods ({n} PodMetrics, {size / 1e6:.0f} MB), one core")
print(f"wall {wall:.2f} s, CPU {cpu:.2f} s = {n / cpu:,.0f} PodMetrics/s, {readings / cpu:.1f} readings/s; peak RSS {kib / 1024:.0f} MiB")
for rule in sorted(set(expected) | set(got)):
    exp = expected.get(rule)
    print(f"  {rule:30} alerts {got.get(rule, 0):6}" + (f"  expected {exp}" if exp is not None else ""))
PY
