//! Fixed-width bitsets over the feature catalog: no strings on hot paths.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::catalog::{FeatureId, catalog};

const WORDS: usize = 10;
/// How many catalog features a [`FeatureSet`] can hold.
pub const CAPACITY: usize = WORDS * 64;

/// A set of catalog features. Serialises as a sorted list of canonical names.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct FeatureSet([u64; WORDS]);

impl FeatureSet {
    pub const EMPTY: Self = Self([0; WORDS]);

    pub fn insert(&mut self, id: FeatureId) {
        let i = usize::from(id.0);
        if i < CAPACITY {
            self.0[i / 64] |= 1 << (i % 64);
        }
    }

    pub fn remove(&mut self, id: FeatureId) {
        let i = usize::from(id.0);
        if i < CAPACITY {
            self.0[i / 64] &= !(1 << (i % 64));
        }
    }

    pub fn contains(&self, id: FeatureId) -> bool {
        let i = usize::from(id.0);
        i < CAPACITY && self.0[i / 64] & (1 << (i % 64)) != 0
    }

    pub fn len(&self) -> usize {
        self.0.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|w| *w == 0)
    }

    pub fn union(&self, other: &Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i] | other.0[i]))
    }

    pub fn intersection(&self, other: &Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i] & other.0[i]))
    }

    /// Features in `self` that are not in `other`.
    pub fn difference(&self, other: &Self) -> Self {
        Self(std::array::from_fn(|i| self.0[i] & !other.0[i]))
    }

    pub fn is_subset(&self, other: &Self) -> bool {
        self.0.iter().zip(other.0.iter()).all(|(a, b)| a & !b == 0)
    }

    /// The features, in catalog order: each word's set bits, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = FeatureId> + '_ {
        self.0.iter().enumerate().flat_map(|(w, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                // `w * 64 + b` < CAPACITY (640) fits a u16.
                Some(FeatureId((w * 64 + b) as u16))
            })
        })
    }

    /// Canonical names, in catalog order, borrowed from the catalog (no allocation: profiles
    /// are serialised and class ids computed on every upload).
    pub fn name_strs(&self) -> impl Iterator<Item = &'static str> + '_ {
        let c = catalog();
        self.iter()
            .filter_map(move |id| c.try_get(id).map(|f| f.name.as_str()))
    }

    /// Canonical names, in catalog order.
    pub fn names(&self) -> Vec<String> {
        self.name_strs().map(str::to_owned).collect()
    }

    /// Build a set from names; unknown names are returned apart, never dropped silently.
    pub fn from_names<'a>(names: impl IntoIterator<Item = &'a str>) -> (Self, Vec<String>) {
        let c = catalog();
        let mut set = Self::EMPTY;
        let mut unknown = Vec::new();
        for n in names {
            match c.lookup(n) {
                Some(id) => set.insert(id),
                None => unknown.push(n.to_owned()),
            }
        }
        (set, unknown)
    }
}

impl fmt::Debug for FeatureSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.name_strs()).finish()
    }
}

impl Serialize for FeatureSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.name_strs())
    }
}

impl<'de> Deserialize<'de> for FeatureSet {
    /// A list of names, looked up one by one without allocating (profiles of 10,000 hosts are
    /// read this way).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Names;
        struct Name;
        impl<'de> serde::de::DeserializeSeed<'de> for Name {
            type Value = FeatureId;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<FeatureId, D::Error> {
                d.deserialize_str(self)
            }
        }
        impl serde::de::Visitor<'_> for Name {
            type Value = FeatureId;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a cpu feature name")
            }
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<FeatureId, E> {
                catalog().lookup(name).ok_or_else(|| {
                    E::custom(format!(
                        "unknown cpu feature '{name}': use a QEMU, libvirt or Linux feature name"
                    ))
                })
            }
        }
        impl<'de> serde::de::Visitor<'de> for Names {
            type Value = FeatureSet;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of cpu feature names")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<FeatureSet, A::Error> {
                let mut set = FeatureSet::EMPTY;
                while let Some(id) = seq.next_element_seed(Name)? {
                    set.insert(id);
                }
                Ok(set)
            }
        }
        d.deserialize_seq(Names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_algebra() {
        let (a, u) = FeatureSet::from_names(["sse2", "avx", "avx2"]);
        assert!(u.is_empty());
        let (b, _) = FeatureSet::from_names(["sse2", "avx"]);
        assert!(b.is_subset(&a));
        assert!(!a.is_subset(&b));
        assert_eq!(a.difference(&b).names(), vec!["avx2"]);
        assert_eq!(a.intersection(&b), b);
        assert_eq!(a.union(&b), a);
        assert_eq!(a.len(), 3);
        let (_, unknown) = FeatureSet::from_names(["avx", "bogus"]);
        assert_eq!(unknown, vec!["bogus"]);
    }

    #[test]
    fn serde_round_trip_by_name() {
        let (a, _) = FeatureSet::from_names(["avx512f", "taa-no", "sse4_1"]);
        let json = serde_json::to_string(&a).unwrap();
        assert!(json.contains("sse4.1"), "{json}");
        let back: FeatureSet = serde_json::from_str(&json).unwrap();
        assert_eq!(a, back);
        assert!(serde_json::from_str::<FeatureSet>(r#"["nope"]"#).is_err());
    }
}
