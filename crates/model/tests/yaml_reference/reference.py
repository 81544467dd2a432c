#!/usr/bin/env python3
"""Reference reader for the differential YAML test (crates/model/tests/yaml_differential.rs).

Reads a JSON list of YAML texts on stdin (each one document, as kubectl's document splitter cuts
them) and prints a JSON list: {"ok": value} with the value kubectl would read, or {"err": message}.

The parser is PyYAML's C loader, that is libyaml, independent of the project's code. Scalars are
resolved by PyYAML's YAML 1.1 resolver; where go-yaml v2 (what kubectl reads YAML with, through
sigs.k8s.io/yaml) resolves differently, kubectl's answer is kept, and each such case is one of the
documented differences below, counted in the output's last element {"differences": {...}}:

  y-n-bool       plain y, Y, n, N: booleans in go-yaml v2, strings in PyYAML
  timestamp      plain timestamps: go-yaml v2 decodes them into an interface{} as their text
  sexagesimal    1:20, 190:20:30.15: base-60 numbers in PyYAML, strings in go-yaml v2
  inf-nan        .inf, .nan: floats in both, but not representable in JSON: kubectl fails to
                 convert them; the project keeps the text
  go-number      numbers only go-yaml v2 reads (0o17, 1e3, 1.0e5, -.5, 08): strconv rules
  big-int        integers beyond 64 bits: Python ints, floats in go-yaml v2
  binary         !!binary: bytes in PyYAML, the decoded text in go-yaml v2
  merge-order    << merges into the mapping being built (go-yaml v2 decoder.merge): it overrides
                 keys before it; PyYAML lets explicit keys win wherever they are
  key-string     non-string keys become strings (sigs.k8s.io/yaml converts keys for JSON)
"""
import base64
import datetime
import json
import re
import sys
from collections import Counter

import yaml

if not yaml.__with_libyaml__:
    sys.exit("PyYAML was built without libyaml (install Debian's python3-yaml)")

LOADER = yaml.CSafeLoader
Y11 = "tag:yaml.org,2002:"
SEXAGESIMAL = re.compile(r"^[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?$")
# go-yaml v2.4 resolve.go: yamlStyleFloat.
GO_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
GO_INT = re.compile(r"^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$")

differences = Counter()


class Refused(Exception):
    pass


def go_number(text):
    """strconv.ParseInt/ParseUint(s, 0, 64), then the float pattern, as go-yaml v2 does."""
    if not text or text[0] not in "0123456789+-.":
        return None
    if text[0] == ".":
        try:
            return float(text) if re.match(r"^\.[0-9]+([eE][-+]?[0-9]+)?$", text) else None
        except ValueError:
            return None
    plain = text.replace("_", "")
    if GO_INT.match(plain):
        sign = -1 if plain[0] == "-" else 1
        body = plain.lstrip("+-")
        if body[:2].lower() == "0x":
            v = int(body[2:], 16)
        elif body[:2].lower() == "0o":
            v = int(body[2:], 8)
        elif body[:2].lower() == "0b":
            v = int(body[2:], 2)
        elif len(body) > 1 and body[0] == "0":
            v = int(body[1:], 8)
        else:
            v = int(body)
        v *= sign
        if -(2**63) <= v < 2**64:
            return v
    if GO_FLOAT.match(plain):
        return float(plain)
    return None


def plain_scalar(text):
    tag = LOADER.resolve(LOADER, yaml.ScalarNode, text, (True, False))
    if text in ("y", "Y", "n", "N"):
        differences["y-n-bool"] += 1
        return text in ("y", "Y")
    if tag == Y11 + "timestamp":
        differences["timestamp"] += 1
        return text
    if tag in (Y11 + "int", Y11 + "float") and SEXAGESIMAL.match(text):
        differences["sexagesimal"] += 1
        return text
    if text in (".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF",
                ".nan", ".NaN", ".NAN"):
        differences["inf-nan"] += 1
        return text
    if tag == Y11 + "str":
        n = go_number(text)
        if n is not None:
            differences["go-number"] += 1
            return n
        return text
    if tag == Y11 + "value":  # PyYAML's `=`
        return text
    value = LOADER(text).construct_object(yaml.ScalarNode(tag, text))
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        differences["big-int"] += 1
        return float(value)
    return value


def scalar(event):
    tag, text = event.tag, event.value
    if tag is None or tag == "!":
        if event.style == "" and tag is None:
            return plain_scalar(text)
        return text
    if not tag.startswith(Y11):
        return text  # an application tag (`!Ref x`): go-yaml v2 keeps the text
    kind = tag[len(Y11):]
    if kind in ("str", "timestamp"):
        return text
    if kind == "binary":
        differences["binary"] += 1
        try:
            return base64.b64decode("".join(text.split()), validate=True).decode("utf-8", "replace")
        except ValueError:
            raise Refused("invalid !!binary")
    if kind == "null":
        return None
    if kind in ("bool", "int", "float"):
        value = plain_scalar(text)
        return value
    return text


def key_string(key):
    if isinstance(key, str):
        return key
    if isinstance(key, (list, dict)):
        raise Refused("complex mapping key")
    differences["key-string"] += 1
    if key is None:
        return "null"
    if isinstance(key, bool):
        return "true" if key else "false"
    if isinstance(key, float) and key == int(key) and abs(key) < 1e16:
        return str(int(key)) + ".0"
    return str(key)


def merge(target, value):
    sources = value if isinstance(value, list) else [value]
    for source in reversed(sources):
        if not isinstance(source, dict):
            raise Refused("merge value is not a mapping")
        for k, v in source.items():
            if k in target:
                differences["merge-order"] += 1
            target[k] = v


def read(text):
    """The value of the single document in `text` (None when it has none)."""
    stack = []  # [kind, items, anchor, pending_merge_marker]
    anchors = {}
    root = []
    documents = 0

    def complete(value, anchor):
        if anchor is not None:
            anchors[anchor] = value
        if not stack:
            root.append(value)
            return
        frame = stack[-1]
        frame[1].append(value)

    for event in yaml.parse(text, Loader=LOADER):
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise Refused("more than one document")
        elif isinstance(event, yaml.ScalarEvent):
            if (stack and stack[-1][0] == "map" and len(stack[-1][1]) % 2 == 0
                    and event.tag is None and event.style == "" and event.value == "<<"):
                value = MergeKey
            else:
                value = scalar(event)
            complete(value, event.anchor)
        elif isinstance(event, yaml.SequenceStartEvent):
            stack.append(["seq", [], event.anchor])
            if len(stack) > 200:
                raise Refused("too deep")
        elif isinstance(event, yaml.MappingStartEvent):
            stack.append(["map", [], event.anchor])
            if len(stack) > 200:
                raise Refused("too deep")
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            kind, items, anchor = stack.pop()
            if kind == "seq":
                complete(items, anchor)
            else:
                out = {}
                for i in range(0, len(items), 2):
                    k, v = items[i], items[i + 1]
                    if k is MergeKey:
                        merge(out, v)
                    else:
                        out[key_string(k)] = v
                complete(out, anchor)
        elif isinstance(event, yaml.AliasEvent):
            if event.anchor not in anchors:
                raise Refused("unknown anchor")
            complete(anchors[event.anchor], None)
    return root[0] if root else None


class MergeKey:
    pass


def main():
    texts = json.load(sys.stdin)
    out = []
    for text in texts:
        try:
            out.append({"ok": read(text)})
        except (yaml.YAMLError, Refused, RecursionError) as e:
            out.append({"err": str(e).splitlines()[0] if str(e) else type(e).__name__})
    out.append({"differences": differences})
    json.dump(out, sys.stdout, allow_nan=False, default=str)


if __name__ == "__main__":
    main()
