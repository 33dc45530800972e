#!/usr/bin/env python3
"""Derive qemu-models.tsv from the project's reference data (run from the repository root's parent
layout: <dir>/shared is the reference data, <dir>/<checkout>/shared/data holds this script).

Inputs (facts, see SOURCE.md):
  ../../../shared/qemu-cpu-models/qemu-10.0.2-x86_64-cpu-models.json   QEMU 10.0.2 QMP dump (GPL-2.0-or-later program output)
  ../../../shared/libvirt-qemucaps/qemucapabilitiesdata/caps_<v>_x86_64.xml  libvirt v11.3.0 (LGPL-2.1-or-later)
  ../../../shared/libvirt-cpu-map/x86_*.xml                               libvirt v11.3.0 cpu_map (LGPL-2.1-or-later)
"""
import json, os, re, sys

here = os.path.dirname(os.path.abspath(__file__))
ref = os.path.normpath(os.path.join(here, "../../../shared"))
qemu = json.load(open(os.path.join(ref, "qemu-cpu-models/qemu-10.0.2-x86_64-cpu-models.json")))
probed = ["6.2.0", "8.2.0", "9.2.0", "10.0.0"]
present = {}
for v in probed:
    text = open(os.path.join(ref, f"libvirt-qemucaps/qemucapabilitiesdata/caps_{v}_x86_64.xml")).read()
    present[v] = set(re.findall(r"<cpu type='kvm' name='([^']*)'", text))
libvirt = {f[4:-4] for f in os.listdir(os.path.join(ref, "libvirt-cpu-map"))
           if f.startswith("x86_") and f not in ("x86_features.xml", "x86_vendors.xml")}
# Generation order: libvirt's index.xml lists models oldest first per vendor group (cpu_x86.c walks it
# backwards, "newest models first"). Models libvirt lacks go right after the last of their family,
# or at the end.
index = re.findall(r"x86_([^']*)\.xml", open(os.path.join(ref, "libvirt-cpu-map/index.xml")).read())
index = [m for m in index if m not in ("features", "vendors")]
def family(n):
    return re.sub(r"-v[0-9]+$", "", qemu["models"][n]["definition"].get("alias-of", n) if n in qemu["models"] else n)
def order(n):
    if n in index:
        return (index.index(n), 0, n)
    fam = family(n)
    same = [i for i, m in enumerate(index) if m in qemu["models"] and family(m) == fam]
    return ((max(same) if same else len(index)), 1, n)

out = ["# QEMU 10.0.2 x86 named CPU models, derived by gen-qemu-models.py (see SOURCE.md). One row per model or alias.",
       "# present_in: first QEMU release probed by libvirt (6.2.0, 8.2.0, 9.2.0, 10.0.0) or dumped (10.0.2) that has it;",
       "# absent_in: the last probed release before present_in that lacks it (empty: present in the oldest probe, 6.2.0).",
       "# libvirt: the name if libvirt v11.3.0's cpu_map defines the model. features: QEMU canonical names, space-separated.",
       "# Rows are in generation order, oldest first (libvirt's index.xml order; models libvirt lacks follow their family).",
       "name\talias_of\tvendor\tfamily\tmodel\tstepping\tmodel_id\tpresent_in\tabsent_in\tlibvirt\tfeatures"]
for name in sorted(qemu["models"], key=order):
    m = qemu["models"][name]
    d = m["definition"]
    if name in ("base", "max") or not d.get("migration-safe", False):
        continue  # host-dependent or featureless, not a named model a fleet can baseline on
    p = m["other_props"]
    first = next((v for v in probed if name in present[v]), "10.0.2")
    idx = probed.index(first) if first in probed else len(probed)
    absent = probed[idx - 1] if idx > 0 else ""
    out.append("\t".join([name, d.get("alias-of", ""), p["vendor"], str(p["family"]), str(p["model"]),
                          str(p["stepping"]), p["model-id"].replace("\t", " "), first, absent,
                          name if name in libvirt else "", " ".join(sorted(m["cpuid_features"]))]))
open(os.path.join(here, "qemu-models.tsv"), "w").write("\n".join(out) + "\n")
print(f"{len(out) - 6} models", file=sys.stderr)
