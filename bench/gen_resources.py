#!/usr/bin/env python3
"""Generates a cluster of PODS pods on 50 nodes (Pods, Nodes, ResourceQuotas as one List, JSON)
and READINGS readings of the metrics API a minute apart (PodMetricsLists as JSON lines): every
pod near its requests, except HOGS pods at 8 times their CPU request from the start (ground
truth: one resource_hog alert each). Writes OUT/objects.json and OUT/metrics.jsonl, and prints
the alerts expected as JSON.

usage: gen_resources.py PODS READINGS OUT
"""
import json
import os
import random
import sys

pods_n, readings, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rng = random.Random(11)
HOGS = 3
os.makedirs(out, exist_ok=True)
items = [{"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-%d" % n},
          "status": {"allocatable": {"cpu": "16", "memory": "64Gi"}}} for n in range(50)]
for i in range(pods_n):
    items.append({"apiVersion": "v1", "kind": "Pod",
                  "metadata": {"name": "app-%d" % i, "namespace": "ns-%d" % (i % 40)},
                  "spec": {"nodeName": "node-%d" % (i % 50), "containers": [{"name": "app", "image": "registry.example.com/app:1",
                           "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}}}]},
                  "status": {"phase": "Running", "containerStatuses": [{"name": "app", "restartCount": 0, "state": {"running": {}}}]}})
for n in range(40):
    items.append({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "q", "namespace": "ns-%d" % n},
                  "status": {"hard": {"pods": "200"}, "used": {"pods": str(pods_n // 40)}}})
json.dump({"apiVersion": "v1", "kind": "List", "items": items}, open(os.path.join(out, "objects.json"), "w"))
with open(os.path.join(out, "metrics.jsonl"), "w") as f:
    for r in range(readings):
        ts = "2026-11-30T%02d:%02d:00Z" % (10 + r // 60, r % 60)
        lst = []
        for i in range(pods_n):
            cpu = "2000m" if i < HOGS else "%dm" % rng.randrange(50, 400)
            lst.append({"metadata": {"name": "app-%d" % i, "namespace": "ns-%d" % (i % 40)}, "timestamp": ts, "window": "15s",
                        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": "%dMi" % rng.randrange(100, 300)}}]})
        f.write(json.dumps({"kind": "PodMetricsList", "apiVersion": "metrics.k8s.io/v1beta1", "items": lst}, separators=(",", ":")) + "\n")
print(json.dumps({"resource_hog": HOGS}))
