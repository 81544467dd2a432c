#!/usr/bin/env bash
# `kubevigil audit detect` beside DuckDB running SigmaHQ's Kubernetes audit rules converted by
# pySigma (PyPI: pysigma, pysigma-backend-duckdb, duckdb; installed into bench/out/duckdb-venv),
# on the same generated audit log (gen_audit's default mix, about 1.2 KB per event), both given
# 2 cores (DuckDB: 2 threads; kubevigil: its default, a thread per core), in one run. Prints
# events/s for both, and for kubevigil's whole built-in pack.
#
#   bench/detect-duckdb.sh [EVENTS]   default 1000000
#
# Both run the same 17 SigmaHQ rule files (crates/sigma/tests/sigmahq/*.yml, the variant copy
# left out): kubevigil with --no-builtin, so it does what DuckDB does. DuckDB's time counts loading
# the log and running every query; fields the backend cannot map to audit columns are NULL there.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
OUT=bench/out/duckdb
VENV=bench/out/duckdb-venv
mkdir -p "$OUT/rules"
cp crates/sigma/tests/sigmahq/*.yml "$OUT/rules/"
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import duckdb, sigma_backend_duckdb' 2>/dev/null \
  || "$VENV/bin/pip" install -q pysigma pysigma-backend-duckdb duckdb
cargo build --release -q -p kubevigil
cargo build --release -q -p kubevigil-audit --example gen_audit
LOG="$OUT/events-$EVENTS.jsonl"
[ -s "$LOG" ] || ./target/release/examples/gen_audit --events "$EVENTS" > "$LOG"
BYTES=$(stat -c %s "$LOG")
# The same rules as DuckDB, then the whole built-in pack (what issue 14 asks to compare).
read -r wall cpu kib _ < <(taskset -c 0,1 python3 bench/measure.py ./target/release/kubevigil audit detect \
  --no-builtin --rules "$OUT/rules" -o json --fail-on none "$LOG")
read -r pwall pcpu pkib _ < <(taskset -c 0,1 python3 bench/measure.py ./target/release/kubevigil audit detect \
  -o json --fail-on none "$LOG")
duck=$(taskset -c 0,1 "$VENV/bin/python" bench/duckdb_sigma.py "$OUT/rules" "$LOG")
echo "duckdb:    $duck"
python3 - "$EVENTS" "$BYTES" "$wall" "$cpu" "$kib" "$pwall" "$pcpu" "$pkib" "$duck" <<'PY'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
runs = [("kubevigil, SigmaHQ rules", *sys.argv[3:6]), ("kubevigil, built-in pack", *sys.argv[6:9])]
duck = dict(kv.split("=") for kv in sys.argv[9].split())
dw = float(duck["seconds"])
print(f"{n} events ({size / n:.0f} bytes each, {size / 1e6:.0f} MB), 2 cores")
for name, wall, cpu, kib in runs:
    wall, cpu, kib = float(wall), float(cpu), int(kib)
    print(f"{name:27} wall {wall:6.2f} s = {n / wall:9.0f} events/s (CPU {cpu:.2f} s, peak RSS {kib / 1024:.0f} MiB), {dw / wall:.2f}x duckdb")
print(f"{'duckdb, SigmaHQ rules':27} wall {dw:6.2f} s = {n / dw:9.0f} events/s (2 threads)")
PY
