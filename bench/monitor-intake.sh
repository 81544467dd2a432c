#!/usr/bin/env bash
# Benchmark of `kubevigil monitor` audit intake end to end (issue 16 point 8): EventList batches
# of 400 events POSTed to /audit (--no-cluster --audit-plain-http, release build) -> spool
# (synced before the 200) -> detection (the whole built-in pack) -> history -> outbox -> a
# signed webhook (a local receiver). Events are gen_audit's `--preset day` (a production
# cluster's day: nodes, controllers, add-ons, CI, admins) with injected attack episodes, so a
# realistic fraction of them raises alerts. bench/monitor_intake.py prints:
#   saturation: events/s acknowledged, events/s processed by detection (sustained), events
#     per CPU-second of the monitor;
#   paced (half the sustained rate, or RATE): p50/p99/max from the start of the POST carrying
#     an alert's event to the webhook receiving its notification (single-event alerts).
# Monitor, client and receiver share this machine's cores (2 here).
#
#   bench/monitor-intake.sh [SATURATION_EVENTS] [PACED_SECONDS] [RATE]
#                           default 600000 events, 20 s at half the sustained rate
set -euo pipefail
cd "$(dirname "$0")/.."
SAT=${1:-600000}
PACED=${2:-20}
RATE=${3:-}
OUT=bench/out/monitor-intake
mkdir -p "$OUT"
cargo build --release -q -p kubevigil
cargo build --release -q -p kubevigil-audit --example gen_audit
EVENTS=$((SAT * 2))
if [ ! -s "$OUT/events-$EVENTS.jsonl" ]; then
  ./target/release/examples/gen_audit --events "$EVENTS" --preset day --attacks 40 \
    --truth "$OUT/truth.tsv" > "$OUT/events-$EVENTS.jsonl"
fi
echo "kubevigil monitor intake ($(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
python3 bench/monitor_intake.py target/release/kubevigil "$OUT/events-$EVENTS.jsonl" "$SAT" "$PACED" $RATE
