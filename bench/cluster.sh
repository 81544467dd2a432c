#!/usr/bin/env bash
# Benchmark (issue 15 point 6): a snapshot of PODS pods and OTHERS other objects (Deployments,
# Services, ConfigMaps, Secrets) from the test API server (crates/testapi, pinned to core 1),
# read on core 0: wall, CPU and peak RSS of the snapshot alone (crates/cluster/examples/snapshot.rs,
# one thread), of `kubevigil scan --cluster`, and of `kubevigil scan` on the same objects from a
# file. Usage: bench/cluster.sh [PODS] [OTHERS] (default 10000 10000). Target: snapshot < 2 s.
set -euo pipefail
cd "$(dirname "$0")/.."
PODS=${1:-10000}
OTHERS=${2:-10000}
cargo build --release -q -p kubevigil
cargo build --release -q -p kubevigil-testapi --example serve -p kubevigil-cluster --example snapshot
OUT=bench/out/cluster
mkdir -p "$OUT"
rm -f "$OUT/ready"
taskset -c 1 target/release/examples/serve "$PODS" "$OTHERS" "$OUT/kubeconfig" "$OUT/objects.json" > "$OUT/ready" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 600); do grep -q ready "$OUT/ready" 2>/dev/null && break; sleep 0.1; done
grep -q ready "$OUT/ready" || { echo "the test API server did not start" >&2; exit 1; }
export KUBECONFIG=$PWD/$OUT/kubeconfig
report() {
  local label=$1; shift
  read -r wall cpu kib rc < <(taskset -c 0 python3 bench/measure.py "$@")
  printf '%-40s wall %6.2f s, CPU %6.2f s, peak RSS %7.1f MiB (exit %s)\n' "$label" "$wall" "$cpu" "$(awk "BEGIN {print $kib / 1024}")" "$rc"
}
echo "$(target/release/examples/snapshot) (first run, warm-up)"
report "snapshot ($PODS pods + $OTHERS others)" target/release/examples/snapshot
report "kubevigil scan --cluster -o json" target/release/kubevigil scan --cluster -o json
report "kubevigil scan -o json (same, file)" target/release/kubevigil scan -o json "$OUT/objects.json"
