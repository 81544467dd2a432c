#!/usr/bin/env bash
# Precision of the built-in rule pack: a generated day of cluster traffic (gen_audit --preset
# day: nodes, controllers, add-ons reading their secrets, cainjector, kube-state-metrics, CI,
# admins) with injected attack episodes whose auditIDs are recorded in a truth file, through
# `kubevigil audit detect -o json`, scored by bench/precision.py: per-scenario recall and false
# alerts per 1,000 events (all, and high/critical only). Every line detect prints counts: the
# input is a stream, so repeats within a rule's dedup period are folded into one alert and at
# most one `update` per period, and each update line counts as an alert too.
#
#   bench/detect-precision.sh [EVENTS] [EPISODES]   default 1000000 events, 5 episodes/scenario
#
# The indicator list passed with --ioc-file holds one Tor exit range used by the generator's
# `ioc-address` scenario. Exit status 1 when a scenario was missed.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS="${1:-1000000}"
EPISODES="${2:-5}"
OUT=bench/out/precision
mkdir -p "$OUT"
cargo build --release -q -p kubevigil
cargo build --release -q -p kubevigil-audit --example gen_audit
cat > "$OUT/ioc.txt" <<'IOC'
# Tor exit nodes (example indicator list: one address or CIDR per line)
185.220.101.0/24
IOC
./target/release/examples/gen_audit --events "$EVENTS" --preset day --attacks "$EPISODES" \
    --truth "$OUT/truth.tsv" \
  | ./target/release/kubevigil audit detect -o json --fail-on none ${DETECT_ARGS---ioc-file "$OUT/ioc.txt"} - \
    > "$OUT/alerts.jsonl" 2> "$OUT/detect.stderr"
cat "$OUT/detect.stderr" >&2
read -r N _ < "$OUT/detect.stderr"
python3 bench/precision.py "$OUT/truth.tsv" "$OUT/alerts.jsonl" "$N"
