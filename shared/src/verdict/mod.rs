//! Directional verdicts: can a guest configured like `guest`, running on `src`, move to `dst`?
//! Every mismatch becomes a [`Reason`]; none is logged and dropped.
//!
//! The vocabulary lives in [`crate::reason`], the inputs in [`crate::policy`], the guest view as
//! QEMU computes it in [`crate::view`], the rules in [`crate::rules`]; this module runs them, and
//! [`facts`] is the graphs' fast path that must agree with it.

mod facts;
#[cfg(test)]
mod tests;

pub use crate::policy::{
    DEFAULT_TSC_TOLERANCE_PPM, GuestConfig, GuestCpu, ManagementStack, Policy,
};
pub use crate::reason::{Evidence, Layer, Reason, Severity, Verdict, feature_evidence};
pub use crate::rules::cpu::{blocking_when_missing, microcode_controls};
pub use crate::view::{
    GuestCpuError, guest_features, guest_view, named_model_features, non_migratable,
    qemu_unmigratable, without_non_migratable,
};
pub use facts::HostFacts;

use crate::profile::HostProfile;

/// Compare a source and destination for a guest configuration under the default [`Policy`].
/// Never fails: what cannot be judged becomes a reason.
pub fn compare(src: &HostProfile, dst: &HostProfile, guest: &GuestConfig) -> Verdict {
    compare_with(src, dst, guest, &Policy::default())
}

/// Whether guests on the named `model` (no features added or removed) can run on `host` as the
/// model defines them and move between hosts like it: the verdict of the host against itself for
/// `-cpu MODEL,enforce` (its QEMU has the model and filters none of its features, nothing
/// non-migratable). One host of a class answers for its class.
pub fn can_run_model(host: &HostProfile, model: &str, policy: &Policy) -> bool {
    let guest = GuestConfig {
        cpu: GuestCpu::Named {
            model: model.to_owned(),
            enable: Vec::new(),
            disable: Vec::new(),
        },
        cpu_props: [("enforce".to_owned(), "on".to_owned())].into(),
        ..GuestConfig::default()
    };
    compare_with(host, host, &guest, policy).compatible
}

/// Compare a source and destination for a guest configuration under a policy: the CPU layer
/// ([`crate::rules::cpu`], with TSC), then every other layer of [`crate::rules`].
pub fn compare_with(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    policy: &Policy,
) -> Verdict {
    finish(src, dst, guest, judge(src, dst, guest, guest, policy))
}

/// Every reason for a guest started on `src` under `guest` and on `dst` under `dst_guest`.
fn judge(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    dst_guest: &GuestConfig,
    policy: &Policy,
) -> Vec<Reason> {
    let mut reasons = Vec::new();
    let policy = effective_policy(guest, policy);
    let cpu = crate::rules::cpu::cpu_rules(src, dst, guest, dst_guest, &policy, &mut reasons);
    crate::rules::apply(
        src,
        dst,
        guest,
        dst_guest,
        &policy,
        cpu.seen.as_ref(),
        &mut reasons,
    );
    reasons
}

/// A fixed frequency in the guest definition counts like the policy's.
pub fn effective_policy<'a>(
    guest: &GuestConfig,
    policy: &'a Policy,
) -> std::borrow::Cow<'a, Policy> {
    if policy.guest_tsc_khz.is_none() && guest.tsc_khz.is_some() {
        std::borrow::Cow::Owned(Policy {
            guest_tsc_khz: guest.tsc_khz,
            ..policy.clone()
        })
    } else {
        std::borrow::Cow::Borrowed(policy)
    }
}

/// [`compare_with`] when the destination will be started from its own definition `dst_guest`:
/// the destination's CPUID is computed from `dst_guest`'s `-cpu`, and the verdict also holds every ABI-stability difference between the two definitions
/// ([`crate::guest::abi::check_abi`]).
pub fn compare_definitions(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    dst_guest: &GuestConfig,
    policy: &Policy,
) -> Verdict {
    let mut reasons = judge(src, dst, guest, dst_guest, policy);
    // Each side's QEMU resolves its definition's machine type (an alias, or its default without
    // one): the ABI check compares what each QEMU actually starts.
    let resolve = |host: &HostProfile, g: &GuestConfig, v| {
        let q = crate::rules::qemu_install(host, v).filter(|q| !q.machines.is_empty());
        let mut g = g.clone();
        if let Some(m) = crate::rules::machine::resolved_machine(q, g.machine.as_deref()) {
            g.machine = Some(m.to_owned());
        }
        g
    };
    let (a, b) = (
        resolve(src, guest, policy.src_qemu),
        resolve(dst, dst_guest, policy.dst_qemu),
    );
    reasons.extend(crate::guest::abi::check_abi(&a, &b));
    finish(src, dst, guest, reasons)
}

fn finish(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    mut reasons: Vec<Reason>,
) -> Verdict {
    reasons.sort_by_key(|a| (a.severity, a.layer));
    Verdict {
        from: src.host_id.clone(),
        to: dst.host_id.clone(),
        guest: guest.clone(),
        compatible: !reasons.iter().any(|r| r.severity == Severity::Blocker),
        reasons,
    }
}
