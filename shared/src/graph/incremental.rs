//! The class graph of a fleet that changes a few hosts at a time: the facts of each class and
//! the edge answers between classes are kept from one fleet to the next, and only the classes
//! that are new, or whose representative (first host) changed, are judged again (their row and
//! their column). The answer equals [`super::build`]'s on the same fleet: same classes in the
//! same order, each judged by its first host, same edges and pools.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use super::kept::Kept;
use super::{CompatGraph, Shape, assemble, node};
use crate::class::class_id;
use crate::intern::SharedList;
use crate::profile::HostProfile;
use crate::verdict::{GuestConfig, GuestCpu, HostFacts, Policy};

/// A live class as it was judged.
#[derive(Debug)]
struct Slot {
    /// Its first host when judged: a new `Arc` (the host changed, or another host came first)
    /// judges the class again. Held, so the pointer cannot be reused for another profile.
    rep: Arc<HostProfile>,
    facts: HostFacts,
    /// [`crate::rules::layers_fingerprint`] of `rep`.
    print: u64,
    class_id: String,
}

/// The graph of one guest configuration and policy over successive fleets (see the module).
/// Classes are numbered by the caller: equal numbers exactly for equal class keys within a
/// fleet ([`crate::class::Interner`] keeps them across fleets; a number that stands for another
/// class in a later fleet has its class judged again).
///
/// A class that appears, vanishes or is judged with other edges changes the components only
/// where it lies (`components.rs`), and the other components' reach only where they touch it; what every change still pays for is the answer in the fleet's numbering (a class
/// that appears in the middle of the fleet renumbers the classes after it): the edge list,
/// written from the matrix's columns without a sort.
#[derive(Debug)]
pub struct Incremental {
    guest: GuestConfig,
    policy: Policy,
    /// The policy as the layers beyond the CPU read it ([`crate::verdict::effective_policy`]).
    effective: Policy,
    named: bool,
    /// Each live class has a place, given back when the class vanishes and reused, so that the
    /// tables below grow with the most classes live at once, not with every class ever seen.
    /// `place_of[number]`, `numbers[place]` (`NONE`: free), and the free places.
    place_of: Vec<u32>,
    numbers: Vec<u32>,
    free: Vec<u32>,
    /// By place: the live classes' judgements.
    slots: Vec<Option<Slot>>,
    /// The edges between live classes by place, their components and each component's reach,
    /// kept across changes.
    kept: Kept,
    /// [`crate::rules::layers_block`] per pair of fingerprints (as [`super::build`] judges it:
    /// hosts equal in the fingerprint get equal answers).
    layers: HashMap<(u64, u64), bool>,
    /// By place: the class's host ids when last assembled, handed out again while its members
    /// are the same hosts (a label or QEMU change elsewhere copies no list).
    hosts: Vec<SharedList<String>>,
    /// By place: the profiles those host ids were read from. A member that is the same profile
    /// has the same id, so the ids are compared only where a profile changed (comparing
    /// 100,000 ids read from 100,000 profiles was a third of an update). Weak: a profile no
    /// longer in the fleet is dropped, and only its allocation, which no other profile can then
    /// take, is kept until the next update.
    held: Vec<Vec<Weak<HostProfile>>>,
    /// The last [`Shape`] and the places of the classes it numbers (dense index to place), kept
    /// while no edge bit and no place changes.
    shape: Option<(Vec<usize>, Shape)>,
    /// Classes judged again by the last [`Self::update`].
    rejudged: usize,
}

const NONE: u32 = u32::MAX;

impl Incremental {
    pub fn new(guest: &GuestConfig, policy: &Policy) -> Self {
        Self {
            guest: guest.clone(),
            policy: policy.clone(),
            effective: crate::verdict::effective_policy(guest, policy).into_owned(),
            named: matches!(guest.cpu, GuestCpu::Named { .. }),
            place_of: Vec::new(),
            numbers: Vec::new(),
            free: Vec::new(),
            slots: Vec::new(),
            kept: Kept::default(),
            layers: HashMap::new(),
            hosts: Vec::new(),
            held: Vec::new(),
            shape: None,
            rejudged: 0,
        }
    }

    /// How many classes the last [`Self::update`] judged again (new classes and classes whose
    /// first host changed).
    pub fn rejudged(&self) -> usize {
        self.rejudged
    }

    /// Whether guests of the class at place `a` can go to the one at place `b` (both live), as
    /// [`super::build`] says.
    fn edge(&mut self, a: usize, b: usize) -> bool {
        let (Some(Some(sa)), Some(Some(sb))) = (self.slots.get(a), self.slots.get(b)) else {
            return false;
        };
        if !sa.facts.edge(&sb.facts, self.named, &self.policy) {
            return false;
        }
        let (guest, effective) = (&self.guest, &self.effective);
        !*self
            .layers
            .entry((sa.print, sb.print))
            .or_insert_with(|| crate::rules::layers_block(&sa.rep, &sb.rep, guest, effective))
    }

    /// The graph of `profiles` (ordered as [`super::build`] would take them), `class_of[i]` the
    /// class number of `profiles[i]`. Equal to `build(profiles, guest, policy)`; with numbers that
    /// do not fit the profiles (another length) it is that build.
    pub fn update(&mut self, profiles: &[Arc<HostProfile>], class_of: &[u32]) -> CompatGraph {
        if class_of.len() != profiles.len() {
            *self = Self::new(&self.guest, &self.policy);
            return super::build(profiles, &self.guest, &self.policy);
        }
        // Classes in order of first appearance, their members, and each number's dense index.
        let n_numbers = class_of.iter().max().map_or(0, |&m| m as usize + 1);
        let mut dense_of = vec![NONE; n_numbers];
        let mut order: Vec<usize> = Vec::new();
        let mut sizes: Vec<usize> = Vec::new();
        for &c in class_of {
            let c = c as usize;
            if dense_of[c] == NONE {
                dense_of[c] = u32::try_from(order.len()).unwrap_or(NONE);
                order.push(c);
                sizes.push(0);
            }
            sizes[dense_of[c] as usize] += 1;
        }
        // The members of all classes in one list, class after class (no list per class grown
        // host by host).
        let members = Members::of(class_of, &dense_of, &sizes);
        let live = |number: u32| dense_of.get(number as usize).is_some_and(|&d| d != NONE);
        // Whether any edge or component changed (a class gone or new changes the answer
        // whatever the bits say).
        let mut changed = false;
        // Give back the places of the classes that are gone (their representatives and edges
        // too) and take them out of the components.
        let mut gone: Vec<usize> = Vec::new();
        for place in 0..self.numbers.len() {
            let number = self.numbers[place];
            if number != NONE && !live(number) {
                self.place_of[number as usize] = NONE;
                self.numbers[place] = NONE;
                self.slots[place] = None;
                self.hosts[place] = SharedList::default();
                self.held[place] = Vec::new();
                changed = true;
                self.free.push(u32::try_from(place).unwrap_or(NONE));
                gone.push(place);
            }
        }
        self.kept.remove(&gone);
        // A place for each live class, and the dense index of each place.
        if self.place_of.len() < n_numbers {
            self.place_of.resize(n_numbers, NONE);
        }
        let mut added: Vec<usize> = Vec::new();
        let places: Vec<usize> = order
            .iter()
            .map(|&c| {
                if self.place_of[c] == NONE {
                    changed = true;
                    let place = self.free.pop().unwrap_or_else(|| {
                        self.numbers.push(NONE);
                        self.slots.push(None);
                        self.hosts.push(SharedList::default());
                        self.held.push(Vec::new());
                        u32::try_from(self.numbers.len() - 1).unwrap_or(NONE)
                    });
                    self.place_of[c] = place;
                    self.numbers[place as usize] = u32::try_from(c).unwrap_or(NONE);
                    added.push(place as usize);
                }
                self.place_of[c] as usize
            })
            .collect();
        let mut dense_of_place = vec![NONE; self.numbers.len()];
        for (d, &p) in places.iter().enumerate() {
            dense_of_place[p] = u32::try_from(d).unwrap_or(NONE);
        }
        // Judge again the classes whose first host is another profile than when judged (a class
        // new in its place has none).
        let mut dirty: Vec<usize> = Vec::new();
        let mut is_dirty = vec![false; self.numbers.len()];
        for (d, &p) in places.iter().enumerate() {
            let rep = &profiles[members.first(d)];
            if self.slots[p]
                .as_ref()
                .is_some_and(|s| Arc::ptr_eq(&s.rep, rep))
            {
                continue;
            }
            self.slots[p] = Some(Slot {
                rep: Arc::clone(rep),
                facts: HostFacts::new(rep, &self.guest, &self.policy),
                print: crate::rules::layers_fingerprint(rep),
                class_id: class_id(rep),
            });
            dirty.push(p);
            is_dirty[p] = true;
        }
        self.rejudged = dirty.len();
        // Their rows against every live class, and their columns in the other rows; which
        // judged classes have an edge that changed.
        let mut moved = vec![false; self.numbers.len()];
        for &a in &dirty {
            for &b in &places {
                let on = self.edge(a, b);
                if self.kept.set(a, b, on) {
                    moved[a] = true;
                }
            }
        }
        for &a in &places {
            if is_dirty[a] {
                continue;
            }
            for &b in &dirty {
                let on = self.edge(a, b);
                if self.kept.set(a, b, on) {
                    moved[b] = true;
                }
            }
        }
        // A judged class with other edges leaves its component and comes back with its new
        // edges; new classes come in.
        let again: Vec<usize> = dirty
            .iter()
            .copied()
            .filter(|&p| moved[p] && self.kept.holds(p))
            .collect();
        self.kept.leave(&again);
        changed |= dirty.iter().any(|&p| moved[p]);
        // Two searches per class coming in, or Tarjan's over all when many come at once.
        let coming = again.len() + added.len();
        if coming > 64 && coming * 4 > places.len() {
            self.kept.rebuild(&places);
        } else {
            for &p in again.iter().chain(&added) {
                self.kept.enter(p);
            }
        }
        // The same live classes in the same places and the same bits: the same shape.
        let kept = !changed && self.shape.as_ref().is_some_and(|(p, _)| *p == places);
        if !kept {
            let shape = self.kept.shape(&places, &dense_of_place);
            self.shape = Some((places.clone(), shape));
        }
        // Each class's host list: the one held if its members are the same hosts (the same
        // profiles, or profiles with the same ids).
        for (d, &p) in places.iter().enumerate() {
            let m = members.of_class(d);
            let held = &self.held[p];
            let same_profiles = held.len() == m.len()
                && m.iter()
                    .zip(held)
                    .all(|(&i, h)| std::ptr::eq(h.as_ptr(), Arc::as_ptr(&profiles[i])));
            if same_profiles {
                continue;
            }
            let ids = &self.hosts[p];
            let same_ids = ids.len() == m.len()
                && m.iter()
                    .zip(ids.iter())
                    .all(|(&i, h)| profiles[i].host_id == *h);
            if !same_ids {
                self.hosts[p] = m.iter().map(|&i| profiles[i].host_id.clone()).collect();
            }
            self.held[p] = m.iter().map(|&i| Arc::downgrade(&profiles[i])).collect();
        }
        let (slots, hosts) = (&self.slots, &self.hosts);
        let Some((_, shape)) = &self.shape else {
            return super::build(profiles, &self.guest, &self.policy);
        };
        assemble(
            &self.guest,
            &self.policy,
            profiles.len(),
            shape,
            &sizes,
            |d| {
                let p = places[d];
                let rep = &profiles[members.first(d)];
                let id = slots[p]
                    .as_ref()
                    .map_or_else(|| class_id(rep), |s| s.class_id.clone());
                node(id, rep, hosts[p].clone())
            },
        )
    }
}

/// The hosts of each class (indexes into the fleet, ascending), class after class.
struct Members {
    start: Vec<usize>,
    hosts: Vec<usize>,
}

impl Members {
    /// `class_of[i]` host `i`'s class number, `dense_of[number]` its class, `sizes[class]` its
    /// number of hosts.
    fn of(class_of: &[u32], dense_of: &[u32], sizes: &[usize]) -> Self {
        let mut start = Vec::with_capacity(sizes.len() + 1);
        start.push(0);
        for &n in sizes {
            start.push(start.last().copied().unwrap_or(0) + n);
        }
        let mut next = start.clone();
        let mut hosts = vec![0; class_of.len()];
        for (i, &c) in class_of.iter().enumerate() {
            let d = dense_of[c as usize] as usize;
            hosts[next[d]] = i;
            next[d] += 1;
        }
        Self { start, hosts }
    }

    fn of_class(&self, d: usize) -> &[usize] {
        &self.hosts[self.start[d]..self.start[d + 1]]
    }

    /// The first host of class `d` (every class has one).
    fn first(&self, d: usize) -> usize {
        self.hosts[self.start[d]]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::Interner;
    use crate::testing::profile_named;

    /// A class that takes the place of a vanished one, at the same position in the fleet, with
    /// the same column bits and an empty row, as the vanished one's cleared row: the shape is
    /// still made again (the vanished class had an edge and took its own guests; the new one
    /// neither).
    #[test]
    fn a_new_class_in_a_vanished_ones_place_is_judged_anew() {
        let mut interner = Interner::default();
        // QEMU's host-passthrough with migratable=off shows invtsc; without a fixed frequency
        // such guests cannot move at all.
        let guest = GuestConfig {
            cpu_props: [("migratable".to_owned(), "off".to_owned())].into(),
            ..GuestConfig::default()
        };
        let policy = Policy {
            guest_tsc_khz: None,
            ..Policy::default()
        };
        let host = |id: &str, features: &[&str]| {
            let mut p = profile_named(id, "GenuineIntel", features);
            p.cpu.tsc_khz = Some(2_000_000);
            Arc::new(p)
        };
        let mut inc = Incremental::new(&guest, &policy);
        let mut fleet = vec![host("a", &["sse2"]), host("b", &["sse2", "avx"])];
        for step in 0..2 {
            let numbers: Vec<u32> = fleet.iter().map(|p| interner.intern(p)).collect();
            let g = inc.update(&fleet, &numbers);
            assert_eq!(
                g,
                crate::graph::build(&fleet, &guest, &policy),
                "step {step}"
            );
            if step == 0 {
                assert_eq!(g.edges.len(), 1, "a's guests go to b");
                fleet[0] = host("a", &["sse2", "invtsc"]);
            }
        }
    }

    /// A class that vanishes gives its place to the next new class: the tables grow with the
    /// classes live at once, not with every class ever seen.
    #[test]
    fn places_of_vanished_classes_are_reused() {
        let mut interner = Interner::default();
        let mut inc = Incremental::new(&GuestConfig::default(), &Policy::default());
        let extras = [
            "avx", "avx2", "aes", "bmi1", "bmi2", "adx", "sha-ni", "rdrand",
        ];
        let host =
            |id: &str, extra: &str| Arc::new(profile_named(id, "GenuineIntel", &["sse2", extra]));
        let mut fleet = vec![host("a", "sse3"), host("b", extras[0])];
        for (k, extra) in extras.iter().enumerate().skip(1) {
            // Host b moves to a class nobody had: its old class vanishes.
            fleet[1] = host("b", extra);
            let numbers: Vec<u32> = fleet.iter().map(|p| interner.intern(p)).collect();
            let g = inc.update(&fleet, &numbers);
            assert_eq!(
                g,
                crate::graph::build(&fleet, &GuestConfig::default(), &Policy::default())
            );
            assert_eq!(
                inc.numbers.len(),
                2,
                "step {k}: two places for two live classes"
            );
            assert_eq!(inc.rejudged(), if k == 1 { 2 } else { 1 });
        }
        assert_eq!(interner.len(), extras.len(), "a, and b in seven classes");
    }
}
