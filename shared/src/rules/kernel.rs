//! Host kernel / KVM: the MSRs KVM saves and restores (KVM_GET_MSR_INDEX_LIST) grow with kernel
//! versions. QEMU reads the destination kernel's list at start and only restores the MSRs it
//! finds there (QEMU target/i386/kvm/kvm.c `kvm_get_supported_msrs` sets `has_msr_*`, and
//! `kvm_put_msrs` writes only those), so an MSR the source's kernel saved but the destination's
//! does not know is not restored. That matters when the guest uses the feature behind the MSR;
//! for the rest (a rolling kernel upgrade, a host with `nested=0`) it is a warning.

use super::{reason, values};
use crate::catalog::catalog;
use crate::featureset::FeatureSet;
use crate::profile::HostProfile;
use crate::reason::{Layer, Reason, Severity};

/// MSRs that belong to a CPU feature: the guest uses the MSR when it sees the feature (Intel SDM
/// Vol. 4 "Model-Specific Registers"; KVM's paravirtual MSRs: Linux
/// Documentation/virt/kvm/x86/msr.rst).
const MSR_FEATURES: &[(u32, &str)] = &[
    (0x0000_003b, "tsc-adjust"), // IA32_TSC_ADJUST, CPUID.(EAX=07H,ECX=0):EBX[1]
    (0x0000_0048, "spec-ctrl"),  // IA32_SPEC_CTRL, CPUID.(EAX=07H,ECX=0):EDX[26]
    (0x0000_010a, "arch-capabilities"), // IA32_ARCH_CAPABILITIES, CPUID.(EAX=07H,ECX=0):EDX[29]
    (0x0000_06e0, "tsc-deadline"), // IA32_TSC_DEADLINE, CPUID.01H:ECX[24]
    (0x0000_0da0, "xsaves"),     // IA32_XSS, CPUID.(EAX=0DH,ECX=1):EAX[3]
    (0xc000_0103, "rdtscp"),     // IA32_TSC_AUX, CPUID.80000001H:EDX[27]
    (0x4b56_4d02, "kvm-asyncpf"), // MSR_KVM_ASYNC_PF_EN
    (0x4b56_4d03, "kvm-steal-time"), // MSR_KVM_STEAL_TIME
    (0x4b56_4d04, "kvm-pv-eoi"), // MSR_KVM_PV_EOI_EN
    (0x4b56_4d05, "kvm-poll-control"), // MSR_KVM_POLL_CONTROL
];

/// The feature an MSR belongs to, where [`MSR_FEATURES`] names one the catalog knows.
fn feature_of(msr: u32) -> Option<crate::catalog::FeatureId> {
    MSR_FEATURES
        .iter()
        .find(|(m, _)| *m == msr)
        .and_then(|(_, name)| catalog().lookup(name))
}

/// Which [`MSR_FEATURES`] MSRs the host's KVM lists (bit `i` for entry `i`), and whether it lists
/// any MSR at all (an empty list is not checked).
pub fn tied_msrs(host: &HostProfile) -> (u32, bool) {
    let Some(k) = host.kvm.as_ref() else {
        return (0, false);
    };
    let mask = MSR_FEATURES
        .iter()
        .enumerate()
        .filter(|(_, (m, _))| k.msr_index_list.contains(m))
        .fold(0u32, |acc, (i, _)| acc | (1 << i));
    (mask, !k.msr_index_list.is_empty())
}

/// The bits of `listed` ([`tied_msrs`]) whose feature the guest sees.
pub fn tied_msrs_seen(listed: u32, seen: &FeatureSet) -> u32 {
    MSR_FEATURES
        .iter()
        .enumerate()
        .filter(|(i, (_, name))| {
            listed & (1 << i) != 0 && catalog().lookup(name).is_some_and(|f| seen.contains(f))
        })
        .fold(0u32, |acc, (i, _)| acc | (1 << i))
}

/// `kvm.msr-of-seen-feature-unknown` (blocker): an MSR in the source KVM's index list that the
/// destination KVM's list lacks, and that belongs to a feature the guest sees.
/// `kvm.msr-unknown-on-destination` (warning): such MSRs otherwise, named together.
/// `kvm.msr-list-unknown` (info) when the destination has no list.
pub fn msr_rule(
    src: &HostProfile,
    dst: &HostProfile,
    seen: Option<&FeatureSet>,
    reasons: &mut Vec<Reason>,
) {
    let (Some(s), Some(d)) = (src.kvm.as_ref(), dst.kvm.as_ref()) else {
        return;
    };
    if s.msr_index_list.is_empty() {
        return;
    }
    if d.msr_index_list.is_empty() {
        reasons.push(reason(
            Layer::KernelKvm,
            Severity::Info,
            "kvm.msr-list-unknown",
            format!(
                "the destination host {} has no KVM MSR index list in its profile: not checked that its kernel restores every MSR the source's saves",
                dst.host_id
            ),
            values(s.msr_index_list.len().to_string(), "unknown"),
        ));
        return;
    }
    let kernel = dst
        .kernel_release
        .as_deref()
        .map_or_else(String::new, |k| format!(" {k}"));
    let mut others = Vec::new();
    for &msr in s
        .msr_index_list
        .iter()
        .filter(|m| !d.msr_index_list.contains(m))
    {
        match feature_of(msr).filter(|f| seen.is_some_and(|s| s.contains(*f))) {
            Some(f) => reasons.push(reason(
                Layer::KernelKvm,
                Severity::Blocker,
                "kvm.msr-of-seen-feature-unknown",
                format!(
                    "MSR {msr:#x} of {}, which the guest sees, is saved by the source's KVM (KVM_GET_MSR_INDEX_LIST) but the destination's kernel{kernel} does not list it: QEMU cannot restore it there (QEMU kvm_put_msrs writes only the MSRs the kernel lists)",
                    catalog().get(f).name
                ),
                values(format!("{msr:#x}"), "absent"),
            )),
            None => others.push(msr),
        }
    }
    if !others.is_empty() {
        let list: Vec<String> = others.iter().map(|m| format!("{m:#x}")).collect();
        reasons.push(reason(
            Layer::KernelKvm,
            Severity::Warning,
            "kvm.msr-unknown-on-destination",
            format!(
                "{} MSR(s) saved by the source's KVM are not in the destination kernel{kernel}'s KVM_GET_MSR_INDEX_LIST: {}; QEMU does not restore them there (kvm_put_msrs); none belongs to a feature the guest sees, so this is what a kernel upgrade or nested=0 changes",
                others.len(),
                list.join(", ")
            ),
            values(list.join(","), "absent"),
        ));
    }
}

/// `(major, minor, patch)` of a kernel release such as `6.1.0-28-amd64`.
pub fn kernel_version(release: &str) -> Option<(u32, u32, u32)> {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty());
    Some((
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next().and_then(|p| p.parse().ok()).unwrap_or(0),
    ))
}

/// `kvm.kernel-newer-to-older` (warning) / `kvm.kernel-older-to-newer` (info): older kernel to
/// newer is the safe direction (a newer KVM knows every MSR and state an older one saves); the
/// versions are the evidence.
pub fn kernel_direction(src: &HostProfile, dst: &HostProfile, reasons: &mut Vec<Reason>) {
    let (Some(a), Some(b)) = (src.kernel_release.as_deref(), dst.kernel_release.as_deref()) else {
        return;
    };
    let (Some(va), Some(vb)) = (kernel_version(a), kernel_version(b)) else {
        return;
    };
    let (severity, rule, why) = match va.cmp(&vb) {
        std::cmp::Ordering::Equal => return,
        std::cmp::Ordering::Less => (
            Severity::Info,
            "kvm.kernel-older-to-newer",
            "older kernel to newer is the safe direction",
        ),
        std::cmp::Ordering::Greater => (
            Severity::Warning,
            "kvm.kernel-newer-to-older",
            "newer kernel to older: state the newer KVM saves may be unknown to the older one",
        ),
    };
    reasons.push(reason(
        Layer::KernelKvm,
        severity,
        rule,
        format!("the kernel goes from {a} to {b}: {why}"),
        values(a, b),
    ));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::profile_named;
    use crate::verdict::{GuestConfig, compare};

    fn with_msrs(id: &str, msrs: &[u32], kernel: &str) -> HostProfile {
        let mut p = profile_named(id, "GenuineIntel", &["sse2"]);
        if let Some(k) = p.kvm.as_mut() {
            k.msr_index_list = msrs.to_vec();
        }
        p.kernel_release = Some(kernel.into());
        p
    }

    #[test]
    fn an_msr_the_destination_lacks_warns_unless_the_guest_uses_its_feature() {
        let new = with_msrs("new", &[0x10, 0x174, 0x6e0, 0x48, 0x1234], "6.12.9-amd64");
        let old = with_msrs("old", &[0x10, 0x174, 0x6e0], "5.10.0-30-amd64");
        // The guest sees sse2 only: spec-ctrl's MSR 0x48 and the unknown 0x1234 only warn.
        let v = compare(&new, &old, &GuestConfig::default());
        assert!(v.compatible, "{:?}", v.reasons);
        let r = v
            .reasons
            .iter()
            .find(|r| r.rule == "kvm.msr-unknown-on-destination")
            .expect("msr reason");
        assert_eq!(r.severity, Severity::Warning);
        assert_eq!(r.evidence, values("0x48,0x1234", "absent"));
        // A guest that sees spec-ctrl loses its MSR: a blocker naming the feature.
        let (Some(spec), Some(sse2)) = (catalog().lookup("spec-ctrl"), catalog().lookup("sse2"))
        else {
            panic!("catalog lacks spec-ctrl or sse2");
        };
        let mut seen = FeatureSet::EMPTY;
        seen.insert(spec);
        seen.insert(sse2);
        let mut reasons = Vec::new();
        msr_rule(&new, &old, Some(&seen), &mut reasons);
        let blocker = reasons
            .iter()
            .find(|r| r.rule == "kvm.msr-of-seen-feature-unknown")
            .expect("blocker for the seen feature's msr");
        assert_eq!(blocker.severity, Severity::Blocker);
        assert!(blocker.message.contains("spec-ctrl"), "{}", blocker.message);
        assert!(
            reasons
                .iter()
                .any(|r| r.rule == "kvm.msr-unknown-on-destination"
                    && r.evidence == values("0x1234", "absent"))
        );
        assert!(
            v.reasons
                .iter()
                .any(|r| r.rule == "kvm.kernel-newer-to-older" && r.severity == Severity::Warning)
        );
        let back = compare(&old, &new, &GuestConfig::default());
        assert!(back.compatible, "{:?}", back.reasons);
        assert!(
            back.reasons
                .iter()
                .any(|r| r.rule == "kvm.kernel-older-to-newer")
        );
        let unknown = with_msrs("u", &[], "6.1.0");
        let v = compare(&new, &unknown, &GuestConfig::default());
        assert!(v.reasons.iter().any(|r| r.rule == "kvm.msr-list-unknown"));
        assert_eq!(kernel_version("6.1.0-28-amd64"), Some((6, 1, 0)));
        assert_eq!(kernel_version("junk"), None);
    }
}
