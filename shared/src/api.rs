//! Data transfer objects of the REST API, used by the backend, the frontend and scripts.

pub mod drain;
pub mod graph_view;
pub mod precheck;
pub mod ui;
pub mod what_if;

pub use precheck::{
    PrecheckAnswer, PrecheckDetail, PrecheckRequest, RuleCount, TargetVerdict, VerdictBrief,
};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::baseline::{Baseline, BaselineOptions};
use crate::class::class_id;
use crate::featureset::FeatureSet;
use crate::graph::CompatGraph;
use crate::masks::{PairMasks, PoolMasks};
use crate::profile::{HostProfile, OriginKind};
use crate::verdict::{GuestConfig, Policy};

/// One host in a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostSummary {
    pub host_id: String,
    pub hostname: String,
    pub vendor: String,
    pub brand: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub labels: BTreeMap<String, String>,
    pub class_id: String,
    /// Features KVM offers a guest; `None` when the profile has no guest view.
    pub n_guest_features: Option<usize>,
    pub origin: OriginKind,
    pub collected_at: String,
    /// How many profile versions the backend holds for this host.
    pub n_versions: u32,
}

impl HostSummary {
    pub fn from_profile(p: &HostProfile, n_versions: u32) -> Self {
        Self::with_class_id(p, n_versions, class_id(p))
    }

    /// [`Self::from_profile`] with the class id known already (a server keeps it per class).
    pub fn with_class_id(p: &HostProfile, n_versions: u32, class_id: String) -> Self {
        Self {
            host_id: p.host_id.clone(),
            hostname: p.hostname.clone(),
            vendor: p.cpu.vendor.clone(),
            brand: p.cpu.brand.clone(),
            family: p.cpu.family,
            model: p.cpu.model,
            stepping: p.cpu.stepping,
            labels: p.labels.clone(),
            class_id,
            n_guest_features: p.kvm.as_ref().map(|k| k.guest_features.len()),
            origin: p.origin.kind,
            collected_at: p.collected_at.clone(),
            n_versions,
        }
    }
}

/// `GET /api/v1/hosts`: the hosts that match the filters, a page of them when `limit=` is given.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostList {
    /// Hosts matching the filters, whatever the page.
    pub n_hosts: usize,
    /// Hosts skipped before `hosts` (`offset=`; 0 without paging).
    #[serde(default)]
    pub offset: usize,
    /// The page, ordered by host id.
    pub hosts: Vec<HostSummary>,
    /// Hosts per processor over every matching host (not only the page), most hosts first.
    #[serde(default)]
    pub processors: Vec<ProcessorCount>,
}

/// How many of the listed hosts have one processor (vendor, family, model, stepping, brand).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessorCount {
    pub vendor: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub brand: String,
    pub n_hosts: usize,
}

/// `POST /api/v1/hosts` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadReceipt {
    pub host_id: String,
    /// The version number the stored profile got (1 for a new host).
    pub version: u32,
    /// False when the profile was identical to the newest stored version and nothing was added.
    pub changed: bool,
}

/// Every error body of the API: `{ "error": { "code", "message", "details" } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_profile`.
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<serde_json::Value>,
}

/// `POST /api/v1/graph` body: the compatibility graph and pools of the fleet (or of `hosts`) for
/// one guest configuration. Answer: [`crate::graph::CompatGraph`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphRequest {
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = EngineObject))]
    pub guest: GuestConfig,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = EngineObject))]
    pub policy: Policy,
    /// Host ids to include; all hosts when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
}

/// `POST /api/v1/baseline` body. Answer: [`crate::baseline::Baseline`] (one host: its host model).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BaselineRequest {
    /// Host ids; with `selector`, hosts matching either are taken.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Label selector: hosts whose labels include every `key: value` here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub options: BaselineOptions,
}

/// `POST /api/v1/masks` body: masks for a pair (`hosts` = [src, dst], answer
/// [`crate::masks::PairMasks`]) or a pool (more hosts, answer [`crate::masks::PoolMasks`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MasksRequest {
    pub hosts: Vec<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = EngineObject))]
    pub policy: Policy,
}

/// Schema placeholder for engine answers documented in `shared` (verdicts, graphs, baselines,
/// profiles): a JSON object.
#[cfg(feature = "openapi")]
#[derive(utoipa::ToSchema)]
#[schema(value_type = Object)]
pub struct EngineObject(pub serde_json::Value);

/// `GET /api/v1/hosts/{id}/versions`: a host's history, oldest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionList {
    pub host_id: String,
    pub versions: Vec<VersionInfo>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    pub version: u32,
    pub received_at: String,
    pub collected_at: String,
    pub class_id: String,
}

/// A value before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ValueChange {
    pub from: Option<String>,
    pub to: Option<String>,
}

/// A feature MSR whose value changed (or that appeared or disappeared).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MsrChange {
    pub index: u32,
    pub from: Option<u64>,
    pub to: Option<u64>,
}

/// `GET /api/v1/hosts/{id}/diff?from=V&to=W`: what changed between two versions of a host, and
/// which migration targets (other hosts, for the guest configuration given) the change added or
/// removed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProfileDiff {
    pub host_id: String,
    pub from_version: u32,
    pub to_version: u32,
    /// Features KVM offers a guest (the guest view).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub guest_features_added: FeatureSet,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub guest_features_removed: FeatureSet,
    /// Features of the host CPU (raw CPUID view).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub host_features_added: FeatureSet,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub host_features_removed: FeatureSet,
    /// MSRs KVM saves and restores (KVM_GET_MSR_INDEX_LIST).
    pub msrs_added: Vec<u32>,
    pub msrs_removed: Vec<u32>,
    /// Feature MSR values (KVM_GET_MSR_FEATURE_INDEX_LIST) that changed.
    pub feature_msrs_changed: Vec<MsrChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<ValueChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microcode: Option<ValueChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qemu: Option<ValueChange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_id: Option<ValueChange>,
    /// The guest configuration the targets are judged for.
    #[cfg_attr(feature = "openapi", schema(value_type = EngineObject))]
    pub guest: GuestConfig,
    /// Hosts this host's guests can move to after the change but not before.
    pub targets_added: Vec<String>,
    /// Hosts this host's guests could move to before the change but not after.
    pub targets_removed: Vec<String>,
}

/// One class for a guest policy: hosts equal in everything migration depends on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassSummary {
    /// Position in the graph's `classes`.
    pub index: usize,
    pub class_id: String,
    /// Human name: "Xeon Gold 6148 · Skylake-SP · cluster=fra-sky-01 · 16 hosts".
    #[serde(default)]
    pub name: String,
    pub vendor: String,
    pub n_hosts: usize,
    /// The graph's list, shared (100,000 ids are not copied per answer).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub hosts: crate::intern::SharedList<String>,
    /// Label values of the class's hosts, by label name.
    pub labels: BTreeMap<String, Vec<String>>,
    pub n_guest_features: Option<usize>,
    pub self_compatible: bool,
    pub pool: usize,
}

/// `GET /api/v1/classes`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassList {
    #[cfg_attr(feature = "openapi", schema(value_type = EngineObject))]
    pub guest: GuestConfig,
    pub n_hosts: usize,
    pub classes: Vec<ClassSummary>,
}

/// One migration pool for a guest policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolSummary {
    pub index: usize,
    /// Human name: the best named model all its hosts run, and the host count.
    #[serde(default)]
    pub name: String,
    pub n_hosts: usize,
    /// Class ids of the pool.
    pub classes: Vec<String>,
    pub internally_compatible: bool,
    /// Pools this pool's guests can move to one way.
    pub drains_to: Vec<usize>,
}

/// `GET /api/v1/pools`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PoolList {
    #[cfg_attr(feature = "openapi", schema(value_type = EngineObject))]
    pub guest: GuestConfig,
    pub n_hosts: usize,
    pub pools: Vec<PoolSummary>,
}

/// `GET|POST /api/v1/graph` answer: the engine's graph plus the labels of each class.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GraphAnswer {
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = EngineObject))]
    pub graph: CompatGraph,
    /// `class_labels[i]`: label values of the hosts of `classes[i]`, by label name.
    pub class_labels: Vec<BTreeMap<String, Vec<String>>>,
    /// `class_names[i]`: the human name of `classes[i]` ([`crate::naming::class_name`]).
    #[serde(default)]
    pub class_names: Vec<String>,
    /// `pool_names[p]`: the human name of `pools[p]`: its best common model and host count.
    #[serde(default)]
    pub pool_names: Vec<String>,
}

/// `POST /api/v1/compat` body: a verdict for a guest configuration under a policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompatRequest {
    /// Source: a host id or a class id.
    pub from: String,
    /// Destination: a host id or a class id.
    pub to: String,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = EngineObject))]
    pub guest: GuestConfig,
    /// When absent, the QEMU versions come from the two profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<EngineObject>))]
    pub policy: Option<Policy>,
}

/// Features a host's guests lose under a baseline, compared with host-passthrough.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostLoss {
    pub host: String,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub lost: FeatureSet,
}

/// `POST /api/v1/baseline` answer: the engine's baseline (model, features, exports: `qemu`,
/// `libvirt`, `nova`, `kubevirt`, `kubevirt_yaml`) plus the features each host loses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BaselineAnswer {
    #[serde(flatten)]
    #[cfg_attr(feature = "openapi", schema(value_type = EngineObject))]
    pub baseline: Baseline,
    pub lost_per_host: Vec<HostLoss>,
}

/// One candidate model of `GET /api/v1/baseline/coverage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CoverageEntry {
    pub model: String,
    pub vendor: Option<String>,
    /// Hosts that can run the model (a guest on it can stay on the host).
    pub n_hosts: usize,
}

/// `GET /api/v1/baseline/coverage`: candidate models, most hosts covered first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Coverage {
    pub n_hosts: usize,
    pub models: Vec<CoverageEntry>,
}

/// A host of a cluster that cannot run the cluster's next model up, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterBlocker {
    pub host: String,
    /// QEMU names of the model's features this host's QEMU cannot give a guest.
    pub missing: Vec<String>,
    /// When no feature is missing: the engine's blocking reasons (e.g. its QEMU lacks the model).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub other: Vec<String>,
}

/// One cluster (hosts sharing a label value), as VMware EVC shows it: the best named model every
/// host runs, the next model up and exactly the hosts that cannot run it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterCard {
    /// The label's value (`fra-sky-02`).
    pub value: String,
    pub n_hosts: usize,
    /// CPUID vendor strings of the hosts (more than one: no named model runs on all).
    pub vendors: Vec<String>,
    /// The best named QEMU model (versioned) that every host runs as defined.
    pub best_model: Option<String>,
    /// The next model up: a newer model of the same vendor with more features than the best
    /// one, run by at least one host of the cluster (the smallest such step).
    pub next_model: Option<String>,
    /// Exactly the hosts that cannot run `next_model`, each with what it lacks.
    pub blockers: Vec<ClusterBlocker>,
}

/// `GET /api/v1/clusters?label=KEY`: a card per value of the label, in value order; hosts
/// without the label are left out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClusterList {
    pub label: String,
    pub clusters: Vec<ClusterCard>,
}

/// `POST /api/v1/masks` answer: masks for a pair or for a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MasksAnswer {
    Pair(Box<PairMasks>),
    Pool(Box<PoolMasks>),
}

/// One named CPU model of QEMU (`GET /api/v1/models`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ModelInfo {
    pub name: String,
    pub alias_of: Option<String>,
    pub vendor: Option<String>,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub present_in: String,
    pub absent_in: Option<String>,
    pub libvirt_name: Option<String>,
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub features: FeatureSet,
}

impl ModelInfo {
    pub fn from_model(m: &crate::models::NamedModel) -> Self {
        Self {
            name: m.name.clone(),
            alias_of: m.alias_of.clone(),
            vendor: m.vendor.clone(),
            family: m.family,
            model: m.model,
            stepping: m.stepping,
            present_in: m.present_in.to_string(),
            absent_in: m.absent_in.map(|v| v.to_string()),
            libvirt_name: m.libvirt_name.clone(),
            features: m.features,
        }
    }
}

/// One catalog feature (`GET /api/v1/features`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FeatureInfo {
    pub name: String,
    pub qemu_name: Option<String>,
    pub libvirt_name: Option<String>,
    pub linux_name: Option<String>,
    pub aliases: Vec<String>,
    pub description: String,
    /// The manual's notation, e.g. `CPUID.(EAX=07H,ECX=0):EBX[16]`.
    pub location: String,
    pub migratable: bool,
    /// `fixed`, `microcode` or `os_state`.
    pub class: String,
}

impl FeatureInfo {
    pub fn from_feature(f: &crate::catalog::Feature) -> Self {
        Self {
            name: f.name.clone(),
            qemu_name: f.qemu_name.clone(),
            libvirt_name: f.libvirt_name.clone(),
            linux_name: f.linux_name.clone(),
            aliases: f.aliases.clone(),
            description: f.description.clone(),
            location: f.location.to_string(),
            migratable: f.migratable,
            class: serde_json::to_value(f.class)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}

/// `GET /api/v1/stats`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Stats {
    pub n_hosts: usize,
    pub n_versions: u64,
    /// Classes and pools for host-passthrough guests.
    pub n_classes: usize,
    pub n_pools: usize,
    pub largest_pool_hosts: usize,
    pub hosts_by_vendor: BTreeMap<String, usize>,
    pub hosts_without_guest_view: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_default_their_optional_parts() {
        let g: GraphRequest = serde_json::from_str("{}").expect("empty graph request");
        assert_eq!(g.policy.tsc_tolerance_ppm, 250);
        assert!(g.hosts.is_none());
        let b: BaselineRequest =
            serde_json::from_str(r#"{"hosts":["a","b"],"options":{"qemu":"8.2.0"}}"#)
                .expect("baseline request");
        assert_eq!(
            b.options.qemu.map(|v| v.to_string()).as_deref(),
            Some("8.2.0")
        );
        assert!(
            serde_json::from_str::<BaselineRequest>(r#"{"hosts":[],"options":{"qemu":"x"}}"#)
                .is_err()
        );
        let m: MasksRequest = serde_json::from_str(r#"{"hosts":["a","b"]}"#).expect("masks");
        assert!(!m.policy.allow_vendor_change);
    }
}

/// `POST /api/v1/tokens` body: a scoped write token for some hosts, or for hosts with labels.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct TokenRequest {
    /// Host ids the token may upload and delete.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Or: labels every host the token writes must carry (in the upload and as stored).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// A name to recognise it by (default: its scope).
    #[serde(default)]
    pub name: Option<String>,
}

/// A scoped write token, without its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenInfo {
    /// What `token revoke` and `DELETE /api/v1/tokens/{id}` take.
    pub id: String,
    pub name: String,
    /// The hosts it may write (empty for a label scope).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// The labels a host it writes must carry (empty for a host scope).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub created_at: String,
}

/// `POST /api/v1/tokens` answer: the token and its secret, shown this once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenCreated {
    pub token: TokenInfo,
    /// The bearer token; the server keeps only a salted hash of it.
    pub secret: String,
}

/// `GET /api/v1/tokens`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenList {
    pub tokens: Vec<TokenInfo>,
}
