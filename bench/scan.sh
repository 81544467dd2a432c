#!/usr/bin/env bash
# Benchmark: `kubevigil scan` throughput (objects/s) and peak memory on N generated objects,
# pinned to one core. Usage: bench/scan.sh [N] (default 100000).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
cargo build --release -q -p kubevigil
BIN=target/release/kubevigil
for n in $((N / 4)) "$N"; do
  dir=bench/out/manifests-$n
  [ -d "$dir" ] || python3 bench/gen_manifests.py "$n" "$dir"
  mb=$(du -sm "$dir" | cut -f1)
  read -r wall cpu kib rc < <(taskset -c 0 python3 bench/measure.py "$BIN" scan -o json "$dir")
  python3 - "$n" "$wall" "$cpu" "$kib" "$mb" <<'PY'
import sys
n, wall, cpu, kib, mb = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
print(f"scan {n:>7} objects ({mb:>3} MB, one core): wall {wall:6.2f} s, CPU {cpu:6.2f} s = {n / cpu:7.0f} objects per CPU-second; peak RSS {kib / 1024:7.1f} MiB")
PY
done
