//! The guest view: the CPU features a guest sees, as QEMU computes it on one host.
//!
//! QEMU builds a vCPU's CPUID when it starts (QEMU target/i386/cpu.c `x86_cpu_realizefn` ->
//! `x86_cpu_expand_features` -> `x86_cpu_filter_features`), from the `-cpu` option and what the
//! accelerator supports on that host. CPUID is not part of the migration stream, so the
//! destination computes it afresh from the same `-cpu`: the engine computes the view on each side
//! with [`guest_view`] and compares the two.

use crate::catalog::{FeatureId, FeatureLocation, catalog};
use crate::featureset::FeatureSet;
use crate::models::{QemuVersion, models};
use crate::policy::{GuestConfig, GuestCpu};
use crate::profile::{GuestViewSource, HostProfile, QemuInstall};

/// Why a guest CPU configuration cannot be turned into a feature set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestCpuError {
    #[error("the host profile has no kvm guest view")]
    NoGuestView,
    #[error("unknown cpu model '{0}': use a qemu 10.0 model name such as Skylake-Server-v4")]
    UnknownModel(String),
    #[error("unknown cpu feature '{0}' in the guest's enable/disable lists")]
    UnknownFeature(String),
}

fn set_of(names: &[&str]) -> FeatureSet {
    FeatureSet::from_names(names.iter().copied()).0
}

fn lookup_all(names: &[String]) -> Result<FeatureSet, GuestCpuError> {
    let (set, unknown) = FeatureSet::from_names(names.iter().map(String::as_str));
    match unknown.into_iter().next() {
        Some(u) => Err(GuestCpuError::UnknownFeature(u)),
        None => Ok(set),
    }
}

/// Features QEMU's `host` (and `max`) model leaves out while its `migratable` property is on,
/// the default since QEMU 2.1 (commit 120eee7d, "Set migratable=yes by default on host CPU
/// model", so that `-cpu host` guests stay migratable): the `unmigratable_flags` of
/// target/i386/cpu.c, CPUID.80000007H:EDX[8] invtsc.
pub fn qemu_unmigratable() -> FeatureSet {
    static SET: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    *SET.get_or_init(|| set_of(&["invtsc"]))
}

/// Bits QEMU sets on top of what KVM_GET_SUPPORTED_CPUID reports, for every model (QEMU
/// target/i386/kvm/kvm.c `kvm_arch_get_supported_cpuid`): CPUID.01H:ECX[31] hypervisor,
/// CPUID.06H:EAX[2] ARAT ("safe to allow because of emulated APIC"), CPUID.80000001H:ECX[22]
/// TOPOEXT ("safe to enable ... even when no host support") and, with the in-kernel irqchip and
/// KVM_CAP_TSC_DEADLINE_TIMER, CPUID.01H:ECX[24] tsc-deadline. Newer QEMUs add more (the AMD
/// machine-check bits of CPUID.80000007H:EBX, host bits such as erms and fsrm in 10.0); where
/// that QEMU was probed, its own `host` expansion is used instead ([`supported`]).
pub fn qemu_additions(host: &HostProfile) -> FeatureSet {
    let mut set = set_of(&["hypervisor", "arat", "topoext"]);
    let deadline = host
        .kvm
        .as_ref()
        .and_then(|k| k.capabilities.get("tsc_deadline_timer"))
        .is_some_and(|v| *v > 0);
    if deadline {
        set = set.union(&set_of(&["tsc-deadline"]));
    }
    set
}

/// `-cpu` properties QEMU changes on every named model under KVM, whatever the model says (QEMU
/// target/i386/kvm/kvm-cpu.c `kvm_default_props`): x2apic on; acpi, monitor and svm off. With
/// svm off, the SVM leaf CPUID.8000000AH reads zero (target/i386/cpu.c `cpu_x86_cpuid`, case
/// 0x8000000A), so its features go too.
fn kvm_default_on() -> FeatureSet {
    static SET: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    *SET.get_or_init(|| set_of(&["x2apic"]))
}

fn kvm_default_off() -> FeatureSet {
    static SET: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    *SET.get_or_init(|| set_of(&["acpi", "monitor", "svm"]))
}

/// Features that only exist under a parent feature: the SVM leaf (CPUID.8000000AH) under svm
/// (CPUID.80000001H:ECX[2]) and the VMX capability MSRs (IA32_VMX_*, 0x480-0x491) under vmx
/// (CPUID.01H:ECX[5]); QEMU hides them with their parent (target/i386/cpu.c
/// `x86_cpu_expand_features` clears the VMX feature words when vmx is off, `cpu_x86_cpuid`
/// zeroes leaf 8000000AH without svm).
pub fn dependents() -> &'static [(FeatureId, FeatureSet)] {
    static DEPS: std::sync::OnceLock<Vec<(FeatureId, FeatureSet)>> = std::sync::OnceLock::new();
    DEPS.get_or_init(|| {
        let mut svm_leaf = FeatureSet::EMPTY;
        let mut vmx_msrs = FeatureSet::EMPTY;
        for f in catalog().features() {
            match f.location {
                FeatureLocation::Cpuid {
                    leaf: 0x8000_000a, ..
                } => svm_leaf.insert(f.id),
                FeatureLocation::Msr { index, .. } if (0x480..=0x491).contains(&index) => {
                    vmx_msrs.insert(f.id);
                }
                _ => {}
            }
        }
        let mut out = Vec::new();
        if let Some(svm) = catalog().lookup("svm") {
            out.push((svm, svm_leaf));
        }
        if let Some(vmx) = catalog().lookup("vmx") {
            out.push((vmx, vmx_msrs));
        }
        out
    })
}

/// `set` without the features whose parent it lacks ([`dependents`]).
pub fn without_orphans(set: FeatureSet) -> FeatureSet {
    dependents()
        .iter()
        .filter(|(parent, _)| !set.contains(*parent))
        .fold(set, |s, (_, children)| s.difference(children))
}

/// The QEMU install a view is computed for: the given release if the host has it, else the
/// oldest probed (see [`crate::rules::qemu_install`]).
fn install(host: &HostProfile, qemu: Option<QemuVersion>) -> Option<&QemuInstall> {
    crate::rules::qemu_install(host, qemu)
}

/// What QEMU can give a guest on `host` for `-cpu host,migratable=off` (the accelerator's
/// supported set as QEMU sees it): QEMU's own expansion of `host` under KVM where that QEMU was
/// probed (plus the [`qemu_unmigratable`] features KVM offers, which `migratable=on` hides from
/// the expansion), else KVM's supported CPUID with [`qemu_additions`]. `None` without KVM data.
pub fn supported(host: &HostProfile, qemu: Option<QemuVersion>) -> Option<FeatureSet> {
    let kvm = host.kvm.as_ref()?;
    if let Some(expanded) = install(host, qemu).and_then(|q| q.host_model) {
        // The expansion of `host` leaves out what QEMU never auto-enables (topoext), which a
        // named model still gets.
        return Some(
            expanded
                .union(&kvm.guest_features.intersection(&qemu_unmigratable()))
                .union(&no_autoenable()),
        );
    }
    Some(match kvm.guest_features_source {
        // libvirt's host-model data is already QEMU's expansion; the estimate adds them itself.
        GuestViewSource::QemuHostModel
        | GuestViewSource::LibvirtDomainCapabilities
        | GuestViewSource::EstimatedFromCpuid => kvm.guest_features,
        GuestViewSource::KvmSupportedCpuid => kvm.guest_features.union(&qemu_additions(host)),
    })
}

/// What QEMU may give a guest but never turns on by itself for `-cpu host` (QEMU
/// target/i386/cpu.c `feature_word_info[FEAT_8000_0001_ECX].no_autoenable_flags`: TOPOEXT "can't
/// be enabled blindly by -cpu host, as it requires consistent cache topology info").
pub fn no_autoenable() -> FeatureSet {
    static SET: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    *SET.get_or_init(|| set_of(&["topoext"]))
}

/// What `-cpu host` gives on `host`: [`supported`] less [`no_autoenable`], unless the host's own
/// view (QEMU's expansion of `host`, or KVM's supported CPUID) has it.
fn passthrough_base(
    host: &HostProfile,
    qemu: Option<QemuVersion>,
    supported: FeatureSet,
) -> FeatureSet {
    let own = install(host, qemu)
        .and_then(|q| q.host_model)
        .or_else(|| host.kvm.as_ref().map(|k| k.guest_features))
        .unwrap_or_default();
    supported
        .difference(&no_autoenable())
        .union(&own.intersection(&no_autoenable()))
}

/// What `-cpu host,migratable=off` gives a guest on `host` (its QEMU release `qemu`, else the
/// oldest probed); `None` without KVM data.
pub fn host_cpu(host: &HostProfile, qemu: Option<QemuVersion>) -> Option<FeatureSet> {
    supported(host, qemu).map(|s| passthrough_base(host, qemu, s))
}

/// A host-passthrough guest keeps [`qemu_unmigratable`] features: `migratable=off`, or invtsc
/// asked for by name (`-cpu host,+invtsc`, libvirt `<feature policy='require' name='invtsc'/>`).
pub fn keeps_unmigratable(guest: &GuestConfig) -> bool {
    let prop = |name: &str| {
        guest
            .cpu_props
            .get(name)
            .and_then(|v| crate::guest::parse_bool(v))
    };
    prop("migratable") == Some(false) || prop("invtsc") == Some(true)
}

/// The features a named model asks for under KVM before QEMU filters them against the host:
/// the model's definition with [`kvm_default_props`](kvm_default_on) applied, then the guest's
/// own `enable`/`disable` (user properties win over the defaults, as in QEMU's
/// `x86_cpu_apply_props` followed by the command line's).
pub fn named_model_features(
    model: &str,
    enable: &[String],
    disable: &[String],
) -> Result<FeatureSet, GuestCpuError> {
    let m = models()
        .get(model)
        .ok_or_else(|| GuestCpuError::UnknownModel(model.to_owned()))?;
    let on = lookup_all(enable)?;
    let off = lookup_all(disable)?;
    Ok(without_orphans(
        m.features
            .union(&kvm_default_on())
            .difference(&kvm_default_off())
            .union(&on)
            .difference(&off),
    ))
}

/// The features QEMU reported unavailable for `model` on this host (`query-cpu-definitions`
/// `unavailable-features`), catalog names only.
fn unavailable(q: &QemuInstall, model: &str) -> Option<FeatureSet> {
    let m = q
        .cpu_models
        .iter()
        .find(|m| m.name == model || m.alias_of.as_deref() == Some(model))?;
    Some(FeatureSet::from_names(m.unavailable_features.iter().map(String::as_str)).0)
}

/// What a guest asks for and what the host's QEMU gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    /// What the guest sees.
    pub seen: FeatureSet,
    /// What the `-cpu` option asks for that QEMU filters out on this host (it warns, and refuses
    /// to start with `enforce`); empty for host-passthrough and host-model.
    pub filtered: FeatureSet,
}

/// The features a guest started on `host` (with its QEMU release `qemu`, else the oldest probed)
/// sees under `guest`'s `-cpu`, and what QEMU filtered out.
pub fn view(
    host: &HostProfile,
    guest: &GuestConfig,
    qemu: Option<QemuVersion>,
) -> Result<View, GuestCpuError> {
    let supported = supported(host, qemu).ok_or(GuestCpuError::NoGuestView)?;
    let passthrough = |disable: &[String]| -> Result<View, GuestCpuError> {
        let host_cpu = passthrough_base(host, qemu, supported);
        let base = if keeps_unmigratable(guest) {
            host_cpu
        } else {
            host_cpu.difference(&qemu_unmigratable())
        };
        Ok(View {
            seen: base.difference(&lookup_all(disable)?),
            filtered: FeatureSet::EMPTY,
        })
    };
    match &guest.cpu {
        GuestCpu::HostPassthrough => passthrough(&[]),
        GuestCpu::HostPassthroughMasked { disable } => passthrough(disable),
        // libvirt's host-model: QEMU's host expansion less what libvirt marks migratable='no'.
        GuestCpu::HostModel => Ok(View {
            seen: without_non_migratable(&passthrough_base(host, qemu, supported)),
            filtered: FeatureSet::EMPTY,
        }),
        GuestCpu::Named {
            model,
            enable,
            disable,
        } => {
            let asked = named_model_features(model, enable, disable)?;
            // QEMU target/i386/cpu.c x86_cpu_filter_features: what the accelerator lacks goes,
            // with a warning ("host doesn't support requested feature"), or an error with
            // `enforce`. The QEMU probed on the host said which ones for the model itself.
            let mut lacking = asked.difference(&supported);
            if let Some(u) = install(host, qemu).and_then(|q| unavailable(q, model)) {
                lacking = lacking.union(&u.intersection(&asked));
            }
            // QEMU sets the hypervisor bit for every guest; it is never filtered.
            let provided = crate::models::accel_provided();
            lacking = lacking.difference(&provided);
            let seen = without_orphans(asked.difference(&lacking));
            Ok(View {
                seen,
                filtered: lacking,
            })
        }
    }
}

/// The features a guest started on `host` under `guest` sees (the oldest probed QEMU).
pub fn guest_view(host: &HostProfile, guest: &GuestConfig) -> Result<FeatureSet, GuestCpuError> {
    view(host, guest, None).map(|v| v.seen)
}

/// `set` without the features libvirt marks `migratable='no'` (invtsc, xsaves).
pub fn without_non_migratable(set: &FeatureSet) -> FeatureSet {
    set.difference(&non_migratable())
}

/// Every catalog feature that is not migratable.
pub fn non_migratable() -> FeatureSet {
    static SET: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    *SET.get_or_init(|| {
        let mut s = FeatureSet::EMPTY;
        for f in catalog().features() {
            if !f.migratable {
                s.insert(f.id);
            }
        }
        s
    })
}

/// The features a guest started on `host` under `guest` sees, or `None` when the profile has no
/// guest view (or a named model is unknown: see [`guest_view`] for why).
pub fn guest_features(host: &HostProfile, guest: &GuestConfig) -> Option<FeatureSet> {
    guest_view(host, guest).ok()
}

/// Whether the guest asks QEMU to refuse filtered features: `-cpu MODEL,enforce` (libvirt
/// `<cpu check='full'>` starts QEMU with it).
pub fn enforces(guest: &GuestConfig) -> bool {
    guest
        .cpu_props
        .get("enforce")
        .is_some_and(|v| v.is_empty() || crate::guest::parse_bool(v) != Some(false))
}

pub(crate) fn id_of(name: &str) -> Option<FeatureId> {
    catalog().lookup(name)
}
