#!/usr/bin/env python3
"""Writes known_fields_<contract>.json: the field names each Talos config
document accepts, taken from Talos's official config.schema.json
(siderolabs/talos pkg/machinery/config/schemas/config.schema.json at the tag).

Usage: known_fields.py <config.schema.json> <out.json>

A node is "*" (any value), {"p": {name: node}} (an object with these keys
only), {"m": node} (a map of any keys to node) or {"i": node} (a list of node).
"""
import json
import sys

schema = json.load(open(sys.argv[1]))
defs = schema["$defs"]


def node(s, depth=0):
    if depth > 40:
        return "*"
    if "$ref" in s:
        return node(defs[s["$ref"].split("/")[-1]], depth + 1)
    for key in ("oneOf", "anyOf", "allOf"):
        if key in s:
            subs = [node(x, depth + 1) for x in s[key]]
            objs = [x for x in subs if isinstance(x, dict)]
            return objs[0] if len(objs) == 1 and len(subs) == 1 else "*"
    t = s.get("type")
    if t == "array" and "items" in s:
        inner = node(s["items"], depth + 1)
        return "*" if inner == "*" else {"i": inner}
    if "properties" in s and s["properties"] and s.get("additionalProperties") is False:
        return {"p": {k: node(v, depth + 1) for k, v in s["properties"].items()}}
    if isinstance(s.get("additionalProperties"), dict) and "properties" not in s:
        inner = node(s["additionalProperties"], depth + 1)
        return "*" if inner == "*" else {"m": inner}
    return "*"


out = {}
for ref in schema["oneOf"]:
    d = defs[ref["$ref"].split("/")[-1]]
    kind = d.get("properties", {}).get("kind", {}).get("enum", ["v1alpha1"])[0]
    if "kind" not in d.get("properties", {}):
        kind = "v1alpha1"
    out[kind] = node(d)

json.dump(out, open(sys.argv[2], "w"), separators=(",", ":"), sort_keys=True)
