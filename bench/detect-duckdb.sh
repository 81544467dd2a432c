#!/usr/bin/env bash
# `kubevigil audit detect` beside DuckDB running SigmaHQ's Kubernetes audit rules converted by
# pySigma (PyPI: pysigma, pysigma-backend-duckdb, duckdb; installed into bench/out/duckdb-venv),
# on the same generated audit log (gen_audit's default mix, about 1.2 KB per event), both given
# 2 cores (DuckDB: 2 threads; kubevigil: its default, a thread per core), in one run. Prints
# events/s for both, and for kubevigil's whole built-in pack.
#
#   bench/detect-duckdb.sh [EVENTS] [ROUNDS]   defaults 1000000 and 3
#
# The three runs are made in turn, ROUNDS times: the machine's load changes from minute to
# minute, and runs side by side see the same load. Each round's figures are printed, then the
# medians (the ratio's median is over the rounds' ratios).
#
# Both run the same 17 SigmaHQ rule files (crates/sigma/tests/sigmahq/*.yml, the variant copy
# left out): kubevigil with --no-builtin, so it does what DuckDB does. DuckDB's time counts loading
# the log and running every query; fields the backend cannot map to audit columns are NULL there.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
ROUNDS="${2:-3}"
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
RUNS="$OUT/runs.txt"
: > "$RUNS"
for round in $(seq "$ROUNDS"); do
  # The same rules as DuckDB, then the whole built-in pack (what issue 14 asks to compare).
  read -r wall cpu kib _ < <(taskset -c 0,1 python3 bench/measure.py ./target/release/kubevigil audit detect \
    --no-builtin --rules "$OUT/rules" -o json --fail-on none "$LOG")
  read -r pwall pcpu pkib _ < <(taskset -c 0,1 python3 bench/measure.py ./target/release/kubevigil audit detect \
    -o json --fail-on none "$LOG")
  duck=$(taskset -c 0,1 "$VENV/bin/python" bench/duckdb_sigma.py "$OUT/rules" "$LOG")
  echo "$round $wall $cpu $kib $pwall $pcpu $pkib ${duck##*seconds=}" >> "$RUNS"
  echo "round $round duckdb: $duck"
done
python3 - "$EVENTS" "$BYTES" "$RUNS" <<'PY'
import statistics
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
rounds = [list(map(float, line.split()[1:])) for line in open(sys.argv[3])]
print(f"{n} events ({size / n:.0f} bytes each, {size / 1e6:.0f} MB), 2 cores, {len(rounds)} rounds")
names = [("kubevigil, SigmaHQ rules", 0), ("kubevigil, built-in pack", 3)]
for r, row in enumerate(rounds, 1):
    dw = row[6]
    for name, i in names:
        wall, cpu, kib = row[i], row[i + 1], row[i + 2]
        print(f"round {r}: {name:27} wall {wall:6.2f} s = {n / wall:9.0f} events/s (CPU {cpu:.2f} s, peak RSS {kib / 1024:.0f} MiB), {dw / wall:.2f}x duckdb")
    print(f"round {r}: {'duckdb, SigmaHQ rules':27} wall {dw:6.2f} s = {n / dw:9.0f} events/s (2 threads)")
med = statistics.median
dw = med(row[6] for row in rounds)
for name, i in names:
    wall = med(row[i] for row in rounds)
    cpu = med(row[i + 1] for row in rounds)
    ratio = med(row[6] / row[i] for row in rounds)
    print(f"median: {name:27} wall {wall:6.2f} s = {n / wall:9.0f} events/s (CPU {cpu:.2f} s), {ratio:.2f}x duckdb")
print(f"median: {'duckdb, SigmaHQ rules':27} wall {dw:6.2f} s = {n / dw:9.0f} events/s")
PY
