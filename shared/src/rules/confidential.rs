//! Confidential guests (AMD SEV/SEV-ES/SEV-SNP, Intel TDX): their memory and register state is
//! encrypted with keys bound to the platform, so an ordinary migration cannot move them; QEMU
//! registers a migration blocker for them (target/i386/sev.c, "SEV: Migration is not
//! implemented"). Blockers unless the operator's stack migrates them and the destination's KVM
//! supports the VM type (KVM_CAP_VM_TYPES, `vm_types` in the profile's KVM capabilities).

use super::{reason, values};
use crate::policy::{GuestConfig, Policy};
use crate::profile::HostProfile;
use crate::reason::{Layer, Reason, Severity};

/// - `confidential.not-migratable` (blocker): the guest is SEV/SEV-ES/SEV-SNP/TDX and the policy
///   does not allow confidential migration;
/// - `confidential.unsupported-on-destination` (blocker): allowed, but the destination's KVM
///   does not list the VM type (or the profile does not say);
/// - `confidential.migration-allowed` (warning): allowed and supported.
pub fn confidential_rule(
    dst: &HostProfile,
    guest: &GuestConfig,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    let Some(c) = guest.confidential else {
        return;
    };
    let name = c.name();
    if !policy.allow_confidential_migration {
        reasons.push(reason(
            Layer::Profile,
            Severity::Blocker,
            "confidential.not-migratable",
            format!(
                "the guest is a {name} guest: QEMU blocks its live migration (its state is encrypted with platform-bound keys); allow it in the policy only where the stack migrates {name} guests"
            ),
            values(name, "not migratable"),
        ));
        return;
    }
    let types = dst
        .kvm
        .as_ref()
        .and_then(|k| k.capabilities.get("vm_types").copied());
    match types {
        Some(t) if t & (1 << c.vm_type_bit()) != 0 => reasons.push(reason(
            Layer::Profile,
            Severity::Warning,
            "confidential.migration-allowed",
            format!("the guest is a {name} guest; the policy allows its migration and the destination's KVM supports the VM type"),
            values(name, format!("vm_types {t:#x}")),
        )),
        other => reasons.push(reason(
            Layer::Profile,
            Severity::Blocker,
            "confidential.unsupported-on-destination",
            format!(
                "the guest is a {name} guest and the destination's KVM {}",
                other.map_or_else(
                    || "capabilities do not list vm_types (KVM_CAP_VM_TYPES)".to_owned(),
                    |t| format!("vm_types {t:#x} lack it")
                )
            ),
            values(name, other.map_or("unknown".into(), |t| format!("{t:#x}"))),
        )),
    }
}
