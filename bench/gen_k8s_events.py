#!/usr/bin/env python3
"""Generates a day of a busy namespace's core v1 Events as JSON lines: scheduling, image pulls,
container starts, failing readiness probes, back-offs, missing ConfigMaps (ordinary life, no
alert expected), plus EVICTION_STORMS storms of 12 evictions on one node in six minutes.
Prints the events on stdout and the alerts expected on stderr as JSON.

usage: gen_k8s_events.py EVENTS [SEED]
"""
import json
import random
import sys

n = int(sys.argv[1])
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 3)
EVICTION_STORMS = 3
ordinary = [
    ("Scheduled", "Normal", "Successfully assigned shop/web-%d to node-%d"),
    ("Pulled", "Normal", 'Container image "registry.example.com/web:1.%d" already present on machine'),
    ("Created", "Normal", "Created container: app"),
    ("Started", "Normal", "Started container app"),
    ("Unhealthy", "Warning", "Readiness probe failed: HTTP probe failed with statuscode: 503"),
    ("BackOff", "Warning", "Back-off restarting failed container app in pod web-%d_shop"),
    ("FailedMount", "Warning", 'MountVolume.SetUp failed for volume "cfg" : configmap "cfg-%d" not found'),
]
storms = {int(n * (k + 1) / (EVICTION_STORMS + 1)): k for k in range(EVICTION_STORMS)}


def stamp(s):
    return "2026-11-30T%02d:%02d:%02dZ" % (s // 3600, s // 60 % 60, s % 60)


def event(i, s, reason, typ, message, pod, node):
    return {"apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "%s.%x" % (pod, i), "namespace": "shop"},
            "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": pod, "namespace": "shop",
                               "fieldPath": "spec.containers{app}"},
            "reason": reason, "type": typ, "message": message,
            "source": {"component": "kubelet", "host": node},
            "firstTimestamp": stamp(s), "lastTimestamp": stamp(s), "count": 1}


for i in range(n):
    s = i * 86400 // n
    if i in storms:
        for j in range(12):
            ev = event(i * 100 + j, s + j * 30, "Evicted", "Warning",
                       "The node was low on resource: memory.", "etl-%d-%d" % (storms[i], j), "node-storm-%d" % storms[i])
            print(json.dumps(ev))
    reason, typ, message = rng.choice(ordinary)
    message = message.replace("%d", str(rng.randint(0, 99)), 1).replace("%d", str(rng.randint(0, 9)))
    print(json.dumps(event(i, s, reason, typ, message, "web-%d" % (i % 100), "node-%d" % (i % 10))))
json.dump({"k8s_event_eviction_storm": EVICTION_STORMS}, sys.stderr)
sys.stderr.write("\n")
