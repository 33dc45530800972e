//! Directional verdicts: can a guest configured like `guest`, running on `src`, move to `dst`?
//! Every mismatch becomes a [`Reason`]; none is logged and dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::catalog::{FeatureClass, FeatureId, FeatureLocation, catalog};
use crate::featureset::FeatureSet;
use crate::models::{QemuSupport, QemuVersion, models};
use crate::profile::HostProfile;

/// The layer of the virtual hardware a reason is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The profiles themselves: a view that is missing or partial.
    Profile,
    Vendor,
    CpuFeatures,
    Tsc,
    KernelKvm,
    QemuMachine,
    Devices,
    Arm64,
    Cpr,
}

impl Layer {
    /// For people: the layer's name as the UI and reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Vendor => "CPU vendor",
            Self::CpuFeatures => "CPU features",
            Self::Tsc => "TSC",
            Self::KernelKvm => "kernel and KVM",
            Self::QemuMachine => "QEMU and machine type",
            Self::Devices => "devices",
            Self::Arm64 => "arm64 ID registers",
            Self::Cpr => "cpr-transfer",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Migration fails or the guest breaks.
    Blocker,
    /// Migration works but something changes under the guest.
    Warning,
    Info,
}

/// What a reason points at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// A catalog feature and where it lives (CPUID leaf/subleaf/register/bit or MSR index).
    Feature {
        feature: String,
        location: FeatureLocation,
        /// The manual's notation, e.g. `CPUID.(EAX=07H,ECX=0):EBX[16]`.
        citation: String,
        class: FeatureClass,
    },
    /// A value on each side.
    Values {
        source: String,
        destination: String,
    },
    /// A named CPU model and the QEMU release(s) involved.
    Model {
        model: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qemu: Option<String>,
    },
    None,
}

impl Evidence {
    /// One line for people: the manual citation of a feature, or the two sides' values.
    pub fn summary(&self) -> String {
        match self {
            Self::Feature {
                feature, citation, ..
            } => format!("{feature} at {citation}"),
            Self::Values {
                source,
                destination,
            } => format!("source {source}, destination {destination}"),
            Self::Model { model, qemu } => match qemu {
                Some(q) => format!("model {model}, qemu {q}"),
                None => format!("model {model}"),
            },
            Self::None => String::new(),
        }
    }
}

impl Severity {
    /// The lowercase word, as in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Blocker => "blocker",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

/// One finding of a verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub layer: Layer,
    pub severity: Severity,
    /// The rule that produced the reason, e.g. `cpu.feature-missing`.
    pub rule: String,
    pub message: String,
    pub evidence: Evidence,
}

/// What the guest's CPU looks like to the guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum GuestCpu {
    /// `-cpu host` (libvirt's host-passthrough): what the source's KVM offers, less what QEMU's
    /// `host` model leaves out while `migratable=on`, its default ([`qemu_unmigratable`]:
    /// invtsc). `cpu_props` `migratable=off` (or `invtsc=on`) keeps those too.
    #[default]
    HostPassthrough,
    /// libvirt's host-model: the source's KVM offer less the non-migratable features.
    HostModel,
    /// `-cpu host` with features turned off (masking, seed 002: `-cpu host,pcid=off,stibp=off`);
    /// the base is that of `HostPassthrough`.
    #[serde(rename = "host-passthrough-masked")]
    HostPassthroughMasked {
        #[serde(default)]
        disable: Vec<String>,
    },
    /// A named model with features turned on and off: `-cpu Skylake-Server-v4,pcid=on,hle=off`.
    Named {
        model: String,
        #[serde(default)]
        enable: Vec<String>,
        #[serde(default)]
        disable: Vec<String>,
    },
}

/// The guest configuration a verdict is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GuestConfig {
    #[serde(default)]
    pub cpu: GuestCpu,
    /// `-cpu` properties that are not catalog features (`tsc-frequency`, `phys-bits`, `migratable`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cpu_props: BTreeMap<String, String>,
    /// Machine type as given (`pc-q35-7.2`, or an alias such as `q35` resolved per QEMU release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// `-machine` properties other than the type (`aux-ram-share`, `confidential-guest-support`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub machine_props: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smp: Option<crate::guest::Smp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memory_backends: Vec<crate::guest::MemoryBackend>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<crate::guest::GuestDevice>,
    /// `-global DRIVER.PROP=VALUE`, keyed `DRIVER.PROP`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub globals: BTreeMap<String, String>,
    /// Fixed guest TSC frequency in kHz (`-cpu ...,tsc-frequency=HZ`, libvirt `<timer name='tsc' frequency>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsc_khz: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidential: Option<crate::guest::Confidential>,
    #[serde(
        default,
        skip_serializing_if = "crate::guest::MigrationMode::is_normal"
    )]
    pub migration_mode: crate::guest::MigrationMode,
    /// The QEMU release the guest was powered on with, when it differs from the source's (errata
    /// such as qemu-8.0.0's stay until the guest is powered off, seed 002).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on_qemu: Option<QemuVersion>,
}

impl GuestConfig {
    /// A guest with only a CPU configuration (what earlier releases took as input).
    pub fn with_cpu(cpu: GuestCpu) -> Self {
        Self {
            cpu,
            ..Self::default()
        }
    }
}

/// Operator policy and per-host facts the profile does not carry. `Policy::default()` is what
/// [`compare`] uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Allow a change of CPU vendor (Intel <-> AMD...) for guests on a named model both vendors
    /// can run. Never allowed for host-passthrough or host-model guests.
    pub allow_vendor_change: bool,
    /// TSC frequency difference accepted without TSC scaling, in parts per million (libvirt and
    /// Firecracker accept 250).
    pub tsc_tolerance_ppm: u32,
    /// The guest runs with a fixed `tsc-frequency` (kHz): QEMU then migrates `invtsc` guests.
    pub guest_tsc_khz: Option<u64>,
    /// QEMU release on the source and destination, where known: named models need a QEMU that has them.
    pub src_qemu: Option<QemuVersion>,
    pub dst_qemu: Option<QemuVersion>,
    /// Errata beyond the shipped table (`shared/data/qemu-errata.tsv`), e.g. parsed with
    /// [`crate::rules::machine::parse_errata`] from an operator's file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_errata: Vec<crate::rules::machine::Erratum>,
    /// arm64: operator-kept groups of processors (MIDR values) close enough for host-passthrough
    /// guests to move between (seed 000: that judgement belongs above QEMU).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arm_equivalence_groups: Vec<crate::rules::arm64::EquivalenceGroup>,
    /// VFIO device-version pairs beyond the shipped table (`shared/data/vfio-device-versions.tsv`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_vfio_versions: Vec<crate::rules::devices::VfioVersionRule>,
    /// The operator's stack migrates confidential guests (SEV/SEV-SNP/TDX) where KVM supports the
    /// VM type on the destination; off by default.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_confidential_migration: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_vendor_change: false,
            tsc_tolerance_ppm: DEFAULT_TSC_TOLERANCE_PPM,
            guest_tsc_khz: None,
            src_qemu: None,
            dst_qemu: None,
            extra_errata: Vec::new(),
            arm_equivalence_groups: Vec::new(),
            extra_vfio_versions: Vec::new(),
            allow_confidential_migration: false,
        }
    }
}

/// TSC frequency tolerance of libvirt and Firecracker.
pub const DEFAULT_TSC_TOLERANCE_PPM: u32 = 250;

/// The answer to "can this guest go from `from` to `to`?".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub from: String,
    pub to: String,
    pub guest: GuestConfig,
    /// True when no reason is a blocker.
    pub compatible: bool,
    /// Every reason, blockers first.
    pub reasons: Vec<Reason>,
}

impl Verdict {
    /// Reasons of one severity.
    pub fn with_severity(&self, s: Severity) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(move |r| r.severity == s)
    }
}

/// Evidence for a catalog feature.
pub fn feature_evidence(id: FeatureId) -> Evidence {
    let f = catalog().get(id);
    Evidence::Feature {
        feature: f.name.clone(),
        location: f.location,
        citation: f.location.to_string(),
        class: f.class,
    }
}

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

/// The features a named model with `enable`/`disable` gives a guest.
pub fn named_model_features(
    model: &str,
    enable: &[String],
    disable: &[String],
) -> Result<FeatureSet, GuestCpuError> {
    let m = models()
        .get(model)
        .ok_or_else(|| GuestCpuError::UnknownModel(model.to_owned()))?;
    let (on, unknown_on) = FeatureSet::from_names(enable.iter().map(String::as_str));
    let (off, unknown_off) = FeatureSet::from_names(disable.iter().map(String::as_str));
    if let Some(u) = unknown_on.into_iter().chain(unknown_off).next() {
        return Err(GuestCpuError::UnknownFeature(u));
    }
    // Under KVM the guest does not get what QEMU leaves out of the model where KVM lacks it
    // (monitor, topoext...) unless asked for; `guest_view` adds what a given host's KVM has.
    Ok(m.features
        .difference(&crate::models::kvm_dropped())
        .union(&on)
        .difference(&off))
}

/// Features QEMU's `host` (and `max`) model leaves out while its `migratable` property is on,
/// the default since QEMU 2.1 (commit 120eee7d, "Set migratable=yes by default on host CPU
/// model", so that `-cpu host` guests stay migratable): the `unmigratable_flags` of
/// target/i386/cpu.c, CPUID.80000007H:EDX[8] invtsc.
pub fn qemu_unmigratable() -> FeatureSet {
    static SET: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    *SET.get_or_init(|| FeatureSet::from_names(["invtsc"]).0)
}

/// A host-passthrough guest keeps [`qemu_unmigratable`] features: `migratable=off`, or invtsc
/// asked for by name (`-cpu host,+invtsc`, libvirt `<feature policy='require' name='invtsc'/>`).
fn keeps_unmigratable(guest: &GuestConfig) -> bool {
    let prop = |name: &str| {
        guest
            .cpu_props
            .get(name)
            .and_then(|v| crate::guest::parse_bool(v))
    };
    prop("migratable") == Some(false) || prop("invtsc") == Some(true)
}

/// What a host-passthrough guest on `host` sees before masking.
fn host_passthrough_view(
    host: &HostProfile,
    guest: &GuestConfig,
) -> Result<FeatureSet, GuestCpuError> {
    let offered = host
        .kvm
        .as_ref()
        .ok_or(GuestCpuError::NoGuestView)?
        .guest_features;
    Ok(if keeps_unmigratable(guest) {
        offered
    } else {
        offered.difference(&qemu_unmigratable())
    })
}

/// The features a guest started on `host` under `guest` sees.
pub fn guest_view(host: &HostProfile, guest: &GuestConfig) -> Result<FeatureSet, GuestCpuError> {
    match &guest.cpu {
        GuestCpu::HostPassthrough => host_passthrough_view(host, guest),
        GuestCpu::HostModel => {
            let offered = host
                .kvm
                .as_ref()
                .ok_or(GuestCpuError::NoGuestView)?
                .guest_features;
            Ok(without_non_migratable(&offered))
        }
        GuestCpu::HostPassthroughMasked { disable } => {
            let offered = host_passthrough_view(host, guest)?;
            let (off, unknown) = FeatureSet::from_names(disable.iter().map(String::as_str));
            if let Some(u) = unknown.into_iter().next() {
                return Err(GuestCpuError::UnknownFeature(u));
            }
            Ok(offered.difference(&off))
        }
        GuestCpu::Named {
            model,
            enable,
            disable,
        } => {
            let mut set = named_model_features(model, enable, disable)?;
            // What QEMU leaves out only where KVM lacks it, the guest sees where KVM has it.
            if let (Some(m), Some(k)) = (models().get(model), host.kvm.as_ref()) {
                let (off, _) = FeatureSet::from_names(disable.iter().map(String::as_str));
                set = set.union(
                    &m.features
                        .intersection(&crate::models::kvm_dropped())
                        .intersection(&k.guest_features)
                        .difference(&off),
                );
            }
            Ok(set)
        }
    }
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

fn id_of(name: &str) -> Option<FeatureId> {
    catalog().lookup(name)
}

/// Compare a source and destination for a guest configuration under the default [`Policy`].
/// Never fails: what cannot be judged becomes a reason.
pub fn compare(src: &HostProfile, dst: &HostProfile, guest: &GuestConfig) -> Verdict {
    compare_with(src, dst, guest, &Policy::default())
}

/// Whether guests on the named `model` (no features added or removed) can run on `host` and
/// move between hosts like it: the verdict of the host against itself for that guest (its KVM
/// offers the model's features, its QEMU has the model, nothing non-migratable). One host of a
/// class answers for its class.
pub fn can_run_model(host: &HostProfile, model: &str, policy: &Policy) -> bool {
    let guest = GuestConfig {
        cpu: GuestCpu::Named {
            model: model.to_owned(),
            enable: Vec::new(),
            disable: Vec::new(),
        },
        ..GuestConfig::default()
    };
    compare_with(host, host, &guest, policy).compatible
}

/// Compare a source and destination for a guest configuration under a policy.
pub fn compare_with(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    policy: &Policy,
) -> Verdict {
    let mut reasons = Vec::new();
    let named = matches!(guest.cpu, GuestCpu::Named { .. });
    // A fixed frequency in the guest definition counts like the policy's.
    let effective;
    let policy = if policy.guest_tsc_khz.is_none() && guest.tsc_khz.is_some() {
        effective = Policy {
            guest_tsc_khz: guest.tsc_khz,
            ..policy.clone()
        };
        &effective
    } else {
        policy
    };
    crate::rules::apply(src, dst, guest, policy, &mut reasons);

    if src.cpu.arch != dst.cpu.arch {
        reasons.push(Reason {
            layer: Layer::Profile,
            severity: Severity::Blocker,
            rule: "arch.mismatch".into(),
            message: format!(
                "the source is {:?} and the destination {:?}: a guest cannot change architecture",
                src.cpu.arch, dst.cpu.arch
            ),
            evidence: Evidence::Values {
                source: format!("{:?}", src.cpu.arch),
                destination: format!("{:?}", dst.cpu.arch),
            },
        });
    }

    vendor_rule(src, dst, named, policy, &mut reasons);

    let hypervisor = id_of("hypervisor");
    let seen = match guest_view(src, guest) {
        Ok(seen) => Some(seen),
        Err(GuestCpuError::NoGuestView) => None,
        Err(e) => {
            reasons.push(Reason {
                layer: Layer::CpuFeatures,
                severity: Severity::Blocker,
                rule: "cpu.invalid-guest-cpu".into(),
                message: format!("the guest cpu cannot be resolved: {e}"),
                evidence: Evidence::None,
            });
            return finish(src, dst, guest, reasons);
        }
    };
    let offered_by_dst = dst.kvm.as_ref().map(|k| k.guest_features);
    let offered_by_src = src.kvm.as_ref().map(|k| k.guest_features);
    for (side, host, missing) in [
        ("source", src, offered_by_src.is_none()),
        ("destination", dst, offered_by_dst.is_none()),
    ] {
        if missing {
            reasons.push(Reason {
                layer: Layer::Profile,
                severity: Severity::Blocker,
                rule: "profile.no-guest-view".into(),
                message: format!(
                    "the {side} host {} has no KVM guest view in its profile, so cpu features cannot be judged: re-run fleetcompat-collector probe where /dev/kvm is readable",
                    host.host_id
                ),
                evidence: Evidence::None,
            });
        }
    }

    // What the guest mode leaves out of the source's offer, said so.
    let leaves_out = match &guest.cpu {
        GuestCpu::HostModel => Some((
            non_migratable(),
            "host-model leaves out what never migrates",
            "",
        )),
        GuestCpu::HostPassthrough | GuestCpu::HostPassthroughMasked { .. }
            if !keeps_unmigratable(guest) =>
        {
            Some((
                qemu_unmigratable(),
                "host-passthrough with QEMU's default migratable=on leaves out what QEMU cannot migrate",
                " (migratable=off keeps it, and then needs a fixed tsc-frequency)",
            ))
        }
        _ => None,
    };
    if let (Some((never, what, hint)), Some(src_offer)) = (leaves_out, offered_by_src) {
        let left_out = src_offer.intersection(&never);
        if !left_out.is_empty() {
            reasons.push(Reason {
                layer: Layer::CpuFeatures,
                severity: Severity::Info,
                rule: "cpu.non-migratable-left-out".into(),
                message: format!(
                    "{what}: the source offers {} but the guest does not see it{hint}",
                    left_out.names().join(", ")
                ),
                evidence: Evidence::Values {
                    source: left_out.names().join(","),
                    destination: String::new(),
                },
            });
        }
    }

    if let (Some(mut seen), Some(offered)) = (seen, offered_by_dst) {
        // QEMU sets CPUID.01H:ECX[31] for every guest, whatever KVM reports.
        if let Some(h) = hypervisor {
            seen.remove(h);
        }
        if let (GuestCpu::Named { model, .. }, Some(src_offer)) = (&guest.cpu, offered_by_src) {
            let cannot = seen.difference(&src_offer);
            if !cannot.is_empty() {
                reasons.push(Reason {
                    layer: Layer::CpuFeatures,
                    severity: Severity::Warning,
                    rule: "cpu.model-not-runnable-on-source".into(),
                    message: format!(
                        "the source's KVM cannot give {model} as configured ({} missing: {}): QEMU would refuse or drop them there",
                        cannot.len(),
                        cannot.names().join(", ")
                    ),
                    evidence: Evidence::Model {
                        model: model.clone(),
                        qemu: None,
                    },
                });
            }
        }
        feature_rule(&seen, &offered, &mut reasons);
        if matches!(
            guest.cpu,
            GuestCpu::HostPassthrough | GuestCpu::HostPassthroughMasked { .. }
        ) {
            // What the same configuration started on the destination would see.
            let restarted = guest_view(dst, guest).unwrap_or(offered);
            let mut more = restarted.difference(&seen);
            if let Some(h) = hypervisor {
                more.remove(h);
            }
            if !more.is_empty() {
                reasons.push(Reason {
                    layer: Layer::CpuFeatures,
                    severity: Severity::Info,
                    rule: "cpu.destination-offers-more".into(),
                    message: format!(
                        "the destination's KVM offers {} features the guest did not see at boot ({}): the guest keeps its boot-time view; a host-passthrough guest restarted there would see more",
                        more.len(),
                        more.names().join(", ")
                    ),
                    evidence: Evidence::Values {
                        source: seen.len().to_string(),
                        destination: restarted.len().to_string(),
                    },
                });
            }
        }
        non_migratable_rule(&seen, guest, policy, &mut reasons);
        tsc_rule(src, dst, &seen, policy, &mut reasons);
    } else if let Some(seen) = seen {
        non_migratable_rule(&seen, guest, policy, &mut reasons);
    }

    if let GuestCpu::Named { model, .. } = &guest.cpu {
        // The policy's QEMU releases, else those probed on each host.
        let src_qemu = crate::rules::qemu_version(src, policy.src_qemu);
        let dst_qemu = crate::rules::qemu_version(dst, policy.dst_qemu);
        qemu_model_rule(model, dst_qemu, &mut reasons);
        if let Some(m) = models().get(model)
            && let QemuSupport::No { present_in } = m.qemu_support(src_qemu)
        {
            reasons.push(Reason {
                layer: Layer::QemuMachine,
                severity: Severity::Warning,
                rule: "qemu.model-missing-on-source".into(),
                message: format!(
                    "the source's QEMU lacks cpu model {model} (it first appears in QEMU {present_in}): no guest of this configuration can be running there"
                ),
                evidence: Evidence::Model {
                    model: model.clone(),
                    qemu: src_qemu.map(|v| v.to_string()),
                },
            });
        }
    }

    finish(src, dst, guest, reasons)
}

/// [`compare_with`] when the destination will be started from its own definition `dst_guest`:
/// the verdict also holds every ABI-stability difference between the two definitions
/// ([`crate::guest::abi::check_abi`]).
pub fn compare_definitions(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    dst_guest: &GuestConfig,
    policy: &Policy,
) -> Verdict {
    let v = compare_with(src, dst, guest, policy);
    let mut reasons = v.reasons;
    reasons.extend(crate::guest::abi::check_abi(guest, dst_guest));
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

/// Vendor: Intel <-> AMD is "tricky" (seed 000); a blocker unless the policy allows it, and then
/// only for a named model (whose features both hosts must offer, checked by the feature rule).
fn vendor_rule(
    src: &HostProfile,
    dst: &HostProfile,
    named: bool,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    if src.cpu.vendor.eq_ignore_ascii_case(&dst.cpu.vendor) {
        return;
    }
    let evidence = Evidence::Values {
        source: src.cpu.vendor.clone(),
        destination: dst.cpu.vendor.clone(),
    };
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
    reasons.push(Reason {
        layer: Layer::Vendor,
        severity,
        rule: rule.into(),
        message: format!(
            "cpu vendor changes from {} to {}: {why}",
            src.cpu.vendor, dst.cpu.vendor
        ),
        evidence,
    });
}

/// Features: what the guest sees must be offered by the destination's KVM.
fn feature_rule(seen: &FeatureSet, offered: &FeatureSet, reasons: &mut Vec<Reason>) {
    let controls = microcode_controls();
    for id in seen.difference(offered).iter() {
        let f = catalog().get(id);
        let (severity, rule, why) = match f.class {
            FeatureClass::Fixed => (
                Severity::Blocker,
                "cpu.feature-missing",
                "the guest may use it and fault after the move",
            ),
            FeatureClass::Microcode if controls.contains(id) => (
                Severity::Blocker,
                "cpu.microcode-control-missing",
                "a microcode-class difference, but a control the guest writes (IA32_SPEC_CTRL, IA32_PRED_CMD, IA32_FLUSH_CMD, VIRT_SPEC_CTRL): its writes would fault and KVM cannot restore the MSR; update the destination's microcode, or mask it",
            ),
            FeatureClass::Microcode => (
                Severity::Warning,
                "cpu.microcode-feature-missing",
                "a microcode-class difference: it changes with microcode or firmware; update the destination's microcode, or mask it",
            ),
            FeatureClass::OsState => (
                Severity::Warning,
                "cpu.os-state-feature-missing",
                "an os-state difference: it reflects host OS state, not the processor",
            ),
        };
        reasons.push(Reason {
            layer: Layer::CpuFeatures,
            severity,
            rule: rule.into(),
            message: format!(
                "the guest sees {} ({}) but the destination's KVM does not offer it: {why}",
                f.name, f.location
            ),
            evidence: feature_evidence(id),
        });
    }
}

/// Non-migratable features: QEMU refuses to migrate `invtsc` without a fixed TSC frequency (a
/// blocker); libvirt marks `invtsc` and `xsaves` `migratable='no'` and keeps them out of
/// host-model, but QEMU migrates xsaves (a warning).
fn non_migratable_rule(
    seen: &FeatureSet,
    guest: &GuestConfig,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    let explicitly_enabled = match &guest.cpu {
        GuestCpu::Named { enable, .. } => {
            FeatureSet::from_names(enable.iter().map(String::as_str)).0
        }
        _ => *seen,
    };
    for id in seen.intersection(&non_migratable()).iter() {
        let f = catalog().get(id);
        if f.name == "invtsc" {
            if policy.guest_tsc_khz.is_none() {
                reasons.push(Reason {
                    layer: Layer::CpuFeatures,
                    severity: Severity::Blocker,
                    rule: "cpu.invtsc-without-tsc-frequency".into(),
                    message: format!(
                        "the guest sees invtsc ({}) without a fixed tsc-frequency: QEMU refuses to migrate it; set tsc-frequency or mask invtsc",
                        f.location
                    ),
                    evidence: feature_evidence(id),
                });
            }
            continue;
        }
        // A named model's own features are QEMU's migration-safe definition; only features the
        // guest adds on top, or sees through host-passthrough, are judged.
        if !explicitly_enabled.contains(id) {
            continue;
        }
        // QEMU itself migrates these (only invtsc is in its `unmigratable_flags`), and its own
        // model versions carry xsaves (Skylake-Server-v5, Icelake-Server-v5: "[XSAVES]"); libvirt's
        // mark dates from QEMUs that could not. A warning, not a blocker.
        reasons.push(Reason {
            layer: Layer::CpuFeatures,
            severity: Severity::Warning,
            rule: "cpu.non-migratable-feature".into(),
            message: format!(
                "the guest sees {} ({}), which libvirt marks migratable='no' and leaves out of host-model: QEMU migrates it (its own model versions carry it), but a libvirt that checks the mark may refuse; mask it to be safe",
                f.name, f.location
            ),
            evidence: feature_evidence(id),
        });
    }
}

/// TSC: a guest that sees an invariant TSC needs the same frequency on the destination (within
/// the policy's ppm) or TSC scaling there. Other guests only get an info about timer drift.
fn tsc_rule(
    src: &HostProfile,
    dst: &HostProfile,
    seen: &FeatureSet,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    let invtsc = id_of("invtsc").is_some_and(|id| seen.contains(id));
    let guest_khz = policy.guest_tsc_khz.or(src.cpu.tsc_khz);
    let scaling = dst.kvm.as_ref().and_then(|k| k.tsc_scaling);
    let evidence = Evidence::Values {
        source: guest_khz.map_or_else(|| "unknown".into(), |k| format!("{k} kHz")),
        destination: dst
            .cpu
            .tsc_khz
            .map_or_else(|| "unknown".into(), |k| format!("{k} kHz")),
    };
    let ppm = match (guest_khz, dst.cpu.tsc_khz) {
        (Some(a), Some(b)) if a > 0 => Some(a.abs_diff(b).saturating_mul(1_000_000) / a),
        _ => None,
    };
    let tolerance = u64::from(policy.tsc_tolerance_ppm);
    let (severity, rule, message) = match (invtsc, ppm, scaling) {
        (_, Some(p), _) if p <= tolerance => return,
        (true, _, Some(true)) => (
            Severity::Info,
            "tsc.scaled",
            "the destination scales the guest's TSC (KVM_CAP_TSC_CONTROL): the invariant TSC keeps its frequency".to_owned(),
        ),
        (true, Some(p), _) => (
            Severity::Blocker,
            "tsc.frequency-mismatch",
            format!(
                "the guest sees an invariant TSC and the destination's TSC differs by {p} ppm (more than {tolerance}) without TSC scaling"
            ),
        ),
        (true, None, _) => (
            Severity::Warning,
            "tsc.frequency-unknown",
            "the guest sees an invariant TSC but a TSC frequency is unknown, so the 250 ppm rule cannot be checked".to_owned(),
        ),
        (false, Some(p), _) => (
            Severity::Info,
            "tsc.frequency-differs",
            format!("the TSC frequencies differ by {p} ppm: guest timers calibrated at boot drift"),
        ),
        (false, None, _) => return,
    };
    reasons.push(Reason {
        layer: Layer::Tsc,
        severity,
        rule: rule.into(),
        message,
        evidence,
    });
}

/// A named model needs a destination QEMU that has it.
fn qemu_model_rule(model: &str, dst_qemu: Option<QemuVersion>, reasons: &mut Vec<Reason>) {
    let Some(m) = models().get(model) else {
        return;
    };
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
    reasons.push(Reason {
        layer: Layer::QemuMachine,
        severity,
        rule: rule.into(),
        message,
        evidence: Evidence::Model {
            model: model.to_owned(),
            qemu: dst_qemu.map(|v| v.to_string()),
        },
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{profile_named, profile_of_model};

    #[test]
    fn a_host_runs_the_models_its_kvm_and_qemu_offer() {
        let mut sky = profile_of_model("sky", "Skylake-Server-v4").expect("model");
        let policy = Policy::default();
        assert!(can_run_model(&sky, "Skylake-Server-v4", &policy));
        assert!(can_run_model(&sky, "SandyBridge-v1", &policy));
        assert!(
            !can_run_model(&sky, "Skylake-Server-v1", &policy),
            "it has TSX, v4 not"
        );
        assert!(!can_run_model(&sky, "Icelake-Server-v1", &policy));
        assert!(!can_run_model(&sky, "no-such-model", &policy));
        // GraniteRapids-v1 first appears in QEMU 8.2: a host with QEMU 6.2 cannot start it,
        // whatever its CPU offers.
        let mut gnr = profile_of_model("gnr", "GraniteRapids-v1").expect("model");
        assert!(can_run_model(&gnr, "GraniteRapids-v1", &policy));
        gnr.qemu.push(crate::profile::QemuInstall {
            version: "6.2.0".into(),
            ..crate::profile::QemuInstall::default()
        });
        assert!(!can_run_model(&gnr, "GraniteRapids-v1", &policy));
        assert!(can_run_model(&gnr, "Skylake-Server-v4", &policy));
        sky.kvm = None;
        assert!(!can_run_model(&sky, "SandyBridge-v1", &policy));
    }

    fn rules(v: &Verdict) -> Vec<(&str, Severity)> {
        v.reasons
            .iter()
            .map(|r| (r.rule.as_str(), r.severity))
            .collect()
    }

    #[test]
    fn missing_fixed_feature_blocks_and_microcode_feature_warns() {
        let src = profile_named("a", "GenuineIntel", &["sse2", "avx2", "md-clear", "taa-no"]);
        let dst = profile_named("b", "GenuineIntel", &["sse2"]);
        let v = compare(&src, &dst, &GuestConfig::default());
        assert!(!v.compatible);
        let r = rules(&v);
        assert!(
            r.contains(&("cpu.feature-missing", Severity::Blocker)),
            "{r:?}"
        );
        assert_eq!(
            r.iter()
                .filter(|x| x.0 == "cpu.microcode-feature-missing")
                .count(),
            2,
            "{r:?}"
        );
        let avx2 = v
            .reasons
            .iter()
            .find(|r| r.rule == "cpu.feature-missing")
            .expect("avx2");
        assert!(
            matches!(&avx2.evidence, Evidence::Feature { citation, .. } if citation == "CPUID.(EAX=07H,ECX=0):EBX[5]")
        );
        // The other way round only gains features.
        let back = compare(&dst, &src, &GuestConfig::default());
        assert!(back.compatible, "{:?}", back.reasons);
        assert!(rules(&back).contains(&("cpu.destination-offers-more", Severity::Info)));
    }

    #[test]
    fn microcode_controls_block_and_enumeration_bits_warn() {
        let src = profile_named("a", "GenuineIntel", &["sse2", "spec-ctrl", "md-clear"]);
        let dst = profile_named("b", "GenuineIntel", &["sse2"]);
        let v = compare(&src, &dst, &GuestConfig::default());
        let r = rules(&v);
        assert!(
            r.contains(&("cpu.microcode-control-missing", Severity::Blocker)),
            "{r:?}"
        );
        assert!(
            r.contains(&("cpu.microcode-feature-missing", Severity::Warning)),
            "{r:?}"
        );
        let all_known = crate::catalog::MICROCODE_CONTROLS.iter().all(|n| {
            catalog()
                .lookup(n)
                .is_some_and(|id| catalog().get(id).class == FeatureClass::Microcode)
        });
        assert!(
            all_known,
            "every control is a known microcode-class feature"
        );
    }

    #[test]
    fn vendor_change_blocks_unless_policy_and_named_model() {
        let src = profile_named("a", "GenuineIntel", &["sse2", "lm"]);
        let dst = profile_named("b", "AuthenticAMD", &["sse2", "lm"]);
        assert!(!compare(&src, &dst, &GuestConfig::default()).compatible);
        let policy = Policy {
            allow_vendor_change: true,
            ..Policy::default()
        };
        assert!(!compare_with(&src, &dst, &GuestConfig::default(), &policy).compatible);
        let mut src = profile_of_model("a", "qemu64-v1").expect("qemu64");
        src.cpu.vendor = "GenuineIntel".into();
        let dst = profile_of_model("b", "qemu64-v1").expect("qemu64");
        let named = GuestConfig {
            cpu: GuestCpu::Named {
                model: "qemu64-v1".into(),
                enable: vec![],
                disable: vec![],
            },
            ..GuestConfig::default()
        };
        let v = compare_with(&src, &dst, &named, &policy);
        assert!(v.compatible, "{:?}", v.reasons);
        assert!(rules(&v).contains(&("vendor.change-allowed", Severity::Warning)));
        assert!(!compare(&src, &dst, &named).compatible);
    }

    #[test]
    fn named_model_needs_its_features_and_qemu_release() {
        let src = profile_of_model("a", "Cascadelake-Server-v5").expect("model");
        let dst = profile_of_model("b", "Skylake-Server-v5").expect("model");
        let guest = |model: &str, disable: &[&str]| GuestConfig {
            cpu: GuestCpu::Named {
                model: model.into(),
                enable: vec![],
                disable: disable.iter().map(|s| (*s).to_owned()).collect(),
            },
            ..GuestConfig::default()
        };
        assert!(compare(&src, &dst, &guest("Skylake-Server-v5", &[])).compatible);
        let v = compare(&src, &dst, &guest("Cascadelake-Server-v5", &[]));
        assert!(!v.compatible);
        let missing: Vec<_> = v
            .reasons
            .iter()
            .filter(|r| r.rule == "cpu.feature-missing")
            .collect();
        assert!(
            missing.iter().any(|r| r.message.contains("avx512vnni")),
            "{missing:?}"
        );
        let policy = Policy {
            dst_qemu: QemuVersion::parse("6.2.0"),
            ..Policy::default()
        };
        let sr = profile_of_model("c", "SapphireRapids-v3").expect("model");
        let v = compare_with(&sr, &sr, &guest("SapphireRapids-v3", &[]), &policy);
        assert!(
            rules(&v).contains(&("qemu.model-missing", Severity::Blocker)),
            "{:?}",
            v.reasons
        );
        let v = compare(&src, &dst, &guest("NoSuchModel", &[]));
        assert!(rules(&v).contains(&("cpu.invalid-guest-cpu", Severity::Blocker)));
    }

    #[test]
    fn invtsc_needs_fixed_frequency_and_matching_tsc() {
        let mut src = profile_named("a", "GenuineIntel", &["sse2", "invtsc"]);
        let mut dst = src.clone();
        dst.host_id = "b".into();
        src.cpu.tsc_khz = Some(2_100_000);
        dst.cpu.tsc_khz = Some(2_100_400); // 190 ppm
        // QEMU's default host-passthrough (migratable=on) leaves invtsc out.
        let v = compare(&src, &dst, &GuestConfig::default());
        assert!(v.compatible, "{:?}", v.reasons);
        let keeps = GuestConfig {
            cpu_props: [("migratable".to_owned(), "off".to_owned())].into(),
            ..GuestConfig::default()
        };
        let v = compare(&src, &dst, &keeps);
        assert!(rules(&v).contains(&("cpu.invtsc-without-tsc-frequency", Severity::Blocker)));
        let fixed = Policy {
            guest_tsc_khz: Some(2_100_000),
            ..Policy::default()
        };
        assert!(compare_with(&src, &dst, &keeps, &fixed).compatible);
        dst.cpu.tsc_khz = Some(2_101_000); // 476 ppm
        let v = compare_with(&src, &dst, &keeps, &fixed);
        assert!(
            rules(&v).contains(&("tsc.frequency-mismatch", Severity::Blocker)),
            "{:?}",
            v.reasons
        );
        if let Some(k) = dst.kvm.as_mut() {
            k.tsc_scaling = Some(true);
        }
        let v = compare_with(&src, &dst, &keeps, &fixed);
        assert!(v.compatible && rules(&v).contains(&("tsc.scaled", Severity::Info)));
        // host-model drops invtsc, so no blocker there, and says so.
        let hm = GuestConfig {
            cpu: GuestCpu::HostModel,
            ..GuestConfig::default()
        };
        let v = compare(&src, &dst, &hm);
        assert!(v.compatible);
        assert!(rules(&v).contains(&("cpu.non-migratable-left-out", Severity::Info)));
    }

    #[test]
    fn xsaves_warns_for_host_passthrough_only() {
        let src = profile_named("a", "GenuineIntel", &["sse2", "xsave", "xsaves"]);
        let v = compare(&src, &src, &GuestConfig::default());
        assert!(v.compatible, "{:?}", v.reasons);
        assert!(rules(&v).contains(&("cpu.non-migratable-feature", Severity::Warning)));
        let hm = GuestConfig {
            cpu: GuestCpu::HostModel,
            ..GuestConfig::default()
        };
        let v = compare(&src, &src, &hm);
        assert!(v.compatible);
        assert!(!rules(&v).contains(&("cpu.non-migratable-feature", Severity::Warning)));
    }

    #[test]
    fn guest_cpu_serde_uses_mode_tag() {
        let g: GuestConfig = serde_json::from_str(
            r#"{"cpu":{"mode":"named","model":"EPYC-Rome-v4","enable":["pcid"],"disable":["xsaves"]}}"#,
        )
        .expect("named guest parses");
        assert!(matches!(g.cpu, GuestCpu::Named { ref model, .. } if model == "EPYC-Rome-v4"));
        let j = serde_json::to_string(&GuestConfig::default()).expect("json");
        assert_eq!(j, r#"{"cpu":{"mode":"host-passthrough"}}"#);
    }
}

/// What [`compare_with`] needs from one host, reduced to bitsets and numbers, so that fleets of
/// thousands of hosts can be judged pair by pair without building reasons. [`HostFacts::edge`]
/// gives exactly `compare_with(..).compatible` (a property test holds the two together).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostFacts {
    arch: crate::profile::Arch,
    vendor: u64,
    /// The destination side: what the host's KVM offers; `None` without a guest view.
    offered: Option<FeatureSet>,
    /// The source side: the fixed-class features a guest started here sees (hypervisor removed);
    /// `None` when no guest view or the guest cpu cannot be resolved.
    seen_blocking: Option<FeatureSet>,
    /// A guest started here cannot move anywhere (a non-migratable feature, invtsc without a fixed
    /// frequency, an unresolvable guest cpu).
    source_blocked: bool,
    invtsc_seen: bool,
    /// The TSC frequency the guest runs at: the policy's fixed frequency, else the host's.
    guest_tsc_khz: Option<u64>,
    tsc_khz: Option<u64>,
    tsc_scaling: Option<bool>,
    /// As a destination: its QEMU release (the policy's, else the oldest probed) lacks the
    /// guest's named model.
    qemu_blocked: bool,
}

/// The microcode-class features that block when missing ([`crate::catalog::MICROCODE_CONTROLS`]).
pub fn microcode_controls() -> FeatureSet {
    static SET: std::sync::OnceLock<FeatureSet> = std::sync::OnceLock::new();
    *SET.get_or_init(|| {
        FeatureSet::from_names(crate::catalog::MICROCODE_CONTROLS.iter().copied()).0
    })
}

/// Features whose absence on the destination blocks: fixed-class ones (but `hypervisor`, which
/// QEMU sets) and the microcode-class controls.
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

fn vendor_hash(v: &str) -> u64 {
    v.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0000_01b3)
    })
}

impl HostFacts {
    pub fn new(p: &HostProfile, guest: &GuestConfig, policy: &Policy) -> Self {
        let offered = p.kvm.as_ref().map(|k| k.guest_features);
        let view = guest_view(p, guest);
        let mut source_blocked = matches!(
            view,
            Err(GuestCpuError::UnknownModel(_) | GuestCpuError::UnknownFeature(_))
        );
        let mut invtsc_seen = false;
        if let Ok(seen) = &view {
            let mut r = Vec::new();
            non_migratable_rule(seen, guest, policy, &mut r);
            source_blocked |= r.iter().any(|r| r.severity == Severity::Blocker);
            invtsc_seen = id_of("invtsc").is_some_and(|id| seen.contains(id));
        }
        Self {
            arch: p.cpu.arch,
            vendor: vendor_hash(&p.cpu.vendor),
            offered,
            seen_blocking: view.ok().map(|s| s.intersection(&blocking_when_missing())),
            source_blocked,
            invtsc_seen,
            guest_tsc_khz: policy.guest_tsc_khz.or(p.cpu.tsc_khz),
            tsc_khz: p.cpu.tsc_khz,
            tsc_scaling: p.kvm.as_ref().and_then(|k| k.tsc_scaling),
            qemu_blocked: named_model_blocked_by_qemu(
                guest,
                crate::rules::qemu_version(p, policy.dst_qemu),
            ),
        }
    }

    /// Can a guest on `self` move to `dst` without a blocker? `named` and `policy` must be those
    /// the facts were built with.
    pub fn edge(&self, dst: &Self, named: bool, policy: &Policy) -> bool {
        if self.source_blocked || dst.qemu_blocked || self.arch != dst.arch {
            return false;
        }
        if self.vendor != dst.vendor && !(policy.allow_vendor_change && named) {
            return false;
        }
        let (Some(seen), Some(offered)) = (&self.seen_blocking, &dst.offered) else {
            return false;
        };
        if self.offered.is_none() || !seen.is_subset(offered) {
            return false;
        }
        if self.invtsc_seen
            && dst.tsc_scaling != Some(true)
            && let (Some(a), Some(b)) = (self.guest_tsc_khz, dst.tsc_khz)
            && a > 0
            && a.abs_diff(b).saturating_mul(1_000_000) / a > u64::from(policy.tsc_tolerance_ppm)
        {
            return false;
        }
        true
    }
}

/// Whether a named model is missing from a destination's QEMU release.
fn named_model_blocked_by_qemu(guest: &GuestConfig, dst_qemu: Option<QemuVersion>) -> bool {
    let GuestCpu::Named { model, .. } = &guest.cpu else {
        return false;
    };
    models()
        .get(model)
        .is_some_and(|m| matches!(m.qemu_support(dst_qemu), QemuSupport::No { .. }))
}
