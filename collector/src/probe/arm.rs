//! aarch64: the ID registers a `-cpu host` guest sees (MIDR_EL1, REVIDR_EL1 and the ID_AA64*
//! registers), read from KVM itself: a scratch VM with one vCPU initialised as QEMU initialises
//! its host probe (QEMU target/arm/kvm.c `kvm_arm_get_host_cpu_features`), then
//! KVM_GET_ONE_REG for each register. KVM sanitises these values (it hides features it does not
//! virtualise), so they are what the guest sees and what QEMU writes back on the destination.
//! When KVM cannot be asked, the host's own values (sysfs and MRS) stand in, with a gap.

use std::collections::BTreeMap;
use std::path::Path;

use shared::profile::ProbeGap;

#[cfg(target_arch = "aarch64")]
use kvm_bindings::{
    KVM_REG_ARM64, KVM_REG_ARM64_SYSREG, KVM_REG_ARM64_SYSREG_CRM_SHIFT,
    KVM_REG_ARM64_SYSREG_CRN_SHIFT, KVM_REG_ARM64_SYSREG_OP0_SHIFT, KVM_REG_ARM64_SYSREG_OP1_SHIFT,
    KVM_REG_ARM64_SYSREG_OP2_SHIFT, KVM_REG_SIZE_U64,
};
// kvm-bindings has these only for arm64; the same values (Linux include/uapi/linux/kvm.h and
// arch/arm64/include/uapi/asm/kvm.h) let the encoding be unit-tested on any host.
#[cfg(not(target_arch = "aarch64"))]
const KVM_REG_ARM64: u64 = 0x6000_0000_0000_0000;
#[cfg(not(target_arch = "aarch64"))]
const KVM_REG_SIZE_U64: u64 = 0x0030_0000_0000_0000;
#[cfg(not(target_arch = "aarch64"))]
const KVM_REG_ARM64_SYSREG: u32 = 0x0013 << 16;
#[cfg(not(target_arch = "aarch64"))]
const KVM_REG_ARM64_SYSREG_OP0_SHIFT: u32 = 14;
#[cfg(not(target_arch = "aarch64"))]
const KVM_REG_ARM64_SYSREG_OP1_SHIFT: u32 = 11;
#[cfg(not(target_arch = "aarch64"))]
const KVM_REG_ARM64_SYSREG_CRN_SHIFT: u32 = 7;
#[cfg(not(target_arch = "aarch64"))]
const KVM_REG_ARM64_SYSREG_CRM_SHIFT: u32 = 3;
#[cfg(not(target_arch = "aarch64"))]
const KVM_REG_ARM64_SYSREG_OP2_SHIFT: u32 = 0;

/// The registers read from KVM, by the profile's key (lower case, as in sysfs) and encoding
/// (op0, op1, CRn, CRm, op2).
pub const ID_REGISTERS: [(&str, [u64; 5]); 11] = [
    ("midr_el1", [3, 0, 0, 0, 0]),
    ("revidr_el1", [3, 0, 0, 0, 6]),
    ("id_aa64pfr0_el1", [3, 0, 0, 4, 0]),
    ("id_aa64pfr1_el1", [3, 0, 0, 4, 1]),
    ("id_aa64dfr0_el1", [3, 0, 0, 5, 0]),
    ("id_aa64isar0_el1", [3, 0, 0, 6, 0]),
    ("id_aa64isar1_el1", [3, 0, 0, 6, 1]),
    ("id_aa64isar2_el1", [3, 0, 0, 6, 2]),
    ("id_aa64mmfr0_el1", [3, 0, 0, 7, 0]),
    ("id_aa64mmfr1_el1", [3, 0, 0, 7, 1]),
    ("id_aa64mmfr2_el1", [3, 0, 0, 7, 2]),
];

/// The KVM_GET_ONE_REG id of a system register: Linux's `ARM64_SYS_REG(op0, op1, crn, crm, op2)`
/// (arch/arm64/include/uapi/asm/kvm.h) for a 64-bit register.
pub fn sys_reg_id([op0, op1, crn, crm, op2]: [u64; 5]) -> u64 {
    KVM_REG_ARM64
        | KVM_REG_SIZE_U64
        | u64::from(KVM_REG_ARM64_SYSREG)
        | op0 << KVM_REG_ARM64_SYSREG_OP0_SHIFT
        | op1 << KVM_REG_ARM64_SYSREG_OP1_SHIFT
        | crn << KVM_REG_ARM64_SYSREG_CRN_SHIFT
        | crm << KVM_REG_ARM64_SYSREG_CRM_SHIFT
        | op2 << KVM_REG_ARM64_SYSREG_OP2_SHIFT
}

/// Where a profile's `arm_id_registers` came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdSource {
    /// KVM_GET_ONE_REG on a vCPU: what a `-cpu host` guest sees.
    Kvm,
    /// /sys/devices/system/cpu/cpu0/regs/identification and MRS: the host's values.
    Host,
}

impl IdSource {
    /// For the profile's `origin.detail`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Kvm => {
                "arm_id_registers: KVM_GET_ONE_REG on a KVM vCPU (what a -cpu host guest sees)"
            }
            Self::Host => "arm_id_registers: the host's sysfs and MRS values, not KVM's (see gaps)",
        }
    }
}

/// What KVM gave (registers and per-register gaps), or why it could not be asked.
pub type KvmRead = Result<(BTreeMap<String, u64>, Vec<ProbeGap>), String>;

/// The guest view's ID registers: KVM's when it answered, else the host's from `sys_cpu` (and
/// MRS on aarch64) with a gap saying so.
pub fn guest_view(
    kvm: KvmRead,
    sys_cpu: &Path,
) -> (BTreeMap<String, u64>, Vec<ProbeGap>, IdSource) {
    match kvm {
        Ok((regs, gaps)) => (regs, gaps, IdSource::Kvm),
        Err(why) => {
            let (regs, mut gaps) = id_registers(sys_cpu);
            gaps.push(ProbeGap {
                what: "cpu.arm_id_registers.source".into(),
                reason: format!(
                    "the vCPU's ID registers could not be read from KVM ({why}): these are the host's values from sysfs and MRS, not KVM's, which hides features it does not give guests"
                ),
            });
            (regs, gaps, IdSource::Host)
        }
    }
}

/// KVM's ID registers for a `-cpu host` vCPU: a scratch VM and vCPU 0, KVM_ARM_PREFERRED_TARGET
/// and KVM_ARM_VCPU_INIT with the features QEMU's host probe asks for when KVM has them (PSCI
/// 0.2, PMUv3, SVE, both pointer-authentication flavours: without them KVM hides their ID
/// register fields), then KVM_GET_ONE_REG per register. `Err` when no register could be read.
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
pub fn kvm_id_registers(kvm: &kvm_ioctls::Kvm) -> KvmRead {
    use kvm_bindings as b;
    let vm = kvm
        .create_vm()
        .map_err(|e| format!("KVM_CREATE_VM failed: {e}"))?;
    let vcpu = vm
        .create_vcpu(0)
        .map_err(|e| format!("KVM_CREATE_VCPU failed: {e}"))?;
    let mut init = b::kvm_vcpu_init::default();
    vm.get_preferred_target(&mut init)
        .map_err(|e| format!("KVM_ARM_PREFERRED_TARGET failed: {e}"))?;
    let has = |cap: u32| kvm.check_extension_raw(libc::c_ulong::from(cap)) > 0;
    let mut features = 0u32;
    if has(b::KVM_CAP_ARM_PSCI_0_2) {
        features |= 1 << b::KVM_ARM_VCPU_PSCI_0_2;
    }
    if has(b::KVM_CAP_ARM_PMU_V3) {
        features |= 1 << b::KVM_ARM_VCPU_PMU_V3;
    }
    if has(b::KVM_CAP_ARM_SVE) {
        features |= 1 << b::KVM_ARM_VCPU_SVE;
    }
    if has(b::KVM_CAP_ARM_PTRAUTH_ADDRESS) && has(b::KVM_CAP_ARM_PTRAUTH_GENERIC) {
        features |= 1 << b::KVM_ARM_VCPU_PTRAUTH_ADDRESS | 1 << b::KVM_ARM_VCPU_PTRAUTH_GENERIC;
    }
    init.features[0] = features;
    vcpu.vcpu_init(&init)
        .map_err(|e| format!("KVM_ARM_VCPU_INIT failed: {e}"))?;
    let mut regs = BTreeMap::new();
    let mut gaps = Vec::new();
    for (name, encoding) in ID_REGISTERS {
        let mut buf = [0u8; 8];
        match vcpu.get_one_reg(sys_reg_id(encoding), &mut buf) {
            Ok(_) => {
                regs.insert(name.to_owned(), u64::from_ne_bytes(buf));
            }
            Err(e) => gaps.push(ProbeGap {
                what: format!("cpu.arm_id_registers.{name}"),
                reason: format!(
                    "KVM_GET_ONE_REG of {} failed: {e}",
                    name.to_ascii_uppercase()
                ),
            }),
        }
    }
    if regs.is_empty() {
        return Err("KVM_GET_ONE_REG gave none of the ID registers".into());
    }
    Ok((regs, gaps))
}

/// The host's registers: name (lower case, as in sysfs) -> value, of CPU 0, from
/// /sys/devices/system/cpu/cpu*/regs/identification (and MRS on aarch64).
pub fn id_registers(sys_cpu: &Path) -> (BTreeMap<String, u64>, Vec<ProbeGap>) {
    let mut regs = BTreeMap::new();
    let mut gaps = Vec::new();
    let ident = sys_cpu.join("cpu0/regs/identification");
    match std::fs::read_dir(&ident) {
        Ok(rd) => {
            for e in rd.filter_map(Result::ok) {
                let name = e.file_name().to_string_lossy().into_owned();
                if let Some(v) = std::fs::read_to_string(e.path())
                    .ok()
                    .and_then(|s| parse_u64(&s))
                {
                    regs.insert(name, v);
                }
            }
        }
        Err(e) => gaps.push(ProbeGap {
            what: "cpu.arm_id_registers".into(),
            reason: format!("cannot read {}: {e}", ident.display()),
        }),
    }
    // ID_AA64* registers are exposed by the kernel to user space through MRS emulation; the
    // sysfs folder holds MIDR_EL1 and REVIDR_EL1 only.
    #[cfg(target_arch = "aarch64")]
    for (name, v) in mrs_id_registers() {
        regs.entry(name.to_owned()).or_insert(v);
    }
    (regs, gaps)
}

pub fn parse_u64(s: &str) -> Option<u64> {
    let s = s.trim();
    u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}

/// ID_AA64* through MRS, which Linux emulates for EL0 (Documentation/arch/arm64/cpu-feature-registers.rst).
#[cfg(target_arch = "aarch64")]
fn mrs_id_registers() -> Vec<(&'static str, u64)> {
    macro_rules! mrs {
        ($reg:literal) => {{
            let v: u64;
            // SAFETY: the kernel traps and emulates EL0 reads of these ID registers (HWCAP_CPUID).
            #[expect(unsafe_code, reason = "reading an ID register needs inline asm")]
            unsafe {
                std::arch::asm!(concat!("mrs {}, ", $reg), out(reg) v, options(nomem, nostack))
            };
            v
        }};
    }
    vec![
        ("id_aa64isar0_el1", mrs!("ID_AA64ISAR0_EL1")),
        ("id_aa64isar1_el1", mrs!("ID_AA64ISAR1_EL1")),
        ("id_aa64pfr0_el1", mrs!("ID_AA64PFR0_EL1")),
        ("id_aa64pfr1_el1", mrs!("ID_AA64PFR1_EL1")),
        ("id_aa64mmfr0_el1", mrs!("ID_AA64MMFR0_EL1")),
        ("id_aa64mmfr1_el1", mrs!("ID_AA64MMFR1_EL1")),
        ("id_aa64mmfr2_el1", mrs!("ID_AA64MMFR2_EL1")),
        ("id_aa64dfr0_el1", mrs!("ID_AA64DFR0_EL1")),
        ("id_aa64zfr0_el1", mrs!("S3_0_C0_C4_4")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sysfs() -> tempfile::TempDir {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("cpu0/regs/identification");
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("midr_el1"), "0x00000000413fd0c1\n").expect("write");
        std::fs::write(d.join("revidr_el1"), "0x0000000000000000\n").expect("write");
        t
    }

    #[test]
    fn reads_a_sysfs_identification_folder() {
        let t = sysfs();
        let (r, gaps) = id_registers(t.path());
        assert!(gaps.is_empty());
        assert_eq!(r.get("midr_el1"), Some(&0x413f_d0c1));
        assert_eq!(r.get("revidr_el1"), Some(&0));
        let (_, gaps) = id_registers(&t.path().join("missing"));
        assert_eq!(gaps.len(), 1);
    }

    #[test]
    fn register_ids_follow_linux_arm64_sys_reg() {
        // MIDR_EL1 and ID_AA64PFR0_EL1 as Linux's ARM64_SYS_REG() gives them.
        assert_eq!(sys_reg_id(ID_REGISTERS[0].1), 0x6030_0000_0013_c000);
        assert_eq!(sys_reg_id([3, 0, 0, 4, 0]), 0x6030_0000_0013_c020);
        assert_eq!(sys_reg_id([3, 0, 0, 7, 2]), 0x6030_0000_0013_c03a);
        let mut names: Vec<&str> = ID_REGISTERS.iter().map(|r| r.0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ID_REGISTERS.len());
    }

    #[test]
    fn kvm_values_win_and_the_host_fallback_says_so() {
        let t = sysfs();
        let kvm = BTreeMap::from([
            ("midr_el1".to_owned(), 0x413f_d0c1),
            ("id_aa64isar0_el1".to_owned(), 0x0000_1000_1021_1120),
        ]);
        let (r, gaps, source) = guest_view(Ok((kvm.clone(), Vec::new())), t.path());
        assert_eq!((r, gaps.len(), source), (kvm, 0, IdSource::Kvm));
        let (r, gaps, source) = guest_view(Err("cannot open /dev/kvm".into()), t.path());
        assert_eq!(source, IdSource::Host);
        assert!(IdSource::Host.describe().contains("not KVM's"));
        assert!(IdSource::Kvm.describe().contains("KVM_GET_ONE_REG"));
        assert_eq!(r.get("midr_el1"), Some(&0x413f_d0c1));
        assert!(
            gaps.iter()
                .any(|g| g.what == "cpu.arm_id_registers.source" && g.reason.contains("not KVM's")),
            "{gaps:?}"
        );
    }
}
