//! Which CPU model and feature names a libvirt release knows, so that libvirt, Nova and KubeVirt
//! exports use only names the libvirt that reads them accepts.
//!
//! libvirt resolves `<model>NAME</model>` and `<feature name='NAME'/>` against its `cpu_map`
//! (libvirt src/cpu/cpu_x86.c, `x86ModelFind` and `x86FeatureFind`; an unknown name fails with
//! "Unknown CPU model" / "unknown CPU feature"). libvirt 9.0.0 (Debian 12) has no versioned model
//! names (`Westmere-v1`): its `cpu_map` has only the unversioned ones, and neither
//! SapphireRapids, GraniteRapids, SierraForest, Denverton, KnightsMill nor EPYC-Genoa. The data is
//! `data/libvirt-cpu-map.tsv` (libvirt 9.0.0 and 11.3.0 `src/cpu_map`, see `data/SOURCE.md`).
//! Releases between the two are treated as 9.0.0: only names 9.0.0 has are used for them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::catalog::{FeatureId, catalog};
use crate::featureset::FeatureSet;
use crate::models::QemuVersion;

const CPU_MAP_TSV: &str = include_str!("../data/libvirt-cpu-map.tsv");

/// A libvirt release, e.g. `9.0.0`. Serialises as that string. Numbered as QEMU releases are,
/// so it reads like a [`QemuVersion`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct LibvirtVersion(QemuVersion);

impl LibvirtVersion {
    pub const fn new(major: u16, minor: u16, micro: u16) -> Self {
        Self(QemuVersion::new(major, minor, micro))
    }

    /// Parse `9.0.0`, `10.10`, or what `virsh -v` and `libvirtd --version` print
    /// (`libvirtd (libvirt) 9.0.0`). Returns `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        QemuVersion::parse(s).map(Self)
    }
}

impl fmt::Display for LibvirtVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for LibvirtVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for LibvirtVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("'{s}' is not a libvirt version like 9.0.0"))
        })
    }
}

/// The libvirt assumed when no host recorded its own and none was given: Debian 12's.
pub const DEFAULT: LibvirtVersion = LibvirtVersion::new(9, 0, 0);

/// The first libvirt with the versioned model names (`Skylake-Server-v4`) in its `cpu_map`:
/// 10.10.0. Only releases from [`NEWEST_KNOWN`] on use them here, as the data has that release's
/// names only.
pub const VERSIONED_NAMES: LibvirtVersion = LibvirtVersion::new(10, 10, 0);

/// The newest libvirt whose `cpu_map` the data holds.
pub const NEWEST_KNOWN: LibvirtVersion = LibvirtVersion::new(11, 3, 0);

/// One model of a libvirt `cpu_map`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibvirtModel {
    pub name: String,
    /// The oldest release in the data that has it (9.0.0 or 11.3.0).
    pub since: LibvirtVersion,
    /// Its features as that release defines them (parent models resolved).
    pub features: FeatureSet,
}

/// The names each release in the data knows.
#[derive(Debug)]
pub struct CpuMap {
    models: HashMap<String, LibvirtModel>,
    /// Feature names of each release's `x86_features.xml`, oldest release first.
    feature_names: Vec<(LibvirtVersion, HashSet<String>)>,
}

impl CpuMap {
    fn load() -> Self {
        let mut models = HashMap::new();
        let mut feature_names = Vec::new();
        for line in CPU_MAP_TSV.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            let (Some(kind), Some(version), Some(name), Some(list)) = (
                cols.first(),
                cols.get(1).and_then(|v| LibvirtVersion::parse(v)),
                cols.get(2),
                cols.get(3),
            ) else {
                continue;
            };
            match *kind {
                "features" => feature_names.push((
                    version,
                    list.split_whitespace().map(str::to_owned).collect(),
                )),
                "model" => {
                    let features = FeatureSet::from_names(list.split_whitespace()).0;
                    models.insert(
                        (*name).to_owned(),
                        LibvirtModel {
                            name: (*name).to_owned(),
                            since: version,
                            features,
                        },
                    );
                }
                _ => {}
            }
        }
        feature_names.sort_by_key(|(v, _)| *v);
        Self {
            models,
            feature_names,
        }
    }

    /// The release of the data whose names are used for `version`: the newest one at or below
    /// it, 9.0.0 for anything older.
    pub fn checked_against(&self, version: LibvirtVersion) -> LibvirtVersion {
        self.feature_names
            .iter()
            .map(|(v, _)| *v)
            .rfind(|v| *v <= version)
            .unwrap_or(DEFAULT)
    }

    /// A model `version` knows, by name.
    pub fn model(&self, name: &str, version: LibvirtVersion) -> Option<&LibvirtModel> {
        let checked = self.checked_against(version);
        self.models.get(name).filter(|m| m.since <= checked)
    }

    /// Whether `version` knows the feature name.
    pub fn knows_feature(&self, name: &str, version: LibvirtVersion) -> bool {
        let checked = self.checked_against(version);
        self.feature_names
            .iter()
            .find(|(v, _)| *v == checked)
            .is_some_and(|(_, names)| names.contains(name))
    }
}

/// The `cpu_map` data, parsed on first use.
pub fn cpu_map() -> &'static CpuMap {
    static MAP: OnceLock<CpuMap> = OnceLock::new();
    MAP.get_or_init(CpuMap::load)
}

/// libvirt's name for a feature (the catalog's where libvirt has none).
pub fn feature_name(id: FeatureId) -> String {
    let f = catalog().get(id);
    f.libvirt_name.clone().unwrap_or_else(|| f.name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_12_libvirt_knows_unversioned_names_only() {
        let map = cpu_map();
        let v9 = LibvirtVersion::parse("libvirtd (libvirt) 9.0.0").expect("version");
        assert_eq!(v9, DEFAULT);
        assert!(map.model("Westmere", v9).is_some());
        assert!(map.model("Skylake-Server-IBRS", v9).is_some());
        assert!(map.model("Westmere-v1", v9).is_none());
        assert!(map.model("SapphireRapids", v9).is_none());
        assert!(map.model("Westmere-v1", NEWEST_KNOWN).is_some());
        // Between the releases of the data, the older one's names.
        let v10 = LibvirtVersion::parse("10.10").expect("version");
        assert_eq!(map.checked_against(v10), DEFAULT);
        assert!(map.model("SapphireRapids", v10).is_none());
        assert!(map.knows_feature("pclmuldq", v9));
        // libvirt 9.0.0 names no vmx-* feature; 11.3.0 does.
        assert!(!map.knows_feature("vmx-ept", v9));
        assert!(map.knows_feature("vmx-ept", NEWEST_KNOWN));
        assert!(!map.knows_feature("no-such-feature", v9));
        let sky = map.model("Skylake-Server", v9).expect("Skylake-Server");
        assert!(sky.features.names().contains(&"avx512f".to_owned()));
        assert_eq!(LibvirtVersion::parse("nonsense"), None);
        assert_eq!(
            LibvirtVersion::parse("11.3.0").map(|v| v.to_string()),
            Some("11.3.0".into())
        );
    }
}
