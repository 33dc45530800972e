//! The CPU layer: architecture, vendor, the guest view on each side, non-migratable features
//! and named models in QEMU.
//!
//! CPUID is not part of QEMU's migration stream: the destination's QEMU computes the guest's
//! CPUID afresh from the same `-cpu` (QEMU target/i386/cpu.c `x86_cpu_realizefn`), so what the
//! guest loses there it loses under a running kernel, and what it gains appears under it.

use super::{reason, values};
use crate::catalog::{FeatureClass, catalog};
use crate::featureset::FeatureSet;
use crate::models::{QemuSupport, QemuVersion, models};
use crate::policy::{GuestConfig, GuestCpu, ManagementStack, Policy};
use crate::profile::HostProfile;
use crate::reason::{Evidence, Layer, Reason, Severity, feature_evidence};
use crate::view::{
    GuestCpuError, View, enforces, id_of, keeps_unmigratable, non_migratable, qemu_unmigratable,
    supported, view,
};

/// What the CPU rules computed, for the layers after them.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuOutcome {
    /// What the guest sees on the source, when it could be computed.
    pub seen: Option<FeatureSet>,
}

/// The microcode-class features that block when missing ([`crate::catalog::MICROCODE_CONTROLS`]):
/// controls the guest writes (IA32_SPEC_CTRL, IA32_PRED_CMD, IA32_FLUSH_CMD, VIRT_SPEC_CTRL).
pub fn microcode_controls() -> FeatureSet {
    static SET: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    *SET.get_or_init(|| {
        FeatureSet::from_names(crate::catalog::MICROCODE_CONTROLS.iter().copied()).0
    })
}

/// Features whose loss on the destination blocks under QEMU's own rules: fixed-class ones (but
/// `hypervisor`, which QEMU sets for every guest) and the microcode-class controls.
pub fn blocking_when_missing() -> FeatureSet {
    static SET: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    *SET.get_or_init(|| {
        let mut s = microcode_controls();
        for f in catalog().features() {
            if f.class == FeatureClass::Fixed && f.name != "hypervisor" {
                s.insert(f.id);
            }
        }
        s
    })
}

/// Features whose loss blocks for this guest under its management stack: under libvirt every
/// feature of the definition ([`ManagementStack::Libvirt`]) for a guest libvirt checks (custom
/// models and host-model; libvirt does not check host-passthrough's features), else
/// [`blocking_when_missing`].
pub fn blocking_for(guest: &GuestConfig, policy: &Policy) -> FeatureSet {
    static ALL: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    if libvirt_checks(guest, policy) {
        *ALL.get_or_init(|| {
            let mut all = FeatureSet::EMPTY;
            for f in catalog().features() {
                if f.name != "hypervisor" {
                    all.insert(f.id);
                }
            }
            all
        })
    } else {
        blocking_when_missing()
    }
}

fn libvirt_checks(guest: &GuestConfig, policy: &Policy) -> bool {
    policy.stack_for(guest) == ManagementStack::Libvirt
        && !guest.libvirt_check_none
        && matches!(guest.cpu, GuestCpu::Named { .. } | GuestCpu::HostModel)
}

/// Every CPU rule: arch, vendor, the guest view on each side (the destination's from
/// `dst_guest`'s `-cpu`, usually the same as `guest`), what the mode leaves out, non-migratable
/// features, TSC and named models in QEMU.
pub fn cpu_rules(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    dst_guest: &GuestConfig,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) -> CpuOutcome {
    arch_rule(src, dst, reasons);
    vendor_rule(src, dst, guest, policy, reasons);
    for (side, host) in [("source", src), ("destination", dst)] {
        if host.kvm.is_none() {
            reasons.push(reason(
                Layer::Profile,
                Severity::Blocker,
                "profile.no-guest-view",
                format!(
                    "the {side} host {} has no KVM guest view in its profile, so cpu features cannot be judged: run fleetcompat-collector probe on that host where /dev/kvm is readable, or import its QEMU data (libvirt QMP json, virsh domcapabilities)",
                    host.host_id
                ),
                Evidence::None,
            ));
        }
    }
    let src_qemu = crate::rules::qemu_version(src, policy.src_qemu);
    let dst_qemu = crate::rules::qemu_version(dst, policy.dst_qemu);
    let on_src = match view(src, guest, src_qemu) {
        Ok(v) => Some(v),
        Err(GuestCpuError::NoGuestView) => None,
        Err(e) => {
            reasons.push(reason(
                Layer::CpuFeatures,
                Severity::Blocker,
                "cpu.invalid-guest-cpu",
                format!("the guest cpu cannot be resolved: {e}"),
                Evidence::None,
            ));
            return CpuOutcome::default();
        }
    };
    if let GuestCpu::Named { model, .. } = &guest.cpu {
        qemu_model_rule(model, src_qemu, dst_qemu, reasons);
    }
    let Some(on_src) = on_src else {
        return CpuOutcome::default();
    };
    estimated_rule(src, dst, reasons);
    source_start_rule(src, guest, &on_src, policy, reasons);
    left_out_rule(src, guest, &on_src.seen, src_qemu, reasons);
    let seen = on_src.seen;
    non_migratable_rule(&seen, guest, policy, reasons);
    if let Ok(on_dst) = view(dst, dst_guest, dst_qemu) {
        destination_rule(guest, policy, &seen, &on_dst, reasons);
    }
    // A destination whose QEMU cannot start the guest's `-cpu host` cannot receive it.
    if let Some((version, error)) = host_cpu_fails(dst, dst_guest, policy.dst_qemu) {
        reasons.push(reason(
            Layer::CpuFeatures,
            Severity::Blocker,
            "cpu.host-cpu-cannot-start-on-destination",
            format!(
                "QEMU {version} on the destination could not start -cpu host when the collector tried it: {error}; it cannot receive this guest"
            ),
            values(String::new(), error),
        ));
    }
    super::tsc::tsc_rule(src, dst, &seen, policy, reasons);
    CpuOutcome { seen: Some(seen) }
}

fn arch_rule(src: &HostProfile, dst: &HostProfile, reasons: &mut Vec<Reason>) {
    if src.cpu.arch != dst.cpu.arch {
        reasons.push(reason(
            Layer::Profile,
            Severity::Blocker,
            "arch.mismatch",
            format!(
                "the source is {:?} and the destination {:?}: a guest cannot change architecture",
                src.cpu.arch, dst.cpu.arch
            ),
            values(format!("{:?}", src.cpu.arch), format!("{:?}", dst.cpu.arch)),
        ));
    }
}

/// Vendor: a guest that detected one vendor at boot keeps its vendor-specific code paths; a
/// blocker unless the policy allows it, and then only for a named model (whose features both
/// hosts must offer, checked by the destination rule).
fn vendor_rule(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    if src.cpu.vendor.eq_ignore_ascii_case(&dst.cpu.vendor) {
        return;
    }
    let named = matches!(guest.cpu, GuestCpu::Named { .. });
    let (severity, rule, why) = match (policy.allow_vendor_change, named) {
        (true, true) => (
            Severity::Warning,
            "vendor.change-allowed",
            "allowed by policy for a named model; the guest keeps the model's vendor string but runs on another vendor's silicon",
        ),
        (true, false) => (
            Severity::Blocker,
            "vendor.change",
            "the policy allows vendor changes only for guests on a named model, and this guest sees the host cpu",
        ),
        (false, _) => (
            Severity::Blocker,
            "vendor.change",
            "a guest that detected one vendor at boot keeps its vendor-specific code paths",
        ),
    };
    reasons.push(reason(
        Layer::Vendor,
        severity,
        rule,
        format!(
            "cpu vendor changes from {} to {}: {why}",
            src.cpu.vendor, dst.cpu.vendor
        ),
        values(&src.cpu.vendor, &dst.cpu.vendor),
    ));
}

/// A guest view estimated from a CPUID dump is not proof: said once per side it concerns.
fn estimated_rule(src: &HostProfile, dst: &HostProfile, reasons: &mut Vec<Reason>) {
    for (side, host) in [("source", src), ("destination", dst)] {
        let estimated = host.kvm.as_ref().is_some_and(|k| {
            k.guest_features_source == crate::profile::GuestViewSource::EstimatedFromCpuid
        });
        if estimated {
            reasons.push(reason(
                Layer::Profile,
                Severity::Info,
                "profile.estimated-guest-view",
                format!(
                    "the {side} host {}'s guest view is estimated from its CPUID dump (no KVM or QEMU data): the cpu verdict rests on that estimate; probe the host or import its QEMU data for proof",
                    host.host_id
                ),
                Evidence::None,
            ));
        }
    }
}

/// What QEMU does on the source with features of the `-cpu` option its host cannot give (QEMU
/// target/i386/cpu.c `x86_cpu_filter_features`): without `enforce` it warns and starts the guest
/// without them; with `enforce` (libvirt `check='full'`) it refuses to start. Where the collector
/// tried the start itself (`host_cpu_start`, `cpu_start_checks`), QEMU's own answer decides.
fn source_start_rule(
    src: &HostProfile,
    guest: &GuestConfig,
    on_src: &View,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    let model = guest.cpu.describe();
    let names = on_src.filtered.names().join(", ");
    if enforces(guest) {
        if enforce_refuses(src, guest, on_src, policy.src_qemu) {
            let qemu_said = start_check(src, guest, policy.src_qemu)
                .and_then(|c| c.error.as_deref())
                .map_or_else(String::new, |e| format!("; QEMU said: {e}"));
            reasons.push(reason(
                Layer::CpuFeatures,
                Severity::Blocker,
                "cpu.enforce-refuses-start",
                format!(
                    "QEMU refuses to start -cpu {model},enforce on the source: its host cannot give {} feature(s): {names} (QEMU x86_cpu_realizefn: \"Host doesn't support requested features\"){qemu_said}; no such guest can be running there",
                    on_src.filtered.len()
                ),
                values(names, String::new()),
            ));
        }
    } else if !on_src.filtered.is_empty() {
        reasons.push(reason(
            Layer::CpuFeatures,
            Severity::Info,
            "cpu.model-filtered-on-source",
            format!(
                "the source's host cannot give {} feature(s) of -cpu {model}: QEMU starts the guest without them (QEMU x86_cpu_filter_features warns \"host doesn't support requested feature\"): {names}",
                on_src.filtered.len()
            ),
            values(names, String::new()),
        ));
    }
    if let Some((version, error)) = host_cpu_fails(src, guest, policy.src_qemu) {
        reasons.push(reason(
            Layer::CpuFeatures,
            Severity::Blocker,
            "cpu.host-cpu-cannot-start",
            format!(
                "QEMU {version} on the source could not start -cpu host when the collector tried it: {error}; no such guest can be running there (mask what QEMU names, e.g. -cpu host,arch-capabilities=off)"
            ),
            values(error, String::new()),
        ));
    }
}

/// The collector's stopped start of this guest's `-cpu` on `host`'s QEMU, where it tried one:
/// `host_cpu_start` for plain `-cpu host`, `cpu_start_checks["MODEL,enforce"]` for a named model.
fn start_check<'a>(
    host: &'a HostProfile,
    guest: &GuestConfig,
    qemu: Option<QemuVersion>,
) -> Option<&'a crate::profile::StartCheck> {
    let q = crate::rules::qemu_install(host, qemu)?;
    match &guest.cpu {
        GuestCpu::HostPassthrough => q.host_cpu_start.as_ref(),
        GuestCpu::Named {
            model,
            enable,
            disable,
        } if enable.is_empty() && disable.is_empty() => {
            q.cpu_start_checks.get(&format!("{model},enforce"))
        }
        _ => None,
    }
}

/// Plain `-cpu host` (a masked one may mask what made it fail) that the host's QEMU could not
/// start when the collector tried: its release and QEMU's error.
pub fn host_cpu_fails(
    host: &HostProfile,
    guest: &GuestConfig,
    qemu: Option<QemuVersion>,
) -> Option<(String, String)> {
    if !matches!(guest.cpu, GuestCpu::HostPassthrough) {
        return None;
    }
    let q = crate::rules::qemu_install(host, qemu)?;
    let check = q.host_cpu_start.as_ref().filter(|c| !c.ok)?;
    Some((
        q.version.clone(),
        check
            .error
            .clone()
            .unwrap_or_else(|| "no error text".to_owned()),
    ))
}

/// Whether QEMU refuses to start this guest on `host` because of `enforce`: the collector's
/// stopped start where it tried one, else what QEMU filters.
pub fn enforce_refuses(
    host: &HostProfile,
    guest: &GuestConfig,
    on_host: &View,
    qemu: Option<QemuVersion>,
) -> bool {
    enforces(guest)
        && start_check(host, guest, qemu).map_or(!on_host.filtered.is_empty(), |c| !c.ok)
}

/// What the guest mode leaves out of what the source can give, said so.
fn left_out_rule(
    src: &HostProfile,
    guest: &GuestConfig,
    seen: &FeatureSet,
    src_qemu: Option<QemuVersion>,
    reasons: &mut Vec<Reason>,
) {
    let (never, what, hint) = match &guest.cpu {
        GuestCpu::HostModel => (
            non_migratable(),
            "host-model leaves out what libvirt marks migratable='no'",
            "",
        ),
        GuestCpu::HostPassthrough | GuestCpu::HostPassthroughMasked { .. }
            if !keeps_unmigratable(guest) =>
        {
            (
                qemu_unmigratable(),
                "host-passthrough with QEMU's default migratable=on leaves out what QEMU cannot migrate",
                " (migratable=off keeps it, and then needs a fixed tsc-frequency)",
            )
        }
        _ => return,
    };
    let Some(offer) = supported(src, src_qemu) else {
        return;
    };
    let left_out = offer.intersection(&never).difference(seen);
    if !left_out.is_empty() {
        reasons.push(reason(
            Layer::CpuFeatures,
            Severity::Info,
            "cpu.non-migratable-left-out",
            format!(
                "{what}: the source offers {} but the guest does not see it{hint}",
                left_out.names().join(", ")
            ),
            values(left_out.names().join(","), String::new()),
        ));
    }
}

/// The destination's QEMU computes the guest's CPUID afresh from the same `-cpu`: a feature the
/// guest loses there is a blocker (or a warning for what only changes with microcode or host
/// state, under QEMU's own rules); a feature it gains is a silent CPUID change under a running
/// guest (a warning: software that probes CPUID later sees features the kernel never set up).
fn destination_rule(
    guest: &GuestConfig,
    policy: &Policy,
    seen: &FeatureSet,
    on_dst: &View,
    reasons: &mut Vec<Reason>,
) {
    // QEMU sets the hypervisor bit for every guest; KVM's paravirtual bits of host-passthrough
    // guests are judged like any feature (a 10.0 guest loses kvm-asyncpf-vmexit on 7.2).
    let mut provided = FeatureSet::EMPTY;
    if let Some(h) = id_of("hypervisor") {
        provided.insert(h);
    }
    let lost = seen.difference(&on_dst.seen).difference(&provided);
    let libvirt = libvirt_checks(guest, policy);
    let controls = microcode_controls();
    for id in lost.iter() {
        let f = catalog().get(id);
        let (severity, rule, why) = if enforces(guest) {
            (
                Severity::Blocker,
                "cpu.enforce-refuses-destination",
                "the guest's -cpu has enforce, so QEMU on the destination refuses to start without it".to_owned(),
            )
        } else if libvirt {
            (
                Severity::Blocker,
                "cpu.libvirt-refuses-missing-feature",
                "libvirt's migratable XML requires every feature the guest has, and with check='partial' libvirt compares them with the destination's host CPU before starting QEMU there (libvirt qemuProcessUpdateGuestCPU -> virCPUCompare: \"Host CPU does not provide required features\")".to_owned(),
            )
        } else {
            match f.class {
                FeatureClass::Fixed => (
                    Severity::Blocker,
                    "cpu.feature-missing",
                    "QEMU filters it out there and the guest, which may use it, faults after the move".to_owned(),
                ),
                FeatureClass::Microcode if controls.contains(id) => (
                    Severity::Blocker,
                    "cpu.microcode-control-missing",
                    "a microcode-class difference, but a control the guest writes (IA32_SPEC_CTRL, IA32_PRED_CMD, IA32_FLUSH_CMD, VIRT_SPEC_CTRL): its writes would fault and KVM cannot restore the MSR; update the destination's microcode, or mask it".to_owned(),
                ),
                FeatureClass::Microcode => (
                    Severity::Warning,
                    "cpu.microcode-feature-missing",
                    "a microcode-class difference: it changes with microcode or firmware, and QEMU filters it out silently; update the destination's microcode, or mask it".to_owned(),
                ),
                FeatureClass::OsState => (
                    Severity::Warning,
                    "cpu.os-state-feature-missing",
                    "an os-state difference: it reflects host OS state, not the processor".to_owned(),
                ),
            }
        };
        reasons.push(reason(
            Layer::CpuFeatures,
            severity,
            rule,
            format!(
                "the guest sees {} but the destination cannot give it: {why}",
                f.name
            ),
            feature_evidence(id),
        ));
    }
    let gained = on_dst.seen.difference(seen).difference(&provided);
    if !gained.is_empty() {
        reasons.push(reason(
            Layer::CpuFeatures,
            Severity::Warning,
            "cpu.feature-gained",
            format!(
                "the destination's QEMU computes CPUID afresh from the same -cpu (CPUID is not migrated) and the guest would see {} feature(s) it did not see at boot: {}; software that probes CPUID later sees features the kernel never set up (mask them on the destination with -cpu ...,FEATURE=off to keep the view)",
                gained.len(),
                gained.names().join(", ")
            ),
            values(seen.len().to_string(), on_dst.seen.len().to_string()),
        ));
    }
}

/// Non-migratable features: QEMU refuses to migrate `invtsc` without a fixed TSC frequency
/// (QEMU target/i386/kvm/kvm.c `kvm_arch_init_vcpu`: "State blocked by non-migratable CPU device
/// (invtsc flag)"), a blocker. libvirt marks `xsaves` `migratable='no'` too and keeps it out of
/// host-model, but QEMU migrates it (its own model versions carry it, e.g. Skylake-Server-v5
/// "[XSAVES]"): said as info when the guest asks for it by name.
fn non_migratable_rule(
    seen: &FeatureSet,
    guest: &GuestConfig,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    let asked_by_name = match &guest.cpu {
        GuestCpu::Named { enable, .. } => {
            FeatureSet::from_names(enable.iter().map(String::as_str)).0
        }
        _ => FeatureSet::EMPTY,
    };
    for id in seen.intersection(&non_migratable()).iter() {
        let f = catalog().get(id);
        if f.name == "invtsc" {
            if policy.guest_tsc_khz.is_none() {
                reasons.push(reason(
                    Layer::CpuFeatures,
                    Severity::Blocker,
                    "cpu.invtsc-without-tsc-frequency",
                    format!(
                        "the guest sees invtsc ({}) without a fixed tsc-frequency: QEMU refuses to migrate it (\"State blocked by non-migratable CPU device (invtsc flag)\"); set tsc-frequency or mask invtsc",
                        f.location
                    ),
                    feature_evidence(id),
                ));
            }
            continue;
        }
        if asked_by_name.contains(id) {
            reasons.push(reason(
                Layer::CpuFeatures,
                Severity::Info,
                "cpu.non-migratable-feature",
                format!(
                    "the guest asks for {} ({}), which libvirt marks migratable='no' and leaves out of host-model; QEMU migrates it",
                    f.name, f.location
                ),
                feature_evidence(id),
            ));
        }
    }
}

/// A named model needs a destination QEMU that has it; a source QEMU without it cannot be
/// running such a guest.
fn qemu_model_rule(
    model: &str,
    src_qemu: Option<QemuVersion>,
    dst_qemu: Option<QemuVersion>,
    reasons: &mut Vec<Reason>,
) {
    let Some(m) = models().get(model) else {
        return;
    };
    let evidence = |q: Option<QemuVersion>| Evidence::Model {
        model: model.to_owned(),
        qemu: q.map(|v| v.to_string()),
    };
    if let QemuSupport::No { present_in } = m.qemu_support(src_qemu) {
        reasons.push(reason(
            Layer::QemuMachine,
            Severity::Warning,
            "qemu.model-missing-on-source",
            format!(
                "the source's QEMU lacks cpu model {model} (it first appears in QEMU {present_in}): no guest of this configuration can be running there"
            ),
            evidence(src_qemu),
        ));
    }
    let (severity, rule, message) = match m.qemu_support(dst_qemu) {
        QemuSupport::Yes => return,
        QemuSupport::No { present_in } => (
            Severity::Blocker,
            "qemu.model-missing",
            format!(
                "the destination's QEMU{} lacks cpu model {model}: it first appears in QEMU {present_in}",
                dst_qemu.map_or_else(String::new, |v| format!(" {v}"))
            ),
        ),
        QemuSupport::Unknown {
            absent_in,
            present_in,
        } => (
            Severity::Warning,
            "qemu.model-maybe-missing",
            format!(
                "cpu model {model} is known in QEMU {present_in}{}; whether the destination's QEMU{} has it is not known",
                absent_in.map_or_else(
                    || " (older releases were not probed)".to_owned(),
                    |a| format!(" and absent in {a}")
                ),
                dst_qemu.map_or_else(String::new, |v| format!(" {v}"))
            ),
        ),
        QemuSupport::VersionUnknown => (
            Severity::Info,
            "qemu.version-unknown",
            format!(
                "the destination's QEMU version is unknown: not checked that it has cpu model {model}"
            ),
        ),
    };
    reasons.push(reason(
        Layer::QemuMachine,
        severity,
        rule,
        message,
        evidence(dst_qemu),
    ));
}

/// Whether a named model is missing from a destination's QEMU release.
pub fn named_model_blocked_by_qemu(guest: &GuestConfig, dst_qemu: Option<QemuVersion>) -> bool {
    let GuestCpu::Named { model, .. } = &guest.cpu else {
        return false;
    };
    models()
        .get(model)
        .is_some_and(|m| matches!(m.qemu_support(dst_qemu), QemuSupport::No { .. }))
}

/// The features of `seen` whose loss on a destination blocks this guest.
pub fn blocking_seen(seen: &FeatureSet, guest: &GuestConfig, policy: &Policy) -> FeatureSet {
    seen.intersection(&blocking_for(guest, policy))
}

/// Whether a guest seeing `seen` sees an invariant TSC.
pub fn sees_invtsc(seen: &FeatureSet) -> bool {
    id_of("invtsc").is_some_and(|id| seen.contains(id))
}
