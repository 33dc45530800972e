//! The layers beyond the CPU, one module each, called from [`crate::verdict::compare_with`]:
//! kernel/KVM MSRs ([`kernel`], seed 001), QEMU version, machine type and errata ([`machine`],
//! seed 002), devices and VFIO ([`devices`], seed 003), arm64 ID registers and equivalence
//! groups ([`arm64`], seed 000), confidential guests ([`confidential`]) and cpr-transfer
//! ([`cpr`], seed 004). Every rule pushes [`Reason`]s with its layer, severity, rule id and
//! evidence; the doc comment of each function names the source of the rule.

pub mod arm64;
pub mod confidential;
pub mod cpr;
pub mod devices;
pub mod kernel;
pub mod machine;

use crate::models::QemuVersion;
use crate::profile::{HostProfile, QemuInstall};
use crate::verdict::{Evidence, GuestConfig, Layer, Policy, Reason, Severity};

/// Run every layer's rules.
pub fn apply(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    kernel::msr_rule(src, dst, reasons);
    kernel::kernel_direction(src, dst, reasons);
    machine::machine_rules(src, dst, guest, policy, reasons);
    devices::device_rules(src, dst, guest, policy, reasons);
    arm64::arm64_rule(src, dst, guest, policy, reasons);
    confidential::confidential_rule(dst, guest, policy, reasons);
    cpr::cpr_rule(src, dst, guest, policy, reasons);
}

pub(crate) fn reason(
    layer: Layer,
    severity: Severity,
    rule: &str,
    message: String,
    evidence: Evidence,
) -> Reason {
    Reason {
        layer,
        severity,
        rule: rule.to_owned(),
        message,
        evidence,
    }
}

pub(crate) fn values(source: impl Into<String>, destination: impl Into<String>) -> Evidence {
    Evidence::Values {
        source: source.into(),
        destination: destination.into(),
    }
}

/// The QEMU install of a host a verdict is about: the one of `version` when given and present,
/// else the oldest probed release (a guest may be started by any QEMU installed there; the first
/// probed among equals), else the first probed one.
pub fn qemu_install(host: &HostProfile, version: Option<QemuVersion>) -> Option<&QemuInstall> {
    let oldest = || {
        host.qemu
            .iter()
            .filter_map(|q| QemuVersion::parse(&q.version).map(|v| (v, q)))
            .min_by_key(|(v, _)| *v)
            .map(|(_, q)| q)
            .or_else(|| host.qemu.first())
    };
    match version {
        Some(v) => host
            .qemu
            .iter()
            .find(|q| QemuVersion::parse(&q.version) == Some(v))
            .or_else(oldest),
        None => oldest(),
    }
}

/// The QEMU release on one side: the policy's, else the oldest probed on the host.
pub fn qemu_version(host: &HostProfile, version: Option<QemuVersion>) -> Option<QemuVersion> {
    version.or_else(|| qemu_install(host, None).and_then(|q| QemuVersion::parse(&q.version)))
}

/// `*` matches any run of characters; everything else literally.
pub fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, p) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(p) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(p);
        } else {
            match rest.find(p) {
                Some(at) => rest = &rest[at + p.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::glob;

    #[test]
    fn globs() {
        assert!(glob("pc-*-7.2", "pc-q35-7.2"));
        assert!(glob("pc-*-7.2", "pc-i440fx-7.2"));
        assert!(!glob("pc-*-7.2", "pc-q35-7.20"));
        assert!(glob("*", ""));
        assert!(glob("a*b*c", "aXbYc"));
        assert!(!glob("abc", "abcd"));
    }
}
