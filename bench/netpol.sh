#!/bin/sh
# NetworkPolicy connectivity benchmark (issue 7): 5,000 workloads in 500 namespaces with 2,000
# NetworkPolicies; target: full connectivity in under one second on one core.
# Usage: bench/netpol.sh [NAMESPACES [WORKLOADS_PER_NAMESPACE [ROUNDS]]]
set -eu
cd "$(dirname "$0")/.."
cargo bench -q -p kubevigil-netpol --bench netpol --no-run
if command -v taskset >/dev/null 2>&1; then pin="taskset -c 0"; else pin=""; fi
# Built above, so the pinned run only executes the benchmark.
exec $pin cargo bench -q -p kubevigil-netpol --bench netpol -- "$@"
