#!/usr/bin/env bash
# Benchmark: the image scanner (issue 20). Imports N synthetic OSV records (default 100,000,
# shaped like osv.dev's exports: crates/vulndb/examples/gen_osv.rs) into a fresh database with
# `kubevigil db import`, then scans a root filesystem of 300 Debian packages and 1,000 language
# packages (crates/vulndb/examples/gen_rootfs.rs) with `kubevigil image scan --rootfs`, one core
# each: wall, CPU and peak RSS of both, the database's size, packages and vulnerabilities found.
# Target: the scan under 1 s.
# Usage: bench/image.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
cargo build --release -q -p kubevigil
cargo build --release -q -p kubevigil-vulndb --examples
BIN=target/release/kubevigil
OUT=bench/out/image
CORPUS=$OUT/osv-$N
ROOTFS=$OUT/rootfs
mkdir -p "$OUT"
[ -d "$CORPUS" ] || target/release/examples/gen_osv "$CORPUS" "$N"
[ -d "$ROOTFS" ] || target/release/examples/gen_rootfs "$ROOTFS"
DB=$OUT/db-$N
rm -rf "$DB"
# report LABEL WALL CPU KIB RC [ITEMS [WHAT]]: one line, with ITEMS per CPU-second when given.
report() {
  python3 - "$@" <<'PY'
import sys
label, wall, cpu, kib, rc = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rate = f", {int(sys.argv[6]) / cpu:,.0f} {sys.argv[7]}/CPU-s" if len(sys.argv) > 7 else ""
print(f"{label:<34} wall {wall:6.2f} s, CPU {cpu:6.2f} s, peak RSS {kib / 1024:6.1f} MiB (exit {rc}){rate}")
PY
}
json_mb=$(du -sm "$CORPUS" | cut -f1)
read -r wall cpu kib rc < <(taskset -c 0 python3 bench/measure.py "$BIN" db import --db "$DB" "$CORPUS")
[ "$rc" = 0 ] || { echo "import failed (exit $rc)" >&2; exit 1; }
report "import $N records (${json_mb} MB JSON)" "$wall" "$cpu" "$kib" "$rc" "$N" records
echo "database: $(du -sm "$DB" | cut -f1) MB"
read -r wall cpu kib rc < <(taskset -c 0 python3 bench/measure.py "$BIN" db import --db "$DB" "$CORPUS")
report "import again (all unchanged)" "$wall" "$cpu" "$kib" "$rc"
found=$("$BIN" image scan --db "$DB" --rootfs "$ROOTFS" -o json | python3 -c 'import json,sys; r=json.load(sys.stdin); print(len(r["packages"]), "packages,", len(r["vulnerabilities"]), "vulnerabilities")')
for run in 1 2 3; do
  read -r wall cpu kib rc < <(taskset -c 0 python3 bench/measure.py "$BIN" image scan --db "$DB" --rootfs "$ROOTFS" -o json)
  report "scan rootfs (run $run)" "$wall" "$cpu" "$kib" "$rc"
done
echo "found: $found"
