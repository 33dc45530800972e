//! Synthetic host profiles for tests, property tests and benchmarks (not for production data).

use crate::featureset::FeatureSet;
use crate::profile::{HostProfile, SCHEMA_VERSION};

/// A profile whose host view and guest view are both `features`. Built through the JSON schema
/// (every other field at its serde default), so it keeps working as the schema grows.
pub fn profile(host_id: &str, vendor: &str, features: FeatureSet) -> HostProfile {
    let doc = serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "host_id": host_id,
        "hostname": host_id,
        "collected_at": "2026-01-01T00:00:00Z",
        "origin": { "kind": "import", "tool": "fleetcompat synthetic" },
        "cpu": {
            "arch": "x86_64",
            "vendor": vendor,
            "family": 6,
            "model": 85,
            "stepping": 4,
            "brand": "",
            "features": features,
        },
        "kvm": {
            "api_version": 12,
            "guest_features": features,
            "guest_features_source": "kvm_supported_cpuid",
        },
    });
    match serde_json::from_value(doc) {
        Ok(p) => p,
        Err(e) => unreachable!("the synthetic profile follows schema v{SCHEMA_VERSION}: {e}"),
    }
}

/// A profile from feature names; unknown names panic (test data is ours).
pub fn profile_named(host_id: &str, vendor: &str, names: &[&str]) -> HostProfile {
    let (set, unknown) = FeatureSet::from_names(names.iter().copied());
    assert!(unknown.is_empty(), "unknown test features {unknown:?}");
    profile(host_id, vendor, set)
}

/// A profile offering exactly a named model's features.
pub fn profile_of_model(host_id: &str, model: &str) -> Option<HostProfile> {
    let m = crate::models::models().get(model)?;
    let mut p = profile(
        host_id,
        m.vendor.as_deref().unwrap_or("GenuineIntel"),
        m.features,
    );
    p.cpu.family = m.family;
    p.cpu.model = m.model;
    p.cpu.stepping = m.stepping;
    Some(p)
}
