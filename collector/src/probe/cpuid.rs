//! Raw CPUID of this processor, every leaf and subleaf, through raw-cpuid's `cpuid!` (x86_64).

use shared::profile::CpuidEntry;

fn read(leaf: u32, subleaf: u32) -> CpuidEntry {
    let r = raw_cpuid::cpuid!(leaf, subleaf);
    CpuidEntry {
        leaf,
        subleaf,
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    }
}

fn is_zero(e: &CpuidEntry) -> bool {
    e.eax == 0 && e.ebx == 0 && e.ecx == 0 && e.edx == 0
}

/// Subleaves to read for `leaf`, given its subleaf 0 (Intel SDM Vol. 2A Table 3-8, AMD APM Vol. 3
/// Appendix E). Leaves without subleaves return just subleaf 0.
fn subleaves(leaf: u32, first: &CpuidEntry) -> Vec<CpuidEntry> {
    let mut out = vec![*first];
    let mut push_until = |max: u32, stop: &dyn Fn(&CpuidEntry) -> bool| {
        for s in 1..=max {
            let e = read(leaf, s);
            if stop(&e) {
                break;
            }
            out.push(e);
        }
    };
    match leaf {
        // CPUID.04H / 8000001DH: cache parameters, until cache type EAX[4:0] == 0.
        0x4 | 0x8000_001d => push_until(63, &|e| e.eax & 0x1f == 0),
        // CPUID.07H / 14H / 17H / 18H / 1DH / 20H / 23H / 24H: EAX of subleaf 0 is the max subleaf.
        0x7 | 0x14 | 0x17 | 0x18 | 0x1d | 0x20 | 0x23 | 0x24 => {
            push_until(first.eax.min(63), &|_| false);
        }
        // CPUID.0BH / 1FH: extended topology, until level type ECX[15:8] == 0.
        0xb | 0x1f | 0x8000_0026 => push_until(63, &|e| (e.ecx >> 8) & 0xff == 0),
        // CPUID.0DH: XSAVE components, subleaves 1..63; keep the non-empty ones.
        0xd | 0xf | 0x10 | 0x12 | 0x1b => {
            for s in 1..64 {
                let e = read(leaf, s);
                if !is_zero(&e) {
                    out.push(e);
                }
            }
        }
        _ => {}
    }
    out
}

/// Every basic, hypervisor and extended leaf this processor reports.
pub fn dump() -> Vec<CpuidEntry> {
    let mut entries = Vec::new();
    for base in [0, 0x4000_0000, 0x8000_0000, 0xc000_0000] {
        let first = read(base, 0);
        let max = first.eax;
        // A range is present when its max leaf lies inside it (hypervisor and Centaur leaves
        // are often absent; then the processor echoes an unrelated value).
        if base != 0 && !(base..base + 0x1000).contains(&max) {
            continue;
        }
        for leaf in base..=max.min(base + 0xff) {
            let e = read(leaf, 0);
            entries.extend(subleaves(leaf, &e));
        }
    }
    entries
}
