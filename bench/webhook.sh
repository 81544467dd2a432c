#!/usr/bin/env bash
# Benchmark: `kubevigil webhook` latency and throughput over loopback HTTPS.
# Pod CREATE AdmissionReviews (restricted Pod Security + image policy), 64 keep-alive TLS
# connections, open loop at 1,000 and 5,000 requests/s, then a ramp (x1.5) while the server keeps up.
# The server gets 2 worker threads, the load generator 1; all share this machine's cores.
# Usage: bench/webhook.sh [SECONDS_PER_RATE] (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-10}
WORKERS=${WORKERS:-2}
cargo build --release -q -p kubevigil-webhook --example loadgen
GEN=target/release/examples/loadgen
# The real binary; if the workspace binary does not build right now, the same server code
# run by the load generator's `serve` mode.
if cargo build --release -q -p kubevigil 2>/dev/null; then
  serve() { exec target/release/kubevigil --log-level error webhook --tls-cert "$dir/tls.crt" --tls-key "$dir/tls.key" \
    --config "$dir/webhook.yaml" --listen "127.0.0.1:$port" --workers "$WORKERS"; }
  server="kubevigil webhook"
else
  serve() { exec "$GEN" serve "$dir/webhook.yaml" "$dir/tls.crt" "$dir/tls.key" "127.0.0.1:$port"; }
  server="loadgen serve (kubevigil binary did not build)"
fi
dir=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
"$GEN" certs "$dir"
cat > "$dir/namespaces.yaml" <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/audit: restricted
YAML
cat > "$dir/webhook.yaml" <<'YAML'
apiVersion: kubevigil.io/v1alpha1
kind: WebhookConfiguration
namespacesFile: namespaces.yaml
podSecurity: {mode: enforce}
imagePolicy: {mode: enforce, allowedRegistries: [registry.example.com, docker.io/library]}
YAML
port=$((20000 + RANDOM % 20000))
serve &
pid=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done
echo "server: $server, $WORKERS worker threads; load generator: 1 thread"
echo "kubevigil webhook benchmark ($(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs))"
"$GEN" micro "$dir/webhook.yaml"
SERVER_PID=$pid "$GEN" bench "127.0.0.1:$port" "$dir/ca.crt" "$SECS"
kill -INT "$pid"
wait "$pid" || true
