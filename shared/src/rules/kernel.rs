//! Host kernel / KVM (seed 001, "[RFC] KVM MSR migration", kvm@vger 2012): the MSRs KVM saves and
//! restores (KVM_GET_MSR_INDEX_LIST) grow with kernel versions; an MSR the source sends that the
//! destination kernel does not know fails the migration, and must never be dropped silently.

use super::{reason, values};
use crate::profile::HostProfile;
use crate::verdict::{Layer, Reason, Severity};

/// `kvm.msr-unknown-on-destination` (blocker): an MSR in the source KVM's index list that the
/// destination KVM's list lacks. `kvm.msr-list-unknown` (warning) when a side has no list.
pub fn msr_rule(src: &HostProfile, dst: &HostProfile, reasons: &mut Vec<Reason>) {
    let (Some(s), Some(d)) = (src.kvm.as_ref(), dst.kvm.as_ref()) else {
        return;
    };
    if s.msr_index_list.is_empty() {
        return;
    }
    if d.msr_index_list.is_empty() {
        reasons.push(reason(
            Layer::KernelKvm,
            Severity::Warning,
            "kvm.msr-list-unknown",
            format!(
                "the destination host {} has no KVM MSR index list in its profile: not checked that its kernel restores every MSR the source's sends (seed 001)",
                dst.host_id
            ),
            values(s.msr_index_list.len().to_string(), "unknown"),
        ));
        return;
    }
    for msr in s
        .msr_index_list
        .iter()
        .filter(|m| !d.msr_index_list.contains(m))
    {
        reasons.push(reason(
            Layer::KernelKvm,
            Severity::Blocker,
            "kvm.msr-unknown-on-destination",
            format!(
                "MSR {msr:#x} is saved by the source's KVM (KVM_GET_MSR_INDEX_LIST) but the destination's kernel{} does not know it: the migration fails, or the MSR would be dropped (seed 001: the destination must never ignore an incoming MSR)",
                dst.kernel_release
                    .as_deref()
                    .map_or_else(String::new, |k| format!(" {k}"))
            ),
            values(format!("{msr:#x}"), "absent"),
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
/// newer is the safe direction (seed 001); the versions are the evidence.
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
            "older kernel to newer is the safe direction (seed 001)",
        ),
        std::cmp::Ordering::Greater => (
            Severity::Warning,
            "kvm.kernel-newer-to-older",
            "newer kernel to older: state the newer KVM saves may be unknown to the older one (seed 001)",
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
    fn an_msr_the_destination_lacks_blocks_and_kernel_direction_is_evidence() {
        let new = with_msrs("new", &[0x10, 0x174, 0x6e0, 0x48], "6.12.9-amd64");
        let old = with_msrs("old", &[0x10, 0x174, 0x6e0], "5.10.0-30-amd64");
        let v = compare(&new, &old, &GuestConfig::default());
        assert!(!v.compatible);
        let r = v
            .reasons
            .iter()
            .find(|r| r.rule == "kvm.msr-unknown-on-destination")
            .expect("msr reason");
        assert_eq!(r.evidence, values("0x48", "absent"));
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
