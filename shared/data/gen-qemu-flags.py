#!/usr/bin/env python3
"""Derive qemu-flags.tsv: the x86 CPU flag names each probed QEMU release accepts on a -cpu line
(facts, see SOURCE.md).

Input: ../../../shared/libvirt-qemucaps/qemucapabilitiesdata/caps_<v>_x86_64.xml (libvirt v11.3.0
tests, LGPL-2.1-or-later): the boolean properties of QEMU's host CPU model as libvirt probed them
(query-cpu-model-expansion, <hostCPU type='kvm'>), one per flag name the release has.

Run: python3 shared/data/gen-qemu-flags.py > shared/data/qemu-flags.tsv
"""
import os, re

here = os.path.dirname(os.path.abspath(__file__))
ref = os.path.normpath(os.path.join(here, "../../../shared/libvirt-qemucaps/qemucapabilitiesdata"))
print("# x86 CPU flag names (boolean properties of the host CPU model) each probed QEMU release has, derived by")
print("# gen-qemu-flags.py from libvirt v11.3.0 tests/qemucapabilitiesdata/caps_<v>_x86_64.xml (see SOURCE.md).")
print("qemu\tflags")
for v in ["6.2.0", "8.2.0", "9.2.0", "10.0.0"]:
    text = open(os.path.join(ref, f"caps_{v}_x86_64.xml")).read()
    kvm = text[text.index("<hostCPU type='kvm'"):]
    kvm = kvm[:kvm.index("</hostCPU>")]
    names = sorted(set(re.findall(r"<property name='([^']*)' type='boolean'", kvm)))
    print(f"{v}\t{' '.join(names)}")
