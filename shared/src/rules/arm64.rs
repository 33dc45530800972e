//! arm64 ID registers for `-cpu host` (and host-model) guests.
//!
//! QEMU migrates the vCPU's system registers as its cpreg list and writes each of the source's
//! values into the destination's KVM with KVM_SET_ONE_REG (QEMU target/arm/kvm.c
//! `write_list_to_kvmstate`, from `kvm_arm_cpu_post_load`); one refused write fails the
//! incoming migration. What KVM accepts there follows the destination's Linux release
//! (arch/arm64/kvm/sys_regs.c):
//!
//! - before 6.7 the ID registers are invariant: `set_id_reg` returns -EINVAL for any value but
//!   the one KVM computed ("This is what we mean by invariant: you can't change it"), and
//!   MIDR_EL1/REVIDR_EL1/AIDR_EL1 go through `set_invariant_sys_reg`, which does the same;
//! - from 6.7 ("KVM: arm64: Allow userspace to change ID_AA64ISAR{0-2}_EL1", "...
//!   ID_AA64MMFR{0-2}_EL1", "... ID_AA64PFR0_EL1" and the KVM_ARM_GET_REG_WRITABLE_MASKS ioctl,
//!   KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES, merged for 6.7) `set_id_reg` calls
//!   `arm64_check_features`: each writable field must be the value KVM would give the guest or
//!   a "safe" one against it (`arm64_ftr_safe_value`, mostly lower), and every field that is
//!   not writable must be equal. A source with fewer features can go to a destination with
//!   more, not the reverse;
//! - MIDR_EL1, REVIDR_EL1 and AIDR_EL1 became writable only in 6.15, and only in a VM whose VMM
//!   enabled KVM_CAP_ARM_WRITABLE_IMP_ID_REGS before creating vCPUs (KVM_ARCH_FLAG_WRITABLE_IMP_ID_REGS,
//!   `access_imp_id_reg`). QEMU's target/arm/kvm.c does not enable that capability
//!   (`kvm_arch_init` enables KVM_CAP_ARM_NISV_TO_USER and the eager-split chunk size only).
//!
//! Processors of one SoC family may be close enough for an operator (qemu-devel "Live
//! Migration between machines with different processor ids", 2018): an operator-kept list of
//! equivalent processors is applied here and named in the verdict.

use serde::{Deserialize, Serialize};

use super::{reason, values};
use crate::policy::{GuestConfig, GuestCpu, Policy};
use crate::profile::{Arch, HostProfile};
use crate::reason::{Layer, Reason, Severity};
use crate::rules::kernel::kernel_version;

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

/// The first Linux release whose KVM lets userspace write a feature ID register with "safe"
/// (lower) field values: 6.7, `set_id_reg` -> `arm64_check_features`.
pub const WRITABLE_ID_REGS_SINCE: (u32, u32, u32) = (6, 7, 0);

/// `kvm.capabilities` key of KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES (230, Linux 6.7): the
/// kernel has KVM_ARM_GET_REG_WRITABLE_MASKS, i.e. writable feature ID registers.
pub const CAP_WRITABLE_MASKS: &str = "arm_supported_reg_mask_ranges";

/// `kvm.capabilities` key of KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (239, Linux 6.15).
pub const CAP_WRITABLE_IMP_ID_REGS: &str = "arm_writable_imp_id_regs";

/// The feature ID registers the 6.7 merge made writable ("KVM: arm64: Allow userspace to change
/// ID_AA64ISAR{0-2}_EL1", "... ID_AA64MMFR{0-2}_EL1", "... ID_AA64PFR0_EL1", "...
/// ID_AA64ZFR0_EL1", and ID_AA64DFR0_EL1 through `set_id_aa64dfr0_el1`). Others
/// (ID_AA64PFR1_EL1 among them) are not judged writable here: a difference there blocks.
fn writable_since_6_7(reg: &str) -> bool {
    matches!(
        reg,
        "id_aa64pfr0_el1"
            | "id_aa64dfr0_el1"
            | "id_aa64isar0_el1"
            | "id_aa64isar1_el1"
            | "id_aa64isar2_el1"
            | "id_aa64mmfr0_el1"
            | "id_aa64mmfr1_el1"
            | "id_aa64mmfr2_el1"
            | "id_aa64zfr0_el1"
    )
}

/// The implementation ID registers: invariant before 6.15, writable from 6.15 only when the VMM
/// enables KVM_CAP_ARM_WRITABLE_IMP_ID_REGS.
fn is_implementation_id(reg: &str) -> bool {
    matches!(reg, "midr_el1" | "revidr_el1" | "aidr_el1")
}

/// The 4-bit fields that hold signed values (Arm ARM, "Principles of the ID scheme for fields in
/// ID registers"; `S_ARM64_FTR_BITS` in Linux arch/arm64/kernel/cpufeature.c), as
/// (register, low bit): 0xF is -1, "not implemented", below 0 "implemented".
/// - ID_AA64PFR0_EL1.FP [19:16] and .AdvSIMD [23:20];
/// - ID_AA64MMFR0_EL1.TGran64 [27:24] and .TGran4 [31:28] (TGran16 [23:20] is unsigned,
///   0 = not supported).
///
/// Every other field is compared unsigned. That is the simplest correct reading for the
/// fields Linux marks FTR_LOWER_SAFE; fields whose safe value is FTR_EXACT or FTR_HIGHER_SAFE
/// (e.g. ID_AA64ISAR1_EL1.APA/API, ID_AA64ISAR2_EL1.CLRBHB) and fields a given kernel does not
/// mark writable still have to be equal, which only the destination's
/// KVM_ARM_GET_REG_WRITABLE_MASKS answers: hence a warning, not an info line.
const SIGNED_FIELDS: &[(&str, u32)] = &[
    ("id_aa64pfr0_el1", 16),
    ("id_aa64pfr0_el1", 20),
    ("id_aa64mmfr0_el1", 24),
    ("id_aa64mmfr0_el1", 28),
];

/// A 4-bit field of an ID register as the architecture orders it.
fn field(reg: &str, value: u64, shift: u32) -> i8 {
    // Masked to 4 bits: always fits.
    let n = i8::try_from((value >> shift) & 0xf).unwrap_or(0);
    if n >= 8 && SIGNED_FIELDS.contains(&(reg, shift)) {
        n - 16
    } else {
        n
    }
}

/// Whether every 4-bit field of `src` is at most the same field of `dst`: the source offers no
/// feature (or feature level) the destination lacks.
pub fn fields_at_most(reg: &str, src: u64, dst: u64) -> bool {
    (0..64)
        .step_by(4)
        .all(|shift| field(reg, src, shift) <= field(reg, dst, shift))
}

/// Why the destination's KVM accepts lowered feature ID registers, if it does: its kernel
/// release is 6.7 or later, or its profile records KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES.
fn accepts_lowered(dst: &HostProfile) -> Option<String> {
    if let Some(rel) = dst.kernel_release.as_deref()
        && kernel_version(rel).is_some_and(|v| v >= WRITABLE_ID_REGS_SINCE)
    {
        return Some(format!("Linux {rel}"));
    }
    let cap = dst
        .kvm
        .as_ref()
        .and_then(|k| k.capabilities.get(CAP_WRITABLE_MASKS))
        .copied()
        .unwrap_or(0);
    (cap > 0).then(|| "a KVM with KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES".to_owned())
}

fn records_writable_imp_id_regs(dst: &HostProfile) -> bool {
    dst.kvm
        .as_ref()
        .and_then(|k| k.capabilities.get(CAP_WRITABLE_IMP_ID_REGS))
        .is_some_and(|v| *v > 0)
}

/// The facts of a host this layer reads beyond `arm_id_registers` and `kvm.capabilities`: for an
/// aarch64 host, whether its kernel release is 6.7 or later (`None` for other hosts). Part of
/// what the class key must hold for graph edges to equal pair verdicts.
pub fn layer_facts(host: &HostProfile) -> Option<bool> {
    (host.cpu.arch == Arch::Aarch64).then(|| {
        host.kernel_release
            .as_deref()
            .and_then(kernel_version)
            .is_some_and(|v| v >= WRITABLE_ID_REGS_SINCE)
    })
}

/// - `arm64.midr-mismatch` (blocker): MIDR_EL1 differs for a host-passthrough guest; the
///   message says when the destination's KVM records KVM_CAP_ARM_WRITABLE_IMP_ID_REGS;
/// - `arm64.id-register-mismatch` (blocker): another ID register differs and the destination's
///   KVM cannot take the source's value (REVIDR_EL1; a kernel before 6.7; or a field higher on
///   the source);
/// - `arm64.id-register-lowered` (warning): an ID_AA64* register Linux 6.7 made writable differs, every field of the
///   source's value is at most the destination's and the destination runs Linux 6.7 or later
///   (or records KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES): its KVM accepts the source's value;
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
    let lowered_ok = accepts_lowered(dst);
    let imp_cap = records_writable_imp_id_regs(dst);
    let dst_kernel = dst.kernel_release.as_deref().map_or_else(
        || "a kernel release its profile does not record".to_owned(),
        |k| format!("Linux {k}"),
    );
    for (reg, va, vb) in diffs {
        let name = reg.to_ascii_uppercase();
        let ev = values(format!("{va:#x}"), format!("{vb:#x}"));
        if is_implementation_id(reg) {
            let imp = if imp_cap {
                " The destination's KVM has KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (Linux 6.15), which could accept the source's value if the VMM enabled it before creating vCPUs; QEMU's target/arm/kvm.c does not enable it."
            } else {
                " Linux 6.15 lets userspace write it only in a VM whose VMM enabled KVM_CAP_ARM_WRITABLE_IMP_ID_REGS, which QEMU's target/arm/kvm.c does not enable."
            };
            let (rule, tail) = if reg == "midr_el1" {
                (
                    "arm64.midr-mismatch",
                    " Add both processors to an equivalence group if they are close enough.",
                )
            } else {
                ("arm64.id-register-mismatch", "")
            };
            reasons.push(reason(
                Layer::Arm64,
                Severity::Blocker,
                rule,
                format!(
                    "{name} differs ({va:#x} -> {vb:#x}) for a host-passthrough guest: KVM refuses to set an implementation ID register to another value (Linux arch/arm64/kvm/sys_regs.c), so QEMU's incoming migration fails when it writes the source's registers (target/arm/kvm.c write_list_to_kvmstate).{imp}{tail}"
                ),
                ev,
            ));
            continue;
        }
        let lower = fields_at_most(reg, va, vb);
        if !writable_since_6_7(reg) {
            reasons.push(reason(
                Layer::Arm64,
                Severity::Blocker,
                "arm64.id-register-mismatch",
                format!(
                    "{name} differs ({va:#x} -> {vb:#x}) for a host-passthrough guest: it is not among the ID registers Linux 6.7 made writable (arch/arm64/kvm/sys_regs.c), so the destination's KVM refuses the source's value when QEMU writes it on the incoming migration (target/arm/kvm.c write_list_to_kvmstate)"
                ),
                ev,
            ));
            continue;
        }
        match (&lowered_ok, lower) {
            (Some(why), true) => reasons.push(reason(
                Layer::Arm64,
                Severity::Warning,
                "arm64.id-register-lowered",
                format!(
                    "{name} differs ({va:#x} -> {vb:#x}) but no field of the source's value is above the destination's: the destination's KVM ({why}, 6.7 or later) accepts the source's value when QEMU writes it on the incoming migration (Linux arch/arm64/kvm/sys_regs.c set_id_reg -> arm64_check_features), so the guest keeps the features it booted with; a field that kernel does not make writable must still be equal (KVM_ARM_GET_REG_WRITABLE_MASKS on the destination says which)"
                ),
                ev,
            )),
            (None, _) => reasons.push(reason(
                Layer::Arm64,
                Severity::Blocker,
                "arm64.id-register-mismatch",
                format!(
                    "{name} differs ({va:#x} -> {vb:#x}) for a host-passthrough guest and the destination runs {dst_kernel}: before Linux 6.7 KVM keeps ID registers invariant (arch/arm64/kvm/sys_regs.c set_id_reg refuses any other value), so QEMU's incoming migration fails when it writes the source's value (target/arm/kvm.c write_list_to_kvmstate){}",
                    if lower {
                        "; a destination with Linux 6.7 or later would accept this lower value"
                    } else {
                        ""
                    }
                ),
                ev,
            )),
            (Some(_), false) => reasons.push(reason(
                Layer::Arm64,
                Severity::Blocker,
                "arm64.id-register-mismatch",
                format!(
                    "{name} differs ({va:#x} -> {vb:#x}) and the source's value has a field above the destination's: the guest booted with a feature the destination cannot give, and even Linux 6.7 or later refuses a value above its own (arch/arm64/kvm/sys_regs.c arm64_check_features), so QEMU's incoming migration fails (target/arm/kvm.c write_list_to_kvmstate)"
                ),
                ev,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::profile_named;
    use crate::verdict::compare;

    /// Arm Neoverse-N1 r3p1 (Ampere Altra, AWS Graviton2).
    const N1_MIDR: u64 = 0x413f_d0c1;
    /// Arm Neoverse-V1 r1p1 (AWS Graviton3).
    const V1_MIDR: u64 = 0x411f_d401;
    /// Neoverse-N1 ID_AA64ISAR0_EL1: AES=2 SHA1=1 SHA2=1 CRC32=1 Atomic=2 RDM=1 DP=1.
    const N1_ISAR0: u64 = 0x0000_1000_1021_1120;
    /// Neoverse-V1 ID_AA64ISAR0_EL1: N1's plus SHA2=2 (SHA512), SHA3=1, FHM=1, TS=2, TLB=2,
    /// RNDR=1.
    const V1_ISAR0: u64 = 0x1221_1001_1021_2120;

    fn arm(id: &str, kernel: &str, midr: u64, isar0: u64) -> HostProfile {
        let mut p = profile_named(id, "arm", &[]);
        p.cpu.arch = Arch::Aarch64;
        p.kernel_release = Some(kernel.into());
        p.arm_id_registers.insert("midr_el1".into(), midr);
        p.arm_id_registers.insert("revidr_el1".into(), 0);
        p.arm_id_registers.insert("id_aa64isar0_el1".into(), isar0);
        p
    }

    fn found(src: &HostProfile, dst: &HostProfile) -> Vec<(String, Severity)> {
        let mut r = Vec::new();
        arm64_rule(
            src,
            dst,
            &GuestConfig::default(),
            &Policy::default(),
            &mut r,
        );
        r.into_iter().map(|r| (r.rule, r.severity)).collect()
    }

    #[test]
    fn signed_fields_read_0xf_as_not_implemented() {
        assert!(fields_at_most("id_aa64isar0_el1", N1_ISAR0, V1_ISAR0));
        assert!(!fields_at_most("id_aa64isar0_el1", V1_ISAR0, N1_ISAR0));
        // ID_AA64PFR0_EL1.FP = 0xF (no FP) is below FP = 1 (FP with half precision), AdvSIMD too.
        let no_fp = 0x0000_0000_00ff_0011_u64;
        let fp = 0x0000_0000_0011_0011_u64;
        assert!(fields_at_most("id_aa64pfr0_el1", no_fp, fp));
        assert!(!fields_at_most("id_aa64pfr0_el1", fp, no_fp));
        // The same nibbles in an unsigned field compare as numbers.
        assert!(!fields_at_most("id_aa64isar0_el1", no_fp, fp));
        // ID_AA64MMFR0_EL1.TGran4 = 0xF (4K granule not supported) is below 0 (supported).
        assert!(fields_at_most("id_aa64mmfr0_el1", 0xf000_0000, 0));
        assert!(!fields_at_most("id_aa64mmfr0_el1", 0, 0xf000_0000));
    }

    #[test]
    fn kernels_before_6_7_block_any_difference() {
        let src = arm("a", "6.1.0-28-arm64", N1_MIDR, N1_ISAR0);
        let dst = arm("b", "6.1.0-28-arm64", N1_MIDR, V1_ISAR0);
        let r = found(&src, &dst);
        assert_eq!(
            r,
            vec![("arm64.id-register-mismatch".into(), Severity::Blocker)]
        );
        let v = compare(&src, &dst, &GuestConfig::default());
        assert!(!v.compatible);
        let m = &v
            .reasons
            .iter()
            .find(|r| r.rule == "arm64.id-register-mismatch")
            .expect("blocker")
            .message;
        assert!(
            m.contains("before Linux 6.7") && m.contains("6.1.0-28-arm64"),
            "{m}"
        );
        assert!(m.contains("write_list_to_kvmstate"), "{m}");
    }

    #[test]
    fn from_6_7_lower_to_higher_warns_and_higher_to_lower_blocks() {
        let src = arm("a", "6.1.0-28-arm64", N1_MIDR, N1_ISAR0);
        let dst = arm("b", "6.12.9-arm64", N1_MIDR, V1_ISAR0);
        assert_eq!(
            found(&src, &dst),
            vec![("arm64.id-register-lowered".into(), Severity::Warning)]
        );
        let v = compare(&src, &dst, &GuestConfig::default());
        assert!(
            !v.reasons
                .iter()
                .any(|r| r.layer == Layer::Arm64 && r.severity == Severity::Blocker),
            "{:?}",
            v.reasons
        );
        // The reverse: the guest booted with SHA3, SHA512... that N1 lacks.
        let back = found(&dst, &src);
        assert_eq!(
            back,
            vec![("arm64.id-register-mismatch".into(), Severity::Blocker)]
        );
        let up = arm("c", "6.12.9-arm64", N1_MIDR, N1_ISAR0);
        assert_eq!(
            found(&dst, &up),
            vec![("arm64.id-register-mismatch".into(), Severity::Blocker)]
        );
        // A destination on 6.6 whose profile records the writable-masks capability accepts it.
        let mut cap = arm("d", "6.6.0-custom", N1_MIDR, V1_ISAR0);
        cap.kvm
            .as_mut()
            .expect("kvm")
            .capabilities
            .insert(CAP_WRITABLE_MASKS.into(), 1);
        assert_eq!(
            found(&src, &cap),
            vec![("arm64.id-register-lowered".into(), Severity::Warning)]
        );
        // Without a kernel release or the capability the destination is presumed invariant.
        let mut unknown = dst.clone();
        unknown.kernel_release = None;
        assert_eq!(
            found(&src, &unknown),
            vec![("arm64.id-register-mismatch".into(), Severity::Blocker)]
        );
        let mut r = Vec::new();
        arm64_rule(
            &src,
            &unknown,
            &GuestConfig::default(),
            &Policy::default(),
            &mut r,
        );
        assert!(r[0].message.contains("does not record"), "{}", r[0].message);
    }

    #[test]
    fn a_midr_difference_blocks_and_names_the_6_15_capability_when_recorded() {
        let src = arm("n1", "6.12.9-arm64", N1_MIDR, N1_ISAR0);
        let mut dst = arm("v1", "6.15.2-arm64", V1_MIDR, V1_ISAR0);
        let r = found(&src, &dst);
        assert_eq!(
            r,
            vec![
                ("arm64.midr-mismatch".into(), Severity::Blocker),
                ("arm64.id-register-lowered".into(), Severity::Warning),
            ]
        );
        let message = |src: &HostProfile, dst: &HostProfile| {
            let mut r = Vec::new();
            arm64_rule(
                src,
                dst,
                &GuestConfig::default(),
                &Policy::default(),
                &mut r,
            );
            r.into_iter()
                .find(|r| r.rule == "arm64.midr-mismatch")
                .expect("midr")
                .message
        };
        assert!(!message(&src, &dst).contains("The destination's KVM has"));
        dst.kvm
            .as_mut()
            .expect("kvm")
            .capabilities
            .insert(CAP_WRITABLE_IMP_ID_REGS.into(), 1);
        let m = message(&src, &dst);
        assert!(
            m.contains("KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (Linux 6.15)"),
            "{m}"
        );
        assert!(m.contains("does not enable it"), "{m}");
        // Still a blocker; an operator group still accepts it.
        assert!(found(&src, &dst).contains(&("arm64.midr-mismatch".into(), Severity::Blocker)));
        let policy = Policy {
            arm_equivalence_groups: vec![EquivalenceGroup {
                name: "neoverse".into(),
                midrs: vec![N1_MIDR, V1_MIDR],
            }],
            ..Policy::default()
        };
        let mut r = Vec::new();
        arm64_rule(&src, &dst, &GuestConfig::default(), &policy, &mut r);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].rule, "arm64.equivalence-group-used");
    }

    #[test]
    fn a_register_6_7_did_not_make_writable_still_blocks() {
        let mut src = arm("a", "6.12.9-arm64", N1_MIDR, N1_ISAR0);
        let mut dst = arm("b", "6.12.9-arm64", N1_MIDR, N1_ISAR0);
        // ID_AA64PFR1_EL1: SSBS=2 on the source, BT=1 and SSBS=2 on the destination.
        src.arm_id_registers.insert("id_aa64pfr1_el1".into(), 0x20);
        dst.arm_id_registers.insert("id_aa64pfr1_el1".into(), 0x21);
        assert_eq!(
            found(&src, &dst),
            vec![("arm64.id-register-mismatch".into(), Severity::Blocker)]
        );
    }

    #[test]
    fn revidr_stays_invariant_on_any_kernel() {
        let src = arm("a", "6.12.9-arm64", N1_MIDR, N1_ISAR0);
        let mut dst = arm("b", "6.12.9-arm64", N1_MIDR, N1_ISAR0);
        dst.arm_id_registers.insert("revidr_el1".into(), 0x1);
        assert_eq!(
            found(&src, &dst),
            vec![("arm64.id-register-mismatch".into(), Severity::Blocker)]
        );
        assert_eq!(layer_facts(&src), Some(true));
        assert_eq!(layer_facts(&arm("c", "6.1.0", N1_MIDR, 0)), Some(false));
    }
}
