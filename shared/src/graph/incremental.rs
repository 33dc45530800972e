//! The class graph of a fleet that changes a few hosts at a time: the facts of each class and
//! the edge answers between classes are kept from one fleet to the next, and only the classes
//! that are new, or whose representative (first host) changed, are judged again (their row and
//! their column). The answer equals [`super::build`]'s on the same fleet: same classes in the
//! same order, each judged by its first host, same edges and pools.

use std::collections::HashMap;
use std::sync::Arc;

use super::{CompatGraph, assemble, node};
use crate::class::class_id;
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
/// Classes are numbered by the caller ([`crate::class::Interner`]: equal numbers exactly for
/// equal class keys, kept across fleets).
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
    /// By place: a bitset over places, bit `q` set when guests of the class can go to the class
    /// at place `q`. Exact between live classes; other bits are never read (a class new in a
    /// place is judged against every live class, both ways).
    out: Vec<Vec<u64>>,
    /// [`crate::rules::layers_block`] per pair of fingerprints (as [`super::build`] judges it:
    /// hosts equal in the fingerprint get equal answers).
    layers: HashMap<(u64, u64), bool>,
    /// Classes judged again by the last [`Self::update`].
    rejudged: usize,
}

const NONE: u32 = u32::MAX;

fn words(n: usize) -> usize {
    n.div_ceil(64)
}

fn set_bit(row: &mut Vec<u64>, d: usize, on: bool) {
    if row.len() <= d / 64 {
        row.resize(d / 64 + 1, 0);
    }
    if on {
        row[d / 64] |= 1 << (d % 64);
    } else {
        row[d / 64] &= !(1 << (d % 64));
    }
}

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
            out: Vec::new(),
            layers: HashMap::new(),
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
        let mut members: Vec<Vec<usize>> = Vec::new();
        for (i, &c) in class_of.iter().enumerate() {
            let c = c as usize;
            if dense_of[c] == NONE {
                dense_of[c] = u32::try_from(order.len()).unwrap_or(NONE);
                order.push(c);
                members.push(Vec::new());
            }
            members[dense_of[c] as usize].push(i);
        }
        let live = |number: u32| dense_of.get(number as usize).is_some_and(|&d| d != NONE);
        // Give back the places of the classes that are gone (their representatives too).
        for place in 0..self.numbers.len() {
            let number = self.numbers[place];
            if number != NONE && !live(number) {
                self.place_of[number as usize] = NONE;
                self.numbers[place] = NONE;
                self.slots[place] = None;
                self.out[place] = Vec::new();
                self.free.push(u32::try_from(place).unwrap_or(NONE));
            }
        }
        // A place for each live class, and the dense index of each place.
        if self.place_of.len() < n_numbers {
            self.place_of.resize(n_numbers, NONE);
        }
        let places: Vec<usize> = order
            .iter()
            .map(|&c| {
                if self.place_of[c] == NONE {
                    let place = self.free.pop().unwrap_or_else(|| {
                        self.numbers.push(NONE);
                        self.slots.push(None);
                        self.out.push(Vec::new());
                        u32::try_from(self.numbers.len() - 1).unwrap_or(NONE)
                    });
                    self.place_of[c] = place;
                    self.numbers[place as usize] = u32::try_from(c).unwrap_or(NONE);
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
            let rep = &profiles[members[d][0]];
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
        // Their rows against every live class, and their columns in the other rows.
        for &a in &dirty {
            let mut row = vec![0; words(self.numbers.len())];
            for &b in &places {
                if self.edge(a, b) {
                    set_bit(&mut row, b, true);
                }
            }
            self.out[a] = row;
        }
        for &a in &places {
            if is_dirty[a] {
                continue;
            }
            for &b in &dirty {
                let on = self.edge(a, b);
                set_bit(&mut self.out[a], b, on);
            }
        }
        // The graph over dense indexes: each row's set bits among live classes, ascending.
        let n = order.len();
        let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut self_ok = vec![false; n];
        for (a, &pa) in places.iter().enumerate() {
            let outs = &mut adj[a];
            for (w, &bits) in self.out[pa].iter().enumerate() {
                let mut bits = bits;
                while bits != 0 {
                    let pb = w * 64 + bits.trailing_zeros() as usize;
                    bits &= bits - 1;
                    match dense_of_place.get(pb) {
                        Some(&b) if b as usize == a => self_ok[a] = true,
                        Some(&b) if b != NONE => outs.push(b as usize),
                        _ => {}
                    }
                }
            }
            outs.sort_unstable();
        }
        let sizes: Vec<usize> = members.iter().map(Vec::len).collect();
        let slots = &self.slots;
        assemble(
            &self.guest,
            &self.policy,
            profiles.len(),
            &adj,
            &self_ok,
            &sizes,
            |d| {
                let m = &members[d];
                let rep = &profiles[m[0]];
                let id = slots[places[d]]
                    .as_ref()
                    .map_or_else(|| class_id(rep), |s| s.class_id.clone());
                node(
                    id,
                    rep,
                    m.iter().map(|&i| profiles[i].host_id.clone()).collect(),
                )
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::class::Interner;
    use crate::testing::profile_named;

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
