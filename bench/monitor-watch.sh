#!/usr/bin/env bash
# Benchmark (issue 16 points 1 and 8): `kubevigil monitor` following the test API server
# (crates/testapi, in the benchmark's process) that holds OBJECTS objects (half Pods as a
# ReplicaSet makes them, half Deployments, Services, ConfigMaps and Secrets, over 50 namespaces),
# then RATE changes per second for SECONDS seconds (creations of Pods that break a check and
# deletions of those created a second earlier). Prints the time to the first complete
# evaluation, the monitor's memory (and with nothing to watch), and p50/p99 from a change on the
# API server to its finding in the history (first seen / resolved).
# Usage: bench/monitor-watch.sh [OBJECTS] [RATE...] (default 50000, rates 100 and 1000; 20 s each).
# Goals: p99 change -> finding <= 1 s at 100 changes/s; memory beyond the objects <= 2 KB per object.
set -euo pipefail
cd "$(dirname "$0")/.."
OBJECTS=${1:-50000}
shift || true
RATES=("${@:-100 1000}")
SECONDS_EACH=${SECONDS_EACH:-20}
cargo build --release -q -p kubevigil -p kubevigil-monitor --example watch_churn
for rate in ${RATES[@]}; do
  echo "== $OBJECTS objects, $rate changes/s for $SECONDS_EACH s"
  target/release/examples/watch_churn target/release/kubevigil "$OBJECTS" "$rate" "$SECONDS_EACH"
done
