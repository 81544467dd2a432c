#!/usr/bin/env bash
# Mutation testing of the modules that guard security and correctness (issue 11): each mutant
# is a small deliberate bug (a condition inverted, a function returning a default, an operator
# swapped); a mutant no test catches is a hole in the tests. Slow (minutes per module on 2
# cores), so it is not part of CI.
#
#   bench/mutants.sh                 every security module (the list in .cargo/mutants.toml)
#   bench/mutants.sh FILE_GLOB...    only these files, e.g. crates/audit/src/redact.rs
#   ITERATE=1 bench/mutants.sh       re-test only mutants not caught by the previous run
#   Do not build in this checkout while it runs: it copies target/ into its scratch trees.
#
# Results: bench/out/mutants/mutants.out/{caught,missed,timeout,unviable}.txt and a summary
# printed at the end (viable = caught + missed + timeout; score = (caught + timeout) / viable).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || { echo "needs cargo-mutants: cargo install --locked cargo-mutants" >&2; exit 2; }
OUT=bench/out/mutants
mkdir -p "$OUT"
args=(--output "$OUT" --copy-target=true --timeout-multiplier 4 --minimum-test-timeout 60 --no-times)
if (( $# > 0 )); then
  # Named files replace the configured list (cargo-mutants would add them to it).
  args+=(--no-config --skip-calls with_capacity,reserve,shrink_to_fit)
  for f in "$@"; do args+=(--file "$f"); done
fi
[[ "${ITERATE:-0}" = 1 ]] && args+=(--iterate)
# Extra cargo-mutants options, e.g. MUTANTS_EXTRA="--shuffle" to sample a module in random order.
read -r -a extra <<< "${MUTANTS_EXTRA:-}"
args+=("${extra[@]}")
# A mutant can turn a loop infinite and allocate without bound: cap each process's address
# space (8 GiB) so that it fails instead of exhausting the machine's memory.
ulimit -v $((8 * 1024 * 1024))
start=$(date +%s)
cargo mutants "${args[@]}" || true   # exit 2/3 just means survivors
secs=$(( $(date +%s) - start ))
d="$OUT/mutants.out"
count() { if [[ -f "$d/$1.txt" ]]; then grep -c . "$d/$1.txt" || true; else echo 0; fi; }
caught=$(count caught); missed=$(count missed); timeout=$(count timeout); unviable=$(count unviable)
viable=$((caught + missed + timeout))
echo "== mutants: caught $caught, missed $missed, timeout $timeout, unviable $unviable (${secs}s)"
if (( viable > 0 )); then
  echo "== score: $(( (caught + timeout) * 1000 / viable / 10 )).$(( (caught + timeout) * 1000 / viable % 10 ))% of $viable viable mutants caught"
fi
[[ -s "$d/missed.txt" ]] && { echo "== missed:"; cat "$d/missed.txt"; }
true
