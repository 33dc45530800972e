//! Per-CPU CPUID: what differs between logical CPUs beyond their topology ids (hybrid cores,
//! mixed steppings), and the features all of them share.

use std::collections::BTreeMap;

use crate::featureset::FeatureSet;
use crate::profile::{CpuVariant, CpuidEntry, MsrValue};

/// The entry with the fields that name the logical CPU itself, or change while it runs, cleared:
/// CPUID.01H:EBX[31:24] (initial APIC id), CPUID.06H:EDX[31:16] (this CPU's row in the hardware
/// feedback interface table), CPUID.0BH/1FH:EDX and 80000026H:EDX (x2APIC id), CPUID.8000001EH
/// EAX (extended APIC id), EBX[7:0] (core/compute-unit id), ECX[7:0] (node id) (Intel SDM
/// Vol. 2A, AMD APM Vol. 3 Appendix E), and Centaur's C0000004H (current clock and voltage).
pub fn topology_masked(e: &CpuidEntry) -> CpuidEntry {
    let mut m = *e;
    match e.leaf {
        0x1 => m.ebx &= 0x00ff_ffff,
        0x6 => m.edx &= 0xffff,
        0xc000_0004 => (m.eax, m.ebx, m.ecx, m.edx) = (0, 0, 0, 0),
        0xb | 0x1f | 0x8000_0026 => m.edx = 0,
        0x8000_001e => {
            m.eax = 0;
            m.ebx &= !0xff;
            m.ecx &= !0xff;
        }
        _ => {}
    }
    m
}

/// Hybrid core type from CPUID.1AH:EAX[31:24]: `atom` (20H), `core` (40H), else its hex value.
pub fn core_type(entries: &[CpuidEntry]) -> Option<String> {
    let e = entries.iter().find(|e| e.leaf == 0x1a && e.subleaf == 0)?;
    match e.eax >> 24 {
        0 => None,
        0x20 => Some("atom".into()),
        0x40 => Some("core".into()),
        t => Some(format!("{t:#04x}")),
    }
}

/// The features every CPU has (intersection), and the CPUs whose CPUID differs from CPU 0's,
/// grouped by what differs.
pub fn cpu_variants(cpus: &[Vec<CpuidEntry>], msrs: &[MsrValue]) -> (FeatureSet, Vec<CpuVariant>) {
    let Some(first) = cpus.first() else {
        return (FeatureSet::EMPTY, Vec::new());
    };
    let base: BTreeMap<(u32, u32), CpuidEntry> = first
        .iter()
        .map(|e| ((e.leaf, e.subleaf), topology_masked(e)))
        .collect();
    let mut all = crate::decode::features(first, msrs);
    let mut variants: Vec<CpuVariant> = Vec::new();
    for (n, cpu) in cpus.iter().enumerate().skip(1) {
        let features = crate::decode::features(cpu, msrs);
        all = all.intersection(&features);
        let differs: Vec<CpuidEntry> = cpu
            .iter()
            .filter(|e| base.get(&(e.leaf, e.subleaf)) != Some(&topology_masked(e)))
            .copied()
            .collect();
        let missing = base
            .keys()
            .any(|k| !cpu.iter().any(|e| (e.leaf, e.subleaf) == *k));
        if differs.is_empty() && !missing {
            continue;
        }
        let n = u32::try_from(n).unwrap_or(u32::MAX);
        let masked: Vec<CpuidEntry> = differs.iter().map(topology_masked).collect();
        match variants.iter_mut().find(|v| {
            v.features == features
                && v.cpuid.iter().map(topology_masked).collect::<Vec<_>>() == masked
        }) {
            Some(v) => v.cpus.push(n),
            None => variants.push(CpuVariant {
                cpus: vec![n],
                core_type: core_type(cpu),
                cpuid: differs,
                features,
            }),
        }
    }
    (all, variants)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(leaf: u32, eax: u32, ebx: u32) -> CpuidEntry {
        CpuidEntry {
            leaf,
            subleaf: 0,
            eax,
            ebx,
            ecx: 0,
            edx: 0,
        }
    }

    #[test]
    fn topology_ids_do_not_make_variants_but_core_types_do() {
        let p = vec![
            e(0, 0x20, 0),
            e(1, 0, 0x0000_0800),
            e(0x1a, 0x4000_0001, 0),
            e(7, 0, 1 << 5),
        ];
        let p2 = vec![
            e(0, 0x20, 0),
            e(1, 0, 0x0200_0800),
            e(0x1a, 0x4000_0001, 0),
            e(7, 0, 1 << 5),
        ];
        let atom = vec![
            e(0, 0x20, 0),
            e(1, 0, 0x0400_0800),
            e(0x1a, 0x2000_0001, 0),
            e(7, 0, 0),
        ];
        let (all, v) = cpu_variants(&[p.clone(), p2, atom.clone(), atom], &[]);
        assert_eq!(v.len(), 1, "{v:?}");
        assert_eq!(v[0].cpus, vec![2, 3]);
        assert_eq!(v[0].core_type.as_deref(), Some("atom"));
        assert_eq!(core_type(&p).as_deref(), Some("core"));
        // avx2 is CPUID.7.0:EBX[5]: only the P-cores have it, so the intersection lacks it.
        assert!(!all.names().contains(&"avx2".to_owned()));
        assert!(
            crate::decode::features(&p, &[])
                .names()
                .contains(&"avx2".to_owned())
        );
    }
}
