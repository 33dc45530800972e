#!/usr/bin/env python3
"""Derive libvirt-models.tsv from the project's reference data (same layout as gen-qemu-models.py:
<dir>/shared is the reference data, <dir>/<checkout>/shared/data holds this script).

Input (facts, see SOURCE.md):
  ../../../shared/libvirt-cpu-map/x86_*.xml   libvirt v11.3.0 src/cpu_map (LGPL-2.1-or-later)

One row per libvirt x86 model: its name, the model it builds on (`<model name=>` inside it), its
vendor and its own features as libvirt names. Features marked added='yes' (the vmx-* bits libvirt
added to old models later, src/cpu/cpu_x86.c x86ModelParseFeatures) are left out: libvirt's host
CPU output does not say whether a host has them. Features marked removed='yes' stay members, as
libvirt keeps them in the model's data.
"""
import os
import xml.etree.ElementTree as ET

here = os.path.dirname(os.path.abspath(__file__))
ref = os.path.normpath(os.path.join(here, "../../../shared/libvirt-cpu-map"))
rows = []
for f in sorted(os.listdir(ref)):
    if not f.startswith("x86_") or f in ("x86_features.xml", "x86_vendors.xml"):
        continue
    for m in ET.parse(os.path.join(ref, f)).getroot().findall("model"):
        parent = m.find("model")
        vendor = m.find("vendor")
        feats = sorted(c.get("name") for c in m.findall("feature") if c.get("added") != "yes")
        rows.append("\t".join([
            m.get("name"),
            parent.get("name") if parent is not None else "",
            vendor.get("name") if vendor is not None else "",
            " ".join(feats),
        ]))
out = [
    "# libvirt v11.3.0 src/cpu_map x86 CPU models, derived by gen-libvirt-models.py (see SOURCE.md).",
    "# name, parent (the model it builds on), vendor (libvirt name), own features (libvirt names;",
    "# added='yes' members left out). A model's features are its own plus its parent's, recursively.",
    "name\tparent\tvendor\tfeatures",
] + rows
open(os.path.join(here, "libvirt-models.tsv"), "w").write("\n".join(out) + "\n")
