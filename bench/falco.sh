#!/usr/bin/env bash
# `kubevigil falco detect` on a generated day of a cluster's Falco alerts (bench/gen_falco.py:
# each pod's own noisy Falco rule, host-level alerts, and injected intrusions with the chains
# expected): alerts/s and MB/s on 2 cores, CPU, peak RSS, and per rule the alerts raised (against
# those expected for falco_intrusion_chain).
#
#   bench/falco.sh [ALERTS]      default 300000 (about 300 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
ALERTS="${1:-300000}"
OUT=bench/out/falco
mkdir -p "$OUT"
LOG="$OUT/falco-$ALERTS.jsonl"
cargo build --release -q -p kubevigil
[ -s "$LOG" ] || python3 bench/gen_falco.py "$ALERTS" > "$LOG" 2> "$OUT/expected-$ALERTS.json"
BYTES=$(stat -c %s "$LOG")
N=$(wc -l < "$LOG")
read -r wall cpu kib _ < <(taskset -c 0,1 python3 bench/measure.py ./target/release/kubevigil falco detect --fail-on none "$LOG")
./target/release/kubevigil falco detect -o json --fail-on none "$LOG" 2>/dev/null > "$OUT/alerts-$ALERTS.jsonl"
python3 - "$N" "$BYTES" "$wall" "$cpu" "$kib" "$OUT/expected-$ALERTS.json" "$OUT/alerts-$ALERTS.jsonl" <<'PY'
import collections, json, sys
n, size, wall, cpu, kib = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
expected = json.load(open(sys.argv[6]))
got = collections.Counter(json.loads(l)["name"] for l in open(sys.argv[7]) if l.strip())
print(f"{n} Falco alerts ({size / n:.0f} bytes each, {size / 1e6:.0f} MB), 2 cores")
print(f"wall {wall:.2f} s = {n / wall:,.0f} alerts/s, {size / wall / 1e6:.0f} MB/s (CPU {cpu:.2f} s, peak RSS {kib / 1024:.0f} MiB)")
for rule in sorted(set(expected) | set(got)):
    exp = expected.get(rule)
    print(f"  {rule:30} alerts {got.get(rule, 0):6}" + (f"  expected {exp}" if exp is not None else ""))
PY
