//! Decoding raw CPUID leaves and feature-MSR values into identity and feature sets.

use crate::catalog::{FeatureLocation, Register, catalog};
use crate::featureset::FeatureSet;
use crate::profile::{CpuidEntry, MsrValue};

fn find(entries: &[CpuidEntry], leaf: u32, subleaf: u32) -> Option<&CpuidEntry> {
    entries
        .iter()
        .find(|e| e.leaf == leaf && e.subleaf == subleaf)
        // Leaves without subleaves are often dumped with whatever ECX held: fall back to any.
        .or_else(|| (subleaf == 0).then(|| entries.iter().find(|e| e.leaf == leaf))?)
}

fn register(e: &CpuidEntry, r: Register) -> u32 {
    match r {
        Register::Eax => e.eax,
        Register::Ebx => e.ebx,
        Register::Ecx => e.ecx,
        Register::Edx => e.edx,
    }
}

fn le_bytes(words: &[u32]) -> String {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    String::from_utf8_lossy(&bytes)
        .trim_matches(char::from(0))
        .trim()
        .to_owned()
}

/// CPUID.(EAX=00H): vendor string from EBX, EDX, ECX (Intel SDM Vol. 2A, CPUID leaf 0).
pub fn vendor(entries: &[CpuidEntry]) -> Option<String> {
    let e = find(entries, 0, 0)?;
    Some(le_bytes(&[e.ebx, e.edx, e.ecx]))
}

/// Family, model and stepping from CPUID.01H:EAX, with the extended family/model fields
/// (Intel SDM Vol. 2A Figure 3-6 "Version Information Returned by CPUID in EAX").
/// Returns `None` when leaf 1 is missing.
pub fn signature(entries: &[CpuidEntry]) -> Option<(u32, u32, u32)> {
    let eax = find(entries, 1, 0)?.eax;
    let stepping = eax & 0xf;
    let base_model = (eax >> 4) & 0xf;
    let base_family = (eax >> 8) & 0xf;
    let ext_model = (eax >> 16) & 0xf;
    let ext_family = (eax >> 20) & 0xff;
    let family = if base_family == 0xf {
        base_family + ext_family
    } else {
        base_family
    };
    // Intel applies the extended model to families 6 and 15 (SDM Vol. 2A Figure 3-6), AMD to
    // family 15 (APM Vol. 3 E.3.2), Zhaoxin/Centaur to family 7 (model 0x3B, 0x5B): Linux's
    // x86_model() (arch/x86/lib/cpu.c) applies it from family 6 up, which covers all three.
    let model = if base_family >= 0x6 {
        (ext_model << 4) | base_model
    } else {
        base_model
    };
    Some((family, model, stepping))
}

/// Brand string from CPUID.80000002H-80000004H (Intel SDM Vol. 2A, "Processor Brand String").
pub fn brand(entries: &[CpuidEntry]) -> Option<String> {
    let mut words = Vec::with_capacity(12);
    for leaf in 0x8000_0002..=0x8000_0004 {
        let e = find(entries, leaf, 0)?;
        words.extend([e.eax, e.ebx, e.ecx, e.edx]);
    }
    let s = le_bytes(&words);
    (!s.is_empty()).then_some(s)
}

/// VMX control MSRs whose features are the "allowed-1" settings: IA32_VMX_PROCBASED_CTLS2 (0x48b)
/// and IA32_VMX_TRUE_{PINBASED,PROCBASED,EXIT,ENTRY}_CTLS (0x48d-0x490), Intel SDM Vol. 3D
/// Appendix A.3-A.5.
const VMX_CONTROL_MSRS: [u32; 5] = [0x48b, 0x48d, 0x48e, 0x48f, 0x490];

/// Raw MSR values as the hardware or KVM_GET_MSRS report them, turned into the feature words QEMU
/// decodes (QEMU target/i386/kvm/kvm.c `kvm_arch_get_supported_msr_feature`): for the VMX control
/// MSRs, the bits that can be one but do not have to be (`(value >> 32) & !(value as u32)`);
/// every other MSR as it is.
pub fn msr_feature_words(raw: &[MsrValue]) -> Vec<MsrValue> {
    raw.iter()
        .map(|m| {
            if VMX_CONTROL_MSRS.contains(&m.index) {
                let must_be_one = m.value & 0xffff_ffff;
                let can_be_one = m.value >> 32;
                MsrValue {
                    index: m.index,
                    value: can_be_one & !must_be_one,
                }
            } else {
                *m
            }
        })
        .collect()
}

/// Every catalog feature whose CPUID bit is set in `entries` or whose MSR bits are all set in
/// `msrs`. MSR values are feature words (see [`msr_feature_words`] for raw values).
pub fn features(entries: &[CpuidEntry], msrs: &[MsrValue]) -> FeatureSet {
    let mut set = FeatureSet::EMPTY;
    for f in catalog().features() {
        let present = match f.location {
            FeatureLocation::Cpuid {
                leaf,
                subleaf,
                register: r,
                bit,
            } => find(entries, leaf, subleaf).is_some_and(|e| register(e, r) & (1 << bit) != 0),
            FeatureLocation::Msr { index, mask } => msrs
                .iter()
                .find(|m| m.index == index)
                .is_some_and(|m| m.value & mask == mask),
        };
        if present {
            set.insert(f.id);
        }
    }
    set
}

/// Features of hybrid processors differ per logical CPU (P-cores and E-cores): the guest can be
/// scheduled on any of them, so its features are the intersection over every logical CPU's dump.
/// Returns the empty set for no dumps.
pub fn features_all_cpus<'a>(
    cpus: impl IntoIterator<Item = &'a [CpuidEntry]>,
    msrs: &[MsrValue],
) -> FeatureSet {
    let mut it = cpus.into_iter();
    let Some(first) = it.next() else {
        return FeatureSet::EMPTY;
    };
    it.fold(features(first, msrs), |acc, cpu| {
        acc.intersection(&features(cpu, msrs))
    })
}

/// Features raw CPUID shows that KVM never gives a guest (Linux arch/x86/kvm/cpuid.c leaves them
/// out of KVM_GET_SUPPORTED_CPUID): CPUID.01H:EDX[18] PSN, [21] DS, [22] ACPI, [28] HTT, [29] TM,
/// [31] PBE; CPUID.01H:ECX[2] DTES64, [3] MONITOR, [4] DS-CPL, [5] VMX (only with nesting),
/// [6] SMX, [7] EST, [8] TM2, [10] CNXT-ID, [14] xTPR, [18] DCA, [27] OSXSAVE (OS state);
/// CPUID.(EAX=07H,ECX=0):ECX[4] OSPKE (OS state); AMD CPUID.80000001H:ECX[2] SVM (only with
/// nesting), [10] IBS, [12] SKINIT, [13] WDT, [15] LWP, [23] PERFCTR_NB...
const HOST_ONLY: &[&str] = &[
    "pn",
    "ds",
    "acpi",
    "ht",
    "tm",
    "pbe",
    "dtes64",
    "monitor",
    "ds-cpl",
    "vmx",
    "smx",
    "est",
    "tm2",
    "cid",
    "xtpr",
    "dca",
    "osxsave",
    "ospke",
    "svm",
    "ibs",
    "skinit",
    "wdt",
    "lwp",
    "perfctr-nb",
];

/// Features KVM gives a guest whatever the host CPU shows: the x2APIC and TSC-deadline timer are
/// emulated (CPUID.01H:ECX[21], [24]), APIC timer always running (CPUID.06H:EAX[2] ARAT), and
/// QEMU sets CPUID.01H:ECX[31] hypervisor.
const KVM_EMULATED: &[&str] = &["x2apic", "tsc-deadline", "arat", "hypervisor"];

/// Features whose presence in a guest view depends on KVM's `nested` module parameter, not on
/// the processor: CPUID.01H:ECX[5] VMX, CPUID.80000001H:ECX[2] SVM and the SVM sub-features of
/// CPUID.8000000AH:EDX that QEMU names. A raw CPUID dump cannot tell them.
pub fn nesting_dependent() -> FeatureSet {
    static SET: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    *SET.get_or_init(|| {
        let mut set = FeatureSet::from_names(["vmx", "svm"]).0;
        for f in catalog().features() {
            if matches!(
                f.location,
                FeatureLocation::Cpuid {
                    leaf: 0x8000_000a,
                    ..
                }
            ) || matches!(
                f.location,
                FeatureLocation::Msr {
                    index: 0x480..=0x491,
                    ..
                }
            ) {
                set.insert(f.id);
            }
        }
        set
    })
}

/// An estimate of the guest view (what KVM could give a guest) from the host CPU view, for hosts
/// known only from a raw CPUID dump: the host's features less those KVM never gives a guest, plus
/// those KVM emulates, restricted to the features QEMU can name. CPUID.80000001H:EDX[11] SYSCALL
/// reads 1 on Intel only in 64-bit mode (Intel SDM Vol. 2A Table 3-8), so a dump taken by a 32-bit
/// tool lacks it: any processor with CPUID.80000001H:EDX[29] LM has it. A probe of
/// KVM_GET_SUPPORTED_CPUID or QEMU's host model is always better: this cannot know the kernel's
/// version or settings (nested virtualization, mitigations).
pub fn estimate_guest_view(host: &FeatureSet) -> FeatureSet {
    let (host_only, _) = FeatureSet::from_names(HOST_ONLY.iter().copied());
    let (emulated, _) = FeatureSet::from_names(KVM_EMULATED.iter().copied());
    let mut view = host.difference(&host_only).union(&emulated);
    if let (Some(lm), Some(syscall)) = (catalog().lookup("lm"), catalog().lookup("syscall"))
        && view.contains(lm)
    {
        view.insert(syscall);
    }
    view.intersection(&crate::catalog::qemu_known())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(leaf: u32, eax: u32, ebx: u32, ecx: u32, edx: u32) -> CpuidEntry {
        CpuidEntry {
            leaf,
            subleaf: 0,
            eax,
            ebx,
            ecx,
            edx,
        }
    }

    #[test]
    fn vmx_controls_decode_from_the_allowed_1_half() {
        // IA32_VMX_TRUE_PINBASED_CTLS as a host reports it: bits 1, 2, 4 must be one (low half),
        // bits 0-7 may be one (high half): QEMU's feature word is 0xe9 (intr-exit, nmi-exit,
        // vnmi, preemption-timer, posted-intr), as libvirt's -enabled data records it.
        let raw = [MsrValue {
            index: 0x48d,
            value: (0xff_u64 << 32) | 0x16,
        }];
        let words = msr_feature_words(&raw);
        assert_eq!(words[0].value, 0xe9);
        let f = features(&[], &words).names();
        for n in ["vmx-intr-exit", "vmx-vnmi", "vmx-preemption-timer"] {
            assert!(f.contains(&n.to_owned()), "{n}: {f:?}");
        }
        // Read literally, the low half would claim none of them.
        let literal = features(&[], &raw).names();
        assert!(
            !literal.contains(&"vmx-intr-exit".to_owned()),
            "{literal:?}"
        );
        // Other MSRs are left alone.
        let arch = [MsrValue {
            index: 0x10a,
            value: 1,
        }];
        assert_eq!(msr_feature_words(&arch), arch.to_vec());
    }

    #[test]
    fn identity_of_a_xeon_gold_6148() {
        // Leaves 0 and 1 of libvirt's x86_64-cpuid-Xeon-Gold-6148.xml.
        let entries = [
            entry(0, 0x16, 0x756e_6547, 0x6c65_746e, 0x4965_6e69),
            entry(1, 0x0005_0654, 0x4540_0800, 0x7ffe_fbff, 0xbfeb_fbff),
        ];
        assert_eq!(vendor(&entries).as_deref(), Some("GenuineIntel"));
        assert_eq!(signature(&entries), Some((6, 0x55, 4)));
        let f = features(&entries, &[]);
        let names = f.names();
        for n in ["sse4.1", "avx", "x2apic", "sse2", "hypervisor"] {
            assert_eq!(
                names.contains(&n.to_owned()),
                n != "hypervisor",
                "{n}: {names:?}"
            );
        }
    }

    #[test]
    fn hybrid_cpus_intersect_and_guest_view_drops_host_only_bits() {
        // CPUID.(EAX=07H,ECX=0):EBX[5] AVX2 on both, ECX[4] of leaf 1 (ds-cpl) on one only.
        let p = [entry(7, 0, 1 << 5, 0, 0), entry(1, 0, 0, 1 << 4, 0)];
        let e = [entry(7, 0, 1 << 5, 0, 0), entry(1, 0, 0, 0, 0)];
        let both = features_all_cpus([&p[..], &e[..]], &[]);
        assert_eq!(both.names(), vec!["avx2"]);
        assert!(features_all_cpus(std::iter::empty::<&[CpuidEntry]>(), &[]).is_empty());
        let host = features(&p, &[]);
        let guest = estimate_guest_view(&host);
        assert!(!guest.names().contains(&"ds-cpl".to_owned()));
        assert!(guest.names().contains(&"x2apic".to_owned()));
        assert!(guest.names().contains(&"avx2".to_owned()));
        let (_, unknown) = FeatureSet::from_names(HOST_ONLY.iter().chain(KVM_EMULATED).copied());
        assert!(unknown.is_empty(), "{unknown:?}");
    }

    #[test]
    fn msr_feature_needs_all_mask_bits() {
        // IA32_ARCH_CAPABILITIES bit 0 RDCL_NO (Intel SDM Vol. 4 Table 2-2).
        let f = features(
            &[],
            &[MsrValue {
                index: 0x10a,
                value: 0x1,
            }],
        );
        assert!(f.names().contains(&"rdctl-no".to_owned()));
        assert!(!f.names().contains(&"ibrs-all".to_owned()));
    }
}
