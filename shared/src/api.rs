//! Data transfer objects of the REST API, used by the backend, the frontend and scripts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::class::class_id;
use crate::profile::{HostProfile, OriginKind};

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
