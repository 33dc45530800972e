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

use crate::catalog::catalog;
use crate::featureset::FeatureSet;
use crate::models::{
    FitMode, FitQuery, ModelFit, ModelKind, QemuVersion, accel_provided, best_model,
};
use crate::profile::{HostProfile, ProfileError, SCHEMA_VERSION, validate_host_id};
use crate::verdict::non_migratable;

/// Why no baseline could be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaselineError {
    #[error("no hosts given: a baseline needs at least one host")]
    NoHosts,
    #[error(
        "host {0} has no kvm guest view in its profile: re-collect it where /dev/kvm is readable"
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
        );
    }

    /// Fold in one more host read as a [`BaselineHost`].
    pub fn add_host(&mut self, host: &BaselineHost) {
        self.add_parts(
            &host.host_id,
            &host.cpu.vendor,
            (host.cpu.family, host.cpu.model),
            host.kvm.as_ref().map(|k| k.guest_features),
        );
    }

    fn add_parts(
        &mut self,
        host_id: &str,
        vendor: &str,
        signature: (u32, u32),
        view: Option<FeatureSet>,
    ) {
        if view.is_none() && self.no_guest_view.is_none() {
            self.no_guest_view = Some(host_id.to_owned());
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
            }
        }
    }

    pub fn n_hosts(&self) -> usize {
        self.host_ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.host_ids.is_empty()
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
    // A `-cpu` line can only carry what QEMU names; what the accelerator provides comes with the
    // `-cpu` model.
    // What only exists under a parent feature goes with it (the SVM leaf without svm, which QEMU
    // turns off for named models under KVM; the VMX capability MSRs without vmx).
    let features = crate::view::without_orphans(
        target
            .intersection(&crate::catalog::qemu_known())
            .difference(&accel)
            .union(&base_features.intersection(&accel)),
    );
    // The model as QEMU starts it under KVM (kvm_default_props: x2apic on; acpi, monitor, svm
    // off): what `added` and `removed` are relative to.
    let base_under_kvm = crate::view::named_model_features(&base_name, &[], &[])
        .unwrap_or(base_features)
        .difference(&accel)
        .union(&base_features.intersection(&accel));
    let added = features.difference(&base_under_kvm).difference(&accel);
    // Turn off even what QEMU would leave out where KVM lacks it (topoext...): on hosts whose KVM
    // has it the guest would see it, and the guest view must be the same on every host.
    // Relative to the model as written too: libvirt compares the model's own features (svm in
    // qemu64) with the host, so what QEMU's KVM defaults turn off is still said explicitly.
    let removed = base_under_kvm
        .union(&base_features)
        .difference(&features)
        .difference(&accel);
    if model.kind == ModelKind::Qemu && model.libvirt_name.is_none() {
        notes.push(format!(
            "libvirt 11.3's cpu_map has no model {}: the libvirt, Nova and KubeVirt exports need a libvirt that knows it",
            model.name
        ));
    }
    let exports = exports(&base_name, &added, &removed);
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
    let f = catalog().get(id);
    f.libvirt_name.clone().unwrap_or_else(|| f.name.clone())
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

/// Exports of `model` with features added and removed.
pub fn exports(model: &str, added: &FeatureSet, removed: &FeatureSet) -> Exports {
    let c = catalog();
    let qemu_name = |id| {
        let f = c.get(id);
        f.qemu_name.clone().unwrap_or_else(|| f.name.clone())
    };
    let mut qemu = model.to_owned();
    for id in added.iter() {
        qemu.push_str(&format!(",{}=on", qemu_name(id)));
    }
    for id in removed.iter() {
        qemu.push_str(&format!(",{}=off", qemu_name(id)));
    }
    let mut libvirt = format!(
        "<cpu mode='custom' match='exact' check='partial'>\n  <model fallback='forbid'>{}</model>\n",
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
    let mut kubevirt_yaml = format!("cpu:\n  model: {model}\n");
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
        assert!(base.notes.is_empty(), "{:?}", base.notes);
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
