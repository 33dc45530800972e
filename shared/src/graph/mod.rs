//! Host classes, the directed compatibility graph over classes for a guest policy, and migration
//! pools: the strongly connected components of that graph (inside a pool every guest can go to
//! every host).

use std::borrow::Borrow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::class::{ClassKey, class_id, key};
use crate::intern::SharedList;
use crate::profile::HostProfile;
use crate::verdict::{GuestConfig, GuestCpu, HostFacts, Policy};

mod bits;
mod components;
mod incremental;
mod kept;
pub use incremental::Incremental;

/// Hosts grouped into classes. `members[c]` are indexes into the input slice; the first member
/// represents the class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classes {
    pub members: Vec<Vec<usize>>,
    pub class_of_host: Vec<usize>,
}

impl Classes {
    /// The classes of hosts numbered already (`numbers[i]` the class number of host `i`, equal
    /// exactly for equal [`crate::class::key`]s, as [`crate::class::Interner`] gives them): the
    /// same classes in the same order as [`group`] finds.
    pub fn from_numbers(numbers: &[u32]) -> Self {
        let mut dense: Vec<usize> = Vec::new();
        let mut members: Vec<Vec<usize>> = Vec::new();
        let mut class_of_host = Vec::with_capacity(numbers.len());
        for (i, &n) in numbers.iter().enumerate() {
            let n = n as usize;
            if dense.len() <= n {
                dense.resize(n + 1, usize::MAX);
            }
            if dense[n] == usize::MAX {
                dense[n] = members.len();
                members.push(Vec::new());
            }
            members[dense[n]].push(i);
            class_of_host.push(dense[n]);
        }
        Self {
            members,
            class_of_host,
        }
    }
}

/// Group hosts whose CPU-relevant profile is equal (arch, vendor, KVM guest view, TSC frequency
/// to 125 ppm, TSC scaling, QEMU release). Classes are in order of first appearance.
///
/// `profiles` may hold the profiles or references to them (`&HostProfile`, `Arc<HostProfile>`):
/// a caller that keeps a fleet shared between generations copies no profile to group it.
pub fn group<P: Borrow<HostProfile>>(profiles: &[P]) -> Classes {
    let mut index: HashMap<ClassKey, usize> = HashMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut class_of_host = Vec::with_capacity(profiles.len());
    for (i, p) in profiles.iter().enumerate() {
        let next = members.len();
        let c = *index.entry(key(p.borrow())).or_insert(next);
        if c == next {
            members.push(Vec::new());
        }
        members[c].push(i);
        class_of_host.push(c);
    }
    Classes {
        members,
        class_of_host,
    }
}

/// Strongly connected components of a directed graph given as adjacency lists, by Tarjan's
/// algorithm without recursion. Components come out in reverse topological order (a component
/// is emitted after every component it reaches).
pub fn strongly_connected(adj: &[Vec<usize>]) -> Vec<Vec<usize>> {
    const UNSEEN: usize = usize::MAX;
    let n = adj.len();
    let mut index = vec![UNSEEN; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut comps = Vec::new();
    let mut next = 0;
    // (node, position in its adjacency list)
    let mut call: Vec<(usize, usize)> = Vec::new();
    for root in 0..n {
        if index[root] != UNSEEN {
            continue;
        }
        call.push((root, 0));
        while let Some(&(v, pos)) = call.last() {
            if pos == 0 && index[v] == UNSEEN {
                index[v] = next;
                low[v] = next;
                next += 1;
                stack.push(v);
                on_stack[v] = true;
            }
            if let Some(&w) = adj[v].get(pos) {
                if let Some(top) = call.last_mut() {
                    top.1 += 1;
                }
                if w >= n {
                    continue;
                }
                if index[w] == UNSEEN {
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
                continue;
            }
            call.pop();
            if let Some(&(parent, _)) = call.last() {
                low[parent] = low[parent].min(low[v]);
            }
            if low[v] == index[v] {
                let mut comp = Vec::new();
                while let Some(w) = stack.pop() {
                    on_stack[w] = false;
                    comp.push(w);
                    if w == v {
                        break;
                    }
                }
                comp.sort_unstable();
                comps.push(comp);
            }
        }
    }
    comps
}

/// One class in a graph answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassNode {
    /// [`class_id`] of the class's first host (stable across releases for equal profiles).
    pub class_id: String,
    pub vendor: String,
    /// Features KVM offers a guest in this class; `None` without a guest view.
    pub n_guest_features: Option<usize>,
    pub tsc_khz: Option<u64>,
    /// Its hosts' ids, in the fleet's order (shared, not copied, between the graphs of successive
    /// fleets while the class keeps its hosts: [`Incremental`]).
    pub hosts: SharedList<String>,
    /// Whether a guest of this policy can move between two hosts of this class.
    pub self_compatible: bool,
    /// Index of the pool the class belongs to.
    pub pool: usize,
}

/// A directed edge: guests on class `from` can move to class `to` (indexes into `classes`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassEdge {
    pub from: usize,
    pub to: usize,
}

/// A migration pool: inside it every guest of the policy can go to every host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Indexes into `classes`.
    pub classes: Vec<usize>,
    pub n_hosts: usize,
    /// False for a single class whose hosts cannot even take each other's guests.
    pub internally_compatible: bool,
    /// Pools this pool's guests can move to one way (never back).
    pub drains_to: Vec<usize>,
}

/// The compatibility graph of a fleet for one guest policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompatGraph {
    pub guest: GuestConfig,
    pub policy: Policy,
    pub n_hosts: usize,
    pub classes: Vec<ClassNode>,
    /// Edges between distinct classes (self-compatibility is on the class), by `from` then `to`.
    /// Shared between the graphs of successive fleets while no judgement changed.
    pub edges: SharedList<ClassEdge>,
    /// Pools, largest first (equal sizes in the order of their first class).
    pub pools: Vec<Pool>,
}

/// Build the class graph and pools for a guest configuration and policy. Each class is judged by
/// its first host; edges follow exactly [`crate::compare_with`]'s blockers. Like [`group`], it
/// takes profiles or references to them and copies none.
pub fn build<P: Borrow<HostProfile>>(
    profiles: &[P],
    guest: &GuestConfig,
    policy: &Policy,
) -> CompatGraph {
    let profile = |i: usize| -> &HostProfile { profiles[i].borrow() };
    let classes = group(profiles);
    let named = matches!(guest.cpu, GuestCpu::Named { .. });
    let facts: Vec<HostFacts> = classes
        .members
        .iter()
        .map(|m| HostFacts::new(profile(m[0]), guest, policy))
        .collect();
    let n = facts.len();
    // The layers beyond the CPU read few facts ([`crate::rules::layers_fingerprint`]): judged
    // once per pair of distinct fingerprints, on the first classes that have them.
    let effective = crate::verdict::effective_policy(guest, policy);
    // Fingerprints as dense indexes, and their pair answers in a table (few distinct ones).
    let mut distinct: Vec<u64> = Vec::new();
    let mut first_class: Vec<usize> = Vec::new();
    let print_of: Vec<usize> = classes
        .members
        .iter()
        .enumerate()
        .map(|(c, m)| {
            let fp = crate::rules::layers_fingerprint(profile(m[0]));
            distinct.iter().position(|d| *d == fp).unwrap_or_else(|| {
                distinct.push(fp);
                first_class.push(c);
                distinct.len() - 1
            })
        })
        .collect();
    let k = distinct.len();
    let mut layers: Vec<Option<bool>> = vec![None; k * k];
    let mut layers_block = |a: usize, b: usize| {
        let (pa, pb) = (print_of[a], print_of[b]);
        *layers[pa * k + pb].get_or_insert_with(|| {
            crate::rules::layers_block(
                profile(classes.members[first_class[pa]][0]),
                profile(classes.members[first_class[pb]][0]),
                guest,
                &effective,
            )
        })
    };
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut self_ok = vec![false; n];
    for (a, fa) in facts.iter().enumerate() {
        for (b, fb) in facts.iter().enumerate() {
            if fa.edge(fb, named, policy) && !layers_block(a, b) {
                if a == b {
                    self_ok[a] = true;
                } else {
                    adj[a].push(b);
                }
            }
        }
    }
    let sizes: Vec<usize> = classes.members.iter().map(Vec::len).collect();
    let shape = Shape::of(&adj, self_ok);
    assemble(guest, policy, profiles.len(), &shape, &sizes, |c| {
        let m = &classes.members[c];
        let rep = profile(m[0]);
        node(
            class_id(rep),
            rep,
            m.iter().map(|&i| profile(i).host_id.clone()).collect(),
        )
    })
}

/// A class's node before its pool is known: its id and hosts, the rest from its first host.
fn node(class_id: String, rep: &HostProfile, hosts: SharedList<String>) -> ClassNode {
    ClassNode {
        class_id,
        vendor: rep.cpu.vendor.clone(),
        n_guest_features: rep.kvm.as_ref().map(|k| k.guest_features.len()),
        tsc_khz: rep.cpu.tsc_khz,
        hosts,
        self_compatible: false,
        pool: 0,
    }
}

/// What the judgements between classes decide, before the classes' sizes are known: which
/// classes take their own guests, the strongly connected components, the edges, and the
/// components each component's guests reach. [`Incremental`] keeps it while no judgement
/// changes, so a change that only moves hosts does not walk the edges again.
#[derive(Debug)]
struct Shape {
    self_ok: Vec<bool>,
    /// Strongly connected components, each ascending, in any order ([`assemble`] orders them).
    comps: Vec<Vec<usize>>,
    comp_of: Vec<usize>,
    /// Per component, the other components its classes' guests can go to (each once).
    reaches: Vec<Vec<usize>>,
    edges: SharedList<ClassEdge>,
}

impl Shape {
    /// `adj[a]` the classes `a`'s guests can go to (ascending, never `a`), `self_ok[a]` whether
    /// they can move inside `a`.
    fn of(adj: &[Vec<usize>], self_ok: Vec<bool>) -> Self {
        let comps = strongly_connected(adj);
        let mut comp_of = vec![0; adj.len()];
        for (k, comp) in comps.iter().enumerate() {
            for &c in comp {
                comp_of[c] = k;
            }
        }
        // Written once into the shared list: a counted range maps into an `Arc<[_]>` in place
        // (std's `TrustedLen` path), where a `Vec` would be copied into it (a million edges).
        let total = adj.iter().map(Vec::len).sum();
        let mut all = adj
            .iter()
            .enumerate()
            .flat_map(|(a, outs)| outs.iter().map(move |&b| ClassEdge { from: a, to: b }));
        let edges: SharedList<ClassEdge> = (0..total)
            .map(|_| all.next().unwrap_or(ClassEdge { from: 0, to: 0 }))
            .collect();
        // Each component's reach once, by a mark per component (no sort of every edge).
        let mut mark = vec![usize::MAX; comps.len()];
        let reaches = comps
            .iter()
            .enumerate()
            .map(|(k, comp)| {
                let mut out = Vec::new();
                for &a in comp {
                    for &b in &adj[a] {
                        let kb = comp_of[b];
                        if kb != k && mark[kb] != k {
                            mark[kb] = k;
                            out.push(kb);
                        }
                    }
                }
                out
            })
            .collect();
        Self {
            self_ok,
            comps,
            comp_of,
            reaches,
            edges,
        }
    }
}

/// The graph of judged classes (`shape`), `sizes[a]` the hosts of class `a`, `node(a)` its node:
/// pools are the components, largest first, then in the order of their first class. [`build`]
/// and [`Incremental`] share it, so equal judgements give equal graphs.
fn assemble(
    guest: &GuestConfig,
    policy: &Policy,
    n_hosts: usize,
    shape: &Shape,
    sizes: &[usize],
    mut node: impl FnMut(usize) -> ClassNode,
) -> CompatGraph {
    let comps = &shape.comps;
    let comp_size = |k: usize| comps[k].iter().map(|&c| sizes[c]).sum::<usize>();
    // Largest first, then by their first class: an order of the judgements alone, not of the
    // way the components were found (Tarjan's in `build`, kept across changes in
    // `Incremental`).
    let mut order: Vec<usize> = (0..comps.len()).collect();
    order.sort_by_cached_key(|&k| {
        (
            std::cmp::Reverse(comp_size(k)),
            comps[k].iter().min().copied(),
        )
    });
    let mut pool_of_comp = vec![0; comps.len()];
    for (p, &k) in order.iter().enumerate() {
        pool_of_comp[k] = p;
    }
    let mut drains = drains_to(&shape.reaches, &pool_of_comp);
    let pools = order
        .iter()
        .zip(&mut drains)
        .map(|(&k, drains_to)| {
            let comp = &comps[k];
            Pool {
                classes: comp.clone(),
                n_hosts: comp_size(k),
                internally_compatible: comp.len() > 1 || comp.iter().all(|&c| shape.self_ok[c]),
                drains_to: std::mem::take(drains_to),
            }
        })
        .collect();
    let nodes = (0..shape.comp_of.len())
        .map(|c| ClassNode {
            self_compatible: shape.self_ok[c],
            pool: pool_of_comp[shape.comp_of[c]],
            ..node(c)
        })
        .collect();
    CompatGraph {
        guest: guest.clone(),
        policy: policy.clone(),
        n_hosts,
        classes: nodes,
        edges: shape.edges.clone(),
        pools,
    }
}

/// Each pool's `drains_to` (by pool number, ascending): the pools of the components each
/// component reaches (`reaches[k]`, each once), `pool_of_comp[k]` component `k`'s pool. Two
/// counting passes over every reach, by destination then stably by source, instead of a sort
/// per pool (a fleet of 3,000 pools has hundreds of thousands of reaches).
fn drains_to(reaches: &[Vec<usize>], pool_of_comp: &[usize]) -> Vec<Vec<usize>> {
    let n = pool_of_comp.len();
    let total: usize = reaches.iter().map(Vec::len).sum();
    let mut count = vec![0usize; n + 1];
    for r in reaches {
        for &j in r {
            count[pool_of_comp[j] + 1] += 1;
        }
    }
    for p in 0..n {
        count[p + 1] += count[p];
    }
    let mut by_dst = vec![(0usize, 0usize); total];
    for (k, r) in reaches.iter().enumerate() {
        for &j in r {
            let d = pool_of_comp[j];
            by_dst[count[d]] = (pool_of_comp[k], d);
            count[d] += 1;
        }
    }
    let mut drains: Vec<Vec<usize>> = (0..n).map(|_| Vec::new()).collect();
    for (k, r) in reaches.iter().enumerate() {
        drains[pool_of_comp[k]].reserve_exact(r.len());
    }
    for (src, dst) in by_dst {
        drains[src].push(dst);
    }
    drains
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::profile_of_model;

    /// Whether a host can run a named model depends on its QEMU as well as its CPU: equal CPUs
    /// with QEMU 6.2 and 8.2 are two classes, and guests on GraniteRapids-v1 (new in QEMU 8.2)
    /// cannot go to, or even start on, the 6.2 hosts. The graph agrees with `compare_with`.
    #[test]
    fn each_hosts_qemu_decides_which_named_models_it_runs() {
        use crate::profile::QemuInstall;
        let with_qemu = |id: &str, versions: &[&str]| {
            let mut p = profile_of_model(id, "GraniteRapids-v1").expect("model");
            p.qemu = versions
                .iter()
                .map(|v| QemuInstall {
                    path: format!("/usr/bin/qemu-{v}"),
                    version: (*v).to_owned(),
                    accel: "kvm".into(),
                    ..QemuInstall::default()
                })
                .collect();
            p
        };
        let hosts = vec![
            with_qemu("new-1", &["8.2.2"]),
            with_qemu("old-1", &["6.2.0"]),
            with_qemu("new-2", &["9.2.0", "8.2.2"]),
            // Two QEMUs: the oldest decides (a guest may be started by either).
            with_qemu("mixed", &["10.0.2", "6.2.0 (Debian 1:6.2+dfsg-2)"]),
        ];
        let guest = GuestConfig {
            cpu: GuestCpu::Named {
                model: "GraniteRapids-v1".into(),
                enable: Vec::new(),
                disable: Vec::new(),
            },
            ..GuestConfig::default()
        };
        let policy = Policy::default();
        let g = build(&hosts, &guest, &policy);
        let class_of = |id: &str| {
            g.classes
                .iter()
                .position(|c| c.hosts.iter().any(|h| h == id))
                .expect("host in a class")
        };
        // Each set of installs is a class of its own (a policy may name any release), but the
        // oldest decides by default: new-1 and new-2 take each other's guests, and nobody can
        // send guests to the 6.2 hosts.
        assert_eq!(g.classes.len(), 4, "{:?}", g.classes);
        let (new, new2) = (class_of("new-1"), class_of("new-2"));
        let (old, mixed) = (class_of("old-1"), class_of("mixed"));
        assert_eq!(g.classes[new].pool, g.classes[new2].pool);
        assert_ne!(g.classes[new].class_id, g.classes[old].class_id);
        assert!(g.classes[new].self_compatible);
        assert!(!g.classes[old].self_compatible && !g.classes[mixed].self_compatible);
        assert!(
            !g.edges.iter().any(|e| e.to == old || e.to == mixed),
            "{:?}",
            g.edges
        );
        for a in &hosts {
            for b in &hosts {
                let v = crate::compare_with(a, b, &guest, &policy);
                let (ca, cb) = (class_of(&a.host_id), class_of(&b.host_id));
                let edge = if ca == cb {
                    g.classes[ca].self_compatible
                } else {
                    g.edges.iter().any(|e| (e.from, e.to) == (ca, cb))
                };
                assert_eq!(
                    edge, v.compatible,
                    "{} -> {}: {:?}",
                    a.host_id, b.host_id, v.reasons
                );
            }
        }
        let to_old = crate::compare_with(&hosts[0], &hosts[1], &guest, &policy);
        assert!(
            to_old
                .reasons
                .iter()
                .any(|r| r.rule == "qemu.model-missing" && r.message.contains("6.2.0")),
            "{:?}",
            to_old.reasons
        );
        // A policy naming the destination QEMU overrides the profiles.
        let policy = Policy {
            dst_qemu: crate::models::QemuVersion::parse("6.2.0"),
            ..Policy::default()
        };
        let g = build(&hosts, &guest, &policy);
        assert!(g.edges.is_empty() && g.classes.iter().all(|c| !c.self_compatible));
    }

    #[test]
    fn tarjan_finds_cycles_and_singletons() {
        // 0 <-> 1 -> 2 <-> 3, 4 alone, 5 -> 5
        let adj = vec![vec![1], vec![0, 2], vec![3], vec![2], vec![], vec![5]];
        let mut comps = strongly_connected(&adj);
        for c in &mut comps {
            c.sort_unstable();
        }
        comps.sort();
        assert_eq!(comps, vec![vec![0, 1], vec![2, 3], vec![4], vec![5]]);
        // A long chain does not overflow any stack.
        let n = 200_000;
        let chain: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n]).collect();
        assert_eq!(strongly_connected(&chain).len(), 1);
    }

    #[test]
    fn tsc_frequencies_split_classes_for_invtsc_guests() {
        let mk = |id: &str, khz: u64| {
            let mut p = crate::testing::profile_named(id, "GenuineIntel", &["sse2", "invtsc"]);
            p.cpu.tsc_khz = Some(khz);
            p
        };
        // 2 GHz: 24 ppm apart, then 1000 ppm away.
        let fleet = vec![mk("a", 2_000_000), mk("b", 2_000_048), mk("c", 2_002_000)];
        assert_eq!(group(&fleet).members, vec![vec![0, 1], vec![2]]);
        let policy = Policy {
            guest_tsc_khz: None,
            ..Policy::default()
        };
        // QEMU's default host-passthrough (migratable=on) leaves invtsc out: guests move freely.
        let g = build(&fleet, &GuestConfig::default(), &policy);
        assert_eq!(g.pools.len(), 1, "{:?}", g.pools);
        assert!(g.pools[0].internally_compatible);
        // With migratable=off guests see invtsc without a fixed frequency: they cannot move at all.
        let keeps = GuestConfig {
            cpu_props: [("migratable".to_owned(), "off".to_owned())].into(),
            ..GuestConfig::default()
        };
        let g = build(&fleet, &keeps, &policy);
        assert!(g.edges.is_empty());
        assert!(g.pools.iter().all(|p| !p.internally_compatible));
        // With each guest's frequency fixed at its host's, a's guests cannot go to c (1000 ppm).
        let fixed = Policy {
            guest_tsc_khz: Some(2_000_000),
            ..Policy::default()
        };
        let g = build(&fleet, &keeps, &fixed);
        assert!(g.classes[0].self_compatible);
        assert!(!g.edges.contains(&ClassEdge { from: 0, to: 1 }));
    }

    #[test]
    fn pools_of_a_mixed_fleet() {
        let mk = |id: &str, m: &str| profile_of_model(id, m).expect(m);
        let fleet = vec![
            mk("sky1", "Skylake-Server-v4"),
            mk("sky2", "Skylake-Server-v4"),
            mk("csl1", "Cascadelake-Server-v4"),
            mk("rome", "EPYC-Rome-v4"),
        ];
        let g = build(&fleet, &GuestConfig::default(), &Policy::default());
        assert_eq!(g.classes.len(), 3);
        assert_eq!(g.n_hosts, 4);
        // Skylake guests can go to Cascade Lake but not back; AMD is alone.
        assert_eq!(g.pools.len(), 3);
        let sky = &g.classes[g.pools[0].classes[0]];
        assert_eq!(*sky.hosts, ["sky1", "sky2"]);
        assert!(sky.self_compatible);
        let csl_pool = g.classes[1].pool;
        assert_eq!(g.pools[0].drains_to, vec![csl_pool]);
        assert!(g.edges.contains(&ClassEdge { from: 0, to: 1 }));
        assert!(!g.edges.contains(&ClassEdge { from: 1, to: 0 }));
        // A named model all Intel hosts run joins them in one pool.
        let named = GuestConfig {
            cpu: GuestCpu::Named {
                model: "Skylake-Server-v4".into(),
                enable: vec![],
                disable: vec![],
            },
            ..GuestConfig::default()
        };
        let g = build(&fleet, &named, &Policy::default());
        assert_eq!(g.pools[0].n_hosts, 3);
        let json = serde_json::to_string(&g).expect("graph serialises");
        assert!(json.contains("\"pools\""));
    }
}
