#!/usr/bin/env python3
"""Derive libvirt-cpu-map.tsv: which x86 CPU model and feature names a libvirt release knows, and each
model's features as that release defines them (facts, see SOURCE.md).

Inputs:
  libvirt 9.0.0's src/cpu_map, as Debian 12 installs it (package libvirt-daemon 9.0.0-4+deb12u2,
    /usr/share/libvirt/cpu_map; LGPL-2.1-or-later); another folder may be given as the first argument
  ../../../shared/libvirt-cpu-map/   libvirt v11.3.0 src/cpu_map (LGPL-2.1-or-later)

Run from anywhere: python3 shared/data/gen-libvirt-cpu-map.py [CPU_MAP_9_0] > shared/data/libvirt-cpu-map.tsv
"""
import os, re, sys
import xml.etree.ElementTree as ET

here = os.path.dirname(os.path.abspath(__file__))
sources = [
    ("9.0.0", sys.argv[1] if len(sys.argv) > 1 else "/usr/share/libvirt/cpu_map"),
    ("11.3.0", os.path.normpath(os.path.join(here, "../../../shared/libvirt-cpu-map"))),
]


def load(folder):
    features = []
    for f in ET.parse(os.path.join(folder, "x86_features.xml")).getroot().iter("feature"):
        features.append(f.get("name"))
    models = {}
    for name in sorted(os.listdir(folder)):
        if not name.startswith("x86_") or name in ("x86_features.xml", "x86_vendors.xml"):
            continue
        for m in ET.parse(os.path.join(folder, name)).getroot().iter("model"):
            if m.get("name") is None:
                continue
            parent = [c.get("name") for c in m if c.tag == "model"]
            feats = [c.get("name") for c in m if c.tag == "feature"]
            models[m.get("name")] = (parent[0] if parent else None, feats)
    def resolve(n, seen=()):
        parent, feats = models[n]
        out = set(feats)
        if parent and parent not in seen:
            out |= resolve(parent, seen + (n,))
        return out
    return sorted(features), {n: sorted(resolve(n)) for n in models}


print("# x86 CPU model and feature names each libvirt release knows, derived by gen-libvirt-cpu-map.py (see SOURCE.md).")
print("# kind 'features': every feature name of that release's x86_features.xml; kind 'model': a model of that release's")
print("# cpu_map with its features as that release defines them (parent models resolved). A model is listed under the")
print("# oldest release here that has it: 9.0.0 (Debian 12) or 11.3.0.")
print("kind\tlibvirt\tname\tfeatures")
seen = set()
for version, folder in sources:
    features, models = load(folder)
    print(f"features\t{version}\t-\t{' '.join(features)}")
    for n, feats in models.items():
        if n in seen:
            continue
        seen.add(n)
        print(f"model\t{version}\t{n}\t{' '.join(feats)}")
