#!/usr/bin/env bash
# `kubevigil hubble detect --manifests examples/hardened` on a generated day of the shop's flows
# (bench/gen_hubble.py: calls, replies, a misconfigured client's policy drops, and injected port
# scans and flows forwarded that the policies deny, with the alerts expected): flows/s and MB/s
# on 2 cores, CPU, peak RSS, and per rule the alerts raised against those expected.
#
#   bench/hubble.sh [FLOWS]      default 500000 (about 425 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
FLOWS="${1:-500000}"
OUT=bench/out/hubble
mkdir -p "$OUT"
LOG="$OUT/flows-$FLOWS.jsonl"
cargo build --release -q -p kubevigil
[ -s "$LOG" ] || python3 bench/gen_hubble.py "$FLOWS" > "$LOG" 2> "$OUT/expected-$FLOWS.json"
BYTES=$(stat -c %s "$LOG")
N=$(wc -l < "$LOG")
read -r wall cpu kib _ < <(taskset -c 0,1 python3 bench/measure.py ./target/release/kubevigil hubble detect --manifests examples/hardened --fail-on none "$LOG")
./target/release/kubevigil hubble detect --manifests examples/hardened -o json --fail-on none "$LOG" 2>/dev/null > "$OUT/alerts-$FLOWS.jsonl"
python3 - "$N" "$BYTES" "$wall" "$cpu" "$kib" "$OUT/expected-$FLOWS.json" "$OUT/alerts-$FLOWS.jsonl" <<'PY'
import collections, json, sys
n, size, wall, cpu, kib = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
expected = json.load(open(sys.argv[6]))
got = collections.Counter(json.loads(l)["name"] for l in open(sys.argv[7]) if l.strip())
print(f"{n} flows ({size / n:.0f} bytes each, {size / 1e6:.0f} MB), 2 cores")
print(f"wall {wall:.2f} s = {n / wall:,.0f} flows/s, {size / wall / 1e6:.0f} MB/s (CPU {cpu:.2f} s, peak RSS {kib / 1024:.0f} MiB)")
for rule in sorted(set(expected) | set(got)):
    exp = expected.get(rule)
    print(f"  {rule:30} alerts {got.get(rule, 0):6}" + (f"  expected {exp}" if exp is not None else ""))
PY
