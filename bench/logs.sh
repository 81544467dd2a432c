#!/usr/bin/env bash
# `kubevigil logs detect` on a generated day of one busy container's CRI log (bench/gen_pod_logs.py:
# ordinary JSON, access and controller lines with look-alikes, plus injected credential leaks,
# password-guessing bursts, crash loops, reverse shells and miners with ground truth). Prints
# lines/s and MB/s on 2 cores (wall), CPU time, peak RSS, and per rule the alerts raised against
# the alerts expected (one per injected burst or storm; one per pod and hour for credential and
# shell lines, their dedup key; here one pod, so one each).
#
#   bench/logs.sh [LINES]      default 1000000
set -euo pipefail
cd "$(dirname "$0")/.."
LINES="${1:-1000000}"
OUT=bench/out/logs
mkdir -p "$OUT"
LOG="$OUT/pod-$LINES.log"
cargo build --release -q -p kubevigil
[ -s "$LOG" ] || python3 bench/gen_pod_logs.py "$LINES" > "$LOG" 2> "$OUT/expected-$LINES.json"
BYTES=$(stat -c %s "$LOG")
N=$(wc -l < "$LOG")
read -r wall cpu kib _ < <(taskset -c 0,1 python3 bench/measure.py ./target/release/kubevigil logs detect \
  --namespace shop --pod web-0 --container app --fail-on none "$LOG")
./target/release/kubevigil logs detect --namespace shop --pod web-0 --container app -o json --fail-on none "$LOG" \
  2>/dev/null > "$OUT/alerts-$LINES.jsonl"
python3 - "$N" "$BYTES" "$wall" "$cpu" "$kib" "$OUT/expected-$LINES.json" "$OUT/alerts-$LINES.jsonl" <<'PY'
import collections, json, sys
n, size, wall, cpu, kib = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
expected = json.load(open(sys.argv[6]))
got = collections.Counter(json.loads(l)["name"] for l in open(sys.argv[7]) if l.strip())
print(f"{n} lines ({size / n:.0f} bytes each, {size / 1e6:.0f} MB), 2 cores")
print(f"wall {wall:.2f} s = {n / wall:,.0f} lines/s, {size / wall / 1e6:.0f} MB/s (CPU {cpu:.2f} s, peak RSS {kib / 1024:.0f} MiB)")
for rule in sorted(set(expected) | set(got)):
    print(f"  {rule:34} alerts {got.get(rule, 0):3}  expected {expected.get(rule, 0):3}")
PY
