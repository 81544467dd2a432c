#!/usr/bin/env bash
# Benchmark: `kubevigil scan` throughput (objects per CPU-second) and peak memory (against the
# input's size), pinned to one core, on generated objects (N/4 and N) and on ../shared/corpus
# replicated to 100 MB (each copy's objects renamed, so none is a duplicate).
# Usage: bench/scan.sh [N] (default 100000). Targets (issue 13): >= 50,000 objects/s, RSS <= 2x input.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
cargo build --release -q -p kubevigil
BIN=target/release/kubevigil
measure() {
  local label=$1 dir=$2
  local bytes objects
  bytes=$(find "$dir" -type f -name '*.y*ml' -printf '%s\n' | awk '{s += $1} END {print s}')
  # The object count from the report's summary, at its start: parsing the whole report (650 MB at
  # 100,000 objects) just before the measured run disturbed the measurement.
  objects=$({ $BIN scan -o json "$dir" 2>/dev/null || true; } | head -c 4096 | grep -o '"objects": [0-9]*' | head -n 1 | grep -o '[0-9]*$')
  read -r wall cpu kib rc < <(taskset -c 0 python3 bench/measure.py "$BIN" scan -o json "$dir")
  python3 - "$label" "$objects" "$bytes" "$wall" "$cpu" "$kib" <<'PY'
import sys
label, n, size, wall, cpu, kib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
print(f"{label:<22} {n:>7} objects ({size / 1048576:6.1f} MB, one core): wall {wall:6.2f} s, CPU {cpu:6.2f} s = "
      f"{n / cpu:7.0f} objects/s, {size / 1048576 / cpu:5.1f} MB/s; peak RSS {kib / 1024:7.1f} MiB = {kib * 1024 / size:4.1f}x input")
PY
}
for n in $((N / 4)) "$N"; do
  dir=bench/out/manifests-$n
  [ -d "$dir" ] || python3 bench/gen_manifests.py "$n" "$dir"
  measure "generated" "$dir"
done
if [ -d ../shared/corpus ]; then
  dir=bench/out/corpus-100mb
  [ -d "$dir" ] || python3 bench/replicate_corpus.py ../shared/corpus "$dir" 100
  measure "corpus x5 (100 MB)" "$dir"
else
  echo "../shared/corpus not found: corpus figures skipped"
fi
