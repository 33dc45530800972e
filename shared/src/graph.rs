//! Host classes, the directed compatibility graph over classes for a guest policy, and migration
//! pools: the strongly connected components of that graph (inside a pool every guest can go to
//! every host).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::class::class_id;
use crate::featureset::FeatureSet;
use crate::profile::{Arch, HostProfile};
use crate::verdict::{GuestConfig, GuestCpu, HostFacts, Policy, named_model_blocked_by_qemu};

/// TSC frequencies within one bucket differ by less than half the default tolerance (125 ppm), so
/// hosts that only differ by calibration noise share a class.
const TSC_BUCKET_PPM: f64 = 125.0;

/// What puts two hosts in one class: everything the CPU layers of a verdict read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct ClassKey {
    arch: Arch,
    vendor: String,
    guest_view: Option<FeatureSet>,
    tsc_bucket: Option<i64>,
    tsc_scaling: Option<bool>,
}

fn tsc_bucket(khz: u64) -> Option<i64> {
    if khz == 0 {
        return None;
    }
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        reason = "a bucket index"
    )]
    let b = ((khz as f64).ln() / (TSC_BUCKET_PPM / 1e6).ln_1p()).floor() as i64;
    Some(b)
}

fn key(p: &HostProfile) -> ClassKey {
    ClassKey {
        arch: p.cpu.arch,
        vendor: p.cpu.vendor.to_ascii_lowercase(),
        guest_view: p.kvm.as_ref().map(|k| k.guest_features),
        tsc_bucket: p.cpu.tsc_khz.and_then(tsc_bucket),
        tsc_scaling: p.kvm.as_ref().and_then(|k| k.tsc_scaling),
    }
}

/// Hosts grouped into classes. `members[c]` are indexes into the input slice; the first member
/// represents the class.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classes {
    pub members: Vec<Vec<usize>>,
    pub class_of_host: Vec<usize>,
}

/// Group hosts whose CPU-relevant profile is equal (arch, vendor, KVM guest view, TSC frequency
/// to 125 ppm, TSC scaling). Classes are in order of first appearance.
pub fn group(profiles: &[HostProfile]) -> Classes {
    let mut index: HashMap<ClassKey, usize> = HashMap::new();
    let mut members: Vec<Vec<usize>> = Vec::new();
    let mut class_of_host = Vec::with_capacity(profiles.len());
    for (i, p) in profiles.iter().enumerate() {
        let next = members.len();
        let c = *index.entry(key(p)).or_insert(next);
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
    pub hosts: Vec<String>,
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
    /// Edges between distinct classes (self-compatibility is on the class).
    pub edges: Vec<ClassEdge>,
    /// Pools, largest first.
    pub pools: Vec<Pool>,
}

/// Build the class graph and pools for a guest configuration and policy. Each class is judged by
/// its first host; edges follow exactly [`crate::compare_with`]'s blockers.
pub fn build(profiles: &[HostProfile], guest: &GuestConfig, policy: &Policy) -> CompatGraph {
    let classes = group(profiles);
    let named = matches!(guest.cpu, GuestCpu::Named { .. });
    let qemu_blocked = named_model_blocked_by_qemu(guest, policy);
    let facts: Vec<HostFacts> = classes
        .members
        .iter()
        .map(|m| HostFacts::new(&profiles[m[0]], guest, policy))
        .collect();
    let n = facts.len();
    let mut adj: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut self_ok = vec![false; n];
    if !qemu_blocked {
        for (a, fa) in facts.iter().enumerate() {
            for (b, fb) in facts.iter().enumerate() {
                if fa.edge(fb, named, policy) {
                    if a == b {
                        self_ok[a] = true;
                    } else {
                        adj[a].push(b);
                    }
                }
            }
        }
    }
    let mut comps = strongly_connected(&adj);
    comps.sort_by_key(|c| {
        std::cmp::Reverse(c.iter().map(|&k| classes.members[k].len()).sum::<usize>())
    });
    let mut pool_of = vec![0; n];
    for (p, comp) in comps.iter().enumerate() {
        for &c in comp {
            pool_of[c] = p;
        }
    }
    let mut pools: Vec<Pool> = comps
        .iter()
        .map(|comp| Pool {
            classes: comp.clone(),
            n_hosts: comp.iter().map(|&c| classes.members[c].len()).sum(),
            internally_compatible: comp.len() > 1 || comp.iter().all(|&c| self_ok[c]),
            drains_to: Vec::new(),
        })
        .collect();
    let mut edges = Vec::new();
    for (a, outs) in adj.iter().enumerate() {
        for &b in outs {
            edges.push(ClassEdge { from: a, to: b });
            let (pa, pb) = (pool_of[a], pool_of[b]);
            if pa != pb && !pools[pa].drains_to.contains(&pb) {
                pools[pa].drains_to.push(pb);
            }
        }
    }
    for p in &mut pools {
        p.drains_to.sort_unstable();
    }
    let nodes = classes
        .members
        .iter()
        .enumerate()
        .map(|(c, m)| {
            let rep = &profiles[m[0]];
            ClassNode {
                class_id: class_id(rep),
                vendor: rep.cpu.vendor.clone(),
                n_guest_features: rep.kvm.as_ref().map(|k| k.guest_features.len()),
                tsc_khz: rep.cpu.tsc_khz,
                hosts: m.iter().map(|&i| profiles[i].host_id.clone()).collect(),
                self_compatible: self_ok[c],
                pool: pool_of[c],
            }
        })
        .collect();
    CompatGraph {
        guest: guest.clone(),
        policy: policy.clone(),
        n_hosts: profiles.len(),
        classes: nodes,
        edges,
        pools,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::profile_of_model;

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
        // host-passthrough guests see invtsc without a fixed frequency: they cannot move at all.
        let g = build(&fleet, &GuestConfig::default(), &policy);
        assert!(g.edges.is_empty());
        assert!(g.pools.iter().all(|p| !p.internally_compatible));
        // With each guest's frequency fixed at its host's, a's guests cannot go to c (1000 ppm).
        let fixed = Policy {
            guest_tsc_khz: Some(2_000_000),
            ..Policy::default()
        };
        let g = build(&fleet, &GuestConfig::default(), &fixed);
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
        assert_eq!(sky.hosts, vec!["sky1", "sky2"]);
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
