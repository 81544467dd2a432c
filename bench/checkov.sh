#!/usr/bin/env bash
# Benchmark: `kubevigil scan` side by side with checkov (PyPI `checkov`, the Kubernetes framework)
# on the same manifests, both on one core: wall time, CPU time and peak RSS of each.
# Usage: bench/checkov.sh [DIR] (default ../shared/corpus). checkov is installed into
# bench/out/checkov-venv on first use (needs PyPI).
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-../shared/corpus}
[ -d "$DIR" ] || { echo "error: $DIR not found" >&2; exit 2; }
VENV=bench/out/checkov-venv
if [ ! -x "$VENV/bin/checkov" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q checkov
fi
cargo build --release -q -p kubevigil
mb=$(du -sm "$DIR" | cut -f1)
objects=$({ target/release/kubevigil scan -o json "$DIR" 2>/dev/null || true; } | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["objects"])')
echo "input: $DIR, $mb MB, $objects objects; checkov $("$VENV/bin/checkov" --version)"
run() {
  local name=$1; shift
  read -r wall cpu kib rc < <(taskset -c 0 python3 bench/measure.py "$@")
  printf '%-10s wall %7.2f s, CPU %7.2f s, peak RSS %7.1f MiB (exit %s)\n' "$name" "$wall" "$cpu" "$((kib / 1024))" "$rc"
}
run kubevigil target/release/kubevigil scan -o json "$DIR"
run checkov "$VENV/bin/checkov" -d "$DIR" --framework kubernetes --quiet --compact -o json
