//! arm64 (qemu-devel "Live Migration between machines with different processor ids",
//! 2018): with `-cpu host` KVM refuses a destination whose MIDR_EL1 or other invariant ID
//! registers differ (`set_invariant_sys_reg` in arch/arm64/kvm/sys_regs.c). Processors of one
//! SoC family may be close enough, but that judgement belongs in the management layer: an
//! operator-kept list of equivalent processors, applied here and named in the verdict.

use serde::{Deserialize, Serialize};

use super::{reason, values};
use crate::policy::{GuestConfig, GuestCpu, Policy};
use crate::profile::{Arch, HostProfile};
use crate::reason::{Layer, Reason, Severity};

/// Processors (by MIDR_EL1 value) an operator treats as one for host-passthrough migration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EquivalenceGroup {
    pub name: String,
    pub midrs: Vec<u64>,
}

/// Parse groups from JSON: `[{"name": "thunderx2", "midrs": [1126304496, ...]}]`.
pub fn parse_groups(text: &str) -> Result<Vec<EquivalenceGroup>, String> {
    serde_json::from_str(text).map_err(|e| format!("arm64 equivalence groups: {e}"))
}

/// - `arm64.midr-mismatch` (blocker): MIDR_EL1 differs for a host-passthrough guest;
/// - `arm64.id-register-mismatch` (blocker): another ID register (REVIDR_EL1, ID_AA64*) differs;
/// - `arm64.equivalence-group-used` (info): both MIDRs are in one operator group, so the
///   differences are accepted, and the verdict says which group;
/// - `arm64.id-registers-unknown` (warning): a profile lacks the registers.
pub fn arm64_rule(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    if src.cpu.arch != Arch::Aarch64 || dst.cpu.arch != Arch::Aarch64 {
        return;
    }
    if !matches!(
        guest.cpu,
        GuestCpu::HostPassthrough | GuestCpu::HostPassthroughMasked { .. } | GuestCpu::HostModel
    ) {
        return;
    }
    let (a, b) = (&src.arm_id_registers, &dst.arm_id_registers);
    let (Some(ma), Some(mb)) = (a.get("midr_el1"), b.get("midr_el1")) else {
        reasons.push(reason(
            Layer::Arm64,
            Severity::Warning,
            "arm64.id-registers-unknown",
            "a profile has no MIDR_EL1: the invariant ID registers cannot be compared".into(),
            values(
                a.get("midr_el1")
                    .map_or("unknown".into(), |m| format!("{m:#x}")),
                b.get("midr_el1")
                    .map_or("unknown".into(), |m| format!("{m:#x}")),
            ),
        ));
        return;
    };
    let mut diffs: Vec<(&str, u64, u64)> = a
        .iter()
        .filter_map(|(k, va)| {
            b.get(k)
                .filter(|vb| *vb != va)
                .map(|vb| (k.as_str(), *va, *vb))
        })
        .collect();
    if diffs.is_empty() {
        return;
    }
    diffs.sort_by_key(|d| d.0 != "midr_el1");
    if let Some(g) = policy
        .arm_equivalence_groups
        .iter()
        .find(|g| g.midrs.contains(ma) && g.midrs.contains(mb))
    {
        reasons.push(reason(
            Layer::Arm64,
            Severity::Info,
            "arm64.equivalence-group-used",
            format!(
                "ID registers differ ({}) but both processors are in the operator's equivalence group '{}': accepted by that group, not by KVM's own check",
                diffs.iter().map(|d| d.0).collect::<Vec<_>>().join(", "),
                g.name
            ),
            values(format!("{ma:#x}"), format!("{mb:#x}")),
        ));
        return;
    }
    for (reg, va, vb) in diffs {
        let (rule, why) = if reg == "midr_el1" {
            (
                "arm64.midr-mismatch",
                "KVM refuses to set an invariant register to another value, so the migration fails; add both processors to an equivalence group if they are close enough",
            )
        } else {
            (
                "arm64.id-register-mismatch",
                "the guest saw the source's value at boot and KVM keeps ID registers invariant for -cpu host",
            )
        };
        reasons.push(reason(
            Layer::Arm64,
            Severity::Blocker,
            rule,
            format!(
                "{} differs ({va:#x} -> {vb:#x}) for a host-passthrough guest: {why}",
                reg.to_ascii_uppercase()
            ),
            values(format!("{va:#x}"), format!("{vb:#x}")),
        ));
    }
}
