#!/usr/bin/env python3
"""Hostile-load figures for `kubevigil webhook` (issue 10): peak RSS for large AdmissionReviews,
idle TLS connection lifetime, and how refused requests are answered under overload.

Usage: bench/webhook-limits.py KUBEVIGIL_BINARY [rss|idle|shed|all]
Starts the binary on loopback with a throwaway self-signed certificate (needs `openssl`)."""
import json, os, socket, ssl, subprocess, sys, tempfile, threading, time

BIN = sys.argv[1]
WHAT = sys.argv[2] if len(sys.argv) > 2 else "all"
DIR = tempfile.mkdtemp()
subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost", "-days", "2",
                "-keyout", f"{DIR}/tls.key", "-out", f"{DIR}/tls.crt"], check=True, capture_output=True)
with open(f"{DIR}/ns.yaml", "w") as f:
    f.write("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  labels:\n"
            "    pod-security.kubernetes.io/enforce: restricted\n    kubevigil.io/harden: 'true'\n")
CTX = ssl.create_default_context()
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE
CTX.set_alpn_protocols(["http/1.1"])


def review(containers, uid="u"):
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "big", "namespace": "shop"},
           "spec": {"containers": [{"name": f"c{i:05d}", "image": "registry.example.com/app:1.0",
                                    "securityContext": {"runAsNonRoot": True}} for i in range(containers)]}}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "operation": "CREATE", "namespace": "shop", "name": "big",
        "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "userInfo": {"username": "alice"}, "object": pod}}, separators=(",", ":")).encode()


def start(*args):
    port = 20000 + os.getpid() % 10000 + int(time.time() * 1000) % 10000
    p = subprocess.Popen([BIN, "--log-level", "error", "webhook", "--tls-cert", f"{DIR}/tls.crt", "--tls-key",
                          f"{DIR}/tls.key", "--namespaces", f"{DIR}/ns.yaml", "--listen", f"127.0.0.1:{port}",
                          "--workers", "2", *args], stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return p, port
        except OSError:
            time.sleep(0.1)
    raise SystemExit("server did not start")


def hwm(p):
    for line in open(f"/proc/{p.pid}/status"):
        if line.startswith(("VmHWM", "VmRSS")):
            yield line.split()[1]


def post(port, body, path="/validate", timeout=60):
    """One request on a fresh connection: (status, headers) or ('disconnect', error)."""
    s = CTX.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=timeout), server_hostname="localhost")
    try:
        return exchange(s, body, path)
    finally:
        s.close()


def exchange(s, body, path="/validate"):
    try:
        s.sendall(f"POST {path} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n"
                  f"content-length: {len(body)}\r\n\r\n".encode() + body)
        buf = b""
        while b"\r\n\r\n" not in buf:
            chunk = s.recv(65536)
            if not chunk:
                return "disconnect", "EOF before response"
            buf += chunk
        head, rest = buf.split(b"\r\n\r\n", 1)
        lines = head.decode().split("\r\n")
        headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
        n = int(headers.get("content-length", "0"))
        while len(rest) < n:
            chunk = s.recv(65536)
            if not chunk:
                return "disconnect", "EOF in response body"
            rest += chunk
        if b"RequestEntityTooLarge" in rest:
            headers["x-denied"] = "too large to evaluate"
        return int(lines[0].split()[1]), headers
    except (OSError, ssl.SSLError) as e:
        return "disconnect", repr(e)


def rss():
    # 31,000 containers: a 3.0 MB review; 74,000: 7.2 MB; 15,000: 1.5 MB (etcd's default limit).
    for n, conc, flags in [(31000, 1, []), (31000, 2, []), (31000, 4, ["--max-in-flight", "4"]), (74000, 1, []),
                           (15000, 1, []), (15000, 4, ["--max-in-flight", "4"])]:
        p, port = start(*flags)
        body = review(n)
        base = list(hwm(p))
        results = []

        def one():
            status, h = post(port, body)
            if status == 503 and "retry-after" in h:
                status = "503+Retry-After"
            elif status == 200:
                status = "200 denied: too large to evaluate" if "x-denied" in h else "200 evaluated"
            results.append(status)
        ts = [threading.Thread(target=one) for _ in range(conc)]
        [t.start() for t in ts]
        [t.join() for t in ts]
        time.sleep(0.5)
        peak, now = hwm(p)
        print(f"rss: {len(body) / 1e6:.1f} MB review x{conc} concurrent {' '.join(flags)}: statuses {sorted(map(str, results))}, "
              f"RSS before {int(base[1]) // 1024} MB, peak {int(peak) // 1024} MB, after {int(now) // 1024} MB")
        p.kill(); p.wait()


def idle(cap=200):
    p, port = start()
    out = {}

    def hold(kind):
        s = CTX.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
        if kind == "after-one-request":
            exchange(s, review(1))
        t0 = time.time()
        s.settimeout(cap)
        try:
            while s.recv(4096):
                pass
            out[kind] = f"closed by server after {time.time() - t0:.1f} s"
        except (socket.timeout, TimeoutError):
            out[kind] = f"still open after {cap} s (gave up)"
        except (OSError, ssl.SSLError) as e:
            out[kind] = f"closed by server after {time.time() - t0:.1f} s ({e!r})"
    ts = [threading.Thread(target=hold, args=(k,)) for k in ("handshake-only", "after-one-request")]
    [t.start() for t in ts]
    [t.join() for t in ts]
    for k, v in out.items():
        print(f"idle: {k}: {v}")
    p.kill(); p.wait()


def shed(secs=10, conns=64):
    p, port = start("--max-in-flight", "4")
    body = review(3000)  # ~250 KB: slow enough to evaluate that 64 connections overload 4 slots
    counts = {}
    lock = threading.Lock()
    stop = time.time() + secs

    def client():
        s = None
        while time.time() < stop:
            if s is None:
                try:
                    s = CTX.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=30), server_hostname="localhost")
                except (OSError, ssl.SSLError):
                    with lock:
                        counts["connect failed"] = counts.get("connect failed", 0) + 1
                    continue
            status, h = exchange(s, body)
            key = status if status != 503 else ("503+Retry-After" if "retry-after" in h else "503 without Retry-After")
            with lock:
                counts[key] = counts.get(key, 0) + 1
            if status == "disconnect" or (isinstance(h, dict) and h.get("connection") == "close"):
                s.close(); s = None
    ts = [threading.Thread(target=client) for _ in range(conns)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    refused = sum(v for k, v in counts.items() if k not in (200,))
    ok503 = counts.get("503+Retry-After", 0)
    print(f"shed: {conns} connections, --max-in-flight 4, {secs} s: {counts}; refused answered 503+Retry-After: "
          f"{ok503}/{refused} = {100 * ok503 / max(refused, 1):.0f}%")
    p.kill(); p.wait()


for w in (["rss", "shed", "idle"] if WHAT == "all" else [WHAT]):
    globals()[w]()
