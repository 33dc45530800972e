//! Synthetic host profiles for tests, property tests and benchmarks (not for production data).

use crate::featureset::FeatureSet;
use crate::profile::{
    Arch, CpuInfo, GuestViewSource, HostProfile, KvmInfo, OriginKind, ProfileOrigin, SCHEMA_VERSION,
};

/// A profile whose host view and guest view are both `features`.
pub fn profile(host_id: &str, vendor: &str, features: FeatureSet) -> HostProfile {
    HostProfile {
        schema_version: SCHEMA_VERSION,
        host_id: host_id.to_owned(),
        hostname: host_id.to_owned(),
        collected_at: "2026-01-01T00:00:00Z".to_owned(),
        origin: ProfileOrigin {
            kind: OriginKind::Import,
            tool: "fleetcompat synthetic".to_owned(),
            detail: String::new(),
        },
        labels: Default::default(),
        cpu: CpuInfo {
            arch: Arch::X86_64,
            vendor: vendor.to_owned(),
            family: 6,
            model: 85,
            stepping: 4,
            brand: String::new(),
            microcode: None,
            tsc_khz: None,
            features,
            raw_cpuid: Vec::new(),
            raw_msrs: Vec::new(),
        },
        kvm: Some(KvmInfo {
            api_version: Some(12),
            guest_features: features,
            guest_features_source: GuestViewSource::KvmSupportedCpuid,
            supported_cpuid: Vec::new(),
            msr_index_list: Vec::new(),
            feature_msrs: Vec::new(),
            tsc_scaling: None,
        }),
        kernel_release: None,
        gaps: Vec::new(),
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
