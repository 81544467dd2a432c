#!/usr/bin/env python3
"""Drives bench/monitor-intake.sh: `kubevigil monitor` audit intake end to end, stdlib only.

    monitor_intake.py KUBEVIGIL EVENTS_FILE SATURATION_EVENTS PACED_SECONDS [RATE]

A signed-webhook receiver (the sink) and the monitor (`--no-cluster --audit-listen ...
--audit-plain-http --webhook ...`) are started on free ports; EventList batches of 400 events,
lines of EVENTS_FILE (gen_audit output), are POSTed to /audit over keep-alive connections.

1. Saturation: SATURATION_EVENTS events as fast as the monitor acknowledges them (4 client
   connections); then /metrics is read until detection has processed every acknowledged event.
   Sustained rate: events / (last processed - first POST). The monitor's CPU seconds come from
   /proc, so events per CPU-second does not depend on what else runs on the machine.
2. Paced: the next events at RATE events/s (default: half the sustained rate) for
   PACED_SECONDS; for each alert that was raised by one event (not a correlation, not a stream
   update), the time from the start of the POST that carried its event to the webhook
   receiving its notification (matched by dedup key and count). p50, p99, max.
"""
import http.client
import http.server
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime

BATCH = 400
CLIENTS = 4


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def event_time_ms(ev):
    """The event's time as the alert contract gives it: stage, else received, in ms."""
    t = ev.get("stageTimestamp") or ev.get("requestReceivedTimestamp") or ev.get("timestamp")
    if not t:
        return None
    return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000)


def alert_time_ms(t):
    return int(datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() * 1000) if t else None


class Receiver(http.server.BaseHTTPRequestHandler):
    """The sink: records when each notification arrives, by (16-hex dedup key, count)."""

    arrivals = {}
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        now = time.monotonic()
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        for n in json.loads(body).get("notifications", []):
            key = n.get("labels", {}).get("dedup_key")
            count = n["id"].rsplit("/", 1)[-1]
            with Receiver.lock:
                Receiver.arrivals.setdefault((key, count), now)

    def log_message(self, *args):
        pass


def metric(addr, name):
    c = http.client.HTTPConnection(addr, timeout=10)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    c.close()
    m = re.search(rf"^{name} (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def body(lines):
    return b'{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[' + b",".join(lines) + b"]}"


def post_all(addr, bodies, sent_at=None, pace=None):
    """POSTs bodies over CLIENTS keep-alive connections; with `pace` (seconds between batches)
    open loop, each batch at its planned time. Records each batch's POST start in sent_at."""
    host, port = addr.split(":")
    nxt = [0]
    lock = threading.Lock()
    start = time.monotonic()
    errors = []

    def client():
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while True:
            with lock:
                i = nxt[0]
                nxt[0] += 1
            if i >= len(bodies):
                break
            if pace is not None:
                delay = start + i * pace - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            while True:
                t = time.monotonic()
                conn.request("POST", "/audit", bodies[i], {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status == 200:
                    break
                if r.status != 503:
                    errors.append(r.status)
                    break
                time.sleep(1)
            if sent_at is not None:
                sent_at[i] = t
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    if errors:
        sys.exit(f"POST /audit answered {sorted(set(errors))}")
    return start, time.monotonic()


def main():
    binary, events_file, sat_events, paced_secs = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    rate_arg = float(sys.argv[5]) if len(sys.argv) > 5 else None
    with open(events_file, "rb") as f:
        lines = [l.rstrip(b"\n") for l in f if l.strip()]
    sat = lines[:sat_events]
    rest = lines[sat_events:]
    state = tempfile.mkdtemp(prefix="kv-intake-")
    secret = os.path.join(state, "secret")
    with open(secret, "w") as f:
        f.write("bench-secret\n")
    sink_port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", sink_port), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    audit, listen = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    monitor = subprocess.Popen(
        [binary, "--log-level", "error", "monitor", "--no-cluster", "--audit-listen", audit, "--audit-plain-http",
         "--listen", listen, "--state-dir", os.path.join(state, "state"),
         "--webhook", f"http://127.0.0.1:{sink_port}/hook", "--webhook-secret-file", secret],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    alerts = []  # (dedupKey, count, update, first event key)

    def read_alerts():
        for line in monitor.stdout:
            a = json.loads(line)
            ev = (a.get("events") or [{}])[0]
            alerts.append((a["dedupKey"], str(a["count"]), a["update"], (ev.get("auditID"), alert_time_ms(ev.get("time")))))

    threading.Thread(target=read_alerts, daemon=True).start()
    for _ in range(100):
        try:
            metric(listen, "kubevigil_audit_events_processed_total")
            break
        except OSError:
            time.sleep(0.1)
    try:
        # 1. Saturation.
        bodies = [body(sat[i:i + BATCH]) for i in range(0, len(sat), BATCH)]
        mb = sum(map(len, bodies)) / 1e6
        cpu0 = cpu_seconds(monitor.pid)
        t0, t_acked = post_all(audit, bodies)
        while metric(listen, "kubevigil_audit_events_processed_total") < len(sat):
            time.sleep(0.05)
        t_done = time.monotonic()
        cpu = cpu_seconds(monitor.pid) - cpu0
        sustained = len(sat) / (t_done - t0)
        print(f"saturation: {len(sat):,} events ({mb:.0f} MB) in {len(bodies):,} batches of {BATCH}, {CLIENTS} connections")
        print(f"  acknowledged (spooled, synced): {len(sat) / (t_acked - t0):,.0f} events/s")
        print(f"  processed by detection (end to end, sustained): {sustained:,.0f} events/s over {t_done - t0:.1f} s")
        print(f"  monitor CPU: {cpu:.1f} s, {len(sat) / cpu:,.0f} events per CPU-second")
        alerts_sat = len(alerts)

        # 2. Paced: latency from POST to the webhook.
        rate = rate_arg or sustained / 2
        n = min(len(rest), int(rate * paced_secs) // BATCH * BATCH)
        paced = rest[:n]
        bodies = [body(paced[i:i + BATCH]) for i in range(0, n, BATCH)]
        batch_of = {}
        for i in range(0, n, BATCH):
            for l in paced[i:i + BATCH]:
                ev = json.loads(l)
                batch_of[(ev.get("auditID"), event_time_ms(ev))] = i // BATCH
        sent_at = [None] * len(bodies)
        alerts_before = len(alerts)
        p0, p1 = post_all(audit, bodies, sent_at, pace=BATCH / rate)
        while metric(listen, "kubevigil_audit_events_processed_total") < len(sat) + n:
            time.sleep(0.05)
        time.sleep(3)  # the last notifications on their way
        lat = []
        missing = 0
        for key, count, update, first in alerts[alerts_before:]:
            if update or count != "1" or first not in batch_of:
                continue
            arrived = Receiver.arrivals.get((key, count))
            if arrived is None:
                missing += 1
                continue
            lat.append((arrived - sent_at[batch_of[first]]) * 1000)
        lat.sort()
        print(f"paced: {n:,} events at {rate:,.0f} events/s for {p1 - p0:.1f} s ({len(alerts) - alerts_before} alerts; {alerts_sat} in saturation)")
        if lat:
            q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
            print(f"  POST to webhook delivery, {len(lat)} single-event alerts: p50 {q(0.5):.0f} ms, p99 {q(0.99):.0f} ms, max {lat[-1]:.0f} ms"
                  + (f" ({missing} not delivered)" if missing else ""))
        else:
            print("  no single-event alert in the paced phase")
    finally:
        monitor.terminate()
        monitor.wait()
        server.shutdown()
        subprocess.run(["rm", "-rf", state])


if __name__ == "__main__":
    main()
