//! The named-model database: every QEMU 10.0.2 x86 CPU model and version, with vendor,
//! family/model/stepping, its feature set and the QEMU release that has it, plus the x86-64 psABI
//! levels (`x86-64-v1`..`x86-64-v4`) used as vendor-neutral fallbacks.
//!
//! The data is `data/qemu-models.tsv` (derived by `data/gen-qemu-models.py` from QEMU's own QMP
//! output and libvirt's probes of QEMU 6.2, 8.2, 9.2 and 10.0; see `data/SOURCE.md`), parsed once.

use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::catalog::catalog;
use crate::featureset::FeatureSet;

const MODELS_TSV: &str = include_str!("../data/qemu-models.tsv");

/// A QEMU release, e.g. `10.0.2`. Serialises as that string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct QemuVersion {
    pub major: u16,
    pub minor: u16,
    pub micro: u16,
}

impl QemuVersion {
    pub const fn new(major: u16, minor: u16, micro: u16) -> Self {
        Self {
            major,
            minor,
            micro,
        }
    }

    /// Parse `10.0.2`, `8.2`, `v10.0.0`, or a `qemu-system-x86_64 --version` style
    /// `QEMU emulator version 7.2.15 (Debian ...)`. Returns `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        let token = s
            .split_whitespace()
            .map(|t| t.trim_start_matches('v'))
            .find(|t| t.starts_with(|c: char| c.is_ascii_digit()))?;
        let mut parts = token
            .split(|c: char| !c.is_ascii_digit())
            .filter(|p| !p.is_empty());
        let major = parts.next()?.parse().ok()?;
        let minor = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        let micro = parts.next().map_or(Some(0), |p| p.parse().ok())?;
        Some(Self::new(major, minor, micro))
    }
}

impl fmt::Display for QemuVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)
    }
}

impl Serialize for QemuVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_string().serialize(s)
    }
}

impl<'de> Deserialize<'de> for QemuVersion {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| {
            serde::de::Error::custom(format!("'{s}' is not a qemu version like 10.0.2"))
        })
    }
}

/// Where a named model comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// A QEMU `-cpu` model (or one of its aliases).
    Qemu,
    /// An x86-64 psABI micro-architecture level: not a QEMU model; exported as `qemu64` plus and
    /// minus features.
    AbiLevel,
}

/// One named CPU model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedModel {
    pub name: String,
    /// For an alias (`Skylake-Server`), the versioned model it stands for (`Skylake-Server-v1`).
    pub alias_of: Option<String>,
    pub kind: ModelKind,
    /// CPUID vendor string the model presents (`GenuineIntel`...); `None` for the psABI levels.
    pub vendor: Option<String>,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub model_id: String,
    /// The first QEMU release known to have the model.
    pub present_in: QemuVersion,
    /// The last QEMU release known to lack it (`None`: present in the oldest release probed, 6.2).
    /// Releases between the two are unknown.
    pub absent_in: Option<QemuVersion>,
    /// The name in libvirt v11.3.0's cpu_map, when libvirt has the model.
    pub libvirt_name: Option<String>,
    /// Features the model gives a guest, QEMU names.
    pub features: FeatureSet,
    /// Position in the database: models of one family are in version order.
    pub index: usize,
}

/// Does a QEMU release have a model?
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "answer", rename_all = "snake_case")]
pub enum QemuSupport {
    Yes,
    /// The release is older than the first release known to lack the model.
    No {
        present_in: QemuVersion,
    },
    /// The release lies between the last known without (`None`: none probed, the release is
    /// older than 6.2) and the first known with the model.
    Unknown {
        absent_in: Option<QemuVersion>,
        present_in: QemuVersion,
    },
    /// No QEMU version is known for the host.
    VersionUnknown,
}

impl NamedModel {
    /// Whether QEMU `version` has this model.
    pub fn qemu_support(&self, version: Option<QemuVersion>) -> QemuSupport {
        let Some(v) = version else {
            return QemuSupport::VersionUnknown;
        };
        if self.kind == ModelKind::AbiLevel || v >= self.present_in {
            return QemuSupport::Yes;
        }
        match self.absent_in {
            Some(absent) if v > absent => QemuSupport::Unknown {
                absent_in: Some(absent),
                present_in: self.present_in,
            },
            Some(_) => QemuSupport::No {
                present_in: self.present_in,
            },
            // Present in the oldest probe: older releases are not known.
            None => QemuSupport::Unknown {
                absent_in: None,
                present_in: self.present_in,
            },
        }
    }

    /// The model's family name without version or alias suffix (`Cascadelake-Server`).
    pub fn family_name(&self) -> &str {
        let base = self.alias_of.as_deref().unwrap_or(&self.name);
        match base.rsplit_once("-v") {
            Some((head, tail)) if tail.chars().all(|c| c.is_ascii_digit()) => head,
            _ => base,
        }
    }

    /// The versioned name (`Skylake-Server-v1` for the alias `Skylake-Server`).
    pub fn canonical_name(&self) -> &str {
        self.alias_of.as_deref().unwrap_or(&self.name)
    }

    /// The QEMU `-cpu` model this model is exported as.
    pub fn qemu_base(&self) -> &str {
        match self.kind {
            ModelKind::Qemu => self.canonical_name(),
            ModelKind::AbiLevel => "qemu64",
        }
    }
}

/// The whole database; get it with [`models()`].
#[derive(Debug)]
pub struct ModelDb {
    models: Vec<NamedModel>,
    by_name: HashMap<String, usize>,
    /// Feature names in the data that the catalog does not know (a test keeps this empty).
    pub unknown_features: Vec<String>,
}

/// The x86-64 psABI levels (System V AMD64 psABI, "Micro-architecture levels"), each adding to the
/// one before. v1 is the baseline every x86-64 processor has.
const ABI_LEVELS: &[(&str, &[&str])] = &[
    (
        "x86-64-v1",
        &[
            "cmov", "cx8", "fpu", "fxsr", "mmx", "syscall", "sse", "sse2", "lm", "nx", "pae",
            "pse", "tsc", "msr", "de", "apic", "sep", "mtrr", "pge", "mca", "mce", "pat", "pse36",
            "clflush",
        ],
    ),
    (
        "x86-64-v2",
        &[
            "cx16", "lahf-lm", "popcnt", "pni", "sse4.1", "sse4.2", "ssse3",
        ],
    ),
    (
        "x86-64-v3",
        &[
            "avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave",
        ],
    ),
    (
        "x86-64-v4",
        &["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"],
    ),
];

/// Features the accelerator provides whatever the model: QEMU sets CPUID.01H:ECX[31] (hypervisor)
/// for every guest, and KVM's paravirtual bits (CPUID.40000001H) come from `-accel kvm`.
pub fn accel_provided() -> FeatureSet {
    static SET: OnceLock<FeatureSet> = OnceLock::new();
    *SET.get_or_init(|| {
        let mut set = FeatureSet::EMPTY;
        for f in catalog().features() {
            let pv = matches!(
                f.location,
                crate::catalog::FeatureLocation::Cpuid {
                    leaf: 0x4000_0001,
                    ..
                }
            );
            if pv || f.name == "hypervisor" {
                set.insert(f.id);
            }
        }
        set
    })
}

/// Features of QEMU's model definitions that QEMU quietly leaves out under KVM when the host's
/// KVM lacks them, instead of refusing the model: CPUID.01H:ECX[3] MONITOR (unless
/// `-overcommit cpu-pm=on`), CPUID.01H:EDX[22] ACPI, CPUID.80000001H:ECX[22] TOPOEXT and the SVM
/// features of CPUID.8000000AH:EDX. Evidence: QEMU 10.0.0's blockers as libvirt probed them
/// (`tests/qemucaps.rs`) never name them although KVM's host CPU lacks them. A guest still sees
/// them where the host's KVM offers them (see [`crate::verdict::guest_view`]).
pub fn kvm_dropped() -> FeatureSet {
    static SET: OnceLock<FeatureSet> = OnceLock::new();
    *SET.get_or_init(|| {
        let mut set = FeatureSet::from_names(["monitor", "acpi", "topoext"]).0;
        for f in catalog().features() {
            if matches!(
                f.location,
                crate::catalog::FeatureLocation::Cpuid {
                    leaf: 0x8000_000a,
                    ..
                }
            ) {
                set.insert(f.id);
            }
        }
        set
    })
}

/// Features a model fit does not count: [`accel_provided`] and [`kvm_dropped`].
pub fn not_model_controlled() -> FeatureSet {
    accel_provided().union(&kvm_dropped())
}

impl ModelDb {
    fn load() -> Self {
        let mut models = Vec::new();
        let mut unknown_features = Vec::new();
        for line in MODELS_TSV.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 11 {
                continue;
            }
            let (Ok(family), Ok(model), Ok(stepping), Some(present_in)) = (
                cols[3].parse(),
                cols[4].parse(),
                cols[5].parse(),
                QemuVersion::parse(cols[7]),
            ) else {
                continue;
            };
            let (features, unknown) = FeatureSet::from_names(cols[10].split_whitespace());
            unknown_features.extend(unknown);
            let non_empty = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
            models.push(NamedModel {
                name: cols[0].to_owned(),
                alias_of: non_empty(cols[1]),
                kind: ModelKind::Qemu,
                vendor: non_empty(cols[2]),
                family,
                model,
                stepping,
                model_id: cols[6].to_owned(),
                present_in,
                absent_in: QemuVersion::parse(cols[8]),
                libvirt_name: non_empty(cols[9]),
                features,
                index: 0,
            });
        }
        let mut level = FeatureSet::EMPTY;
        for (name, adds) in ABI_LEVELS {
            let (set, unknown) = FeatureSet::from_names(adds.iter().copied());
            unknown_features.extend(unknown);
            level = level.union(&set);
            models.push(NamedModel {
                name: (*name).to_owned(),
                alias_of: None,
                kind: ModelKind::AbiLevel,
                vendor: None,
                family: 0,
                model: 0,
                stepping: 0,
                model_id: format!("x86-64 psABI level {}", &name[7..]),
                present_in: QemuVersion::new(0, 0, 0),
                absent_in: None,
                libvirt_name: None,
                features: level,
                index: 0,
            });
        }
        let mut by_name = HashMap::new();
        for (i, m) in models.iter_mut().enumerate() {
            m.index = i;
            by_name.insert(m.name.clone(), i);
            by_name.entry(m.name.to_ascii_lowercase()).or_insert(i);
        }
        Self {
            models,
            by_name,
            unknown_features,
        }
    }

    pub fn all(&self) -> &[NamedModel] {
        &self.models
    }

    /// Versioned QEMU models and the psABI levels: no aliases.
    pub fn versioned(&self) -> impl Iterator<Item = &NamedModel> {
        self.models.iter().filter(|m| m.alias_of.is_none())
    }

    /// A model by name (exact, then case-insensitive).
    pub fn get(&self, name: &str) -> Option<&NamedModel> {
        self.by_name
            .get(name)
            .or_else(|| self.by_name.get(&name.to_ascii_lowercase()))
            .map(|i| &self.models[*i])
    }

    /// A model by name, aliases resolved to their versioned model.
    pub fn resolve(&self, name: &str) -> Option<&NamedModel> {
        let m = self.get(name)?;
        match &m.alias_of {
            Some(target) => self.get(target).or(Some(m)),
            None => Some(m),
        }
    }
}

/// The model database, parsed on first use.
pub fn models() -> &'static ModelDb {
    static DB: OnceLock<ModelDb> = OnceLock::new();
    DB.get_or_init(ModelDb::load)
}

/// How a feature set relates to a model: what a guest of the model would need added and removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelFit {
    pub model: &'static NamedModel,
    /// Features of the target that the model lacks (`+feature`).
    pub added: FeatureSet,
    /// Features of the model that the target lacks (`-feature`).
    pub removed: FeatureSet,
    /// The model's family/model equals the processor's.
    pub signature_match: bool,
    /// libvirt's score: added features count 1, removed ones 2, 3, 4... (cpu_x86.c
    /// `virCPUx86CompareCandidateFeatureList`, BASE_PENALTY 2).
    pub score: usize,
}

/// What a model search may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitMode {
    /// Host CPU description: a candidate that would need features removed is refused (libvirt
    /// `x86DecodeUseCandidate` for VIR_CPU_TYPE_HOST).
    Host,
    /// Guest CPU: removed features are allowed with an increasing penalty.
    Guest,
}

/// Fit `target` to one model. Features the accelerator decides ([`not_model_controlled`]) are
/// ignored on both sides.
pub fn fit(
    model: &'static NamedModel,
    target: &FeatureSet,
    signature: Option<(u32, u32)>,
) -> ModelFit {
    fit_ignoring(model, target, signature, &FeatureSet::EMPTY)
}

/// [`fit`], not counting the features in `ignore` (whose presence is unknown) either.
pub fn fit_ignoring(
    model: &'static NamedModel,
    target: &FeatureSet,
    signature: Option<(u32, u32)>,
    ignore: &FeatureSet,
) -> ModelFit {
    // Only what QEMU can name can be added or removed on a `-cpu` line.
    let ignore = not_model_controlled().union(ignore);
    let known = crate::catalog::qemu_known();
    let model_set = model.features.intersection(&known).difference(&ignore);
    let target = target.intersection(&known).difference(&ignore);
    let added = target.difference(&model_set);
    let removed = model_set.difference(&target);
    // libvirt's models never contain the non-migratable features (QEMU's do: xsaves), so they do
    // not count towards the score, only towards `removed`.
    let nm = crate::verdict::non_migratable();
    let n_removed = removed.difference(&nm).len();
    // 2 + 3 + ... + (n + 1)
    let penalty = n_removed * (n_removed + 3) / 2;
    ModelFit {
        model,
        added,
        removed,
        signature_match: signature.is_some_and(|(f, m)| {
            model.kind == ModelKind::Qemu && model.family == f && model.model == m
        }),
        score: added.difference(&nm).len() + penalty,
    }
}

/// What a model search looks at.
#[derive(Clone, Copy, Debug)]
pub struct FitQuery<'a> {
    /// The features to describe (a guest view, or the intersection over a pool).
    pub features: &'a FeatureSet,
    /// CPUID vendor string; candidates of another vendor are skipped. `None`: only vendor-neutral
    /// psABI levels are candidates.
    pub vendor: Option<&'a str>,
    /// Processor family/model: candidates with the same signature win (libvirt does the same).
    pub signature: Option<(u32, u32)>,
    pub mode: FitMode,
    /// QEMU release(s) that must have the model: the oldest in the pool. `None`: any.
    pub qemu: Option<QemuVersion>,
    /// Consider the psABI levels as well as QEMU models.
    pub abi_levels: bool,
    /// Features whose presence is unknown (e.g. MSR-based ones of a dump without MSRs): not
    /// counted either way.
    pub ignore: FeatureSet,
}

/// The best named model for a feature set, following libvirt's x86Decode: newest models first,
/// same vendor only, a signature match beats any non-matching model, then the fewest added plus
/// penalised removed features; on a tie the newer model stays.
///
/// Where we differ from libvirt: models a host's QEMU lacks are skipped (libvirt asks the
/// hypervisor), QEMU's own model list is used (libvirt's cpu_map lacks newer models), and the
/// features the accelerator provides (`hypervisor`, KVM PV bits) are not counted.
pub fn best_model(q: &FitQuery<'_>) -> Option<ModelFit> {
    let mut best: Option<ModelFit> = None;
    for m in models().versioned().collect::<Vec<_>>().into_iter().rev() {
        match (m.kind, &m.vendor, q.vendor) {
            (ModelKind::AbiLevel, _, _) if !q.abi_levels => continue,
            (ModelKind::Qemu, Some(mv), Some(v)) if !mv.eq_ignore_ascii_case(v) => continue,
            (ModelKind::Qemu, _, None) => continue,
            _ => {}
        }
        if let Some(v) = q.qemu
            && m.qemu_support(Some(v)) != QemuSupport::Yes
        {
            continue;
        }
        let cand = fit_ignoring(m, q.features, q.signature, &q.ignore);
        if q.mode == FitMode::Host && !cand.removed.is_empty() {
            continue;
        }
        let better = match &best {
            None => true,
            Some(cur) if cur.signature_match != cand.signature_match => cand.signature_match,
            Some(cur) => {
                cand.score < cur.score
                    || (cand.score == cur.score && cand.removed.len() < cur.removed.len())
            }
        };
        if better {
            best = Some(cand);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_has_every_qemu_model_with_known_features() {
        let db = models();
        assert!(db.unknown_features.is_empty(), "{:?}", db.unknown_features);
        let sky = db.get("Skylake-Server-v4").expect("Skylake-Server-v4");
        assert_eq!((sky.family, sky.model), (6, 85));
        assert_eq!(sky.vendor.as_deref(), Some("GenuineIntel"));
        assert!(sky.features.names().contains(&"avx512f".to_owned()));
        assert_eq!(sky.family_name(), "Skylake-Server");
        let alias = db.resolve("Cascadelake-Server").expect("alias");
        assert_eq!(alias.name, "Cascadelake-Server-v1");
        let milan = db.get("EPYC-Milan-v2").expect("EPYC-Milan-v2");
        assert_eq!(milan.vendor.as_deref(), Some("AuthenticAMD"));
        // Levels nest.
        let v2 = db.get("x86-64-v2").expect("v2");
        let v3 = db.get("x86-64-v3").expect("v3");
        assert!(v2.features.is_subset(&v3.features) && v2.features != v3.features);
    }

    #[test]
    fn qemu_release_decides_availability() {
        let db = models();
        let gr2 = db.get("GraniteRapids-v2").expect("GraniteRapids-v2");
        assert_eq!(gr2.present_in, QemuVersion::new(9, 2, 0));
        assert_eq!(
            gr2.qemu_support(QemuVersion::parse("8.2.0")),
            QemuSupport::No {
                present_in: QemuVersion::new(9, 2, 0)
            }
        );
        assert!(matches!(
            gr2.qemu_support(QemuVersion::parse("9.0.1")),
            QemuSupport::Unknown { .. }
        ));
        assert_eq!(
            gr2.qemu_support(QemuVersion::parse("10.0.2")),
            QemuSupport::Yes
        );
        assert_eq!(
            QemuVersion::parse("QEMU emulator version 7.2.15 (Debian 1:7.2+dfsg-7)"),
            Some(QemuVersion::new(7, 2, 15))
        );
        assert_eq!(QemuVersion::parse("nonsense"), None);
    }

    #[test]
    fn a_model_fits_its_own_features_best() {
        let db = models();
        for name in [
            "Cascadelake-Server-v5",
            "EPYC-Rome-v4",
            "Haswell-v4",
            "SapphireRapids-v3",
        ] {
            let m = db.get(name).expect(name);
            let fit = best_model(&FitQuery {
                features: &m.features,
                vendor: m.vendor.as_deref(),
                signature: Some((m.family, m.model)),
                mode: FitMode::Guest,
                qemu: None,
                abi_levels: false,
                ignore: FeatureSet::EMPTY,
            })
            .expect("a fit");
            assert!(
                fit.added.is_empty() && fit.removed.is_empty(),
                "{name}: {fit:?}"
            );
            assert_eq!(
                fit.model.features, m.features,
                "{name} -> {}",
                fit.model.name
            );
        }
    }
}
