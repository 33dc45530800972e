//! The incremental graph equals the graph built from scratch: after every step of a random
//! sequence of host changes, additions, deletions and re-uploads of equal profiles (classes
//! appearing and vanishing, components merging and splitting, representatives changing),
//! `graph::Incremental::update` gives exactly `graph::build` of the same fleet, for
//! host-passthrough, host-model, named-model and masked guests under several policies. Hosts
//! that did not change keep their `Arc`, as the server's fleet cache keeps them. Classes are
//! numbered as the server numbers them (`class::Interner`: a number per class key, never
//! reused) or by a numbering that gives a vanished class's number to the next new class, so
//! that a class number stays live while its class changes: the class is judged again with
//! other edges, leaves its component and comes back.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use proptest::prelude::*;

use shared::class::{ClassKey, Interner, key};
use shared::graph::{Classes, Incremental, build, group};
use shared::profile::HostProfile;

mod rich;
use rich::{guests, policies, rich_host};

#[derive(Clone, Debug)]
enum Step {
    /// Host at this position (modulo the fleet's size) takes the profile of this pool entry.
    Change(prop::sample::Index, usize),
    /// A host with this id number (maybe between others) and this pool entry.
    Add(u8, usize),
    Delete(prop::sample::Index),
    /// The host uploads an equal profile again (a new `Arc`, same class).
    Reupload(prop::sample::Index),
}

fn steps(pool: usize) -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        (any::<prop::sample::Index>(), 0..pool).prop_map(|(i, p)| Step::Change(i, p)),
        (any::<u8>(), 0..pool).prop_map(|(n, p)| Step::Add(n, p)),
        any::<prop::sample::Index>().prop_map(Step::Delete),
        any::<prop::sample::Index>().prop_map(Step::Reupload),
    ];
    proptest::collection::vec(step, 1..10)
}

/// A host with the pool's profile `p` under `id`.
fn host(pool: &[HostProfile], p: usize, id: &str) -> Arc<HostProfile> {
    let mut h = pool[p % pool.len()].clone();
    h.host_id = id.to_owned();
    Arc::new(h)
}

/// Class numbers for a fleet: equal numbers exactly for equal class keys within a fleet, and
/// the numbers of classes gone from the fleet given to the next new classes (smallest first).
#[derive(Default)]
struct Recycling {
    numbers: HashMap<ClassKey, u32>,
    next: u32,
}

impl Recycling {
    fn number(&mut self, fleet: &[Arc<HostProfile>]) -> Vec<u32> {
        let keys: Vec<ClassKey> = fleet.iter().map(|h| key(h)).collect();
        self.numbers.retain(|k, _| keys.contains(k));
        let mut free: Vec<u32> = (0..self.next)
            .filter(|n| !self.numbers.values().any(|m| m == n))
            .collect();
        free.reverse();
        keys.into_iter()
            .map(|k| {
                let next = &mut self.next;
                *self.numbers.entry(k).or_insert_with(|| {
                    free.pop().unwrap_or_else(|| {
                        *next += 1;
                        *next - 1
                    })
                })
            })
            .collect()
    }
}

/// Hosts for a fleet: variants of `base` without a few of its features (guests can go from
/// a variant to the hosts that have all its features, so the graphs have edges and pools of
/// several classes), and other hosts.
fn pool_of(
    base: &HostProfile,
    drops: &[Vec<prop::sample::Index>],
    others: Vec<HostProfile>,
) -> Vec<HostProfile> {
    let mut pool = Vec::new();
    for d in drops {
        let mut h = base.clone();
        let ids: Vec<_> = h.cpu.features.iter().collect();
        for i in d {
            if ids.is_empty() {
                break;
            }
            let f = ids[i.index(ids.len())];
            h.cpu.features.remove(f);
            if let Some(k) = h.kvm.as_mut() {
                k.guest_features.remove(f);
            }
        }
        pool.push(h);
    }
    pool.extend(others);
    pool
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn incremental_graph_equals_graph_from_scratch(
        base in rich_host(),
        drops in proptest::collection::vec(proptest::collection::vec(any::<prop::sample::Index>(), 0..3), 1..5),
        others in proptest::collection::vec(rich_host(), 0..3),
        start in proptest::collection::vec((any::<u8>(), 0..8usize), 0..16),
        script in steps(8),
        guest in guests(),
        policy in policies(),
        recycle in any::<bool>(),
    ) {
        let pool = pool_of(&base, &drops, others);
        // The fleet by host id.
        let mut fleet: BTreeMap<String, Arc<HostProfile>> = BTreeMap::new();
        for (n, p) in start {
            let id = format!("h{n:03}");
            fleet.insert(id.clone(), host(&pool, p, &id));
        }
        let mut interner = Interner::default();
        let mut recycling = Recycling::default();
        let mut number = |profiles: &[Arc<HostProfile>]| -> Vec<u32> {
            if recycle {
                recycling.number(profiles)
            } else {
                profiles.iter().map(|h| interner.intern(h)).collect()
            }
        };
        let mut inc = Incremental::new(&guest, &policy);
        for (k, step) in std::iter::once(None).chain(script.into_iter().map(Some)).enumerate() {
            let ids: Vec<String> = fleet.keys().cloned().collect();
            match step {
                None => {}
                Some(Step::Change(i, p)) if !ids.is_empty() => {
                    let id = &ids[i.index(ids.len())];
                    fleet.insert(id.clone(), host(&pool, p, id));
                }
                Some(Step::Add(n, p)) => {
                    let id = format!("h{n:03}");
                    fleet.insert(id.clone(), host(&pool, p, &id));
                }
                Some(Step::Delete(i)) if !ids.is_empty() => {
                    fleet.remove(&ids[i.index(ids.len())]);
                }
                Some(Step::Reupload(i)) if !ids.is_empty() => {
                    let id = &ids[i.index(ids.len())];
                    let again = Arc::new((*fleet[id]).clone());
                    fleet.insert(id.clone(), again);
                }
                Some(_) => {}
            }
            let profiles: Vec<Arc<HostProfile>> = fleet.values().map(Arc::clone).collect();
            let class_of = number(&profiles);
            // Numbered classes are the classes `group` finds.
            prop_assert_eq!(Classes::from_numbers(&class_of), group(&profiles));
            let got = inc.update(&profiles, &class_of);
            let want = build(&profiles, &guest, &policy);
            prop_assert_eq!(&got, &want, "step {}", k);
            // Only new classes and classes whose first host changed are judged again.
            prop_assert!(inc.rejudged() <= want.classes.len());
            if k == 0 {
                prop_assert_eq!(inc.rejudged(), want.classes.len());
            }
        }
        // Nothing changed: nothing is judged again, and the answer is the same.
        let profiles: Vec<Arc<HostProfile>> = fleet.values().map(Arc::clone).collect();
        let class_of = number(&profiles);
        let again = inc.update(&profiles, &class_of);
        prop_assert_eq!(inc.rejudged(), 0);
        prop_assert_eq!(again, build(&profiles, &guest, &policy));
    }
}

/// One change in a fleet of many classes judges one class again, not all of them.
#[test]
fn one_change_rejudges_one_class() {
    use shared::testing::profile_named;
    let mut interner = Interner::default();
    let mk = |i: usize, extra: &str| {
        let flags = [
            "sse2",
            "avx",
            "avx2",
            "aes",
            "pclmulqdq",
            "bmi1",
            "bmi2",
            "adx",
        ];
        let mut on: Vec<&str> = flags
            .iter()
            .enumerate()
            .filter(|(b, _)| i >> b & 1 == 1)
            .map(|(_, f)| *f)
            .collect();
        on.push(extra);
        Arc::new(profile_named(&format!("h{i:04}"), "GenuineIntel", &on))
    };
    let mut profiles: Vec<Arc<HostProfile>> = (0..512).map(|i| mk(i % 64, "sse")).collect();
    for (i, p) in profiles.iter_mut().enumerate() {
        let mut h = (**p).clone();
        h.host_id = format!("h{i:04}");
        *p = Arc::new(h);
    }
    let mut class_of: Vec<u32> = profiles.iter().map(|p| interner.intern(p)).collect();
    let guest = shared::GuestConfig::default();
    let policy = shared::Policy::default();
    let mut inc = Incremental::new(&guest, &policy);
    let first = inc.update(&profiles, &class_of);
    assert_eq!(first.classes.len(), 64);
    assert_eq!(inc.rejudged(), 64);
    // Host 300 (not the first of its class) moves to a class of its own.
    let mut moved = (*mk(300 % 64, "sse3")).clone();
    moved.host_id = "h0300".into();
    profiles[300] = Arc::new(moved);
    class_of[300] = interner.intern(&profiles[300]);
    let second = inc.update(&profiles, &class_of);
    assert_eq!(second.classes.len(), 65);
    assert_eq!(inc.rejudged(), 1, "only the new class is judged");
    assert_eq!(second, build(&profiles, &guest, &policy));
}

/// A class number given to another class (a numbering that reuses numbers): the class is judged
/// again with other edges, leaves its component and comes back, and the graph is `build`'s.
#[test]
fn a_number_given_to_another_class_is_judged_again_with_other_edges() {
    use shared::testing::profile_named;
    let host = |id: &str, features: &[&str]| Arc::new(profile_named(id, "GenuineIntel", features));
    let mut fleet = vec![
        host("a", &["sse2"]),
        host("b", &["sse2", "avx"]),
        host("c", &["sse2", "avx", "avx2"]),
    ];
    let guest = shared::GuestConfig::default();
    let policy = shared::Policy::default();
    let mut numbers = Recycling::default();
    let mut inc = Incremental::new(&guest, &policy);
    let before = inc.update(&fleet, &numbers.number(&fleet));
    assert_eq!(before, build(&fleet, &guest, &policy));
    assert!(
        before.edges.len() == 3,
        "a -> b -> c and a -> c: {:?}",
        before.edges
    );
    // b takes features c lacks: its class vanishes and the new one gets its number.
    let old = numbers.number(&fleet);
    fleet[1] = host("b", &["sse2", "aes"]);
    let new = numbers.number(&fleet);
    assert_eq!(old, new, "the number is reused");
    let after = inc.update(&fleet, &new);
    assert_eq!(inc.rejudged(), 1);
    assert_eq!(after, build(&fleet, &guest, &policy));
    assert_ne!(after.edges, before.edges, "b no longer sends guests to c");
}
