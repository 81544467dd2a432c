#!/usr/bin/env bash
# Behaviour-preserving refactors (issue 12): run the same commands with a reference binary and
# with the current build, on examples/ and ../shared/corpus, and compare stdout, stderr and exit
# code byte for byte.
#
#   bench/same-output.sh record [REF_BINARY]   record the reference outputs (default: a release
#                                              build of the current checkout) into bench/out/same/ref
#   bench/same-output.sh check                 build the current checkout, record into
#                                              bench/out/same/new and diff against ref (exit 1 on any
#                                              difference)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/same
CORPUS=${CORPUS:-../shared/corpus}
mode=${1:?record|check}
mkdir -p "$OUT"
# A missing corpus would make both runs fail the same way and compare equal: refuse instead.
[[ -d $CORPUS ]] || { echo "no corpus at $CORPUS (set CORPUS=DIR)" >&2; exit 2; }

build() { cargo build --release -q -p kubevigil; echo target/release/kubevigil; }

# Audit traffic with ground truth from the project's generator, fixed seed and size.
audit_log() {
  local f=$OUT/audit-20000.log
  if [[ ! -s $f ]]; then
    cargo build --release -q -p kubevigil-audit --example gen_audit
    ./target/release/examples/gen_audit --events 20000 > "$f"
  fi
  echo "$f"
}

run_all() {
  local bin=$1 dir=$2 log
  log=$(audit_log)
  rm -rf "$dir"; mkdir -p "$dir"
  local n=0
  run() {
    n=$((n + 1))
    local name; name=$(printf '%03d' "$n")
    # Paths in outputs are relative to the project, so both runs print the same ones.
    set +e
    "$bin" "$@" >"$dir/$name.out" 2>"$dir/$name.err"
    echo "$?" >"$dir/$name.rc"
    set -e
    printf '%s\n' "$*" >"$dir/$name.cmd"
  }
  for target in examples/insecure examples/hardened "$CORPUS"; do
    for fmt in table json sarif junit; do
      run scan --config examples/kubevigil.yaml -o "$fmt" --color never "$target"
    done
    run scan -o json "$target"
    run pss "$target"
    run pss -o json "$target"
    run pss -o json --level baseline --version v1.29 "$target"
    run pss --what-if restricted "$target"
    for fmt in table json csv md dot; do
      run netpol connectivity -o "$fmt" "$target"
    done
  done
  run netpol can-reach --from shop/web --to shop/db --port 5432/TCP examples/hardened
  run netpol diff examples/insecure examples/hardened
  for fmt in table json; do
    run audit detect -o "$fmt" examples/audit/sample.log
    run audit detect -o "$fmt" examples/audit/malformed.log
    run audit detect -o "$fmt" "$log"
    run audit policy simulate -o "$fmt" --policy examples/audit/guide-policy.yaml examples/audit/sample.log
    run audit policy simulate -o "$fmt" --policy examples/audit/guide-policy.yaml "$log"
  done
  run audit detect --list-rules
  run audit policy lint examples/audit/guide-policy.yaml
  run audit policy recommend
  run checks list
  run checks explain pss-privileged
  echo "$n commands recorded in $dir" >&2
}

case $mode in
  record) run_all "${2:-$(build)}" "$OUT/ref" ;;
  check)
    [[ -d $OUT/ref ]] || { echo "no reference: run bench/same-output.sh record first" >&2; exit 2; }
    run_all "$(build)" "$OUT/new"
    if diff -r "$OUT/ref" "$OUT/new" >"$OUT/diff.txt"; then
      echo "same output: $(ls "$OUT/new" | grep -c '\.cmd$') commands, byte-identical"
    else
      echo "DIFFERENT: see $OUT/diff.txt" >&2
      grep -E '^diff ' "$OUT/diff.txt" | head -20 >&2
      exit 1
    fi
    ;;
  *) echo "usage: $0 record [BIN] | check" >&2; exit 2 ;;
esac
