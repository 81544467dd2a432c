#!/usr/bin/env bash
# Benchmark of `kubevigil audit policy simulate` (issue 4): throughput in events/s and MB/s on
# one core, and peak memory, on generated audit traffic; plus the reader's parse-only figure.
#
#   bench/audit-simulate.sh                      # 1,000,000 events, recommended policy
#   EVENTS=3000000 POLICY=my-policy.yaml bench/audit-simulate.sh
#
# Environment: EVENTS (default 1000000), POLICY (default the recommended policy), WORK (scratch
# directory, default a temporary one, removed at the end), GEN_ARGS (extra generator flags,
# e.g. "--mix lease=10,user=50 --fail-pct 10").
set -euo pipefail
cd "$(dirname "$0")/.."

EVENTS=${EVENTS:-1000000}
POLICY=${POLICY:-crates/audit/policies/recommended.yaml}
GEN_ARGS=${GEN_ARGS:-}
if [ -z "${WORK:-}" ]; then
  WORK=$(mktemp -d)
  trap 'rm -rf "$WORK"' EXIT
fi

if [ ! -x /usr/bin/time ]; then
  echo "installing GNU time (for peak RSS)" >&2
  apt-get install -y -q time >/dev/null
fi
PIN=""
if command -v taskset >/dev/null; then PIN="taskset -c 0"; fi

cargo build --release -q -p kubevigil
cargo build --release -q -p kubevigil-audit --example gen_audit --example audit_parse
BIN=target/release/kubevigil

LOG="$WORK/audit.log"
# shellcheck disable=SC2086
target/release/examples/gen_audit --events "$EVENTS" $GEN_ARGS > "$LOG"
BYTES=$(stat -c %s "$LOG")
echo "input: $EVENTS events, $BYTES bytes ($(awk -v b="$BYTES" -v n="$EVENTS" 'BEGIN{printf "%.0f", b/n}') bytes/event), policy $POLICY"

# Warm the page cache so that the figure is CPU, not disk.
cat "$LOG" > /dev/null

run() { # label, command...
  local label=$1; shift
  local tv="$WORK/time.txt"
  /usr/bin/time -v -o "$tv" "$@" > "$WORK/out.txt"
  local wall user sys rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/{n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$tv")
  user=$(awk -F': ' '/User time/{print $2}' "$tv")
  sys=$(awk -F': ' '/System time/{print $2}' "$tv")
  rss=$(awk -F': ' '/Maximum resident set size/{print $2}' "$tv")
  awk -v l="$label" -v n="$EVENTS" -v b="$BYTES" -v w="$wall" -v u="$user" -v s="$sys" -v r="$rss" 'BEGIN{
    cpu=u+s;
    printf "%-22s wall %6.3f s  cpu %6.3f s  %9.0f events/s  %7.1f MB/s (wall)  %9.0f events/s  %7.1f MB/s (cpu)  peak RSS %6.1f MiB\n",
      l, w, cpu, n/w, b/1e6/w, n/cpu, b/1e6/cpu, r/1024 }'
}

# shellcheck disable=SC2086
run "parse only" $PIN target/release/examples/audit_parse "$LOG"
# shellcheck disable=SC2086
run "simulate (table)" $PIN $BIN audit policy simulate --policy "$POLICY" "$LOG"
# shellcheck disable=SC2086
run "simulate (json)" $PIN $BIN audit policy simulate --policy "$POLICY" -o json "$LOG"
head -12 "$WORK/out.txt" | sed 's/^/    /'

# Constant memory: the same log three times over stdin must not raise peak RSS.
echo "constant memory: 3x the input through stdin"
TRIPLE="$WORK/triple.sh"
printf '#!/bin/sh\ncat "%s" "%s" "%s" | %s audit policy simulate --policy "%s" -\n' "$LOG" "$LOG" "$LOG" "$BIN" "$POLICY" > "$TRIPLE"
chmod +x "$TRIPLE"
EVENTS_SAVED=$EVENTS; EVENTS=$((EVENTS * 3)); BYTES_SAVED=$BYTES; BYTES=$((BYTES * 3))
run "simulate 3x (stdin)" "$TRIPLE"
EVENTS=$EVENTS_SAVED; BYTES=$BYTES_SAVED
