#!/usr/bin/env python3
"""Scores `kubevigil audit detect -o json` alerts against the generator's ground truth.

usage: precision.py TRUTH.tsv ALERTS.jsonl EVENTS

TRUTH.tsv: `auditID<TAB>scenario` per attack event (gen_audit --truth). An alert is an attack
alert when one of its events' auditIDs is in the truth file, else a false alert. An episode
is detected when at least one alert names one of its events. Raw alerts are counted (no
deduplication).
"""
import collections
import json
import sys

truth_path, alerts_path, events = sys.argv[1], sys.argv[2], int(sys.argv[3])
scenario_of = {}
episodes = collections.defaultdict(set)  # scenario -> episode keys
episode_of = {}
with open(truth_path) as f:
    prev = None
    n = collections.Counter()
    for line in f:
        audit_id, scenario = line.rstrip("\n").split("\t")
        if scenario != prev:
            n[scenario] += 1
            prev = scenario
        scenario_of[audit_id] = scenario
        episode_of[audit_id] = (scenario, n[scenario])
        episodes[scenario].add((scenario, n[scenario]))

detected = set()
false_by_rule = collections.Counter()
true_by_rule = collections.Counter()
false_total = false_high = 0
for line in open(alerts_path):
    alert = json.loads(line)
    ids = [e.get("auditID") for e in alert.get("events", [])] + alert.get("auditIDs", [])
    hits = [episode_of[i] for i in ids if i in episode_of]
    title = f'{alert.get("severity")}  {alert.get("title")}'
    if hits:
        detected.update(hits)
        true_by_rule[title] += 1
    else:
        false_total += 1
        false_by_rule[title] += 1
        if alert.get("severity") in ("high", "critical"):
            false_high += 1

print(f"{events} events, {len(scenario_of)} attack events in "
      f"{sum(len(v) for v in episodes.values())} episodes of {len(episodes)} scenarios")
print()
print(f"{'scenario':<34} {'episodes':>8} {'detected':>8} {'recall':>7}")
missed = 0
for s in sorted(episodes):
    d = sum(1 for e in episodes[s] if e in detected)
    missed += d < len(episodes[s])
    print(f"{s:<34} {len(episodes[s]):>8} {d:>8} {d / len(episodes[s]):>7.0%}")
print()
per_k = 1000 / events
print(f"false alerts: {false_total} ({false_total * per_k:.3f} per 1,000 events); "
      f"high/critical: {false_high} ({false_high * per_k:.3f} per 1,000 events)")
print(f"alerts on attack events: {sum(true_by_rule.values())}")
print()
print("false alerts by rule:")
for title, c in false_by_rule.most_common():
    print(f"  {c:>8}  {title}")
sys.exit(1 if missed else 0)
