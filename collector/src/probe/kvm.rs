//! What KVM on this host can give a guest, through kvm-ioctls on /dev/kvm. The CPUID and MSR
//! probe is x86_64; [`capabilities`] serves aarch64 too (`probe/arm.rs` reads its guest view).

use std::collections::BTreeMap;

#[cfg(target_arch = "x86_64")]
use kvm_bindings::{KVM_MAX_CPUID_ENTRIES, Msrs, kvm_msr_entry};
#[cfg(target_arch = "x86_64")]
use kvm_ioctls::Cap;
use kvm_ioctls::Kvm;
use shared::profile::ProbeGap;
#[cfg(target_arch = "x86_64")]
use shared::profile::{CpuidEntry, GuestViewSource, KvmInfo, MsrValue};

/// The KVM part of a profile, and what could not be read.
#[cfg(target_arch = "x86_64")]
pub struct KvmProbe {
    pub info: Option<KvmInfo>,
    pub tsc_khz: Option<u64>,
    pub gaps: Vec<ProbeGap>,
}

pub(crate) fn gap(what: &str, reason: impl std::fmt::Display) -> ProbeGap {
    ProbeGap {
        what: what.to_owned(),
        reason: reason.to_string(),
    }
}

/// Read one feature MSR on the system fd (KVM_GET_MSRS); `None` when KVM refuses it.
#[cfg(target_arch = "x86_64")]
fn read_feature_msr(kvm: &Kvm, index: u32) -> Option<u64> {
    let mut msrs = Msrs::from_entries(&[kvm_msr_entry {
        index,
        ..Default::default()
    }])
    .ok()?;
    match kvm.get_msrs(&mut msrs) {
        Ok(1) => msrs.as_slice().first().map(|e| e.data),
        _ => None,
    }
}

/// Open /dev/kvm, or the gap saying why not.
pub(crate) fn open() -> Result<Kvm, ProbeGap> {
    Kvm::new().map_err(|e| {
        let hint = if e.errno() == libc::EACCES {
            " (run as root or add the user to the kvm group)"
        } else {
            ""
        };
        gap("kvm", format!("cannot open /dev/kvm: {e}{hint}"))
    })
}

#[cfg(target_arch = "x86_64")]
pub fn probe() -> KvmProbe {
    let mut gaps = Vec::new();
    let kvm = match open() {
        Ok(k) => k,
        Err(g) => {
            return KvmProbe {
                info: None,
                tsc_khz: None,
                gaps: vec![g],
            };
        }
    };
    // KVM fills APIC-id fields from whichever CPU ran the ioctl: cleared, so that two probes
    // of one host give the same profile (QEMU sets a guest's APIC ids itself).
    let supported_cpuid = match kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES) {
        Ok(c) => entries(&c)
            .iter()
            .map(shared::import::topology_masked)
            .collect(),
        Err(e) => {
            gaps.push(gap(
                "kvm.supported_cpuid",
                format!("KVM_GET_SUPPORTED_CPUID failed: {e}"),
            ));
            Vec::new()
        }
    };
    let emulated_cpuid = match kvm.get_emulated_cpuid(KVM_MAX_CPUID_ENTRIES) {
        Ok(c) => entries(&c),
        Err(e) => {
            gaps.push(gap(
                "kvm.emulated_cpuid",
                format!("KVM_GET_EMULATED_CPUID failed: {e}"),
            ));
            Vec::new()
        }
    };
    let msr_index_list = match kvm.get_msr_index_list() {
        Ok(l) => l.as_slice().to_vec(),
        Err(e) => {
            gaps.push(gap(
                "kvm.msr_index_list",
                format!("KVM_GET_MSR_INDEX_LIST failed: {e}"),
            ));
            Vec::new()
        }
    };
    let mut feature_msrs = Vec::new();
    match kvm.get_msr_feature_index_list() {
        Ok(l) => {
            for &index in l.as_slice() {
                match read_feature_msr(&kvm, index) {
                    Some(value) => feature_msrs.push(MsrValue { index, value }),
                    None => gaps.push(gap(
                        &format!("kvm.feature_msr.{index:#010x}"),
                        format!(
                            "KVM_GET_MSRS on the system fd refused feature MSR {index:#x}{}: its value is unknown, features in it are not counted",
                            if index == 0x10a { " (IA32_ARCH_CAPABILITIES)" } else { "" }
                        ),
                    )),
                }
            }
        }
        Err(e) => gaps.push(gap(
            "kvm.feature_msrs",
            format!("KVM_GET_MSR_FEATURE_INDEX_LIST failed: {e}"),
        )),
    }
    // KVM_GET_TSC_KHZ needs a vCPU.
    let tsc_khz = kvm
        .create_vm()
        .and_then(|vm| vm.create_vcpu(0))
        .and_then(|vcpu| vcpu.get_tsc_khz())
        .map(u64::from)
        .map_err(|e| gaps.push(gap("tsc_khz", format!("KVM_GET_TSC_KHZ failed: {e}"))))
        .ok();
    // KVM_GET_MSRS gives raw VMX capability MSRs; QEMU decodes the allowed-1 half of the controls.
    let guest_features = shared::decode::features(
        &supported_cpuid,
        &shared::decode::msr_feature_words(&feature_msrs),
    );
    KvmProbe {
        info: Some(KvmInfo {
            api_version: Some(kvm.get_api_version()),
            guest_features,
            guest_features_source: GuestViewSource::KvmSupportedCpuid,
            supported_cpuid,
            msr_index_list,
            feature_msrs,
            tsc_scaling: Some(kvm.check_extension(Cap::TscControl)),
            emulated_cpuid,
            capabilities: capabilities(&kvm),
        }),
        tsc_khz,
        gaps,
    }
}

#[cfg(target_arch = "x86_64")]
fn entries(c: &kvm_bindings::CpuId) -> Vec<CpuidEntry> {
    c.as_slice()
        .iter()
        .map(|e| CpuidEntry {
            leaf: e.function,
            subleaf: e.index,
            eax: e.eax,
            ebx: e.ebx,
            ecx: e.ecx,
            edx: e.edx,
        })
        .collect()
}

/// KVM_CHECK_EXTENSION for the capabilities that decide what state a guest can carry across
/// (TSC, XSAVE, nested state, SMM, PMU...; on aarch64 writable ID registers, SVE, MTE...), by the
/// kernel's name without `KVM_CAP_`, lower case.
pub(crate) fn capabilities(kvm: &Kvm) -> BTreeMap<String, i64> {
    ARCH_CAPABILITIES
        .iter()
        .map(|&(name, cap)| {
            (
                name.to_owned(),
                i64::from(kvm.check_extension_raw(libc::c_ulong::from(cap))),
            )
        })
        .collect()
}

#[cfg(target_arch = "x86_64")]
const ARCH_CAPABILITIES: &[(&str, u32)] = {
    use kvm_bindings as b;
    &[
        ("tsc_control", b::KVM_CAP_TSC_CONTROL),
        ("get_tsc_khz", b::KVM_CAP_GET_TSC_KHZ),
        ("tsc_deadline_timer", b::KVM_CAP_TSC_DEADLINE_TIMER),
        ("kvmclock_ctrl", b::KVM_CAP_KVMCLOCK_CTRL),
        ("adjust_clock", b::KVM_CAP_ADJUST_CLOCK),
        ("xsave", b::KVM_CAP_XSAVE),
        ("xsave2", b::KVM_CAP_XSAVE2),
        ("xcrs", b::KVM_CAP_XCRS),
        ("nested_state", b::KVM_CAP_NESTED_STATE),
        ("x86_smm", b::KVM_CAP_X86_SMM),
        ("exception_payload", b::KVM_CAP_EXCEPTION_PAYLOAD),
        ("vcpu_events", b::KVM_CAP_VCPU_EVENTS),
        ("debugregs", b::KVM_CAP_DEBUGREGS),
        ("hyperv", b::KVM_CAP_HYPERV),
        ("hyperv_time", b::KVM_CAP_HYPERV_TIME),
        ("x2apic_api", b::KVM_CAP_X2APIC_API),
        ("pmu_capability", b::KVM_CAP_PMU_CAPABILITY),
        ("get_msr_features", b::KVM_CAP_GET_MSR_FEATURES),
        ("x86_user_space_msr", b::KVM_CAP_X86_USER_SPACE_MSR),
        (
            "manual_dirty_log_protect2",
            b::KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
        ),
        ("dirty_log_ring", b::KVM_CAP_DIRTY_LOG_RING),
        ("max_vcpus", b::KVM_CAP_MAX_VCPUS),
        ("nr_memslots", b::KVM_CAP_NR_MEMSLOTS),
    ]
};

/// aarch64: KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES (230, Linux 6.7: KVM_ARM_GET_REG_WRITABLE_MASKS,
/// the feature ID registers are writable) and KVM_CAP_ARM_WRITABLE_IMP_ID_REGS (239, Linux 6.15:
/// MIDR_EL1/REVIDR_EL1/AIDR_EL1 writable once the VMM enables it), both from kvm-bindings 0.14
/// (Linux include/uapi/linux/kvm.h), read by `shared::rules::arm64`; then what else a guest
/// carries across.
#[cfg(target_arch = "aarch64")]
const ARCH_CAPABILITIES: &[(&str, u32)] = {
    use kvm_bindings as b;
    &[
        (
            shared::rules::arm64::CAP_WRITABLE_MASKS,
            b::KVM_CAP_ARM_SUPPORTED_REG_MASK_RANGES,
        ),
        (
            shared::rules::arm64::CAP_WRITABLE_IMP_ID_REGS,
            b::KVM_CAP_ARM_WRITABLE_IMP_ID_REGS,
        ),
        ("arm_el1_32bit", b::KVM_CAP_ARM_EL1_32BIT),
        ("arm_pmu_v3", b::KVM_CAP_ARM_PMU_V3),
        ("arm_sve", b::KVM_CAP_ARM_SVE),
        ("arm_ptrauth_address", b::KVM_CAP_ARM_PTRAUTH_ADDRESS),
        ("arm_ptrauth_generic", b::KVM_CAP_ARM_PTRAUTH_GENERIC),
        ("arm_mte", b::KVM_CAP_ARM_MTE),
        ("arm_vm_ipa_size", b::KVM_CAP_ARM_VM_IPA_SIZE),
        ("counter_offset", b::KVM_CAP_COUNTER_OFFSET),
        ("steal_time", b::KVM_CAP_STEAL_TIME),
        ("vcpu_events", b::KVM_CAP_VCPU_EVENTS),
        ("max_vcpus", b::KVM_CAP_MAX_VCPUS),
        ("nr_memslots", b::KVM_CAP_NR_MEMSLOTS),
    ]
};
