//! What a QEMU `-cpu` line can say: which features have a flag at all, and which flags turn whole
//! groups of features off with them.
//!
//! QEMU accepts `-cpu MODEL,NAME=on|off` only for the names of its feature words (QEMU
//! target/i386/cpu.c, `feature_word_info[].feat_names`, registered as properties by
//! `x86_cpu_register_feature_bit_props`); any other name fails with "Property '...' not found".
//! When a feature is off, QEMU's `x86_cpu_expand_features` (target/i386/cpu.c) also clears every
//! feature that depends on it, following the `feature_dependencies[]` table of the same file:
//! `vmx` takes the VMX capability words (the `vmx-*` features of MSRs 0x480-0x491) with it, `svm`
//! takes CPUID.8000000AH:EDX, `arch-capabilities` the IA32_ARCH_CAPABILITIES bits, and so on.
//! So `vmx=off` alone says what `vmx=off,vmx-ept=off,...` says, and only that is written.

//!
//! Flag names grow with QEMU releases (`fdp-excptn-only` is unknown to QEMU 7.2, and
//! `-cpu Skylake-Server-v1,fdp-excptn-only=on` fails there): [`qemu_flags`] says which names a
//! release has, from the host CPU properties libvirt probed of QEMU 6.2, 8.2, 9.2 and 10.0
//! (`data/qemu-flags.tsv`). A release between two probes gets the older probe's names.

use std::sync::OnceLock;

use crate::catalog::{FeatureId, FeatureLocation, catalog, qemu_known};
use crate::featureset::FeatureSet;
use crate::models::QemuVersion;

const QEMU_FLAGS_TSV: &str = include_str!("../data/qemu-flags.tsv");

/// The catalog features each probed QEMU release has a flag for, oldest release first.
fn probed_flags() -> &'static [(QemuVersion, FeatureSet)] {
    static TABLE: OnceLock<Vec<(QemuVersion, FeatureSet)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let c = catalog();
        let mut out: Vec<(QemuVersion, FeatureSet)> = QEMU_FLAGS_TSV
            .lines()
            .filter(|l| !l.starts_with('#'))
            .skip(1)
            .filter_map(|l| {
                let (v, names) = l.split_once('\t')?;
                let names: std::collections::HashSet<&str> = names.split_whitespace().collect();
                let mut set = FeatureSet::EMPTY;
                for id in qemu_known().iter() {
                    let f = c.get(id);
                    let spelled = f.qemu_name.iter().chain(&f.aliases).chain([&f.name]);
                    if spelled.into_iter().any(|n| names.contains(n.as_str())) {
                        set.insert(id);
                    }
                }
                Some((QemuVersion::parse(v)?, set))
            })
            .collect();
        out.sort_by_key(|(v, _)| *v);
        out
    })
}

/// The features QEMU `version` has a flag for: every one the catalog names (QEMU 10.0.2's) for
/// 10.0 and later or an unknown release, else those of the newest probed release at or below
/// `version` (QEMU 6.2's for anything older).
pub fn qemu_flags(version: Option<QemuVersion>) -> FeatureSet {
    let all = qemu_known();
    let Some(v) = version else {
        return all;
    };
    let table = probed_flags();
    if table.last().is_none_or(|(newest, _)| v >= *newest) {
        return all;
    }
    table
        .iter()
        .rev()
        .find(|(p, _)| *p <= v)
        .or(table.first())
        .map_or(all, |(_, set)| *set)
}

/// A feature that, when off, takes a group of others with it (QEMU target/i386/cpu.c,
/// `feature_dependencies[]` entries whose `.to` mask is a whole feature word).
struct Dependency {
    parent: &'static str,
    /// Whether a feature's location is in the dependent words.
    depends: fn(&FeatureLocation) -> bool,
}

const DEPENDENCIES: &[Dependency] = &[
    // FEAT_1_ECX CPUID_EXT_VMX -> FEAT_VMX_{BASIC,PINBASED,PROCBASED,EXIT,ENTRY,MISC}_CTLS, and
    // through them SECONDARY_CTLS, EPT_VPID_CAPS and VMFUNC: MSRs 0x480 (IA32_VMX_BASIC) to 0x491
    // (IA32_VMX_VMFUNC).
    Dependency {
        parent: "vmx",
        depends: |l| {
            matches!(
                l,
                FeatureLocation::Msr {
                    index: 0x480..=0x491,
                    ..
                }
            )
        },
    },
    // FEAT_8000_0001_ECX CPUID_EXT3_SVM -> FEAT_SVM (CPUID.8000000AH:EDX).
    Dependency {
        parent: "svm",
        depends: |l| {
            matches!(
                l,
                FeatureLocation::Cpuid {
                    leaf: 0x8000_000a,
                    ..
                }
            )
        },
    },
    // FEAT_7_0_EDX CPUID_7_0_EDX_ARCH_CAPABILITIES -> FEAT_ARCH_CAPABILITIES (MSR 0x10a).
    Dependency {
        parent: "arch-capabilities",
        depends: |l| matches!(l, FeatureLocation::Msr { index: 0x10a, .. }),
    },
    // FEAT_7_0_EDX CPUID_7_0_EDX_CORE_CAPABILITY -> FEAT_CORE_CAPABILITY (MSR 0xcf).
    Dependency {
        parent: "core-capability",
        depends: |l| matches!(l, FeatureLocation::Msr { index: 0xcf, .. }),
    },
    // FEAT_1_ECX CPUID_EXT_PDCM -> FEAT_PERF_CAPABILITIES (MSR 0x345).
    Dependency {
        parent: "pdcm",
        depends: |l| matches!(l, FeatureLocation::Msr { index: 0x345, .. }),
    },
    // FEAT_7_0_EBX CPUID_7_0_EBX_INTEL_PT -> FEAT_14_0_ECX (and the other leaf-14H words).
    Dependency {
        parent: "intel-pt",
        depends: |l| matches!(l, FeatureLocation::Cpuid { leaf: 0x14, .. }),
    },
];

/// For each parent feature, the features QEMU turns off with it.
fn dependents() -> &'static [(FeatureId, FeatureSet)] {
    static TABLE: OnceLock<Vec<(FeatureId, FeatureSet)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let c = catalog();
        DEPENDENCIES
            .iter()
            .filter_map(|d| {
                let parent = c.lookup(d.parent)?;
                let mut set = FeatureSet::EMPTY;
                for f in c.features() {
                    if f.id != parent && (d.depends)(&f.location) {
                        set.insert(f.id);
                    }
                }
                Some((parent, set))
            })
            .collect()
    })
}

/// The features QEMU turns off along with those of `off` (not `off` itself).
pub fn implied_off(off: &FeatureSet) -> FeatureSet {
    dependents()
        .iter()
        .filter(|(parent, _)| off.contains(*parent))
        .fold(FeatureSet::EMPTY, |acc, (_, deps)| acc.union(deps))
        .difference(off)
}

/// The features of `kept` QEMU clears because a feature they depend on is not in `kept`
/// (`x86_cpu_expand_features` applies `feature_dependencies[]` to every model, `host`
/// included): IA32_ARCH_CAPABILITIES bits without `arch-capabilities`, `vmx-*` without `vmx`.
pub fn cleared_by_dependencies(kept: &FeatureSet) -> FeatureSet {
    dependents()
        .iter()
        .filter(|(parent, _)| !kept.contains(*parent))
        .fold(FeatureSet::EMPTY, |acc, (_, deps)| acc.union(deps))
        .intersection(kept)
}

/// `off` without what QEMU turns off anyway because a feature it depends on is off too: the
/// flags to write. `vmx` with its `vmx-*` features becomes `vmx` alone.
pub fn collapse_off(off: &FeatureSet) -> FeatureSet {
    let mut out = *off;
    for (parent, deps) in dependents() {
        if off.contains(*parent) {
            out = out.difference(deps);
        }
    }
    out
}

/// Features a `-cpu` line can name: QEMU has a flag for them.
pub fn has_qemu_flag(id: FeatureId) -> bool {
    qemu_known().contains(id)
}

/// QEMU's flag name for a feature (its canonical name, the catalog's where QEMU has none).
pub fn qemu_flag(id: FeatureId) -> String {
    let f = catalog().get(id);
    f.qemu_name.clone().unwrap_or_else(|| f.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn older_qemus_have_fewer_flags() {
        let v72 = qemu_flags(QemuVersion::parse("7.2.22"));
        let v100 = qemu_flags(QemuVersion::parse("10.0.2"));
        let fdp = catalog()
            .lookup("fdp-excptn-only")
            .expect("fdp-excptn-only");
        assert!(!v72.contains(fdp) && v100.contains(fdp));
        assert!(v72.is_subset(&v100));
        assert!(v72.len() > 250, "{}", v72.len());
        for n in ["sse4.1", "lahf-lm", "pclmulqdq", "vmx-ept", "svm", "invtsc"] {
            let id = catalog().lookup(n).expect(n);
            assert!(v72.contains(id), "{n}");
        }
        assert_eq!(qemu_flags(None), qemu_known());
    }

    #[test]
    fn vmx_off_takes_every_vmx_feature_with_it() {
        let c = catalog();
        let vmx = c.lookup("vmx").expect("vmx");
        let (mut off, unknown) =
            FeatureSet::from_names(["vmx", "vmx-ept", "vmx-vpid", "vmx-invept", "pcid"]);
        assert!(unknown.is_empty(), "{unknown:?}");
        let implied = implied_off(&off);
        assert!(implied.len() > 60, "{}", implied.len());
        assert!(implied.names().iter().all(|n| n.starts_with("vmx-")));
        assert_eq!(
            collapse_off(&off),
            FeatureSet::from_names(["vmx", "pcid"]).0
        );
        // Without vmx, vmx-* flags stay as they are: each is a QEMU flag of its own.
        off.remove(vmx);
        assert_eq!(collapse_off(&off), off);
        assert!(implied_off(&off).is_empty());
        let svm = FeatureSet::from_names(["svm", "npt", "nrip-save"]).0;
        assert_eq!(collapse_off(&svm).names(), vec!["svm"]);
    }
}
