#!/usr/bin/env python3
"""SigmaHQ's Kubernetes audit rules converted by pySigma's DuckDB backend and run by DuckDB over
an audit log (JSON lines): the peer `bench/detect-duckdb.sh` measures `kubevigil audit detect`
against. Prints `rules=<n> events=<n> matches=<n> seconds=<wall>` (loading the log and every
query, with DuckDB's thread count set by THREADS, default 2).

usage: duckdb_sigma.py RULE_DIR EVENTS.jsonl
"""
import glob
import os
import sys
import time

import duckdb
from sigma.collection import SigmaCollection
from sigma_backend_duckdb import DuckDBBackend

rule_dir, log = sys.argv[1], sys.argv[2]
files = sorted(glob.glob(os.path.join(rule_dir, "*.yml")))
rules = [
    r
    for r in SigmaCollection.load_ruleset(files).rules
    if r.logsource.product == "kubernetes" and r.logsource.service == "audit"
]
queries = DuckDBBackend().convert(SigmaCollection(rules))
con = duckdb.connect()
con.execute(f"SET threads={int(os.environ.get('THREADS', '2'))}")


def fields(item, out):
    """The field names a rule's detection items read."""
    if hasattr(item, "detection_items"):
        for sub in item.detection_items:
            fields(sub, out)
    elif getattr(item, "field", None):
        out.add(item.field)


named = set()
for r in rules:
    for d in r.detection.detections.values():
        fields(d, named)
# Fields of audit events, loaded as the dotted columns the backend names.
LOADED = {
    "verb": "verb", "requestURI": "requestURI", "userAgent": "userAgent",
    "objectRef.apiGroup": "objectRef.apiGroup", "objectRef.namespace": "objectRef.namespace",
    "objectRef.resource": "objectRef.resource", "objectRef.subresource": "objectRef.subresource",
    "objectRef.name": "objectRef.name", "responseStatus.code": "responseStatus.code",
    "user.username": "\"user\".username",
}
# A field the backend names that is not a plain audit field (`apiGroup` without `objectRef.`,
# `hostPath`, `capabilities`, `file_path`: the backend has no mapping for them) is NULL.
nulls = ", ".join(f'NULL::VARCHAR AS "{f}"' for f in sorted(named - set(LOADED)))
loaded = ", ".join(f'{expr} AS "{name}"' for name, expr in LOADED.items())
# The backend names nested fields with dots ("objectRef.resource"): the log is loaded into a
# table with those columns; the time counts loading and every query.
start = time.perf_counter()
con.execute(
    f"""CREATE TABLE logs AS SELECT {loaded}{", " + nulls if nulls else ""}
       FROM read_json(?, format = 'newline_delimited', columns = {{
         'verb': 'VARCHAR', 'requestURI': 'VARCHAR', 'userAgent': 'VARCHAR',
         'objectRef': 'STRUCT(apiGroup VARCHAR, namespace VARCHAR, resource VARCHAR, subresource VARCHAR, name VARCHAR)',
         'responseStatus': 'STRUCT(code VARCHAR)', 'user': 'STRUCT(username VARCHAR)'}})""",
    [log],
)
events = con.execute("SELECT count(*) FROM logs").fetchone()[0]
matches = 0
for q in queries:
    matches += con.execute(f"SELECT count(*) FROM ({q})").fetchone()[0]
seconds = time.perf_counter() - start
print(f"rules={len(rules)} events={events} matches={matches} seconds={seconds:.3f}")
