//! Baselines: the CPU a guest can have on every host of a set, as the best named model plus the
//! shared features it lacks, minus non-migratable ones, with exports in the forms people paste.
//!
//! The choice follows libvirt's `virCPUx86Baseline` + `x86Decode` (src/cpu/cpu_x86.c): intersect
//! the hosts' features, then describe the intersection with the model of the same vendor that needs
//! the fewest added plus (penalised) removed features, preferring a model whose family/model is the
//! hosts' own when they all share one. Where fleetcompat differs, and why:
//! - it starts from the KVM guest view of each host, not the host CPU (a guest can only get what
//!   KVM offers);
//! - candidates are QEMU 10.0.2's models (libvirt 11.3's cpu_map lacks ClearwaterForest,
//!   SierraForest-v2, YongFeng), and a model the oldest QEMU of the set lacks is skipped;
//! - features the accelerator provides (`hypervisor`, KVM paravirtual bits) are not counted;
//! - mixed vendors do not fail (libvirt refuses them): the answer is the highest x86-64 psABI level
//!   all hosts reach, exported as `qemu64` plus and minus features, plus the other shared features.

use serde::{Deserialize, Serialize};

use crate::featureset::FeatureSet;
use crate::libvirt::{LibvirtVersion, cpu_map};
use crate::models::{
    FitMode, FitQuery, ModelFit, ModelKind, NamedModel, QemuSupport, QemuVersion, accel_provided,
    best_model, fit_ignoring, models,
};
use crate::profile::{HostProfile, ProfileError, SCHEMA_VERSION, validate_host_id};
use crate::verdict::non_migratable;

/// Why no baseline could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaselineError {
    #[error("no hosts given: a baseline needs at least one host")]
    NoHosts,
    #[error(
        "host {0} has no kvm guest view in its profile: run fleetcompat-collector probe on it where /dev/kvm is readable, or import its QEMU data (libvirt QMP json, virsh domcapabilities)"
    )]
    NoGuestView(String),
    #[error(
        "the hosts share no named model or x86-64 level: their common features lack even x86-64-v1"
    )]
    NoModel,
}

/// Options of a baseline.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BaselineOptions {
    /// The oldest QEMU release among the hosts: models it lacks are not candidates.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub qemu: Option<QemuVersion>,
    /// Features whose presence is unknown (MSR-based ones of hosts imported from CPUID-only
    /// dumps): they do not sway the model choice.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub ignore: FeatureSet,
    /// The libvirt release the libvirt, Nova and KubeVirt exports must suit (`9.0.0`): they use
    /// only model and feature names its `cpu_map` has. Unset: the oldest release the hosts
    /// recorded, and libvirt 9.0.0 (Debian 12) for hosts that recorded none.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub libvirt_version: Option<LibvirtVersion>,
}

/// The forms a baseline is pasted in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exports {
    /// `-cpu` argument of QEMU: `Skylake-Server-v4,pcid=on,hle=off`.
    pub qemu: String,
    /// libvirt `<cpu mode='custom' match='exact'>` element.
    pub libvirt: String,
    pub nova: NovaExport,
    /// KubeVirt `spec.domain.cpu` as YAML.
    pub kubevirt_yaml: String,
    /// KubeVirt `spec.domain.cpu` as JSON.
    pub kubevirt: serde_json::Value,
    /// The model the libvirt, Nova and KubeVirt exports name: one the libvirt of
    /// `libvirt_checked` knows (for libvirt 9.0.0 an unversioned model such as `Skylake-Server`,
    /// with the differences as explicit features).
    #[serde(default)]
    pub libvirt_model: String,
    /// The libvirt release whose `cpu_map` names the libvirt, Nova and KubeVirt exports were
    /// checked against (`9.0.0`).
    #[serde(default)]
    pub libvirt_checked: String,
}

/// Nova `[libvirt]` options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NovaExport {
    pub cpu_mode: String,
    pub cpu_models: Vec<String>,
    /// Features to add (plain) and remove (`-name`, Nova accepts the prefix since Victoria).
    pub cpu_model_extra_flags: Vec<String>,
}

/// A baseline. `features` is the complete feature list the guest sees (QEMU names, the model
/// expanded): it is about the guest view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    /// The named model: a versioned QEMU model, or an x86-64 level (`x86-64-v3`).
    pub model: String,
    pub model_kind: ModelKind,
    /// The QEMU `-cpu` model the exports use (`qemu64` for a level).
    pub base_model: String,
    pub vendor: Option<String>,
    pub features: FeatureSet,
    /// Features added to the base model.
    pub added: FeatureSet,
    /// Features of the base model turned off.
    pub removed: FeatureSet,
    /// Shared features left out because they never migrate (invtsc, xsaves).
    pub dropped_non_migratable: FeatureSet,
    pub hosts: Vec<String>,
    pub exports: Exports,
    /// Where the answer departs from libvirt's, or caveats of an export.
    pub notes: Vec<String>,
}

/// The features common to every host's guest view.
pub fn common_features(hosts: &[&HostProfile]) -> Result<FeatureSet, BaselineError> {
    let mut gathered = BaselineHosts::default();
    for h in hosts {
        gathered.add(h);
    }
    gathered.common_features()
}

/// What a baseline needs of its hosts, gathered one host at a time, so that a fleet can stream
/// through it without being held in memory: [`baseline`] is this fold over a slice.
#[derive(Clone, Debug, Default)]
pub struct BaselineHosts {
    /// The intersection of the guest views so far; `None` before the first host.
    common: Option<FeatureSet>,
    vendor: String,
    same_vendor: bool,
    signature: (u32, u32),
    same_signature: bool,
    host_ids: Vec<String>,
    /// The first host without a guest view.
    no_guest_view: Option<String>,
    /// The oldest libvirt release the hosts recorded.
    libvirt_oldest: Option<LibvirtVersion>,
    /// Some host recorded no (readable) libvirt release.
    libvirt_unknown: bool,
}

/// The parts of a host profile a baseline reads. Parsing a profile document into this skips the
/// rest unread and unchecked, in half the time of a whole [`HostProfile`]: `fleetcompat
/// baseline` streams fleet files this way.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct BaselineHost {
    schema_version: u32,
    host_id: String,
    cpu: BaselineCpu,
    #[serde(default)]
    kvm: Option<BaselineKvm>,
    #[serde(default)]
    libvirt_version: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct BaselineCpu {
    vendor: String,
    family: u32,
    model: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
struct BaselineKvm {
    guest_features: FeatureSet,
}

impl BaselineHost {
    /// Read a profile document; what is wrong with one is said as [`HostProfile::from_json`]
    /// says it (schema version first).
    pub fn from_json(text: &str) -> Result<Self, ProfileError> {
        match serde_json::from_str::<Self>(text) {
            Ok(h) if h.schema_version == SCHEMA_VERSION && validate_host_id(&h.host_id).is_ok() => {
                Ok(h)
            }
            _ => HostProfile::from_json(text).map(|p| Self::from(&p)),
        }
    }
}

impl From<&HostProfile> for BaselineHost {
    fn from(p: &HostProfile) -> Self {
        Self {
            schema_version: p.schema_version,
            host_id: p.host_id.clone(),
            cpu: BaselineCpu {
                vendor: p.cpu.vendor.clone(),
                family: p.cpu.family,
                model: p.cpu.model,
            },
            kvm: p.kvm.as_ref().map(|k| BaselineKvm {
                guest_features: k.guest_features,
            }),
            libvirt_version: p.libvirt_version.clone(),
        }
    }
}

impl BaselineHosts {
    /// Fold in one more host.
    pub fn add(&mut self, host: &HostProfile) {
        self.add_parts(
            &host.host_id,
            &host.cpu.vendor,
            (host.cpu.family, host.cpu.model),
            host.kvm.as_ref().map(|k| k.guest_features),
            host.libvirt_version.as_deref(),
        );
    }

    /// Fold in one more host read as a [`BaselineHost`].
    pub fn add_host(&mut self, host: &BaselineHost) {
        self.add_parts(
            &host.host_id,
            &host.cpu.vendor,
            (host.cpu.family, host.cpu.model),
            host.kvm.as_ref().map(|k| k.guest_features),
            host.libvirt_version.as_deref(),
        );
    }

    fn add_parts(
        &mut self,
        host_id: &str,
        vendor: &str,
        signature: (u32, u32),
        view: Option<FeatureSet>,
        libvirt: Option<&str>,
    ) {
        if view.is_none() && self.no_guest_view.is_none() {
            self.no_guest_view = Some(host_id.to_owned());
        }
        match libvirt.and_then(LibvirtVersion::parse) {
            Some(v) => self.libvirt_oldest = Some(self.libvirt_oldest.map_or(v, |o| o.min(v))),
            None => self.libvirt_unknown = true,
        }
        let view = view.unwrap_or(FeatureSet::EMPTY);
        match &mut self.common {
            None => {
                self.common = Some(view);
                vendor.clone_into(&mut self.vendor);
                self.same_vendor = true;
                self.signature = signature;
                // Family 0 means unknown (imports without CPUID): no signature preference then.
                self.same_signature = signature.0 != 0;
            }
            Some(common) => {
                *common = common.intersection(&view);
                self.same_vendor &= vendor.eq_ignore_ascii_case(&self.vendor);
                self.same_signature &= signature == self.signature;
            }
        }
        self.host_ids.push(host_id.to_owned());
    }

    /// Fold in the hosts of `later`, which come after these.
    pub fn append(&mut self, later: Self) {
        let Some(later_common) = later.common else {
            return;
        };
        match &mut self.common {
            None => *self = later,
            Some(common) => {
                *common = common.intersection(&later_common);
                self.same_vendor &=
                    later.same_vendor && later.vendor.eq_ignore_ascii_case(&self.vendor);
                self.same_signature &= later.same_signature && later.signature == self.signature;
                self.host_ids.extend(later.host_ids);
                if self.no_guest_view.is_none() {
                    self.no_guest_view = later.no_guest_view;
                }
                self.libvirt_unknown |= later.libvirt_unknown;
                self.libvirt_oldest = match (self.libvirt_oldest, later.libvirt_oldest) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
    }

    pub fn n_hosts(&self) -> usize {
        self.host_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.host_ids.is_empty()
    }

    /// The libvirt release the exports must suit unless one is given, and why: the oldest the
    /// hosts recorded; libvirt 9.0.0 (Debian 12) stands in for hosts that recorded none.
    pub fn oldest_libvirt(&self) -> (LibvirtVersion, &'static str) {
        match (self.libvirt_oldest, self.libvirt_unknown) {
            (Some(v), false) => (v, "the oldest libvirt of the hosts"),
            (Some(v), true) if v < crate::libvirt::DEFAULT => {
                (v, "the oldest libvirt of the hosts")
            }
            _ => (
                crate::libvirt::DEFAULT,
                "some hosts recorded no libvirt release: Debian 12's is assumed",
            ),
        }
    }

    /// The features common to every host's guest view so far.
    pub fn common_features(&self) -> Result<FeatureSet, BaselineError> {
        if let Some(id) = &self.no_guest_view {
            return Err(BaselineError::NoGuestView(id.clone()));
        }
        self.common.ok_or(BaselineError::NoHosts)
    }
}

/// The baseline of a set of hosts.
pub fn baseline(hosts: &[&HostProfile], opts: &BaselineOptions) -> Result<Baseline, BaselineError> {
    let mut gathered = BaselineHosts::default();
    for h in hosts {
        gathered.add(h);
    }
    baseline_of(gathered, opts)
}

/// The baseline of hosts gathered by [`BaselineHosts`].
pub fn baseline_of(
    hosts: BaselineHosts,
    opts: &BaselineOptions,
) -> Result<Baseline, BaselineError> {
    let common = hosts.common_features()?;
    let nm = non_migratable();
    let target = common.difference(&nm);
    let dropped_non_migratable = common.intersection(&nm);
    let first_vendor = hosts.vendor.as_str();
    let (same_vendor, same_signature) = (hosts.same_vendor, hosts.same_signature);
    let first_signature = hosts.signature;
    let mut notes = Vec::new();
    let mut fit: Option<ModelFit> = None;
    if same_vendor {
        fit = best_model(&FitQuery {
            features: &target,
            vendor: Some(first_vendor),
            signature: same_signature.then_some(first_signature),
            mode: FitMode::Guest,
            qemu: opts.qemu,
            abi_levels: false,
            ignore: opts.ignore,
        });
        if fit.is_none() {
            notes.push(format!(
                "no QEMU model of vendor {first_vendor} fits: falling back to an x86-64 level"
            ));
        }
    } else {
        notes.push(
            "the hosts have different cpu vendors: libvirt refuses such a baseline; fleetcompat uses the highest x86-64 psABI level all reach (a vendor change stays a blocker unless the policy allows it)"
                .into(),
        );
    }
    let fit = match fit {
        Some(f) => f,
        None => best_model(&FitQuery {
            features: &target,
            vendor: None,
            signature: None,
            mode: FitMode::Host,
            qemu: None,
            abi_levels: true,
            ignore: opts.ignore,
        })
        .ok_or(BaselineError::NoModel)?,
    };
    let model = fit.model;
    let accel = accel_provided();
    // For a level the exports start from qemu64: express the same features against it.
    let (base_features, base_name) = match model.kind {
        ModelKind::Qemu => (model.features, model.canonical_name().to_owned()),
        ModelKind::AbiLevel => {
            let q = crate::models::models().get("qemu64-v1");
            (
                q.map_or(FeatureSet::EMPTY, |q| q.features),
                "qemu64".to_owned(),
            )
        }
    };
    // A `-cpu` line can only carry what QEMU names, and the oldest QEMU of the hosts only its own
    // flags (QEMU 7.2 fails on `fdp-excptn-only=on`: see `crate::flags`); what the accelerator
    // provides comes with the `-cpu` model. What only exists under a parent feature goes with it
    // (the SVM leaf without svm, which QEMU turns off for named models under KVM; the VMX
    // capability MSRs without vmx).
    let flags = crate::flags::qemu_flags(opts.qemu);
    let features = crate::view::without_orphans(
        target
            .intersection(&crate::catalog::qemu_known())
            .difference(&accel)
            .union(&base_features.intersection(&accel)),
    );
    let unnamed = features.difference(&base_features).difference(&flags);
    let features = features.difference(&unnamed);
    if let (Some(q), false) = (opts.qemu, unnamed.is_empty()) {
        notes.push(format!(
            "QEMU {q} has no flag for {}: the exports leave them out, so guests do not get them",
            unnamed.names().join(", ")
        ));
    }
    // The model as QEMU starts it under KVM (kvm_default_props: x2apic on; acpi, monitor, svm
    // off): what `added` is relative to.
    let base_under_kvm = crate::view::named_model_features(&base_name, &[], &[])
        .unwrap_or(base_features)
        .difference(&accel)
        .union(&base_features.intersection(&accel));
    let added = features.difference(&base_under_kvm).difference(&accel);
    // Turn off even what QEMU would leave out where KVM lacks it (topoext...): on hosts whose KVM
    // has it the guest would see it, and the guest view must be the same on every host. Relative
    // to the model as written too: libvirt compares the model's own features (svm in qemu64) with
    // the host, so what QEMU's KVM defaults turn off is still said explicitly. A feature the
    // oldest QEMU has no flag for is in none of its models either.
    let removed = base_under_kvm
        .union(&base_features)
        .difference(&features)
        .difference(&accel)
        .intersection(&flags);
    let (libvirt_version, why) = match opts.libvirt_version {
        Some(v) => (v, "as asked"),
        None => hosts.oldest_libvirt(),
    };
    let signature = same_signature.then_some(first_signature);
    let lv = libvirt_form(
        model,
        &features,
        signature,
        opts,
        libvirt_version,
        why,
        &mut notes,
    );
    let exports = exports(&base_name, &added, &removed, &lv);
    Ok(Baseline {
        model: model.canonical_name().to_owned(),
        model_kind: model.kind,
        base_model: base_name,
        vendor: model.vendor.clone(),
        features,
        added,
        removed,
        dropped_non_migratable,
        hosts: hosts.host_ids,
        exports,
        notes,
    })
}

/// A baseline as libvirt names it: a model the libvirt release knows, and the features to
/// require and disable on top of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibvirtForm {
    pub model: String,
    pub require: FeatureSet,
    pub disable: FeatureSet,
    /// The release of the `cpu_map` data the names were checked against.
    pub checked: LibvirtVersion,
}

/// Features a libvirt release can name in `<feature>` elements, and QEMU on a `-cpu` line.
fn libvirt_nameable(version: LibvirtVersion) -> FeatureSet {
    let map = cpu_map();
    let mut set = FeatureSet::EMPTY;
    for id in crate::catalog::qemu_known().iter() {
        if map.knows_feature(&crate::libvirt::feature_name(id), version) {
            set.insert(id);
        }
    }
    set
}

/// The libvirt model for `features`: the chosen QEMU model itself where the libvirt release
/// knows its (versioned) name, otherwise the best-fitting model the release knows (for libvirt
/// 9.0.0 an unversioned one), with what differs as explicit features. QEMU starts an unversioned
/// model as its `-v1` (QEMU target/i386/cpu.c, `x86_cpu_model_resolve_version` with the legacy
/// default version), and libvirt's `check='partial'` holds the guest to its own `cpu_map`
/// definition (libvirt src/qemu/qemu_process.c, `qemuProcessVerifyCPU`): features either lacks
/// are required, features either has beyond `features` are disabled.
fn libvirt_form(
    model: &'static NamedModel,
    features: &FeatureSet,
    signature: Option<(u32, u32)>,
    opts: &BaselineOptions,
    version: LibvirtVersion,
    why: &str,
    notes: &mut Vec<String>,
) -> LibvirtForm {
    let map = cpu_map();
    let checked = map.checked_against(version);
    if version < checked {
        notes.push(format!(
            "libvirt {version} is older than the oldest cpu_map fleetcompat holds: the libvirt, Nova and KubeVirt exports were checked against libvirt {checked}'s names, which an older libvirt may lack"
        ));
    }
    let db = models();
    let direct = (model.kind == ModelKind::Qemu)
        .then_some(model.libvirt_name.as_deref())
        .flatten()
        .filter(|n| map.model(n, version).is_some());
    let chosen: Option<&'static NamedModel> = match direct {
        Some(_) => Some(model),
        None if model.kind == ModelKind::AbiLevel => db.get("qemu64"),
        None => {
            let mut best: Option<ModelFit> = None;
            for m in db.all().iter().rev() {
                if m.kind != ModelKind::Qemu
                    || m.vendor != model.vendor
                    || map.model(&m.name, version).is_none()
                    || opts
                        .qemu
                        .is_some_and(|q| m.qemu_support(Some(q)) != QemuSupport::Yes)
                {
                    continue;
                }
                let cand = fit_ignoring(m, features, signature, &opts.ignore);
                let better = match &best {
                    None => true,
                    Some(cur) if cur.signature_match != cand.signature_match => {
                        cand.signature_match
                    }
                    Some(cur) => {
                        cand.score < cur.score
                            || (cand.score == cur.score && cand.removed.len() < cur.removed.len())
                    }
                };
                if better {
                    best = Some(cand);
                }
            }
            if best.is_none() {
                notes.push(format!(
                    "libvirt {checked} knows no model of vendor {}: the libvirt, Nova and KubeVirt exports describe the baseline as qemu64 with features",
                    model.vendor.as_deref().unwrap_or("unknown")
                ));
            }
            best.map(|b| b.model).or_else(|| db.get("qemu64"))
        }
    };
    let Some(chosen) = chosen else {
        return LibvirtForm {
            model: model.canonical_name().to_owned(),
            require: FeatureSet::EMPTY,
            disable: FeatureSet::EMPTY,
            checked,
        };
    };
    let name = match direct {
        Some(n) => n.to_owned(),
        None => chosen.name.clone(),
    };
    let lv_def = map
        .model(&name, version)
        .map_or(chosen.features, |m| m.features);
    let accel = accel_provided();
    let nameable = libvirt_nameable(version);
    let qemu_def = chosen.features;
    let require = features
        .difference(&accel)
        .difference(&qemu_def.intersection(&lv_def));
    let disable = qemu_def
        .union(&lv_def)
        .difference(features)
        .difference(&accel)
        .intersection(&crate::catalog::qemu_known());
    let unnamed_require = require.difference(&nameable);
    if !unnamed_require.is_empty() {
        notes.push(format!(
            "libvirt {checked} has no name for {}: guests defined through libvirt, Nova or KubeVirt do not get them (the QEMU export has them)",
            unnamed_require.names().join(", ")
        ));
    }
    // What QEMU turns off with vmx (or svm...) need not be named: libvirt passes `vmx=off` on.
    let disable = if checked < crate::libvirt::NEWEST_KNOWN {
        crate::flags::collapse_off(&disable)
    } else {
        disable
    };
    let unnamed_disable = disable.difference(&nameable);
    if !unnamed_disable.is_empty() {
        notes.push(format!(
            "libvirt {checked} cannot turn off {} of model {name}: guests defined through libvirt see them where the host offers them; use the QEMU export or a newer libvirt",
            unnamed_disable.names().join(", ")
        ));
    }
    if name != model.canonical_name() && model.kind == ModelKind::Qemu {
        notes.push(format!(
            "the libvirt, Nova and KubeVirt exports use {name}, a model libvirt {checked} knows ({why}; versioned names such as {} exist in libvirt only since {})",
            model.canonical_name(),
            crate::libvirt::VERSIONED_NAMES
        ));
    }
    LibvirtForm {
        model: name,
        require: require.intersection(&nameable),
        disable: disable.intersection(&nameable),
        checked,
    }
}

/// What a host's guests give up under a baseline, compared with host-passthrough there: its
/// guest view less the baseline's features. What the accelerator gives every guest whatever the
/// model (the hypervisor bit, KVM's paravirtual CPUID.40000001H bits) is not lost.
pub fn features_lost(host: &HostProfile, b: &Baseline) -> FeatureSet {
    host.kvm.as_ref().map_or(FeatureSet::EMPTY, |k| {
        k.guest_features
            .difference(&b.features)
            .difference(&crate::models::accel_provided())
    })
}

/// The host model of one host: its baseline alone.
pub fn host_model(host: &HostProfile, opts: &BaselineOptions) -> Result<Baseline, BaselineError> {
    baseline(&[host], opts)
}

fn libvirt_feature_name(id: crate::catalog::FeatureId) -> String {
    crate::libvirt::feature_name(id)
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// Exports of QEMU `model` with features added and removed (the `-cpu` line: what QEMU turns
/// off along with `vmx` or `svm` is not repeated), and of its libvirt form for libvirt, Nova and
/// KubeVirt.
pub fn exports(model: &str, added: &FeatureSet, removed: &FeatureSet, lv: &LibvirtForm) -> Exports {
    let qemu_name = crate::flags::qemu_flag;
    let mut qemu = model.to_owned();
    for id in added.iter() {
        qemu.push_str(&format!(",{}=on", qemu_name(id)));
    }
    for id in crate::flags::collapse_off(removed).iter() {
        qemu.push_str(&format!(",{}=off", qemu_name(id)));
    }
    let (added, removed) = (&lv.require, &lv.disable);
    let model = lv.model.as_str();
    let mut libvirt = format!(
        "<cpu mode='custom' match='exact' check='partial'>\n  <!-- names of libvirt {}'s cpu_map -->\n  <model fallback='forbid'>{}</model>\n",
        lv.checked,
        xml_escape(model)
    );
    for (policy, set) in [("require", added), ("disable", removed)] {
        for id in set.iter() {
            libvirt.push_str(&format!(
                "  <feature policy='{policy}' name='{}'/>\n",
                xml_escape(&libvirt_feature_name(id))
            ));
        }
    }
    libvirt.push_str("</cpu>\n");
    let nova = NovaExport {
        cpu_mode: "custom".into(),
        cpu_models: vec![model.to_owned()],
        cpu_model_extra_flags: added
            .iter()
            .map(libvirt_feature_name)
            .chain(
                removed
                    .iter()
                    .map(|id| format!("-{}", libvirt_feature_name(id))),
            )
            .collect(),
    };
    let kv_features: Vec<serde_json::Value> =
        added
            .iter()
            .map(|id| serde_json::json!({"name": libvirt_feature_name(id), "policy": "require"}))
            .chain(removed.iter().map(
                |id| serde_json::json!({"name": libvirt_feature_name(id), "policy": "disable"}),
            ))
            .collect();
    let mut kubevirt_yaml = format!(
        "# names of libvirt {}'s cpu_map\ncpu:\n  model: {model}\n",
        lv.checked
    );
    if !kv_features.is_empty() {
        kubevirt_yaml.push_str("  features:\n");
        for (policy, set) in [("require", added), ("disable", removed)] {
            for id in set.iter() {
                kubevirt_yaml.push_str(&format!(
                    "    - name: {}\n      policy: {policy}\n",
                    libvirt_feature_name(id)
                ));
            }
        }
    }
    Exports {
        qemu,
        libvirt,
        nova,
        kubevirt_yaml,
        kubevirt: serde_json::json!({"model": model, "features": kv_features}),
        libvirt_model: model.to_owned(),
        libvirt_checked: lv.checked.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{profile_named, profile_of_model};
    use crate::verdict::{GuestConfig, GuestCpu, compare};

    /// Gathering hosts in runs and appending the runs in order gives the baseline of the slice,
    /// however the hosts are split (the command line gathers blocks of a fleet file this way).
    #[test]
    fn baseline_gathered_in_runs_equals_the_baseline_of_the_slice() {
        let mut hosts = Vec::new();
        for (i, m) in [
            "Skylake-Server-v4",
            "Cascadelake-Server-v4",
            "Icelake-Server-v6",
            "Skylake-Server-v1",
            "EPYC-Rome-v1",
            "Cascadelake-Server-v1",
        ]
        .iter()
        .enumerate()
        {
            hosts.push(profile_of_model(&format!("h{i}"), m).expect("model"));
        }
        let mut no_view = profile_of_model("no-view", "Skylake-Server-v4").expect("model");
        no_view.kvm = None;
        let opts = BaselineOptions::default();
        // Same vendor and signature; mixed vendors; a host without a guest view.
        for set in [&hosts[..2], &hosts[..4], &hosts[..], &hosts[1..2]] {
            let refs: Vec<&HostProfile> = set.iter().collect();
            let whole = baseline(&refs, &opts).expect("baseline");
            for split in 0..=refs.len() {
                let (mut a, mut b) = (BaselineHosts::default(), BaselineHosts::default());
                refs[..split].iter().for_each(|h| a.add(h));
                refs[split..].iter().for_each(|h| b.add(h));
                a.append(b);
                assert_eq!(a.n_hosts(), refs.len());
                let runs = baseline_of(a, &opts).expect("baseline of runs");
                assert_eq!(
                    serde_json::to_value(&runs).ok(),
                    serde_json::to_value(&whole).ok(),
                    "split at {split} of {}",
                    refs.len()
                );
            }
        }
        let mut with_gap: Vec<&HostProfile> = hosts.iter().take(3).collect();
        with_gap.insert(2, &no_view);
        let mut a = BaselineHosts::default();
        let mut b = BaselineHosts::default();
        with_gap[..3].iter().for_each(|h| a.add(h));
        with_gap[3..].iter().for_each(|h| b.add(h));
        b.append(BaselineHosts::default());
        a.append(b);
        assert!(matches!(
            baseline_of(a, &opts),
            Err(BaselineError::NoGuestView(id)) if id == "no-view"
        ));
        assert!(matches!(
            baseline_of(BaselineHosts::default(), &opts),
            Err(BaselineError::NoHosts)
        ));
    }

    /// A profile read as a `BaselineHost` gathers like the whole profile; bad documents are
    /// refused with the whole profile's errors.
    #[test]
    fn baseline_hosts_read_from_json_gather_like_whole_profiles() {
        let opts = BaselineOptions::default();
        let hosts: Vec<HostProfile> = ["Skylake-Server-v4", "EPYC-Rome-v1", "Icelake-Server-v6"]
            .iter()
            .enumerate()
            .map(|(i, m)| profile_of_model(&format!("h{i}"), m).expect("model"))
            .collect();
        let mut no_view = profile_of_model("no-view", "Skylake-Server-v4").expect("model");
        no_view.kvm = None;
        for set in [
            &hosts[..1],
            &hosts[..],
            &[hosts[0].clone(), hosts[2].clone()][..],
        ] {
            let (mut whole, mut read) = (BaselineHosts::default(), BaselineHosts::default());
            for h in set {
                whole.add(h);
                let json = serde_json::to_string(h).expect("json");
                read.add_host(&BaselineHost::from_json(&json).expect("reads"));
            }
            assert_eq!(
                serde_json::to_value(baseline_of(whole, &opts).expect("baseline")).ok(),
                serde_json::to_value(baseline_of(read, &opts).expect("baseline")).ok()
            );
        }
        let json = serde_json::to_string(&no_view).expect("json");
        let read = BaselineHost::from_json(&json).expect("reads");
        assert_eq!(read, BaselineHost::from(&no_view));
        let mut g = BaselineHosts::default();
        g.add_host(&read);
        assert!(
            matches!(baseline_of(g, &opts), Err(BaselineError::NoGuestView(id)) if id == "no-view")
        );

        let json = serde_json::to_string(&hosts[0]).expect("json");
        let newer = json.replacen("\"schema_version\":1", "\"schema_version\":2", 1);
        assert_eq!(
            BaselineHost::from_json(&newer),
            Err(HostProfile::from_json(&newer).expect_err("newer schema"))
        );
        let bad_id = json.replacen("\"host_id\":\"h0\"", "\"host_id\":\"a b/c\"", 1);
        assert!(matches!(
            BaselineHost::from_json(&bad_id),
            Err(ProfileError::Field {
                field: "host_id",
                ..
            })
        ));
        let unknown = json.replace("\"avx512f\"", "\"avx512-nonsense\"");
        let err = BaselineHost::from_json(&unknown).expect_err("unknown feature");
        assert!(err.to_string().contains("avx512-nonsense"), "{err}");
        // The host's own feature list (before the guest view) is not what a baseline reads.
        let only_host_view = json.replacen("\"avx512f\"", "\"avx512-nonsense\"", 1);
        assert!(HostProfile::from_json(&only_host_view).is_err());
        assert!(BaselineHost::from_json(&only_host_view).is_ok());
        assert!(BaselineHost::from_json("{\"schema_version\": 1").is_err());
    }

    #[test]
    fn baseline_of_skylake_and_cascadelake_is_skylake_and_runs_on_both() {
        let a = profile_of_model("sky", "Skylake-Server-v4").expect("model");
        let b = profile_of_model("csl", "Cascadelake-Server-v4").expect("model");
        let base = baseline(&[&a, &b], &BaselineOptions::default()).expect("baseline");
        assert!(base.model.starts_with("Skylake-Server"), "{}", base.model);
        // The only note says which libvirt names the libvirt exports use (no host recorded one).
        assert_eq!(base.notes.len(), 1, "{:?}", base.notes);
        assert!(base.notes[0].contains("libvirt 9.0.0"), "{:?}", base.notes);
        assert_eq!(base.exports.libvirt_checked, "9.0.0");
        assert!(
            base.exports
                .libvirt
                .contains(&format!(">{}</model>", base.exports.libvirt_model))
        );
        assert!(!base.exports.libvirt_model.contains("-v"));
        assert!(base.exports.qemu.starts_with(&base.model));
        assert!(base.exports.libvirt.contains("<model fallback='forbid'>"));
        for h in [&a, &b] {
            let g = GuestConfig {
                cpu: GuestCpu::Named {
                    model: base.base_model.clone(),
                    enable: base.added.names(),
                    disable: base.removed.names(),
                },
                ..GuestConfig::default()
            };
            let v = compare(h, h, &g);
            assert!(
                !v.reasons
                    .iter()
                    .any(|r| r.rule == "cpu.model-not-runnable-on-source"),
                "{}: {:?}",
                h.host_id,
                v.reasons
            );
        }
    }

    /// The libvirt, Nova and KubeVirt exports use names of the oldest libvirt: 9.0.0 without
    /// versioned names or SapphireRapids, unless every host recorded a newer one or one is given.
    #[test]
    fn libvirt_exports_name_what_the_oldest_libvirt_knows() {
        let map = cpu_map();
        let v9 = crate::libvirt::DEFAULT;
        let spr = profile_of_model("spr", "SapphireRapids-v3").expect("model");
        let mut spr2 = profile_of_model("spr2", "SapphireRapids-v3").expect("model");
        let opts = BaselineOptions::default();
        let b = baseline(&[&spr, &spr2], &opts).expect("baseline");
        assert_eq!(b.model, "SapphireRapids-v3");
        assert_eq!(b.exports.libvirt_checked, "9.0.0");
        let lv = &b.exports.libvirt_model;
        assert!(map.model(lv, v9).is_some(), "{lv}");
        assert!(b.exports.libvirt.contains(&format!(">{lv}</model>")));
        assert_eq!(b.exports.nova.cpu_models, vec![lv.clone()]);
        assert_eq!(b.exports.kubevirt["model"], lv.as_str());
        for line in b.exports.libvirt.lines().filter(|l| l.contains("<feature")) {
            let name = line
                .split("name='")
                .nth(1)
                .and_then(|r| r.split('\'').next());
            let name = name.expect("feature name");
            assert!(
                map.knows_feature(name, v9),
                "{name} in {}",
                b.exports.libvirt
            );
        }
        // Every host on libvirt 11.3.0: the versioned QEMU name.
        let mut spr1 = spr.clone();
        spr1.libvirt_version = Some("11.3.0".into());
        spr2.libvirt_version = Some("libvirtd (libvirt) 11.3.0".into());
        let b = baseline(&[&spr1, &spr2], &opts).expect("baseline");
        assert_eq!(b.exports.libvirt_checked, "11.3.0");
        assert_eq!(b.exports.libvirt_model, "SapphireRapids-v3");
        // One host without a recorded libvirt: Debian 12's is assumed.
        let b = baseline(&[&spr1, &spr], &opts).expect("baseline");
        assert_eq!(b.exports.libvirt_checked, "9.0.0");
        // A version given wins.
        let given = BaselineOptions {
            libvirt_version: LibvirtVersion::parse("11.3.0"),
            ..BaselineOptions::default()
        };
        let b = baseline(&[&spr, &spr], &given).expect("baseline");
        assert_eq!(b.exports.libvirt_model, "SapphireRapids-v3");
        // The same for a model libvirt 9.0.0 has: its unversioned name.
        let wsm = profile_of_model("wsm", "Westmere-v1").expect("model");
        let b = baseline(&[&wsm], &opts).expect("baseline");
        assert_eq!(b.exports.libvirt_model, "Westmere");
        assert!(b.exports.qemu.starts_with("Westmere-v1"));
    }

    #[test]
    fn mixed_vendors_fall_back_to_a_level_without_non_migratable_features() {
        let a = profile_of_model("intel", "Haswell-v4").expect("model");
        let mut b = profile_of_model("amd", "EPYC-Rome-v4").expect("model");
        if let Some(k) = b.kvm.as_mut() {
            k.guest_features
                .insert(crate::catalog().lookup("invtsc").expect("invtsc"));
        }
        let base = baseline(&[&a, &b], &BaselineOptions::default()).expect("baseline");
        assert_eq!(base.model, "x86-64-v3");
        assert_eq!(base.base_model, "qemu64");
        assert!(
            base.exports.qemu.contains("svm=off"),
            "{}",
            base.exports.qemu
        );
        assert!(base.notes.iter().any(|n| n.contains("vendors")));
        assert!(!base.features.names().contains(&"invtsc".to_owned()));
        let only_a = baseline(&[&a], &BaselineOptions::default()).expect("host model");
        assert_eq!(only_a.model, "Haswell-v4");
        assert!(only_a.added.is_empty() && only_a.removed.is_empty());
        assert!(matches!(
            baseline(&[], &BaselineOptions::default()),
            Err(BaselineError::NoHosts)
        ));
        let tiny = profile_named("tiny", "GenuineIntel", &["sse2"]);
        assert_eq!(
            baseline(&[&tiny, &b], &BaselineOptions::default()),
            Err(BaselineError::NoModel)
        );
    }
}
