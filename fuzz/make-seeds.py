#!/usr/bin/env python3
"""Write the dump, guest-body and API-body seeds of fuzz/corpus/ from the real data beside the
repository (../shared, see each folder's SOURCE.txt) and the demo fleet (assets/demo).

Only data whose SOURCE.txt gives a licence is used (libvirt LGPL-2.1-or-later, linuxhw
CC-BY-4.0, archspec Apache-2.0 OR MIT). The InstLatx64 corpus states no licence, so the
`instlatx64` and `cpuid_r` seeds are libvirt's raw CPUID rewritten in those two text formats.
Profile and fleet seeds come from the engine itself: `cargo run -p fuzz --example seed-profiles`.

Run from the repository root: python3 fuzz/make-seeds.py
"""

import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(os.path.dirname(ROOT), "shared")
CORPUS = os.path.join(ROOT, "fuzz", "corpus")
CPUTEST = os.path.join(SHARED, "libvirt-cputestdata")

# libvirt tests/cputestdata processors: old and new, Intel, AMD, Hygon, Atom.
CPUDATA = [
    "Core2-E6850",
    "Opteron-2350",
    "Hygon-C86-7185-32-core",
    "Atom-P5362",
    "Xeon-Platinum-9242",
    "Ryzen-7-1800X-Eight-Core",
]
LSCPU = [
    "linuxhw-lscpu/AMD__EPYC_3201_8-Core__23-1-2__D10B1A057A.txt",
    "archspec/targets/linux-rhel7-zen",
    "archspec/targets/linux-rhel7-skylake_avx512",
    "archspec/targets/linux-rhel7-ivybridge",
]
QEMUCAPS = os.path.join(SHARED, "libvirt-qemucaps")


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def write(target, name, text):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    with open(os.path.join(CORPUS, target, name), "w", encoding="utf-8") as f:
        f.write(text)


CPUID_RE = re.compile(
    r"<cpuid eax_in='0x([0-9a-f]+)' ecx_in='0x([0-9a-f]+)' eax='0x([0-9a-f]+)' "
    r"ebx='0x([0-9a-f]+)' ecx='0x([0-9a-f]+)' edx='0x([0-9a-f]+)'/>"
)
MSR_RE = re.compile(r"<msr index='0x([0-9a-f]+)' edx='0x([0-9a-f]+)' eax='0x([0-9a-f]+)'/>")


def leaves(xml):
    return [tuple(int(x, 16) for x in m.groups()) for m in CPUID_RE.finditer(xml)]


def as_cpuid_r(xml):
    """The Debian `cpuid -r` layout (collector/tests/data/cpuid-r-this-machine.txt), two CPUs."""
    out = []
    for cpu in range(2):
        out.append(f"CPU {cpu}:")
        for leaf, sub, a, b, c, d in leaves(xml):
            out.append(
                f"   0x{leaf:08x} 0x{sub:02x}: eax=0x{a:08x} ebx=0x{b:08x} ecx=0x{c:08x} edx=0x{d:08x}"
            )
    return "\n".join(out) + "\n"


def as_instlatx64(xml, comment):
    """The AIDA64 text layout InstLatx64 publishes (shared/src/import/instlat.rs)."""
    out = [comment, "", "CPU#000 AffMask: 0x0000000000000001"]
    for leaf, sub, a, b, c, d in leaves(xml):
        out.append(f"CPUID {leaf:08X}: {a:08X}-{b:08X}-{c:08X}-{d:08X} [SL {sub:02X}]")
    for m in MSR_RE.finditer(xml):
        index, hi, lo = (int(x, 16) for x in m.groups())
        v = (hi << 32) | lo
        groups = "-".join(f"{(v >> s) & 0xFFFF:04X}" for s in (48, 32, 16, 0))
        out.append(f"MSR {index:08X}: {groups}")
    return "\r\n".join(out) + "\r\n"


def main():
    for name in CPUDATA:
        xml = read(os.path.join(CPUTEST, f"x86_64-cpuid-{name}.xml"))
        qmp = read(os.path.join(CPUTEST, f"x86_64-cpuid-{name}.json"))
        write("cpudata", f"libvirt-{name}.xml+json", xml + "\0" + qmp)
        write("qmp", f"libvirt-{name}.json", qmp)
        write("cpuid_r", f"libvirt-{name}.cpuid-r.txt", as_cpuid_r(xml))
        comment = xml.splitlines()[0].strip("<!-> ")
        write("instlatx64", f"libvirt-{name}.instlat.txt", as_instlatx64(xml, comment))
    write("cpudata", "libvirt-Core2-E6850.xml", read(os.path.join(CPUTEST, "x86_64-cpuid-Core2-E6850.xml")))
    for rel in LSCPU:
        write("lscpu", os.path.basename(rel), read(os.path.join(SHARED, "cpuinfo-corpus", rel)))
    # `virsh capabilities`: the team's fixture (shared/src/import/virsh.rs tests, `CAPS`);
    # `virsh domcapabilities`: libvirt's domaincapsdata of two QEMU releases.
    virsh_rs = read(os.path.join(ROOT, "shared", "src", "import", "virsh.rs"))
    virsh_caps = json.loads(re.search(r'const CAPS: &str = ("(?:[^"\\]|\\.)*");', virsh_rs).group(1))
    write("virsh", "fleetcompat-caps.xml", virsh_caps)
    for version in ["6.2.0", "10.0.0"]:
        domcaps = read(os.path.join(QEMUCAPS, "domaincapsdata", f"qemu_{version}-q35.x86_64.xml"))
        write("virsh", f"libvirt-{version}.caps+domcaps", virsh_caps + "\0" + domcaps)
        write("virsh", f"libvirt-{version}.domcaps.xml", domcaps)

    # The named seeds only: inputs a fuzzing run kept (`--merge`, named by their SHA-1) may be
    # any bytes.
    guests = sorted(g for g in os.listdir(os.path.join(CORPUS, "guest"))
                    if not re.fullmatch(r"[0-9a-f]{40}", g))
    texts = [read(os.path.join(CORPUS, "guest", g)) for g in guests]
    bodies = {
        "api_precheck": [
            {"from": "snb-1", "to": "skx-1", "guest": texts[0]},
            {"from": "icx-1", "guest": texts[1], "dst_guest": texts[1]},
            {"from": "zen2-1", "to": "icx-1", "guest": texts[2],
             "policy": {"allow_vendor_change": True}},
            {"from": "skx-1", "guest": texts[-1]},
        ],
        "api_baseline": [
            {"hosts": ["snb-1", "skx-1", "icx-1"]},
            {"hosts": ["zen2-1"], "selector": {"cluster": "new"}},
            {"hosts": ["icx-1"]},
        ],
        "api_masks": [
            {"hosts": ["icx-1", "snb-1"]},
            {"hosts": ["snb-1", "skx-1", "icx-1", "zen2-1"]},
            {"hosts": ["zen2-1", "skx-1"], "policy": {"allow_vendor_change": True}},
        ],
        # Guests as the API takes them in JSON (shared::verdict::GuestConfig).
        "api_compat": [
            {"from": "snb-1", "to": "skx-1"},
            {"from": "skx-1", "to": "snb-1", "guest": {"cpu": {"mode": "named", "model": "Skylake-Server-IBRS"}}},
            {"from": "zen2-1", "to": "icx-1", "policy": {"allow_vendor_change": True},
             "guest": {"cpu": {"mode": "host-model"}}},
            {"from": "icx-1", "to": "icx-1",
             "guest": {"cpu": {"mode": "host-passthrough-masked", "disable": ["avx512f"]}}},
        ],
        "api_graph": [
            {},
            {"hosts": ["snb-1", "skx-1", "icx-1"]},
            {"hosts": ["icx-1", "icx-1", "zen2-1"], "guest": {"cpu": {"mode": "named", "model": "Haswell"}}},
            {"policy": {"allow_vendor_change": True}, "guest": {"cpu": {"mode": "host-model"}}},
        ],
    }
    for target, items in bodies.items():
        for i, body in enumerate(items):
            write(target, f"body-{i}.json", json.dumps(body, indent=1))

    # `virsh nodedev-dumpxml` of PCI functions: libvirt's node-device test data (plain, SR-IOV
    # physical and virtual functions, mediated device types).
    nodedev = os.path.join(SHARED, "device-data", "libvirt-nodedev", "nodedevschemadata")
    for name in sorted(os.listdir(nodedev)):
        if name.startswith("pci_") and name.endswith(".xml"):
            write("nodedev", f"libvirt-{name}", read(os.path.join(nodedev, name)))


if __name__ == "__main__":
    main()
