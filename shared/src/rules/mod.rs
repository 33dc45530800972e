//! The rules, one module per layer: the CPU ([`cpu`]: arch, vendor, the guest view on each
//! side, non-migratable features, named models) and TSC ([`tsc`]), run first by
//! [`crate::verdict::compare_with`]; then [`apply`] runs kernel/KVM MSRs ([`kernel`]), QEMU
//! version, machine type and errata ([`machine`]), devices and VFIO ([`devices`]), arm64 ID
//! registers and equivalence groups ([`arm64`]), confidential guests ([`confidential`]) and
//! cpr-transfer ([`cpr`]). Every rule pushes [`Reason`]s with its layer, severity, rule id and
//! evidence; the doc comment of each function names the upstream source of the rule.

pub mod arm64;
pub mod confidential;
pub mod cpr;
pub mod cpu;
pub mod devices;
pub mod kernel;
pub mod machine;
pub mod tsc;

use crate::featureset::FeatureSet;
use crate::models::QemuVersion;
use crate::policy::{GuestConfig, Policy};
use crate::profile::{HostProfile, QemuInstall};
use crate::reason::{Evidence, Layer, Reason, Severity};

/// Run every layer's rules beyond the CPU ([`cpu`] and [`tsc`] run first, from
/// [`crate::verdict::compare_with`]); `seen` is what the guest sees on the source, when known.
pub fn apply(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    dst_guest: &GuestConfig,
    policy: &Policy,
    seen: Option<&FeatureSet>,
    reasons: &mut Vec<Reason>,
) {
    kernel::msr_rule(src, dst, seen, reasons);
    kernel::kernel_direction(src, dst, reasons);
    machine::machine_rules(src, dst, guest, dst_guest, policy, reasons);
    devices::device_rules(src, dst, guest, policy, reasons);
    arm64::arm64_rule(src, dst, guest, policy, reasons);
    confidential::confidential_rule(dst, guest, policy, reasons);
    cpr::cpr_rule(src, dst, guest, policy, reasons);
}

/// Whether the layers of [`apply`] give a blocker that the graphs' fast path
/// ([`crate::verdict::HostFacts`]) does not check: machine types and errata, devices, arm64,
/// confidential guests, cpr-transfer (the KVM MSR rule blocks only through features the guest
/// sees, which the fast path checks itself). `policy` must already be the effective one.
pub fn layers_block(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    policy: &Policy,
) -> bool {
    let mut reasons = Vec::new();
    apply(src, dst, guest, guest, policy, None, &mut reasons);
    reasons.iter().any(|r| r.severity == Severity::Blocker)
}

/// A fingerprint of every fact of a host that [`layers_block`] reads, so that hosts equal in it
/// (and in the CPU facts of [`crate::class::key`]) get equal answers.
pub fn layers_fingerprint(host: &HostProfile) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = crate::fnv::Fnv::default();
    // Every install: the oldest is read under the default policy, another when a policy names
    // its release.
    for q in &host.qemu {
        QemuVersion::parse(&q.version).hash(&mut h);
        for m in &q.machines {
            (&m.name, &m.alias, m.is_default).hash(&mut h);
        }
    }
    host.arm_id_registers.hash(&mut h);
    // arm64: whether the kernel takes lowered ID registers (Linux 6.7).
    arm64::layer_facts(host).hash(&mut h);
    for f in &host.devices.pci {
        serde_json::to_string(f).unwrap_or_default().hash(&mut h);
    }
    serde_json::to_string(&host.devices.vfio_variant_drivers)
        .unwrap_or_default()
        .hash(&mut h);
    host.devices.device_versions.hash(&mut h);
    if let Some(k) = &host.kvm {
        k.capabilities.hash(&mut h);
    }
    h.finish()
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
    // Binaries that cannot run the host's ordinary guests are asked last: qemu-system-i386 has no
    // 64-bit CPUs (its qemu64 lacks lm), qemu-system-x86_64-microvm only the microvm machine.
    let ordinary = |q: &&QemuInstall| {
        let name = q.path.rsplit('/').next().unwrap_or(&q.path);
        !(name == "qemu-system-i386" || name.ends_with("-microvm"))
    };
    let usable: Vec<&QemuInstall> = if host.qemu.iter().any(|q| ordinary(&q)) {
        host.qemu.iter().filter(ordinary).collect()
    } else {
        host.qemu.iter().collect()
    };
    let oldest = || {
        usable
            .iter()
            .filter_map(|q| QemuVersion::parse(&q.version).map(|v| (v, *q)))
            .min_by_key(|(v, _)| *v)
            .map(|(_, q)| q)
            .or_else(|| usable.first().copied())
    };
    match version {
        Some(v) => usable
            .iter()
            .copied()
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
    use super::*;

    #[test]
    fn the_i386_and_microvm_binaries_never_answer_for_x86_64_guests() {
        // As the collector finds them on Debian: the same release three times.
        let mut p = crate::testing::profile_named("h", "GenuineIntel", &["sse2"]);
        for path in [
            "/usr/bin/qemu-system-i386",
            "/usr/bin/qemu-system-x86_64",
            "/usr/bin/qemu-system-x86_64-microvm",
        ] {
            p.qemu.push(QemuInstall {
                path: path.into(),
                version: "7.2.22".into(),
                ..QemuInstall::default()
            });
        }
        let q = qemu_install(&p, None).expect("an install");
        assert_eq!(q.path, "/usr/bin/qemu-system-x86_64");
        let q = qemu_install(&p, QemuVersion::parse("7.2.22")).expect("an install");
        assert_eq!(q.path, "/usr/bin/qemu-system-x86_64");
        // Only an i386 binary: it is all there is.
        p.qemu.retain(|q| q.path.ends_with("i386"));
        assert_eq!(
            qemu_install(&p, None).map(|q| q.path.as_str()),
            Some("/usr/bin/qemu-system-i386")
        );
    }

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
