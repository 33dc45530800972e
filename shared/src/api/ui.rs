//! What the web UI reads from the API and sends to it: the parts of the engine's documents its
//! pages show, declared here (never in the frontend) and decoded from the same JSON.
//!
//! Why not the engine types themselves: decoding them in the browser links what the pages never
//! use, and that made the UI's WASM too big (issue #6: <= 400 KB gzip). A `FeatureSet` decodes
//! through the feature catalog (its TSV data and parser); `GuestConfig` and `Policy` come with
//! every guest and policy type; `#[serde(flatten)]` and internally tagged enums (`Evidence`,
//! `MasksAnswer`) buffer through serde's `Content`. Here feature sets are their names, the guest
//! and policy echoed in answers are skipped, and no type flattens or is tagged. The tests below
//! decode real engine answers into these types, so they cannot drift from the API.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::baseline::Exports;
use crate::graph::{ClassEdge, ClassNode, Pool};
use crate::models::ModelKind;
use crate::profile::{
    Arch, GuestViewSource, MsrValue, PciFunction, ProbeGap, ProfileOrigin, QemuCpuModel,
    QemuMachine,
};
use crate::verdict::{GuestCpu, Layer, Severity};

use super::{PoolSummary, ValueChange};

/// A [`crate::verdict::Verdict`] (`GET /api/v1/compat`) without its guest configuration; also a
/// precheck's [`super::TargetVerdict`]: its reasons, or with `detail: "blockers"` the brief's
/// blocker count and sentence and no reasons (one type for both: one decoder in the UI's WASM).
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Verdict {
    pub from: String,
    pub to: String,
    pub compatible: bool,
    #[serde(default)]
    pub reasons: Vec<Reason>,
    /// Only in precheck answers with `detail: "blockers"` ([`super::VerdictBrief`]).
    #[serde(default)]
    pub n_blockers: usize,
    /// Only in precheck answers with `detail: "blockers"`.
    #[serde(default)]
    pub sentence: String,
}

/// A [`crate::verdict::Reason`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Reason {
    pub layer: Layer,
    pub severity: Severity,
    pub rule: String,
    pub message: String,
    pub evidence: Evidence,
}

/// A [`crate::verdict::Evidence`] as one struct: `kind` (`feature`, `values`, `model`, `none`)
/// and the fields of that kind.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Evidence {
    pub kind: String,
    pub feature: Option<String>,
    pub citation: Option<String>,
    pub source: Option<String>,
    pub destination: Option<String>,
    pub model: Option<String>,
    pub qemu: Option<String>,
}

impl Evidence {
    /// The same line as [`crate::verdict::Evidence::summary`].
    pub fn summary(&self) -> String {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        match self.kind.as_str() {
            "feature" => format!("{} at {}", s(&self.feature), s(&self.citation)),
            "values" => format!(
                "source {}, destination {}",
                s(&self.source),
                s(&self.destination)
            ),
            "model" => match &self.qemu {
                Some(q) => format!("model {}, qemu {q}", s(&self.model)),
                None => format!("model {}", s(&self.model)),
            },
            _ => String::new(),
        }
    }
}

impl Evidence {
    /// The evidence in words for the web UI: "on the source: 63; on the destination: 81".
    pub fn words(&self) -> String {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        match self.kind.as_str() {
            "feature" => format!("{} ({})", s(&self.feature), s(&self.citation)),
            "values" => format!(
                "on the source: {}; on the destination: {}",
                s(&self.source),
                s(&self.destination)
            ),
            "model" => match &self.qemu {
                Some(q) => format!("CPU model {} with QEMU {q}", s(&self.model)),
                None => format!("CPU model {}", s(&self.model)),
            },
            _ => String::new(),
        }
    }
}

/// A [`super::GraphAnswer`] (`GET|POST /api/v1/graph`) without the guest and policy.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Graph {
    pub n_hosts: usize,
    pub classes: Vec<ClassNode>,
    pub edges: Vec<ClassEdge>,
    pub pools: Vec<Pool>,
    pub class_labels: Vec<BTreeMap<String, Vec<String>>>,
    /// Human names of `classes`, index for index (empty from an older server).
    #[serde(default)]
    pub class_names: Vec<String>,
    /// Human names of `pools`, index for index.
    #[serde(default)]
    pub pool_names: Vec<String>,
}

impl Graph {
    /// The name of class `i`; "class N" only when the server sent no names.
    pub fn class_name(&self, i: usize) -> String {
        self.class_names
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("class {i}"))
    }

    /// The name of pool `p`; "pool N" only when the server sent no names.
    pub fn pool_name(&self, p: usize) -> String {
        self.pool_names
            .get(p)
            .cloned()
            .unwrap_or_else(|| format!("pool {p}"))
    }
}

/// A [`super::PoolList`] (`GET /api/v1/pools`) without the guest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PoolList {
    pub n_hosts: usize,
    pub pools: Vec<PoolSummary>,
}

/// A [`super::ProfileDiff`] (`GET /api/v1/hosts/{id}/diff`) without the guest and the MSRs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct ProfileDiff {
    pub from_version: u32,
    pub to_version: u32,
    pub guest_features_added: Vec<String>,
    pub guest_features_removed: Vec<String>,
    pub host_features_added: Vec<String>,
    pub host_features_removed: Vec<String>,
    #[serde(default)]
    pub kernel: Option<ValueChange>,
    #[serde(default)]
    pub microcode: Option<ValueChange>,
    #[serde(default)]
    pub qemu: Option<ValueChange>,
    #[serde(default)]
    pub class_id: Option<ValueChange>,
    pub targets_added: Vec<String>,
    pub targets_removed: Vec<String>,
}

/// A [`crate::profile::HostProfile`] (`GET /api/v1/hosts/{id}`) without raw CPUID and MSRs.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HostProfile {
    pub host_id: String,
    pub hostname: String,
    pub collected_at: String,
    pub origin: ProfileOrigin,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub cpu: CpuInfo,
    #[serde(default)]
    pub kvm: Option<KvmInfo>,
    #[serde(default)]
    pub kernel_release: Option<String>,
    #[serde(default)]
    pub gaps: Vec<ProbeGap>,
    #[serde(default)]
    pub qemu: Vec<QemuInstall>,
    #[serde(default)]
    pub devices: Devices,
}

/// A [`crate::profile::CpuInfo`]; `features` are names in catalog order.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CpuInfo {
    pub arch: Arch,
    pub vendor: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub brand: String,
    #[serde(default)]
    pub microcode: Option<String>,
    #[serde(default)]
    pub tsc_khz: Option<u64>,
    pub features: Vec<String>,
}

/// A [`crate::profile::KvmInfo`]; `guest_features` are names in catalog order.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct KvmInfo {
    #[serde(default)]
    pub api_version: Option<i32>,
    pub guest_features: Vec<String>,
    pub guest_features_source: GuestViewSource,
    #[serde(default)]
    pub msr_index_list: Vec<u32>,
    #[serde(default)]
    pub feature_msrs: Vec<MsrValue>,
}

/// A [`crate::profile::QemuInstall`] without its `host` model expansion.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct QemuInstall {
    pub path: String,
    pub version: String,
    #[serde(default)]
    pub package: String,
    pub accel: String,
    pub machines: Vec<QemuMachine>,
    pub cpu_models: Vec<QemuCpuModel>,
}

/// The PCI functions of a [`crate::profile::Devices`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Devices {
    #[serde(default)]
    pub pci: Vec<PciFunction>,
}

/// A [`crate::baseline::Baseline`]; with `lost_per_host`, a [`super::BaselineAnswer`]
/// (`POST /api/v1/baseline`). It serialises exactly as the engine's `Baseline` (the UI's
/// `baseline.json` download): `lost_per_host` is left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Baseline {
    pub model: String,
    pub model_kind: ModelKind,
    pub base_model: String,
    pub vendor: Option<String>,
    pub features: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub dropped_non_migratable: Vec<String>,
    pub hosts: Vec<String>,
    pub exports: Exports,
    pub notes: Vec<String>,
    /// Only in `POST /api/v1/baseline` answers.
    #[serde(default, skip_serializing)]
    pub lost_per_host: Vec<HostLoss>,
}

/// A [`super::HostLoss`].
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct HostLoss {
    pub host: String,
    pub lost: Vec<String>,
}

/// A [`super::MasksAnswer`] (`POST /api/v1/masks`) of `kind` `pair`; for another kind the pair
/// fields are left empty.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PairMasks {
    pub kind: String,
    #[serde(default)]
    pub source: HostMask,
    #[serde(default)]
    pub destination: HostMask,
    #[serde(default)]
    pub named_alternative: Option<Baseline>,
    #[serde(default)]
    pub unmaskable: Vec<Reason>,
}

/// A [`crate::masks::HostMask`] without its guest configuration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct HostMask {
    pub host: String,
    pub disable: Vec<String>,
    pub qemu_cpu: String,
    pub libvirt: String,
}

/// A [`super::PrecheckRequest`] without a policy (the server's default) or a second definition.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PrecheckRequest {
    pub from: String,
    /// One destination ([`super::PrecheckRequest::to`]); empty: every class.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub to: String,
    /// The VM's libvirt domain XML or QEMU command line.
    pub guest: String,
    /// One verdict per class ([`super::PrecheckRequest::by_class`]).
    pub by_class: bool,
    /// `blockers` for a brief per verdict; empty: every reason ([`super::PrecheckRequest::detail`]).
    /// A string, not the enum: one serialiser for every field in the UI's WASM.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// A [`super::PrecheckAnswer`] (`POST /api/v1/precheck`), verdicts without their guest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct PrecheckAnswer {
    /// `libvirt-xml`, `qemu-command-line` or `json`.
    pub guest_format: String,
    pub n_targets: usize,
    pub n_compatible: usize,
    pub verdicts: Vec<Verdict>,
}

/// A [`super::BaselineRequest`] with the default options.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct BaselineRequest {
    pub hosts: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
}

/// A [`super::MasksRequest`] with the default policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct MasksRequest {
    pub hosts: Vec<String>,
}

/// A [`super::GraphRequest`] for a guest CPU, with the default policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct GraphRequest {
    pub guest: Guest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
}

/// A [`crate::verdict::GuestConfig`] with only its CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Guest {
    pub cpu: GuestCpu,
}

/// A feature of `GET /api/v1/features` ([`super::FeatureInfo`]) by name and description: the
/// what-if page completes feature names from it.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct FeatureName {
    pub name: String,
    pub description: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FeatureSet;
    use crate::baseline::{BaselineOptions, baseline};
    use crate::masks::pair_masks;
    use crate::testing::profile_named;
    use crate::verdict::{GuestConfig, Policy, compare};

    fn decode<T: serde::de::DeserializeOwned>(doc: &impl Serialize) -> T {
        let json = serde_json::to_string(doc).expect("engine document serialises");
        serde_json::from_str(&json).unwrap_or_else(|e| panic!("ui type decodes {json}: {e}"))
    }

    fn pair() -> (crate::HostProfile, crate::HostProfile) {
        let a = profile_named(
            "a",
            "GenuineIntel",
            &["sse2", "avx", "pcid", "rtm", "hle", "invtsc"],
        );
        let b = profile_named("b", "GenuineIntel", &["sse2", "avx", "taa-no"]);
        (a, b)
    }

    #[test]
    fn catalog_features_decode_by_name() {
        let info: Vec<super::super::FeatureInfo> = crate::catalog()
            .features()
            .iter()
            .map(super::super::FeatureInfo::from_feature)
            .collect();
        let names: Vec<FeatureName> = decode(&info);
        assert_eq!(names.len(), info.len());
        assert!(names.iter().any(|f| f.name == "hle"));
    }

    #[test]
    fn verdicts_decode_with_every_evidence_summary() {
        let (a, b) = pair();
        let v = compare(&a, &b, &GuestConfig::default());
        let mut doc = v.clone();
        // Every kind of evidence, beside the features this pair yields.
        for evidence in [
            crate::verdict::Evidence::Values {
                source: "1".into(),
                destination: "2".into(),
            },
            crate::verdict::Evidence::Model {
                model: "Skylake-Server-v4".into(),
                qemu: Some("7.2.0".into()),
            },
            crate::verdict::Evidence::Model {
                model: "Skylake-Server-v4".into(),
                qemu: None,
            },
            crate::verdict::Evidence::None,
        ] {
            let mut r = v.reasons[0].clone();
            r.evidence = evidence;
            doc.reasons.push(r);
        }
        let ui: Verdict = decode(&doc);
        assert_eq!((ui.from.as_str(), ui.to.as_str()), ("a", "b"));
        assert_eq!(ui.compatible, v.compatible);
        assert!(!ui.compatible);
        assert_eq!(ui.reasons.len(), doc.reasons.len());
        for (u, r) in ui.reasons.iter().zip(&doc.reasons) {
            assert_eq!(
                (u.layer, u.severity, &u.rule, &u.message),
                (r.layer, r.severity, &r.rule, &r.message)
            );
            assert_eq!(u.evidence.summary(), r.evidence.summary());
            assert!(!u.evidence.words().contains("source 1,"));
        }
        assert!(
            ui.reasons
                .iter()
                .any(|r| r.evidence.words() == "on the source: 1; on the destination: 2")
        );
        assert!(ui.reasons.iter().any(|r| r.evidence.kind == "feature"));
    }

    #[test]
    fn profiles_decode() {
        let (a, _) = pair();
        let mut p = a.clone();
        p.labels.insert("zone".into(), "fra".into());
        p.kernel_release = Some("6.1.0".into());
        p.qemu.push(crate::profile::QemuInstall {
            path: "/usr/bin/qemu-system-x86_64".into(),
            version: "7.2.19".into(),
            accel: "kvm".into(),
            machines: [QemuMachine {
                name: "pc-q35-7.2".into(),
                alias: Some("q35".into()),
                ..QemuMachine::default()
            }]
            .into(),
            host_model: Some(a.cpu.features),
            ..crate::profile::QemuInstall::default()
        });
        p.devices.pci.push(PciFunction {
            address: "0000:00:02.0".into(),
            vendor: 0x8086,
            device: 0x1234,
            ..PciFunction::default()
        });
        let ui: HostProfile = decode(&p);
        assert_eq!(ui.cpu.features, p.cpu.features.names());
        let kvm = ui.kvm.as_ref().expect("guest view");
        assert_eq!(
            kvm.guest_features,
            p.kvm.as_ref().expect("kvm").guest_features.names()
        );
        assert_eq!(ui.labels, p.labels);
        assert_eq!(ui.qemu[0].machines, p.qemu[0].machines);
        assert_eq!(ui.devices.pci, p.devices.pci);
        let mut no_kvm = p.clone();
        no_kvm.kvm = None;
        let ui: HostProfile = decode(&no_kvm);
        assert!(ui.kvm.is_none());
    }

    #[test]
    fn baselines_serialise_as_the_engine_baseline() {
        let (a, b) = pair();
        let engine = baseline(&[&a, &b], &BaselineOptions::default()).expect("baseline");
        let answer = super::super::BaselineAnswer {
            baseline: engine.clone(),
            lost_per_host: vec![super::super::HostLoss {
                host: "a".into(),
                lost: FeatureSet::from_names(["rtm"]).0,
            }],
        };
        let ui: Baseline = decode(&answer);
        assert_eq!(ui.lost_per_host[0].lost, vec!["rtm".to_owned()]);
        assert_eq!(ui.added, engine.added.names());
        assert_eq!(
            serde_json::to_string_pretty(&ui).expect("ui baseline"),
            serde_json::to_string_pretty(&engine).expect("engine baseline")
        );
    }

    #[test]
    fn masks_graphs_pools_and_diffs_decode() {
        let (a, b) = pair();
        let m = pair_masks(&a, &b, &Policy::default()).expect("masks");
        let ui: PairMasks = decode(&super::super::MasksAnswer::Pair(Box::new(m.clone())));
        assert_eq!(ui.kind, "pair");
        assert_eq!(ui.source.disable, m.source.disable.names());
        assert_eq!(ui.source.libvirt, m.source.libvirt);
        assert_eq!(ui.destination.qemu_cpu, m.destination.qemu_cpu);
        assert_eq!(
            ui.named_alternative.map(|b| b.model),
            m.named_alternative.map(|b| b.model)
        );
        assert_eq!(ui.unmaskable.len(), m.unmaskable.len());
        let pool = crate::masks::pool_masks(&[&a, &b], &Policy::default()).expect("pool");
        let ui: PairMasks = decode(&super::super::MasksAnswer::Pool(Box::new(pool)));
        assert_eq!(ui.kind, "pool");

        let g = crate::graph::build(
            &[a.clone(), b.clone()],
            &GuestConfig::default(),
            &Policy::default(),
        );
        let answer = super::super::GraphAnswer {
            graph: g.clone(),
            class_labels: vec![BTreeMap::new(); g.classes.len()],
            class_names: vec!["x".into(); g.classes.len()],
            pool_names: vec!["p".into(); g.pools.len()],
        };
        let ui: Graph = decode(&answer);
        assert_eq!(ui.classes, g.classes);
        assert_eq!(ui.edges, g.edges);
        assert_eq!(ui.pools, g.pools);
        assert_eq!(ui.n_hosts, 2);
        assert_eq!(ui.class_names, answer.class_names);
        assert_eq!(ui.pool_name(0), "p");

        let pools = super::super::PoolList {
            guest: GuestConfig::default(),
            n_hosts: 2,
            pools: vec![PoolSummary {
                index: 0,
                name: "Skylake-Server-v4 · 2 hosts".into(),
                n_hosts: 2,
                classes: vec!["c1".into()],
                internally_compatible: true,
                drains_to: vec![],
            }],
        };
        let ui: PoolList = decode(&pools);
        assert_eq!(ui.pools, pools.pools);

        let diff = super::super::ProfileDiff {
            host_id: "a".into(),
            from_version: 1,
            to_version: 2,
            guest_features_added: FeatureSet::from_names(["avx"]).0,
            guest_features_removed: FeatureSet::EMPTY,
            host_features_added: FeatureSet::EMPTY,
            host_features_removed: FeatureSet::from_names(["rtm", "hle"]).0,
            msrs_added: vec![],
            msrs_removed: vec![1],
            feature_msrs_changed: vec![],
            kernel: Some(ValueChange {
                from: Some("6.1".into()),
                to: None,
            }),
            microcode: None,
            qemu: None,
            class_id: None,
            guest: GuestConfig::default(),
            targets_added: vec!["b".into()],
            targets_removed: vec![],
        };
        let ui: ProfileDiff = decode(&diff);
        assert_eq!(ui.guest_features_added, vec!["avx".to_owned()]);
        assert_eq!(ui.host_features_removed, diff.host_features_removed.names());
        assert_eq!(ui.kernel, diff.kernel);
        assert_eq!(ui.targets_added, diff.targets_added);
    }

    #[test]
    fn prechecks_decode() {
        let (a, b) = pair();
        let v = compare(&a, &b, &GuestConfig::default());
        let answer = super::super::PrecheckAnswer {
            guest_format: crate::guest::GuestFormat::LibvirtXml,
            guest: v.guest.clone(),
            n_targets: 1,
            n_compatible: 0,
            verdicts: vec![v.clone().into()],
        };
        let ui: PrecheckAnswer = decode(&answer);
        assert_eq!(ui.guest_format, "libvirt-xml");
        assert_eq!((ui.n_targets, ui.verdicts.len()), (1, 1));
        assert_eq!(ui.verdicts[0].reasons.len(), v.reasons.len());
        assert!(ui.verdicts[0].sentence.is_empty());
        let briefly = super::super::PrecheckAnswer {
            verdicts: vec![super::super::TargetVerdict::briefly(v.clone())],
            ..answer
        };
        let ui: PrecheckAnswer = decode(&briefly);
        let want = super::super::VerdictBrief::of(v.compatible, &v.reasons);
        assert_eq!(
            (ui.verdicts[0].n_blockers, ui.verdicts[0].sentence.as_str()),
            (want.n_blockers, want.sentence.as_str())
        );
        assert!(want.n_blockers > 0);
        assert!(ui.verdicts[0].reasons.is_empty() && !ui.verdicts[0].compatible);
        let api: super::super::PrecheckRequest = decode(&PrecheckRequest {
            from: "a".into(),
            to: String::new(),
            guest: "<domain/>".into(),
            by_class: true,
            detail: "blockers".into(),
        });
        assert!(api.by_class);
        assert_eq!(api.detail, super::super::PrecheckDetail::Blockers);
        assert_eq!((api.from.as_str(), api.guest.as_str()), ("a", "<domain/>"));
        assert!(api.policy.is_none() && api.to.is_none());
        let one: super::super::PrecheckRequest = decode(&PrecheckRequest {
            to: "b".into(),
            ..PrecheckRequest::default()
        });
        assert_eq!(
            (one.to.as_deref(), one.detail),
            (Some("b"), super::super::PrecheckDetail::Full)
        );
    }

    #[test]
    fn requests_decode_as_the_api_requests() {
        let r = BaselineRequest {
            hosts: vec!["a".into()],
            selector: Some(BTreeMap::from([("zone".into(), "fra".into())])),
        };
        let api: super::super::BaselineRequest = decode(&r);
        assert_eq!((api.hosts, api.selector), (r.hosts, r.selector));
        assert_eq!(api.options, BaselineOptions::default());
        let api: super::super::MasksRequest = decode(&MasksRequest {
            hosts: vec!["a".into(), "b".into()],
        });
        assert_eq!(api.policy, Policy::default());
        let cpu = GuestCpu::HostPassthroughMasked {
            disable: vec!["tsx".into()],
        };
        let api: super::super::GraphRequest = decode(&GraphRequest {
            guest: Guest { cpu: cpu.clone() },
            hosts: Some(vec!["a".into()]),
        });
        assert_eq!(api.guest, GuestConfig::with_cpu(cpu));
        assert_eq!(api.hosts, Some(vec!["a".to_owned()]));
        assert_eq!(api.policy, Policy::default());
    }
}
