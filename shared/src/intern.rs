//! Profiles that share what repeats. Every host with the same QEMU build reports the same
//! `query-machines` list, and with the same processor too the same `query-cpu-definitions` list
//! (a few hundred models, each with its unavailable features): most of a decoded profile's heap.
//! A [`ProfileInterner`] makes equal lists one `Arc` held by all the profiles that have them.
//!
//! Pure and bounded: lists no profile holds any more are dropped as the table grows
//! ([`ProfileInterner::prune`]), so a long-running server that sees QEMU builds come and go keeps
//! only the ones in use. The JSON of a profile does not change (a [`SharedList`] serialises as
//! its list), nor does anything computed from it.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hash, RandomState};
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::profile::{HostProfile, QemuCpuModel, QemuMachine};

#[cfg(feature = "list-memo")]
pub mod memo;

/// A list that profiles may share: an `Arc<[T]>` that reads as a slice and serialises as the
/// plain list (JSON unchanged). Cloning it copies a pointer; [`SharedList::make_mut`] copies the
/// list first when another profile holds it too.
#[derive(PartialEq, Eq, Hash)]
pub struct SharedList<T>(Arc<[T]>);

impl<T> Clone for SharedList<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T> SharedList<T> {
    /// Whether both are the same list in memory (not only equal).
    pub fn ptr_eq(a: &Self, b: &Self) -> bool {
        Arc::ptr_eq(&a.0, &b.0)
    }

    /// The list to change, copied first when it is shared (`Arc::make_mut`).
    pub fn make_mut(&mut self) -> &mut [T]
    where
        T: Clone,
    {
        Arc::make_mut(&mut self.0)
    }

    /// The shared list itself (for counting how many hold it).
    pub fn as_arc(&self) -> &Arc<[T]> {
        &self.0
    }
}

impl<T> Default for SharedList<T> {
    fn default() -> Self {
        Self(Arc::from([]))
    }
}

impl<T> Deref for SharedList<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<'a, T> IntoIterator for &'a SharedList<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<T> From<Vec<T>> for SharedList<T> {
    fn from(v: Vec<T>) -> Self {
        Self(v.into())
    }
}

impl<T, const N: usize> From<[T; N]> for SharedList<T> {
    fn from(a: [T; N]) -> Self {
        Self(Arc::from(a))
    }
}

impl<T> FromIterator<T> for SharedList<T> {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self(iter.into_iter().collect())
    }
}

impl<T: PartialEq> PartialEq<Vec<T>> for SharedList<T> {
    fn eq(&self, other: &Vec<T>) -> bool {
        *self.0 == **other
    }
}

impl<T: PartialEq> PartialEq<SharedList<T>> for Vec<T> {
    fn eq(&self, other: &SharedList<T>) -> bool {
        **self == *other.0
    }
}

impl<T: fmt::Debug> fmt::Debug for SharedList<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<T: Serialize> Serialize for SharedList<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for SharedList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<T>::deserialize(d).map(Self::from)
    }
}

/// The table is pruned when it holds this many lists, then at twice what is left.
const FIRST_PRUNE: usize = 64;

/// Equal lists of one kind, by their hash; lists with the same hash are compared whole.
#[derive(Debug)]
struct Table<T> {
    hasher: RandomState,
    lists: HashMap<u64, Vec<SharedList<T>>>,
    len: usize,
    prune_at: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            hasher: RandomState::new(),
            lists: HashMap::new(),
            len: 0,
            prune_at: FIRST_PRUNE,
        }
    }
}

/// What interning did to one list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// It was the table's list already.
    Held,
    /// An equal list was held: the list now is that one.
    Replaced,
    /// No equal list was held: the table keeps this one for the next equal list.
    Added,
}

impl<T: Hash + Eq> Table<T> {
    /// Make `list` the table's equal list, or keep it as the one the next equal list gets.
    fn intern(&mut self, list: &mut SharedList<T>) -> Outcome {
        let hash = self.hasher.hash_one(&**list);
        let same = self.lists.entry(hash).or_default();
        // `Arc`'s `==` compares the pointers before the contents (`T: Eq`).
        if let Some(found) = same.iter().find(|l| *l == list) {
            if SharedList::ptr_eq(found, list) {
                return Outcome::Held;
            }
            *list = found.clone();
            return Outcome::Replaced;
        }
        same.push(list.clone());
        self.len += 1;
        if self.len >= self.prune_at {
            self.prune();
        }
        Outcome::Added
    }

    /// Drop the lists only the table holds; the next prune comes at twice what is left.
    fn prune(&mut self) -> usize {
        let before = self.len;
        self.lists.retain(|_, same| {
            same.retain(|l| Arc::strong_count(&l.0) > 1);
            !same.is_empty()
        });
        self.len = self.lists.values().map(Vec::len).sum();
        self.prune_at = (self.len * 2).max(FIRST_PRUNE);
        before - self.len
    }
}

/// Equal QEMU machine and CPU model lists shared between profiles (see the module doc).
#[derive(Debug, Default)]
pub struct ProfileInterner {
    machines: Table<QemuMachine>,
    cpu_models: Table<QemuCpuModel>,
    /// Lists replaced by an equal one already held.
    shared: u64,
}

/// What an interner holds, for logs and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InternStats {
    /// Distinct machine lists held.
    pub machine_lists: usize,
    /// Distinct CPU model lists held.
    pub cpu_model_lists: usize,
    /// Lists replaced by an equal one already held, since the interner was made.
    pub shared: u64,
}

impl ProfileInterner {
    pub fn new() -> Self {
        Self::default()
    }

    /// Make each of `p`'s QEMU lists the interner's equal one (keeping `p`'s as that one when the
    /// interner has none). `p` stays equal to what it was, and serialises the same.
    pub fn intern(&mut self, p: &mut HostProfile) {
        for q in &mut p.qemu {
            for outcome in [
                self.machines.intern(&mut q.machines),
                self.cpu_models.intern(&mut q.cpu_models),
            ] {
                self.shared += u64::from(outcome == Outcome::Replaced);
            }
        }
    }

    /// Drop the lists no profile holds any more; how many were dropped. [`Self::intern`] does it
    /// as the table grows; call it after dropping many profiles to give the memory back now.
    pub fn prune(&mut self) -> usize {
        self.machines.prune() + self.cpu_models.prune()
    }

    pub fn stats(&self) -> InternStats {
        InternStats {
            machine_lists: self.machines.len,
            cpu_model_lists: self.cpu_models.len,
            shared: self.shared,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{profile_of_model, qemu_with_machines};

    /// A profile as the store gives it back: decoded from its JSON, sharing nothing.
    fn decoded(p: &HostProfile) -> HostProfile {
        HostProfile::from_json(&serde_json::to_string(p).expect("json")).expect("decodes")
    }

    fn host(id: &str, model: &str, qemu: &str, unavailable: &[&str]) -> HostProfile {
        let mut p = profile_of_model(id, model).expect("model");
        let mut q = qemu_with_machines(qemu);
        q.cpu_models = ["Skylake-Server-v4", "Icelake-Server-v6", "qemu64"]
            .iter()
            .map(|name| QemuCpuModel {
                name: (*name).to_owned(),
                usable: unavailable.is_empty(),
                unavailable_features: unavailable.iter().map(|f| (*f).to_owned()).collect(),
                ..QemuCpuModel::default()
            })
            .collect();
        p.qemu.push(q);
        p
    }

    #[test]
    fn equal_lists_become_one_and_the_profile_and_its_json_stay_the_same() {
        let mut interner = ProfileInterner::new();
        let a0 = decoded(&host("a", "Skylake-Server-v4", "9.2.0", &["avx512-fp16"]));
        let b0 = decoded(&host("b", "Skylake-Server-v4", "9.2.0", &["avx512-fp16"]));
        let (mut a, mut b) = (a0.clone(), b0.clone());
        assert!(!SharedList::ptr_eq(
            &a.qemu[0].machines,
            &b.qemu[0].machines
        ));
        interner.intern(&mut a);
        interner.intern(&mut b);
        assert!(SharedList::ptr_eq(&a.qemu[0].machines, &b.qemu[0].machines));
        assert!(SharedList::ptr_eq(
            &a.qemu[0].cpu_models,
            &b.qemu[0].cpu_models
        ));
        assert_eq!((a.clone(), b.clone()), (a0.clone(), b0.clone()));
        for (p, p0) in [(&a, &a0), (&b, &b0)] {
            assert_eq!(
                serde_json::to_string(p).expect("json"),
                serde_json::to_string(p0).expect("json")
            );
        }
        assert_eq!(
            interner.stats(),
            InternStats {
                machine_lists: 1,
                cpu_model_lists: 1,
                shared: 2,
            }
        );
        // Interning again changes nothing and shares nothing more.
        interner.intern(&mut b);
        assert_eq!(interner.stats().shared, 2);
    }

    #[test]
    fn different_lists_stay_apart() {
        let mut interner = ProfileInterner::new();
        // Same QEMU, another processor: same machines, other usable models.
        let mut a = decoded(&host("a", "Skylake-Server-v4", "9.2.0", &["avx512-fp16"]));
        let mut b = decoded(&host("b", "Skylake-Server-v4", "9.2.0", &[]));
        // Another QEMU release: other machines.
        let mut c = decoded(&host("c", "Skylake-Server-v4", "8.2.2", &[]));
        for p in [&mut a, &mut b, &mut c] {
            interner.intern(p);
        }
        assert!(SharedList::ptr_eq(&a.qemu[0].machines, &b.qemu[0].machines));
        assert!(!SharedList::ptr_eq(
            &a.qemu[0].cpu_models,
            &b.qemu[0].cpu_models
        ));
        assert!(SharedList::ptr_eq(
            &b.qemu[0].cpu_models,
            &c.qemu[0].cpu_models
        ));
        assert!(!SharedList::ptr_eq(
            &b.qemu[0].machines,
            &c.qemu[0].machines
        ));
        assert_ne!(a.qemu[0].cpu_models, b.qemu[0].cpu_models);
        assert_ne!(b.qemu[0].machines, c.qemu[0].machines);
        let s = interner.stats();
        assert_eq!((s.machine_lists, s.cpu_model_lists, s.shared), (2, 2, 2));
    }

    #[test]
    fn lists_no_profile_holds_are_dropped() {
        let mut interner = ProfileInterner::new();
        let mut kept = decoded(&host("kept", "Skylake-Server-v4", "9.2.0", &[]));
        interner.intern(&mut kept);
        // A server that sees 10,000 QEMU builds come and go, one host at a time.
        let mut most = 0;
        for i in 0..10_000 {
            let mut p = decoded(&host("h", "Skylake-Server-v4", "9.2.0", &[]));
            p.qemu[0].cpu_models.make_mut()[0].name = format!("Model-{i}");
            interner.intern(&mut p);
            let s = interner.stats();
            most = most.max(s.cpu_model_lists);
        }
        assert!(
            most <= 2 * FIRST_PRUNE,
            "the table grew to {most} lists for 2 in use"
        );
        let held = interner.stats().cpu_model_lists;
        assert_eq!(interner.prune(), held - 1);
        let s = interner.stats();
        assert_eq!((s.machine_lists, s.cpu_model_lists), (1, 1));
        // The list still in use is still the one shared.
        let mut again = decoded(&kept);
        interner.intern(&mut again);
        assert!(SharedList::ptr_eq(
            &kept.qemu[0].cpu_models,
            &again.qemu[0].cpu_models
        ));
    }

    #[test]
    fn a_stored_profile_reads_and_writes_back_byte_for_byte() {
        // Written by the collector's schema before the lists were shared (fuzz corpus).
        let stored = include_str!("../../fuzz/corpus/profile/snb-1.json").trim_end();
        let mut p = HostProfile::from_json(stored).expect("stored profile");
        assert!(!p.qemu[0].cpu_models.is_empty());
        assert_eq!(serde_json::to_string(&p).expect("json"), stored);
        ProfileInterner::new().intern(&mut p);
        assert_eq!(serde_json::to_string(&p).expect("json"), stored);
    }
}
