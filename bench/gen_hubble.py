#!/usr/bin/env python3
"""Generates a day of Hubble flows (`hubble observe -o jsonpb` lines) for the shop of
examples/hardened: web pods calling api on 8080, api pods calling db on 5432, their replies,
and policy drops of web pods trying db (a misconfigured client, the noise); plus SCANS injected
port scans (30 ports from one pod in a minute) and GAPS injected flows forwarded that the
policies deny (one new pod each, on a node without enforcement). Prints the flows on stdout and
the alerts expected on stderr as JSON.

usage: gen_hubble.py FLOWS [SEED]
"""
import json
import random
import sys

n = int(sys.argv[1])
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 9)
SCANS, GAPS = 3, 3
LABELS = {"web": {"app": "web", "tier": "frontend"}, "api": {"app": "api", "tier": "backend"},
          "db": {"app": "db", "data-classification": "sensitive"}}
KIND = {"web": "Deployment", "api": "Deployment", "db": "StatefulSet"}


def ep(app, pod):
    return {"ID": hash(pod) % 4000, "identity": 10000 + len(app), "namespace": "shop",
            "labels": ["k8s:%s=%s" % kv for kv in LABELS[app].items()] + ["k8s:io.kubernetes.pod.namespace=shop"],
            "pod_name": pod, "workloads": [{"name": app, "kind": KIND[app]}]}


def ip(pod):
    return "10.0.%d.%d" % (hash(pod) % 200, hash(pod + "x") % 250 + 1)


def flow(sec, verdict, src, dst, port, sport, flags, reply=False, reason=None, node="node-1"):
    t = "2026-11-30T%02d:%02d:%02d.%06dZ" % (sec // 3600, sec // 60 % 60, sec % 60, rng.randrange(10**6))
    f = {"time": t, "verdict": verdict,
         "IP": {"source": ip(src["pod_name"]), "destination": ip(dst["pod_name"]), "ipVersion": "IPv4"},
         "l4": {"TCP": {"source_port": sport, "destination_port": port, "flags": flags}},
         "source": src, "destination": dst, "Type": "L3_L4", "node_name": node,
         "traffic_direction": "INGRESS" if reply else "EGRESS", "is_reply": reply,
         "Summary": "TCP Flags: " + ", ".join(flags)}
    if reason:
        f["drop_reason_desc"] = reason
    return json.dumps({"flow": f, "node_name": node, "time": t}, separators=(",", ":"))


webs = [ep("web", "web-6b7f9c8d4-%05d" % i) for i in range(50)]
apis = [ep("api", "api-5d8c7b6f9-%05d" % i) for i in range(20)]
dbs = [ep("db", "db-%d" % i) for i in range(3)]
scans = {int(n * (k + 1) / (SCANS + 1)): k for k in range(SCANS)}
gaps = {int(n * (k + 1.5) / (GAPS + 2)): k for k in range(GAPS)}
out = sys.stdout
for i in range(n):
    sec = i * 86000 // n
    if i in scans:
        src = ep("web", "web-scan-%d" % scans[i])
        for j in range(30):
            out.write(flow(sec + j, "DROPPED", src, rng.choice(dbs), 1000 + j, 50000 + j, {"SYN": True}, reason="POLICY_DENIED") + "\n")
    if i in gaps:
        out.write(flow(sec, "FORWARDED", ep("web", "web-gap-%d" % gaps[i]), rng.choice(dbs), 5432, 51000, {"SYN": True}, node="node-9") + "\n")
    r = rng.random()
    sport = 30000 + rng.randrange(30000)
    if r < 0.04:
        out.write(flow(sec, "DROPPED", rng.choice(webs[:5]), rng.choice(dbs), 5432, sport, {"SYN": True}, reason="POLICY_DENIED") + "\n")
    elif r < 0.5:
        w, a = rng.choice(webs), rng.choice(apis)
        out.write(flow(sec, "FORWARDED", w, a, 8080, sport, {"SYN": True}) + "\n")
    elif r < 0.75:
        a, d = rng.choice(apis), rng.choice(dbs)
        out.write(flow(sec, "FORWARDED", a, d, 5432, sport, {"SYN": True}) + "\n")
    else:
        w, a = rng.choice(webs), rng.choice(apis)
        out.write(flow(sec, "FORWARDED", a, w, sport, 8080, {"SYN": True, "ACK": True}, reply=True) + "\n")
json.dump({"hubble_port_scan": SCANS, "hubble_forwarded_policies_deny": GAPS, "hubble_dropped_policies_allow": 0}, sys.stderr)
