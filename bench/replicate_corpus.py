#!/usr/bin/env python3
"""Replicates ../shared/corpus until it holds at least TARGET_MB of YAML, for `bench/scan.sh corpus`.

Copy i of every object gets `-c<i>` appended to metadata.name, so that no two objects share an
identity (the scanner evaluates a duplicate object once, which would make later copies free).
Documents are re-emitted with PyYAML's C dumper; their content is otherwise unchanged.
Usage: bench/replicate_corpus.py CORPUS_DIR OUT_DIR [TARGET_MB]
"""
import os
import sys

import yaml

src, out = sys.argv[1], sys.argv[2]
target = int(sys.argv[3]) if len(sys.argv) > 3 else 100
docs = []
for root, _, files in os.walk(src):
    for f in sorted(files):
        if f.endswith((".yaml", ".yml")):
            try:
                with open(os.path.join(root, f), encoding="utf-8") as fh:
                    docs.extend(d for d in yaml.load_all(fh, Loader=yaml.CSafeLoader) if isinstance(d, dict))
            except (yaml.YAMLError, UnicodeDecodeError):
                pass
os.makedirs(out, exist_ok=True)
written, copy = 0, 0
while written < target * 1024 * 1024:
    chunk = []
    for d in docs:
        meta = d.get("metadata")
        if isinstance(meta, dict) and isinstance(meta.get("name"), str):
            d = dict(d, metadata=dict(meta, name=f"{meta['name']}-c{copy}"))
        chunk.append(d)
    text = yaml.dump_all(chunk, Dumper=yaml.CSafeDumper, sort_keys=False, allow_unicode=True)
    with open(os.path.join(out, f"copy-{copy:03}.yaml"), "w", encoding="utf-8") as fh:
        fh.write(text)
    written += len(text.encode())
    copy += 1
print(f"{copy} copies of {len(docs)} documents, {written / 1048576:.1f} MB in {out}")
