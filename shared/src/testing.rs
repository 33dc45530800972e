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

/// `p` with one more QEMU install of `version` offering `machines` (name, alias).
pub fn with_qemu_machines(
    mut p: HostProfile,
    version: &str,
    machines: &[(&str, Option<&str>)],
) -> HostProfile {
    p.qemu.push(crate::profile::QemuInstall {
        version: version.into(),
        machines: machines
            .iter()
            .map(|(n, a)| crate::profile::QemuMachine {
                name: (*n).into(),
                alias: a.map(str::to_owned),
                ..crate::profile::QemuMachine::default()
            })
            .collect(),
        ..crate::profile::QemuInstall::default()
    });
    p
}

/// xorshift64*: deterministic pseudo-random input for tests and benchmarks, without a dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced: xorshift never leaves it).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % (n as u64)).unwrap_or(0)
    }
}
