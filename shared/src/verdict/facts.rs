//! The fast path of graphs: what a verdict needs from one host, reduced to bitsets and numbers.
//!
//! Architecture Invariant: [`HostFacts::edge`] (with [`crate::rules::layers_block`] for the
//! layers beyond the CPU) gives exactly `compare_with(..).compatible`; the property test
//! `graph_edges_equal_pair_verdicts` in shared/tests/properties.rs holds the two together.

use crate::featureset::FeatureSet;
use crate::policy::{GuestConfig, Policy};
use crate::profile::{Arch, HostProfile};
use crate::rules::cpu::{
    blocking_seen, enforce_refuses, host_cpu_fails, named_model_blocked_by_qemu, sees_invtsc,
};
use crate::view::{GuestCpuError, enforces, view};

/// What [`super::compare_with`] needs from one host for its CPU, TSC and KVM MSR rules, so that
/// fleets of thousands of hosts can be judged pair by pair without building reasons.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    arch: Arch,
    vendor: u64,
    has_kvm: bool,
    /// As a destination: what the guest sees when started here with the destination's QEMU
    /// (`None`: no guest view, or the guest cpu is unresolvable).
    dst_seen: Option<FeatureSet>,
    /// The part of `seen` whose loss on a destination blocks this guest.
    seen_blocking: Option<FeatureSet>,
    /// A guest started here cannot move anywhere (it cannot start here, it sees invtsc without a
    /// fixed frequency, or its cpu cannot be resolved).
    source_blocked: bool,
    invtsc_seen: bool,
    /// The guest runs with a fixed tsc-frequency (the policy's or its own).
    fixed_tsc: bool,
    /// The TSC frequency the guest runs at: the policy's fixed frequency, else the host's.
    guest_tsc_khz: Option<u64>,
    tsc_khz: Option<u64>,
    tsc_scaling: Option<bool>,
    /// As a destination: its QEMU release (the policy's, else the oldest probed) lacks the
    /// guest's named model, or could not start its `-cpu host`.
    qemu_blocked: bool,
    /// As a source: the KVM MSRs tied to features the guest sees that this host's KVM saves
    /// ([`crate::rules::kernel::tied_msrs`] bits).
    seen_msrs: u32,
    /// As a destination: the tied MSRs its KVM lists, `None` when it lists none (not checked).
    listed_msrs: Option<u32>,
}

fn vendor_hash(v: &str) -> u64 {
    v.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
    })
}

impl HostFacts {
    pub fn new(p: &HostProfile, guest: &GuestConfig, policy: &Policy) -> Self {
        let policy = super::effective_policy(guest, policy);
        let src_qemu = crate::rules::qemu_version(p, policy.src_qemu);
        let v = view(p, guest, src_qemu);
        let mut source_blocked = matches!(
            v,
            Err(GuestCpuError::UnknownModel(_) | GuestCpuError::UnknownFeature(_))
        );
        let mut invtsc_seen = false;
        if let Ok(v) = &v {
            invtsc_seen = sees_invtsc(&v.seen);
            source_blocked |= invtsc_seen && policy.guest_tsc_khz.is_none();
            source_blocked |= enforce_refuses(p, guest, v, src_qemu);
        }
        source_blocked |= host_cpu_fails(p, guest, policy.src_qemu).is_some();
        let seen = v.ok().map(|v| v.seen);
        let dst_qemu = crate::rules::qemu_version(p, policy.dst_qemu);
        let dst_seen = if dst_qemu == src_qemu {
            seen
        } else {
            view(p, guest, dst_qemu).ok().map(|v| v.seen)
        };
        let (tied_listed, has_list) = crate::rules::kernel::tied_msrs(p);
        let seen_msrs = seen.map_or(0, |s| crate::rules::kernel::tied_msrs_seen(tied_listed, &s));
        Self {
            arch: p.cpu.arch,
            vendor: vendor_hash(&p.cpu.vendor),
            has_kvm: p.kvm.is_some(),
            seen_blocking: seen.map(|s| blocking_for_guest(&s, guest, &policy)),
            dst_seen,
            source_blocked,
            invtsc_seen,
            fixed_tsc: policy.guest_tsc_khz.is_some(),
            guest_tsc_khz: policy.guest_tsc_khz.or(p.cpu.tsc_khz),
            tsc_khz: p.cpu.tsc_khz,
            tsc_scaling: p.kvm.as_ref().and_then(|k| k.tsc_scaling),
            qemu_blocked: named_model_blocked_by_qemu(guest, dst_qemu)
                || host_cpu_fails(p, guest, policy.dst_qemu).is_some(),
            seen_msrs,
            listed_msrs: has_list.then_some(tied_listed),
        }
    }

    /// Can a guest on `self` move to `dst` without a blocker in the CPU, TSC and KVM MSR rules?
    /// `named` and `policy` must be those the facts were built with; the layers beyond those are
    /// [`crate::rules::layers_block`].
    pub fn edge(&self, dst: &Self, named: bool, policy: &Policy) -> bool {
        if self.source_blocked || dst.qemu_blocked || self.arch != dst.arch {
            return false;
        }
        if self.vendor != dst.vendor && !(policy.allow_vendor_change && named) {
            return false;
        }
        if !self.has_kvm || !dst.has_kvm {
            return false;
        }
        let (Some(blocking), Some(dst_seen)) = (&self.seen_blocking, &dst.dst_seen) else {
            return false;
        };
        // The destination computes the view afresh from the same -cpu: nothing blocking lost.
        if !blocking.is_subset(dst_seen) {
            return false;
        }
        if let Some(listed) = dst.listed_msrs
            && self.seen_msrs & !listed != 0
        {
            return false;
        }
        !crate::rules::tsc::tsc_blocks(
            self.fixed_tsc,
            self.invtsc_seen,
            self.guest_tsc_khz,
            dst.tsc_khz,
            dst.tsc_scaling,
            policy.tsc_tolerance_ppm,
        )
    }
}

/// The features of `seen` whose loss blocks: every one with `enforce` (but hypervisor, which
/// QEMU always sets), else those of the management stack's rules
/// ([`crate::rules::cpu::blocking_for`]).
fn blocking_for_guest(seen: &FeatureSet, guest: &GuestConfig, policy: &Policy) -> FeatureSet {
    let mut s = if enforces(guest) {
        *seen
    } else {
        blocking_seen(seen, guest, policy)
    };
    if let Some(h) = crate::view::id_of("hypervisor") {
        s.remove(h);
    }
    s
}
