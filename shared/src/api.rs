//! Data transfer objects of the REST API, used by the backend, the frontend and scripts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::baseline::BaselineOptions;
use crate::class::class_id;
use crate::profile::{HostProfile, OriginKind};
use crate::verdict::{GuestConfig, Policy};

/// One host in a listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
        Self {
            host_id: p.host_id.clone(),
            hostname: p.hostname.clone(),
            vendor: p.cpu.vendor.clone(),
            brand: p.cpu.brand.clone(),
            family: p.cpu.family,
            model: p.cpu.model,
            stepping: p.cpu.stepping,
            labels: p.labels.clone(),
            class_id: class_id(p),
            n_guest_features: p.kvm.as_ref().map(|k| k.guest_features.len()),
            origin: p.origin.kind,
            collected_at: p.collected_at.clone(),
            n_versions,
        }
    }
}

/// `GET /api/v1/hosts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostList {
    pub n_hosts: usize,
    pub hosts: Vec<HostSummary>,
}

/// `POST /api/v1/hosts` answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadReceipt {
    pub host_id: String,
    /// The version number the stored profile got (1 for a new host).
    pub version: u32,
    /// False when the profile was identical to the newest stored version and nothing was added.
    pub changed: bool,
}

/// Every error body of the API: `{ "error": { "code", "message", "details" } }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
pub struct GraphRequest {
    #[serde(default)]
    pub guest: GuestConfig,
    #[serde(default)]
    pub policy: Policy,
    /// Host ids to include; all hosts when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hosts: Option<Vec<String>>,
}

/// `POST /api/v1/baseline` body. Answer: [`crate::baseline::Baseline`] (one host: its host model).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineRequest {
    pub hosts: Vec<String>,
    #[serde(default)]
    pub options: BaselineOptions,
}

/// `POST /api/v1/masks` body: masks for a pair (`hosts` = [src, dst], answer
/// [`crate::masks::PairMasks`]) or a pool (more hosts, answer [`crate::masks::PoolMasks`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasksRequest {
    pub hosts: Vec<String>,
    #[serde(default)]
    pub policy: Policy,
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
