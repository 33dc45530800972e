//! aarch64: the ID registers KVM compares for `-cpu host` migration (MIDR_EL1, REVIDR_EL1 and the
//! ID_AA64* registers), from /sys/devices/system/cpu/cpu*/regs/identification.

use std::collections::BTreeMap;
use std::path::Path;

use shared::profile::ProbeGap;

/// Register name (lower case, as in sysfs) -> value, of CPU 0.
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

    #[test]
    fn reads_a_sysfs_identification_folder() {
        let t = tempfile::tempdir().expect("tempdir");
        let d = t.path().join("cpu0/regs/identification");
        std::fs::create_dir_all(&d).expect("mkdir");
        std::fs::write(d.join("midr_el1"), "0x00000000413fd0c1\n").expect("write");
        std::fs::write(d.join("revidr_el1"), "0x0000000000000000\n").expect("write");
        let (r, gaps) = id_registers(t.path());
        assert!(gaps.is_empty());
        assert_eq!(r.get("midr_el1"), Some(&0x413f_d0c1));
        assert_eq!(r.get("revidr_el1"), Some(&0));
        let (_, gaps) = id_registers(&t.path().join("missing"));
        assert_eq!(gaps.len(), 1);
    }
}
