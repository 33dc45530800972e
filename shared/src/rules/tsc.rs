//! The TSC layer.
//!
//! A guest that runs with a fixed `tsc-frequency` (QEMU `-cpu ...,tsc-frequency=HZ`, libvirt
//! `<timer name='tsc' frequency=...>`) has QEMU set that frequency on the destination with
//! KVM_SET_TSC_KHZ (QEMU target/i386/kvm/kvm.c `kvm_arch_set_tsc_khz`); Linux accepts it when it
//! is within `tsc_tolerance_ppm` (250) of the host's, or when the host scales TSC (Linux
//! arch/x86/kvm/x86.c `kvm_set_tsc_khz`), and QEMU fails to start the vCPU otherwise. A guest
//! that sees an invariant TSC without a fixed frequency cannot migrate at all (the CPU layer's
//! `cpu.invtsc-without-tsc-frequency`); one with `migratable=off` that gets through keeps its
//! boot-time calibration.

use super::{reason, values};
use crate::featureset::FeatureSet;
use crate::policy::Policy;
use crate::profile::HostProfile;
use crate::reason::{Layer, Reason, Severity};

/// The ppm difference between the guest's TSC frequency and `dst`'s, when both are known.
pub fn ppm(guest_khz: Option<u64>, dst_khz: Option<u64>) -> Option<u64> {
    match (guest_khz, dst_khz) {
        (Some(a), Some(b)) if a > 0 => Some(a.abs_diff(b).saturating_mul(1_000_000) / a),
        _ => None,
    }
}

/// Whether the TSC layer blocks: the guest's frequency is fixed, or it sees an invariant TSC,
/// and the destination is further than the tolerance without TSC scaling.
pub fn tsc_blocks(
    fixed: bool,
    invtsc: bool,
    guest_khz: Option<u64>,
    dst_khz: Option<u64>,
    dst_scaling: Option<bool>,
    tolerance_ppm: u32,
) -> bool {
    (fixed || invtsc)
        && dst_scaling != Some(true)
        && ppm(guest_khz, dst_khz).is_some_and(|p| p > u64::from(tolerance_ppm))
}

/// The TSC rule: see the module documentation.
pub fn tsc_rule(
    src: &HostProfile,
    dst: &HostProfile,
    seen: &FeatureSet,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    let invtsc = super::cpu::sees_invtsc(seen);
    let fixed = policy.guest_tsc_khz.is_some();
    let guest_khz = policy.guest_tsc_khz.or(src.cpu.tsc_khz);
    let scaling = dst.kvm.as_ref().and_then(|k| k.tsc_scaling);
    let show = |k: Option<u64>| k.map_or_else(|| "unknown".into(), |k| format!("{k} kHz"));
    let evidence = values(show(guest_khz), show(dst.cpu.tsc_khz));
    let p = ppm(guest_khz, dst.cpu.tsc_khz);
    let tolerance = u64::from(policy.tsc_tolerance_ppm);
    let what = if fixed {
        "the guest runs with a fixed tsc-frequency"
    } else {
        "the guest sees an invariant TSC"
    };
    let (severity, rule, message) = match (fixed || invtsc, p, scaling) {
        (_, Some(p), _) if p <= tolerance => return,
        (true, _, Some(true)) => (
            Severity::Info,
            "tsc.scaled",
            format!(
                "{what} and the destination scales the guest's TSC (KVM_CAP_TSC_CONTROL): the frequency is kept"
            ),
        ),
        (true, Some(p), _) => (
            Severity::Blocker,
            "tsc.frequency-mismatch",
            format!(
                "{what} and the destination's TSC differs by {p} ppm (more than {tolerance}) without TSC scaling: KVM_SET_TSC_KHZ fails there and QEMU cannot start the vCPU (Linux kvm_set_tsc_khz)"
            ),
        ),
        (true, None, _) => (
            Severity::Warning,
            "tsc.frequency-unknown",
            format!(
                "{what} but a TSC frequency is unknown, so the {tolerance} ppm rule cannot be checked"
            ),
        ),
        (false, Some(p), _) => (
            Severity::Info,
            "tsc.frequency-differs",
            format!("the TSC frequencies differ by {p} ppm: guest timers calibrated at boot drift"),
        ),
        (false, None, _) => return,
    };
    reasons.push(reason(Layer::Tsc, severity, rule, message, evidence));
}
