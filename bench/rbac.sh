#!/usr/bin/env bash
# Benchmark: the RBAC engine (issue 17 point 7) on generated input: N Roles/ClusterRoles and N
# bindings over 100 namespaces (plus the bootstrap roles and N/10 Deployments), one core.
#  - in process (crates/checks/examples/rbac_bench.rs, loading excluded): building the graph,
#    who-can queries, all RBAC checks of `scan`;
#  - end to end (the CLI, loading the YAML included): `rbac who-can`, `scan` with every check,
#    with peak RSS.
# Usage: bench/rbac.sh [N] (default 10000). Targets: who-can < 50 ms, all RBAC findings < 1 s.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
cargo build --release -q -p kubevigil
cargo build --release -q -p kubevigil-checks --example rbac_bench
BIN=target/release/kubevigil
dir=bench/out/rbac-$N
[ -d "$dir" ] || python3 bench/gen_rbac.py "$N" "$dir"
echo "== in process (one core, loading excluded)"
taskset -c 0 target/release/examples/rbac_bench "$dir"
echo "== end to end (one core): wall s, CPU s, peak RSS"
run() {
  local label=$1; shift
  read -r wall cpu kib rc < <(taskset -c 0 python3 bench/measure.py "$BIN" "$@")
  printf '%-44s wall %6.3f s, CPU %6.3f s, peak RSS %6.1f MiB (exit %s)\n' "$label" "$wall" "$cpu" "$(awk "BEGIN {print $kib / 1024}")" "$rc"
}
run "rbac who-can get secrets -n ns-7" rbac who-can get secrets -n ns-7 -o json "$dir"
run "rbac who-can get secrets -A" rbac who-can get secrets -A -o json "$dir"
run "scan (every check) -o json" scan -o json "$dir"
findings=$($BIN scan -o json "$dir" 2>/dev/null | python3 -c 'import json,sys,collections; f=json.load(sys.stdin)["findings"]; c=collections.Counter(x["checkId"] for x in f if x["checkId"].startswith("rbac-")); print(sum(c.values()), dict(sorted(c.items())))' || true)
echo "RBAC findings: $findings"
