#!/usr/bin/env bash
# Sigma detection benchmark: whole built-in pack over generated audit traffic, next to
# parse-only by the same reader (kubevigil-audit), plus memory with 1,000,000 distinct
# correlation keys. Throughput is measured in thread CPU time on one pinned core, so the
# figures stay comparable on a busy machine (wall-clock rates are printed alongside).
#
#   bench/sigma.sh [EVENTS]      default 500000 events (~1.2 KB each)
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-500000}"
DATA="${SIGMA_BENCH_DATA:-bench/out/audit-${EVENTS}.log}"
mkdir -p "$(dirname "$DATA")"

cargo build --release -q -p kubevigil-sigma --example bench
cargo build --release -q -p kubevigil-audit --example gen_audit
if [[ ! -s "$DATA" ]]; then
  echo "generating $EVENTS audit events into $DATA" >&2
  ./target/release/examples/gen_audit --events "$EVENTS" > "$DATA"
fi
CORE="${SIGMA_BENCH_CORE:-0}"
PIN=(taskset -c "$CORE")
command -v taskset >/dev/null || PIN=()

echo "== input: $DATA ($(du -h "$DATA" | cut -f1), $EVENTS events)"
"${PIN[@]}" ./target/release/examples/bench "$DATA"
echo "== correlation state with 1,000,000 distinct keys"
"${PIN[@]}" ./target/release/examples/bench --keys 1000000
