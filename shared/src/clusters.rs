//! Cluster cards, as VMware EVC shows them: for the hosts sharing a label value (a cluster, a
//! zone, a rack), the best named QEMU model every host runs, the next model up and exactly the
//! hosts that cannot run it, each with the features it lacks. Pure: every answer is the engine's
//! [`can_run_model`] verdict (one host per class answers for its class).

use std::collections::{BTreeMap, HashMap};

use crate::api::{ClusterBlocker, ClusterCard};
use crate::featureset::FeatureSet;
use crate::models::{ModelKind, NamedModel, models, not_model_controlled};
use crate::profile::HostProfile;
use crate::verdict::{
    GuestConfig, GuestCpu, Policy, Severity, can_run_model, compare_with, guest_features,
};

/// The features of a model a fit counts: what a `-cpu` line can name, less what the accelerator
/// decides.
fn counted(m: &NamedModel) -> FeatureSet {
    m.features
        .intersection(&crate::catalog::qemu_known())
        .difference(&not_model_controlled())
}

/// Memoised [`can_run_model`] per class and model (hosts of one class get one answer), under
/// one policy. A caller may keep it across fleets: a class id stands for the same facts.
#[derive(Debug)]
pub struct ModelRuns {
    policy: Policy,
    /// Per class id, per model index: 0 not asked yet, 1 no, 2 yes.
    memo: HashMap<String, Vec<u8>>,
}

impl ModelRuns {
    pub fn new(policy: &Policy) -> Self {
        Self {
            policy: policy.clone(),
            memo: HashMap::new(),
        }
    }

    /// How many classes it holds answers for.
    pub fn len(&self) -> usize {
        self.memo.len()
    }

    pub fn is_empty(&self) -> bool {
        self.memo.is_empty()
    }

    /// Forget the classes `keep` says no to.
    pub fn retain(&mut self, mut keep: impl FnMut(&str) -> bool) {
        self.memo.retain(|id, _| keep(id));
    }

    /// Whether hosts of class `class` (whose host `host` is) run model `m` whole
    /// ([`can_run_model`] under the policy), asked once per class and model.
    pub fn runs(&mut self, class: &str, host: &HostProfile, m: &NamedModel) -> bool {
        let row = match self.memo.get_mut(class) {
            Some(row) => row,
            None => self.memo.entry(class.to_owned()).or_default(),
        };
        if row.len() <= m.index {
            row.resize(m.index + 1, 0);
        }
        if row[m.index] == 0 {
            row[m.index] = if can_run_model(host, &m.name, &self.policy) {
                2
            } else {
                1
            };
        }
        row[m.index] == 2
    }
}

/// Hosts by the value of label `key`, in value order; hosts without it are left out.
pub fn group_by_label<'a>(
    hosts: &[&'a HostProfile],
    key: &str,
) -> BTreeMap<String, Vec<&'a HostProfile>> {
    let mut by: BTreeMap<String, Vec<&'a HostProfile>> = BTreeMap::new();
    for h in hosts {
        if let Some(v) = h.labels.get(key) {
            by.entry(v.clone()).or_default().push(h);
        }
    }
    by
}

/// A card for every value of label `key` among `hosts`, in value order.
pub fn cluster_cards(hosts: &[&HostProfile], key: &str, policy: &Policy) -> Vec<ClusterCard> {
    let mut runs = ModelRuns::new(policy);
    group_by_label(hosts, key)
        .into_iter()
        .map(|(value, hs)| card(value, &hs, &crate::class::class_id, &mut runs))
        .collect()
}

/// The card of one cluster under `policy`.
pub fn cluster_card(value: &str, hosts: &[&HostProfile], policy: &Policy) -> ClusterCard {
    cluster_card_with(
        value,
        hosts,
        &crate::class::class_id,
        &mut ModelRuns::new(policy),
    )
}

/// [`cluster_card`] with each host's class id from `class_id` (a caller that keeps them per
/// class) and the answers of `runs` (kept across clusters and fleets, under its policy).
pub fn cluster_card_with(
    value: &str,
    hosts: &[&HostProfile],
    class_id: &dyn Fn(&HostProfile) -> String,
    runs: &mut ModelRuns,
) -> ClusterCard {
    card(value.to_owned(), hosts, class_id, runs)
}

fn card(
    value: String,
    hosts: &[&HostProfile],
    class_id: &dyn Fn(&HostProfile) -> String,
    runs: &mut ModelRuns,
) -> ClusterCard {
    let mut vendors: Vec<String> = hosts.iter().map(|h| h.cpu.vendor.clone()).collect();
    vendors.sort();
    vendors.dedup();
    let mut out = ClusterCard {
        value,
        n_hosts: hosts.len(),
        vendors: vendors.clone(),
        best_model: None,
        next_model: None,
        blockers: Vec::new(),
    };
    let [vendor] = vendors.as_slice() else {
        return out;
    };
    // One host per class answers for its class.
    let mut reps: Vec<(String, &HostProfile, Vec<&HostProfile>)> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for h in hosts {
        let id = class_id(h);
        match at.get(&id) {
            Some(&i) => reps[i].2.push(h),
            None => {
                at.insert(id.clone(), reps.len());
                reps.push((id, h, vec![h]));
            }
        }
    }
    let candidates: Vec<(&NamedModel, usize)> = models()
        .versioned()
        .filter(|m| {
            m.kind == ModelKind::Qemu
                && m.vendor
                    .as_deref()
                    .is_some_and(|v| v.eq_ignore_ascii_case(vendor))
        })
        .map(|m| (m, counted(m).len()))
        .collect();
    // How many classes run each candidate.
    let n_running: Vec<usize> = candidates
        .iter()
        .map(|(m, _)| {
            reps.iter()
                .filter(|(id, rep, _)| runs.runs(id, rep, m))
                .count()
        })
        .collect();
    // The best model all run: the most features, then the later model.
    let best = candidates
        .iter()
        .zip(&n_running)
        .filter(|(_, n)| **n == reps.len())
        .map(|(c, _)| *c)
        .max_by_key(|(m, n)| (*n, m.index));
    let (floor_index, floor_n) = best.map_or((0, 0), |(m, n)| (m.index, n));
    // The next model up: later in QEMU's list, more features, some but not every class runs
    // it; the smallest such step.
    let next = candidates
        .iter()
        .zip(&n_running)
        .filter(|((m, n), running)| {
            (best.is_none() || m.index > floor_index)
                && *n > floor_n
                && **running > 0
                && **running < reps.len()
        })
        .map(|(c, _)| *c)
        .min_by_key(|(m, n)| (*n, m.index));
    out.best_model = best.map(|(m, _)| m.name.clone());
    let Some((next, _)) = next else {
        return out;
    };
    out.next_model = Some(next.name.clone());
    let wanted = counted(next);
    for (id, rep, members) in &reps {
        if runs.runs(id, rep, next) {
            continue;
        }
        let offered = guest_features(rep, &GuestConfig::default()).unwrap_or(rep.cpu.features);
        let missing = wanted.difference(&offered).names();
        let other = if missing.is_empty() {
            blocking_reasons(rep, next, &runs.policy)
        } else {
            Vec::new()
        };
        for h in members {
            out.blockers.push(ClusterBlocker {
                host: h.host_id.clone(),
                missing: missing.clone(),
                other: other.clone(),
            });
        }
    }
    out.blockers.sort_by(|a, b| a.host.cmp(&b.host));
    out
}

/// The engine's blocking reasons for `-cpu MODEL,enforce` on a host against itself, as
/// [`can_run_model`] asks it.
fn blocking_reasons(host: &HostProfile, m: &NamedModel, policy: &Policy) -> Vec<String> {
    let guest = GuestConfig {
        cpu: GuestCpu::Named {
            model: m.name.clone(),
            enable: Vec::new(),
            disable: Vec::new(),
        },
        cpu_props: [("enforce".to_owned(), "on".to_owned())].into(),
        ..GuestConfig::default()
    };
    compare_with(host, host, &guest, policy)
        .reasons
        .into_iter()
        .filter(|r| r.severity == Severity::Blocker)
        .map(|r| r.message)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::profile_of_model;

    fn host(id: &str, model: &str, cluster: &str) -> HostProfile {
        let mut p = profile_of_model(id, model).expect("model");
        p.labels.insert("cluster".into(), cluster.into());
        p
    }

    #[test]
    fn a_mixed_cluster_names_the_next_model_and_exactly_its_blockers() {
        let fleet = [
            host("a1", "Skylake-Server-v4", "a"),
            host("a2", "Skylake-Server-v4", "a"),
            host("a3", "Cascadelake-Server-v4", "a"),
            host("b1", "Cascadelake-Server-v4", "b"),
        ];
        let refs: Vec<&HostProfile> = fleet.iter().collect();
        let cards = cluster_cards(&refs, "cluster", &Policy::default());
        assert_eq!(cards.len(), 2);
        let a = &cards[0];
        assert_eq!((a.value.as_str(), a.n_hosts), ("a", 3));
        let best = a.best_model.as_deref().expect("a best model");
        assert!(best.starts_with("Skylake-Server"), "{best}");
        for h in &refs {
            assert!(can_run_model(h, best, &Policy::default()));
        }
        let next = a.next_model.as_deref().expect("a next model");
        assert!(next.starts_with("Cascadelake-Server"), "{next}");
        // Exactly the hosts that cannot run it, each lacking AVX-512 VNNI.
        let blockers: Vec<&str> = a.blockers.iter().map(|b| b.host.as_str()).collect();
        assert_eq!(blockers, ["a1", "a2"]);
        for b in &a.blockers {
            assert!(b.missing.contains(&"avx512vnni".to_owned()), "{b:?}");
        }
        assert!(can_run_model(&fleet[2], next, &Policy::default()));
        // A cluster of one kind of host has nowhere further to go within itself.
        let b = &cards[1];
        assert!(b.best_model.as_deref().unwrap().starts_with("Cascadelake"));
        assert_eq!(b.next_model, None);
        assert!(b.blockers.is_empty());
    }

    #[test]
    fn vendors_mixed_have_no_common_model() {
        let fleet = [
            host("i", "Skylake-Server-v4", "x"),
            host("e", "EPYC-Rome-v1", "x"),
        ];
        let refs: Vec<&HostProfile> = fleet.iter().collect();
        let c = cluster_card("x", &refs, &Policy::default());
        assert_eq!(c.vendors.len(), 2);
        assert_eq!(c.best_model, None);
        assert_eq!(c.next_model, None);
    }
}
