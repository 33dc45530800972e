//! The x86 feature catalog: every CPUID bit and feature-MSR bit fleetcompat knows, with its
//! location and names. The catalog is data (`shared/data/*.tsv`, see `data/SOURCE.md`), parsed once.
//!
//! Each feature has a dense index (`FeatureId`) so that feature sets are fixed-width bitsets.

use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

const CROSSWALK_TSV: &str = include_str!("../data/cpuid-bit-crosswalk.tsv");
const MSR_TSV: &str = include_str!("../data/msr-features.tsv");
const EXTRA_TSV: &str = include_str!("../data/catalog-extra.tsv");

/// A CPUID output register.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Register {
    Eax,
    Ebx,
    Ecx,
    Edx,
}

impl Register {
    fn parse(s: &str) -> Option<Self> {
        match s {
            "eax" => Some(Self::Eax),
            "ebx" => Some(Self::Ebx),
            "ecx" => Some(Self::Ecx),
            "edx" => Some(Self::Edx),
            _ => None,
        }
    }
}

impl fmt::Display for Register {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Eax => "EAX",
            Self::Ebx => "EBX",
            Self::Ecx => "ECX",
            Self::Edx => "EDX",
        })
    }
}

/// Where a feature lives: a CPUID bit or a bit mask of a feature MSR.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureLocation {
    Cpuid {
        leaf: u32,
        subleaf: u32,
        register: Register,
        bit: u8,
    },
    Msr {
        index: u32,
        /// Bits of the 64-bit MSR value (EDX:EAX) that make up the feature.
        mask: u64,
    },
}

impl fmt::Display for FeatureLocation {
    /// The manual's notation: `CPUID.(EAX=07H,ECX=0):EBX[16]`, `MSR 0x0000010a[0]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Cpuid {
                leaf,
                subleaf,
                register,
                bit,
            } => write!(f, "CPUID.(EAX={leaf:02X}H,ECX={subleaf}):{register}[{bit}]"),
            Self::Msr { index, mask } => {
                if mask.count_ones() == 1 {
                    write!(f, "MSR {index:#010x}[{}]", mask.trailing_zeros())
                } else {
                    write!(f, "MSR {index:#010x} mask {mask:#018x}")
                }
            }
        }
    }
}

/// Whether a feature's presence is fixed by the silicon or can change under a running host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeatureClass {
    /// Fixed in silicon: same SKU, same bit. TSX (`rtm`, `hle`) is kept here although microcode can
    /// turn it off: a guest that used XBEGIN gets #UD without it, so it must block like any instruction.
    Fixed,
    /// Changes with microcode or firmware: mitigation bits in CPUID.(EAX=07H,ECX=0):EDX and
    /// IA32_ARCH_CAPABILITIES. Two hosts of one SKU can differ here.
    Microcode,
    /// Reflects OS state rather than the processor (OSXSAVE, OSPKE).
    OsState,
}

/// One catalog entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    pub id: FeatureId,
    /// The canonical name: QEMU's name where QEMU knows the bit, else libvirt's, else x86-cpuid-db's.
    pub name: String,
    pub qemu_name: Option<String>,
    pub libvirt_name: Option<String>,
    pub linux_name: Option<String>,
    /// Other spellings accepted on input (QEMU aliases, the x86-cpuid-db id).
    pub aliases: Vec<String>,
    pub description: String,
    pub location: FeatureLocation,
    /// False where libvirt marks the feature `migratable='no'` (invtsc, xsaves...).
    pub migratable: bool,
    pub class: FeatureClass,
}

/// Dense index of a feature in the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeatureId(pub u16);

/// The whole catalog; get it with [`catalog()`].
#[derive(Debug)]
pub struct Catalog {
    features: Vec<Feature>,
    by_name: NameIndex,
}

/// Feature names to ids: an open-addressing table keyed by the names' first and last eight bytes
/// and length, which for names of up to 16 bytes (nearly all) are the whole name, so most
/// lookups compare three integers and never touch the name's bytes. Reading a fleet looks up every
/// feature name of every host (1.5 million for 10,000 hosts): with SipHash that was a fifth of
/// `fleetcompat baseline`, and a quarter with a general fast hasher. The names are fixed catalog
/// data, never attacker-chosen keys.
#[derive(Debug, Default)]
struct NameIndex {
    /// Index into `entries`, or `EMPTY`; a power of two long, at most half full.
    slots: Vec<u16>,
    entries: Vec<NameEntry>,
}

#[derive(Debug)]
struct NameEntry {
    key: NameKey,
    id: FeatureId,
    /// Compared only for names longer than 16 bytes, whose key leaves out the middle.
    name: Box<str>,
}

/// The first and last eight bytes of a name (overlapping when shorter) and its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct NameKey {
    head: u64,
    tail: u64,
    len: usize,
}

impl NameKey {
    /// Fixed-size loads only: a variable-length copy into a buffer cost a third of a lookup.
    fn of(name: &[u8]) -> Self {
        let n = name.len();
        let u64_at = |i: usize| {
            name.get(i..i + 8)
                .and_then(|b| b.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        let u32_at = |i: usize| {
            name.get(i..i + 4)
                .and_then(|b| b.try_into().ok())
                .map_or(0, |b| u64::from(u32::from_le_bytes(b)))
        };
        let (head, tail) = match n {
            8.. => (u64_at(0), u64_at(n - 8)),
            4..8 => (u32_at(0), u32_at(n - 4)),
            _ => (name.iter().fold(0, |v, &c| (v << 8) | u64::from(c)), 0),
        };
        Self { head, tail, len: n }
    }

    fn slot(&self, mask: usize) -> usize {
        let h = (self.head ^ self.tail.rotate_left(29) ^ self.len as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        // The top bits are the best mixed.
        (h >> 40) as usize & mask
    }
}

impl NameIndex {
    const EMPTY: u16 = u16::MAX;

    fn build(names: Vec<(String, FeatureId)>) -> Self {
        let size = (names.len() * 2).next_power_of_two().max(16);
        let mut index = Self {
            slots: vec![Self::EMPTY; size],
            entries: Vec::with_capacity(names.len()),
        };
        for (name, id) in names {
            if index.get(&name).is_some() {
                continue; // the first entry of a name wins
            }
            let key = NameKey::of(name.as_bytes());
            let mut i = key.slot(size - 1);
            while index.slots[i] != Self::EMPTY {
                i = (i + 1) & (size - 1);
            }
            index.slots[i] = u16::try_from(index.entries.len()).unwrap_or(Self::EMPTY);
            index.entries.push(NameEntry {
                key,
                id,
                name: name.into_boxed_str(),
            });
        }
        index
    }

    fn get(&self, name: &str) -> Option<FeatureId> {
        let mask = self.slots.len().checked_sub(1)?;
        let key = NameKey::of(name.as_bytes());
        let mut i = key.slot(mask);
        loop {
            let entry = self.entries.get(usize::from(self.slots[i]))?;
            if entry.key == key && (key.len <= 16 || *entry.name == *name) {
                return Some(entry.id);
            }
            i = (i + 1) & mask;
        }
    }
}

/// Features whose CPUID bit changes with microcode or firmware updates. Speculative-execution
/// mitigation enumeration, Intel SDM Vol. 2A Table 3-8 "Structured Extended Feature Flags":
/// CPUID.(EAX=07H,ECX=0):EDX[10] MD_CLEAR, [11] RTM_ALWAYS_ABORT, [13] TSX_FORCE_ABORT,
/// [26] IBRS/IBPB, [27] STIBP, [28] L1D_FLUSH, [29] IA32_ARCH_CAPABILITIES, [31] SSBD;
/// CPUID.(EAX=07H,ECX=2):EDX[0..5] PSFD, IPRED_CTRL, RRSBA_CTRL, DDPD_U, BHI_CTRL, MCDT_NO.
/// AMD APM Vol. 3 E.4.7 CPUID Fn8000_0008_EBX[12..26] IBPB/IBRS/STIBP/SSBD/VIRT_SSBD/SSB_NO...,
/// Fn8000_0021_EAX mitigation bits.
const MICROCODE_CLASS: &[&str] = &[
    "md-clear",
    "spec-ctrl",
    "stibp",
    "flush-l1d",
    "arch-capabilities",
    "ssbd",
    "core-capability",
    "intel-psfd",
    "ipred-ctrl",
    "rrsba-ctrl",
    "ddpd-u",
    "bhi-ctrl",
    "mcdt-no",
    "ibpb",
    "ibrs",
    "amd-stibp",
    "amd-ssbd",
    "virt-ssbd",
    "amd-no-ssb",
    "amd-psfd",
    "stibp-always-on",
    "ibrs-all",
    "ibpb-brtype",
    "sbpb",
    "srso-no",
    "srso-user-kernel-no",
    "null-sel-clr-base",
    "auto-ibrs",
    "no-nested-data-bp",
    "lfence-always-serializing",
    "tsx-ctrl",
    "taa-no",
    "fb-clear",
];

/// Microcode-class features that are controls the guest programs, not just enumeration: writes to
/// IA32_SPEC_CTRL (MSR 48H: IBRS bit 0, STIBP bit 1, SSBD bit 2, IPRED_DIS bits 3-4, RRSBA_DIS
/// bits 5-6, PSFD bit 7, DDPD_U bit 8, BHI_DIS_S bit 10), IA32_PRED_CMD (MSR 49H: IBPB bit 0, SBPB
/// bit 7), IA32_FLUSH_CMD (MSR 10BH) and AMD's VIRT_SPEC_CTRL (MSR C001_011FH) and
/// EFER.AutoIBRS (Intel SDM Vol. 4 Table 2-2; AMD APM Vol. 2 3.1.7, Vol. 3 E.4.7 Fn8000_0008_EBX,
/// Fn8000_0021_EAX[8]). A guest that saw them keeps writing the MSRs: on a host without them the
/// writes fault and KVM cannot restore the MSR state, so their absence blocks although microcode
/// can change them.
pub const MICROCODE_CONTROLS: &[&str] = &[
    "spec-ctrl",
    "stibp",
    "ssbd",
    "flush-l1d",
    "intel-psfd",
    "ipred-ctrl",
    "rrsba-ctrl",
    "ddpd-u",
    "bhi-ctrl",
    "ibpb",
    "ibrs",
    "amd-stibp",
    "amd-ssbd",
    "virt-ssbd",
    "amd-psfd",
    "sbpb",
    "auto-ibrs",
];

/// Features that reflect OS state, not the processor: CPUID.01H:ECX[27] OSXSAVE (CR4.OSXSAVE),
/// CPUID.(EAX=07H,ECX=0):ECX[4] OSPKE (CR4.PKE). Intel SDM Vol. 2A Table 3-10 and 3-8.
const OS_STATE_CLASS: &[&str] = &["osxsave", "ospke"];

fn parse_hex_u32(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok()
}

fn non_empty(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_owned())
}

impl Catalog {
    fn load() -> Self {
        let mut features: Vec<Feature> = Vec::new();
        // The crosswalk: leaf, subleaf, reg, bit, libvirt_name, qemu_name, libvirt_qemu_aliases,
        // libvirt_migratable, linux_proc_cpuinfo_name, linux_macro, x86_cpuid_db_name, description.
        for line in CROSSWALK_TSV.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 12 {
                continue;
            }
            let (Some(leaf), Ok(subleaf), Some(register), Ok(bit)) = (
                parse_hex_u32(cols[0]),
                cols[1].trim().parse::<u32>(),
                Register::parse(cols[2].trim()),
                cols[3].trim().parse::<u8>(),
            ) else {
                continue;
            };
            let qemu_name = non_empty(cols[5]);
            let libvirt_name = non_empty(cols[4]);
            let db_name = non_empty(cols[10]);
            let Some(name) = qemu_name
                .clone()
                .or_else(|| libvirt_name.clone())
                .or_else(|| db_name.clone())
            else {
                continue;
            };
            let mut aliases: Vec<String> = cols[6]
                .split([',', ' '])
                .filter_map(non_empty)
                .chain(libvirt_name.clone())
                .chain(db_name)
                .collect();
            aliases.retain(|a| a != &name);
            aliases.sort();
            aliases.dedup();
            features.push(Feature {
                id: FeatureId(0),
                name,
                qemu_name,
                libvirt_name,
                linux_name: non_empty(cols[8]),
                aliases,
                description: cols[11].trim().to_owned(),
                location: FeatureLocation::Cpuid {
                    leaf,
                    subleaf,
                    register,
                    bit,
                },
                migratable: cols[7].trim() != "no",
                class: FeatureClass::Fixed,
            });
        }
        // MSR features: libvirt_name, qemu_name, msr_index, edx_mask, eax_mask, libvirt_migratable.
        for line in MSR_TSV.lines().skip(1) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols.len() < 6 {
                continue;
            }
            let (Some(index), Some(edx), Some(eax)) = (
                parse_hex_u32(cols[2]),
                parse_hex_u32(cols[3]),
                parse_hex_u32(cols[4]),
            ) else {
                continue;
            };
            let libvirt_name = non_empty(cols[0]);
            let qemu_name = non_empty(cols[1]);
            let Some(name) = qemu_name.clone().or_else(|| libvirt_name.clone()) else {
                continue;
            };
            let aliases = libvirt_name
                .iter()
                .filter(|a| **a != name)
                .cloned()
                .collect();
            // IA32_ARCH_CAPABILITIES (0x10a) enumerates mitigations and changes with microcode:
            // Intel SDM Vol. 4 Table 2-2.
            let class = if index == 0x10a {
                FeatureClass::Microcode
            } else {
                FeatureClass::Fixed
            };
            features.push(Feature {
                id: FeatureId(0),
                name,
                qemu_name,
                libvirt_name,
                linux_name: None,
                aliases,
                description: String::new(),
                location: FeatureLocation::Msr {
                    index,
                    mask: (u64::from(edx) << 32) | u64::from(eax),
                },
                migratable: cols[5].trim() != "no",
                class,
            });
        }
        apply_extras(&mut features);
        // A few x86-cpuid-db names repeat at another location (AMD's copies of CPUID.01H:EDX bits
        // in CPUID.80000001H:EDX, Intel RDT vs AMD MBA): keep every bit, give the later one a
        // unique name `name@LEAF.SUBLEAF` so sets round-trip through names.
        let mut taken = std::collections::HashSet::new();
        for f in &mut features {
            if !taken.insert(f.name.clone())
                && let FeatureLocation::Cpuid { leaf, subleaf, .. } = f.location
            {
                let unique = format!("{}@{leaf:x}.{subleaf}", f.name);
                let old = std::mem::replace(&mut f.name, unique.clone());
                taken.insert(unique);
                if f.qemu_name.is_none() {
                    f.aliases.retain(|a| *a != old);
                }
            }
        }
        // (name, id) in priority order: the first of a name wins.
        let mut by_name: Vec<(String, FeatureId)> = Vec::new();
        for (i, f) in features.iter_mut().enumerate() {
            let id = FeatureId(u16::try_from(i).unwrap_or(u16::MAX));
            f.id = id;
            if f.class != FeatureClass::Fixed {
                // Set by `catalog-extra.tsv`.
                continue;
            }
            if MICROCODE_CLASS.contains(&f.name.as_str()) {
                f.class = FeatureClass::Microcode;
            }
            if OS_STATE_CLASS.contains(&f.name.as_str()) {
                f.class = FeatureClass::OsState;
            }
        }
        // Canonical names first so an alias never shadows another feature's own name.
        for f in &features {
            by_name.push((f.name.clone(), f.id));
        }
        for f in &features {
            for alias in f
                .aliases
                .iter()
                .chain(f.libvirt_name.iter())
                .chain(f.linux_name.iter())
            {
                by_name.push((alias.clone(), f.id));
                by_name.push((alias.replace('_', "-"), f.id));
            }
            by_name.push((f.name.replace('-', "_"), f.id));
        }
        Self {
            features,
            by_name: NameIndex::build(by_name),
        }
    }

    pub fn len(&self) -> usize {
        self.features.len()
    }

    pub fn is_empty(&self) -> bool {
        self.features.is_empty()
    }

    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// The feature of an id from this catalog (ids of [`FeatureSet`](crate::FeatureSet)s built
    /// from names or CPUID). Panics on an id the catalog never gave out; see [`Catalog::try_get`].
    pub fn get(&self, id: FeatureId) -> &Feature {
        &self.features[usize::from(id.0)]
    }

    /// The feature of an id, or `None` for an id outside the catalog.
    pub fn try_get(&self, id: FeatureId) -> Option<&Feature> {
        self.features.get(usize::from(id.0))
    }

    /// Look a feature up by its canonical name or any alias (QEMU, libvirt, Linux spellings).
    pub fn lookup(&self, name: &str) -> Option<FeatureId> {
        self.by_name.get(name).or_else(|| {
            let lower = name.to_ascii_lowercase();
            self.by_name
                .get(&lower)
                .or_else(|| self.by_name.get(&lower.replace('_', "-")))
        })
    }
}

/// Parse a `catalog-extra.tsv` location: `cpuid:LEAF:SUBLEAF:REG:BIT` or `msr:INDEX:BIT`.
fn parse_extra_location(s: &str) -> Option<FeatureLocation> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        ["cpuid", leaf, subleaf, reg, bit] => Some(FeatureLocation::Cpuid {
            leaf: parse_hex_u32(leaf)?,
            subleaf: subleaf.parse().ok()?,
            register: Register::parse(reg)?,
            bit: bit.parse().ok().filter(|b| *b < 32)?,
        }),
        ["msr", index, bit] => Some(FeatureLocation::Msr {
            index: parse_hex_u32(index)?,
            mask: 1u64.checked_shl(bit.parse().ok()?)?,
        }),
        _ => None,
    }
}

/// Rows fleetcompat adds (`data/catalog-extra.tsv`): QEMU names the crosswalk lacks. A row at a
/// location the crosswalk already has renames that feature to its QEMU name; others are appended.
fn apply_extras(features: &mut Vec<Feature>) {
    for line in EXTRA_TSV.lines().filter(|l| !l.starts_with('#')).skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() < 6 {
            continue;
        }
        let (Some(location), Some(qemu_name)) = (parse_extra_location(cols[0]), non_empty(cols[1]))
        else {
            continue;
        };
        let class = match cols[4].trim() {
            "microcode" => FeatureClass::Microcode,
            "os_state" => FeatureClass::OsState,
            _ => FeatureClass::Fixed,
        };
        let migratable = cols[3].trim() != "no";
        let extra_aliases: Vec<String> = cols[2].split([',', ' ']).filter_map(non_empty).collect();
        if let Some(f) = features.iter_mut().find(|f| f.location == location) {
            if f.name != qemu_name {
                let old = std::mem::replace(&mut f.name, qemu_name.clone());
                f.aliases.push(old);
            }
            f.qemu_name = Some(qemu_name);
            f.aliases.extend(extra_aliases);
            f.aliases.retain(|a| *a != f.name);
            f.aliases.sort();
            f.aliases.dedup();
            f.migratable = migratable;
            f.class = class;
            if f.description.is_empty() {
                f.description = cols[5].trim().to_owned();
            }
        } else {
            features.push(Feature {
                id: FeatureId(0),
                name: qemu_name.clone(),
                qemu_name: Some(qemu_name),
                libvirt_name: None,
                linux_name: None,
                aliases: extra_aliases,
                description: cols[5].trim().to_owned(),
                location,
                migratable,
                class,
            });
        }
    }
}

/// Every feature QEMU names: the only ones a named model or a `-cpu` option can give a guest.
pub fn qemu_known() -> crate::featureset::FeatureSet {
    static SET: OnceLock<crate::featureset::FeatureSet> = OnceLock::new();
    *SET.get_or_init(|| {
        let mut set = crate::featureset::FeatureSet::EMPTY;
        for f in catalog().features() {
            if f.qemu_name.is_some() {
                set.insert(f.id);
            }
        }
        set
    })
}

/// The catalog, parsed on first use.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(Catalog::load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_has_cpuid_and_msr_features_and_fits_the_bitset() {
        let c = catalog();
        assert!(c.len() > 500, "catalog has {} features", c.len());
        assert!(c.len() <= crate::featureset::CAPACITY);
        let avx512f = c.get(c.lookup("avx512f").expect("avx512f"));
        // CPUID.(EAX=07H,ECX=0):EBX[16] AVX512F
        assert_eq!(
            avx512f.location,
            FeatureLocation::Cpuid {
                leaf: 7,
                subleaf: 0,
                register: Register::Ebx,
                bit: 16
            }
        );
        assert_eq!(
            avx512f.location.to_string(),
            "CPUID.(EAX=07H,ECX=0):EBX[16]"
        );
        let taa = c.get(c.lookup("taa-no").expect("taa-no"));
        assert!(matches!(
            taa.location,
            FeatureLocation::Msr { index: 0x10a, .. }
        ));
        assert_eq!(taa.class, FeatureClass::Microcode);
    }

    #[test]
    fn class_lists_name_catalog_features() {
        let c = catalog();
        for n in MICROCODE_CLASS.iter().chain(MICROCODE_CONTROLS) {
            let id = c
                .lookup(n)
                .unwrap_or_else(|| panic!("{n} is not in the catalog"));
            assert_eq!(c.get(id).class, FeatureClass::Microcode, "{n}");
        }
        for n in OS_STATE_CLASS {
            let id = c
                .lookup(n)
                .unwrap_or_else(|| panic!("{n} is not in the catalog"));
            assert_eq!(c.get(id).class, FeatureClass::OsState, "{n}");
        }
    }

    #[test]
    fn aliases_resolve_and_non_migratable_features_are_marked() {
        let c = catalog();
        assert_eq!(c.lookup("sse4_1"), c.lookup("sse4.1"));
        assert_eq!(c.lookup("sse3"), c.lookup("pni"));
        assert!(!c.get(c.lookup("invtsc").expect("invtsc")).migratable);
        assert!(!c.get(c.lookup("xsaves").expect("xsaves")).migratable);
        assert!(c.get(c.lookup("avx2").expect("avx2")).migratable);
        assert_eq!(
            c.get(c.lookup("osxsave").expect("osxsave")).class,
            FeatureClass::OsState
        );
        assert!(c.lookup("no-such-feature").is_none());
    }
}
