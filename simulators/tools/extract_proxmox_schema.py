#!/usr/bin/env python3
"""Extracts the parameter schema of the Proxmox VE endpoints the simulator
implements into a compact JSON table (simulators/src/proxmox/schema.json).

Source: the official PVE API schema dump (apidoc.js data of pve-docs), as
stored in shared/reference/proxmox/pve-apidata.full.json (PVE 9).

Usage: python3 simulators/tools/extract_proxmox_schema.py \
           [SOURCE_JSON] [OUTPUT_JSON]

Output layout:
  {"source": ..., "defs": {"d0": {param definition}, ...},
   "endpoints": {"METHOD /path": {"additional": bool, "allowtoken": bool,
                                  "params": {"name": "dN", ...}}}}
Parameter definitions keep only what validation needs: type, optional,
enum, pattern, format (a name, or for property strings a map of sub-keys),
minimum, maximum, maxLength, default_key, alias. Indexed keys keep the
apidoc spelling `net[n]`.

Each endpoint also keeps its `returns` schema, reduced to type, optional,
enum, description (for schemas without properties), properties and items,
for the conformance test of the simulator's answers.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_SRC = os.path.join(HERE, "..", "..", "..", "shared", "reference", "proxmox",
                           "pve-apidata.full.json")
DEFAULT_OUT = os.path.join(HERE, "..", "src", "proxmox", "schema.json")

ENDPOINTS = [
    ("GET", "/version"),
    ("GET", "/nodes"),
    ("POST", "/access/ticket"),
    ("GET", "/cluster/resources"),
    ("GET", "/cluster/nextid"),
    ("GET", "/nodes/{node}/qemu"),
    ("POST", "/nodes/{node}/qemu"),
    ("DELETE", "/nodes/{node}/qemu/{vmid}"),
    ("GET", "/nodes/{node}/qemu/{vmid}/config"),
    ("POST", "/nodes/{node}/qemu/{vmid}/config"),
    ("PUT", "/nodes/{node}/qemu/{vmid}/config"),
    ("GET", "/nodes/{node}/qemu/{vmid}/pending"),
    ("POST", "/nodes/{node}/qemu/{vmid}/clone"),
    ("POST", "/nodes/{node}/qemu/{vmid}/template"),
    ("GET", "/nodes/{node}/qemu/{vmid}/status/current"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/start"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/stop"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/shutdown"),
    ("POST", "/nodes/{node}/qemu/{vmid}/status/reboot"),
    ("PUT", "/nodes/{node}/qemu/{vmid}/resize"),
    ("GET", "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces"),
    ("GET", "/nodes/{node}/tasks/{upid}/status"),
    ("GET", "/nodes/{node}/tasks/{upid}/log"),
    ("GET", "/nodes/{node}/storage"),
    ("GET", "/nodes/{node}/storage/{storage}/content"),
    ("POST", "/nodes/{node}/storage/{storage}/download-url"),
    ("DELETE", "/nodes/{node}/storage/{storage}/content/{volume}"),
    ("POST", "/nodes/{node}/qemu/{vmid}/move_disk"),
    ("GET", "/pools"),
    ("POST", "/pools"),
    ("PUT", "/pools"),
    ("DELETE", "/pools"),
    ("GET", "/pools/{poolid}"),
    ("PUT", "/pools/{poolid}"),
    ("DELETE", "/pools/{poolid}"),
]

KEEP = ("type", "optional", "enum", "pattern", "minimum", "maximum", "maxLength",
        "default_key", "alias", "requires")


def num(v):
    if isinstance(v, str):
        try:
            return int(v)
        except ValueError:
            try:
                return float(v)
            except ValueError:
                return None
    return v


def slim(d, sub=False):
    out = {}
    for k in KEEP:
        if k in d and d[k] is not None:
            v = d[k]
            if k in ("minimum", "maximum", "maxLength"):
                v = num(v)
                if v is None:
                    continue
            if k == "optional":
                v = bool(v)
            if k == "default_key":
                v = bool(v)
            out[k] = v
    if isinstance(out.get("pattern"), str):
        out["pattern"] = out["pattern"].replace("(?^:", "(?:").replace("{,", "{0,")
    fmt = d.get("format")
    if isinstance(fmt, str):
        out["format"] = fmt
    elif isinstance(fmt, dict) and not sub:
        out["format"] = {k: slim(v, True) for k, v in sorted(fmt.items())}
    return out


def slim_returns(r):
    if not isinstance(r, dict):
        return {}
    out = {}
    for k in ("type", "enum"):
        if k in r and r[k] is not None:
            out[k] = r[k]
    if r.get("optional"):
        out["optional"] = True
    props = r.get("properties")
    if isinstance(props, dict):
        out["properties"] = {k: slim_returns(v) for k, v in sorted(props.items())}
    elif r.get("description") and r.get("type") == "object":
        out["description"] = r["description"]
    if isinstance(r.get("items"), dict):
        out["items"] = slim_returns(r["items"])
    return out


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SRC
    dst = sys.argv[2] if len(sys.argv) > 2 else DEFAULT_OUT
    with open(src) as f:
        tree = json.load(f)
    index = {}

    def walk(n):
        if isinstance(n, list):
            for x in n:
                walk(x)
            return
        index[n["path"]] = n
        for c in n.get("children") or []:
            walk(c)

    walk(tree)
    defs = {}
    def_ids = {}
    endpoints = {}
    for method, path in ENDPOINTS:
        info = index[path]["info"][method]
        params = info.get("parameters", {})
        table = {}
        for name, d in sorted((params.get("properties") or {}).items()):
            s = slim(d)
            key = json.dumps(s, sort_keys=True)
            if key not in def_ids:
                def_ids[key] = "d%d" % len(def_ids)
                defs[def_ids[key]] = s
            table[name] = def_ids[key]
        endpoints["%s %s" % (method, path)] = {
            "additional": bool(params.get("additionalProperties", 0)),
            "allowtoken": bool(info.get("allowtoken", 1)),
            "params": table,
            "returns": slim_returns(info.get("returns")),
        }
    out = {
        "source": "shared/reference/proxmox/pve-apidata.full.json (PVE 9 apidoc); "
                  "generated by simulators/tools/extract_proxmox_schema.py",
        "defs": defs,
        "endpoints": endpoints,
    }
    with open(dst, "w") as f:
        json.dump(out, f, indent=0, sort_keys=True, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
