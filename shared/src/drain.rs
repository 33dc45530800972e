//! "Can I drain this host?": for every VM of a host, the other hosts of the fleet it can go to
//! (the engine's pair verdict for the VM's own definition), the stuck ones with their blockers,
//! a first-fit placement into the targets' free capacity, and per stuck VM the smallest change
//! to its definition found that gives it targets. Pure: no I/O, no clock, no threads.
//!
//! Verdicts are those of [`crate::compare_with`]: a VM's definition is parsed by
//! [`crate::guest::parse_guest`] (as `fleetcompat compare --guest` does), and hosts of one class
//! ([`crate::class`]) get equal verdicts, so each (source class, guest, destination class) is
//! judged once, by the graphs' fast path ([`crate::verdict::HostFacts::edge`] with
//! [`crate::rules::layers_block`], which `shared/tests/graph_agreement.rs` holds equal to
//! `compare_with`). Guests are memoised by their parsed configuration, so definitions that
//! differ only in name, UUID or MAC addresses are judged once.
//!
//! Placement: VMs largest first (memory, then vCPUs), each on the first host with room among its
//! targets, its own host's class first, then classes in fleet order and hosts in fleet order.
//! A host's free capacity is its logical CPUs and memory less what its running and paused
//! guests have (no overcommit); a shut-off VM needs no room. Hosts whose profile has no guest
//! data have unknown capacity: nothing is placed on them, and a VM whose only targets they are
//! is `capacity_unknown`, not placed.

use std::borrow::{Borrow, Cow};
use std::collections::HashMap;
use std::rc::Rc;

use crate::api::drain::{
    ClassBlockers, CommonReason, DrainClass, DrainPlan, DrainReason, MAX_BLOCKER_CLASSES,
    MaskAdvice, VmDetail, VmDrain, VmOutcome, VmSummary, vm_ref,
};
use crate::baseline::{BaselineOptions, baseline};
use crate::featureset::FeatureSet;
use crate::graph::{Classes, group};
use crate::guest::{MigrationMode, parse_guest};
use crate::profile::HostProfile;
use crate::verdict::{
    Evidence, GuestConfig, GuestCpu, HostFacts, Layer, Policy, Reason, Severity, compare_with,
    effective_policy, guest_features,
};
use crate::vms::{Vm, VmDefinition, VmState};

/// Classes judged (largest first) to count a stuck VM's most common blockers.
const MAX_JUDGED_CLASSES: usize = 32;
/// Destination classes whose blockers seed masking candidates (largest first).
const MAX_ADVICE_CLASSES: usize = 4;

/// The placement rule, as the plans say it.
pub const PLACEMENT_RULE: &str = "first fit, largest VM first (memory, then vCPUs): each VM goes to the first host with enough free memory and vCPUs among its targets, its own host's class first, then the fleet's classes in order; free = logical CPUs and memory less what running and paused guests have (no overcommit); shut-off VMs need no room; hosts without guest data have unknown capacity and take no VM";

/// What `definition` text a VM has, and its kind's name in the API.
pub fn definition_text(vm: &Vm) -> (&'static str, &str) {
    match &vm.definition {
        VmDefinition::DomainXml(t) => ("domain_xml", t),
        VmDefinition::CommandLine(t) => ("command_line", t),
    }
}

/// A VM's listing entry.
pub fn summary(host_id: &str, vm: &Vm) -> VmSummary {
    VmSummary {
        vm_ref: vm_ref(host_id, &vm.id),
        host_id: host_id.to_owned(),
        id: vm.id.clone(),
        name: vm.name.clone(),
        source: vm.source,
        state: vm.state,
        vcpus: vm.vcpus,
        memory_mib: vm.memory_mib,
        definition_kind: definition_text(vm).0.to_owned(),
    }
}

/// What a guest takes from its host: running and paused guests hold their vCPUs and memory.
fn uses(vm: &Vm) -> (i64, i64) {
    match vm.state {
        VmState::Running | VmState::Paused => (
            i64::from(vm.vcpus),
            i64::try_from(vm.memory_mib).unwrap_or(i64::MAX),
        ),
        VmState::ShutOff | VmState::Other => (0, 0),
    }
}

/// Free vCPUs and memory (MiB) of a host with guest data; negative when overcommitted.
#[derive(Clone, Copy, Debug, Default)]
struct Free {
    vcpus: i64,
    memory_mib: i64,
}

fn free_of(p: &HostProfile) -> Option<Free> {
    let g = p.guests.as_ref()?;
    let (mut vcpus, mut memory_mib) = (
        i64::from(g.capacity.logical_cpus),
        i64::try_from(g.capacity.memory_mib).unwrap_or(i64::MAX),
    );
    for vm in &g.vms {
        let (c, m) = uses(vm);
        vcpus -= c;
        memory_mib = memory_mib.saturating_sub(m);
    }
    Some(Free { vcpus, memory_mib })
}

/// A definition as read: its guest (index into the memo) or why it could not be read.
#[derive(Clone, Debug)]
enum Parsed {
    Guest(usize),
    Unreadable(String),
}

/// Why a VM is stuck, per (source class, guest).
#[derive(Clone, Debug, Default)]
struct Stuck {
    /// The host the blockers were judged from (messages may name it).
    from: usize,
    /// (class, blockers), largest classes first.
    blockers: Vec<(usize, Vec<DrainReason>)>,
    common: Vec<(String, String, usize, usize)>,
    not_listed: usize,
}

/// Masking advice before the plan's class indexes are assigned.
#[derive(Clone, Debug)]
struct Advice {
    kind: String,
    change: String,
    cpu: String,
    machine: Option<String>,
    features_lost: Vec<String>,
    target_classes: Rc<[usize]>,
}

/// A fleet prepared for drain plans: its classes, free capacity and the memo of verdicts. Build
/// it once and ask for as many plans as needed; answers are memoised across plans.
pub struct DrainFleet<'a, P: Borrow<HostProfile> = HostProfile> {
    hosts: &'a [P],
    policy: Policy,
    classes: Classes,
    /// [`crate::rules::layers_fingerprint`] of each class's first host.
    prints: Vec<u64>,
    free: Vec<Option<Free>>,
    /// Per class: hosts with known capacity, and the most free vCPUs and memory among them.
    class_free: Vec<(usize, Free)>,
    index: HashMap<&'a str, usize>,
    class_ids: Vec<Option<String>>,
    class_names: Vec<Option<String>>,
    parsed: HashMap<String, Parsed>,
    guests: Vec<GuestConfig>,
    guest_index: HashMap<String, usize>,
    /// `[guest][class]`, made on first use.
    facts: Vec<Vec<Option<HostFacts>>>,
    layers: HashMap<(usize, u64, u64), bool>,
    targets: HashMap<(usize, usize), Rc<[usize]>>,
    stuck: HashMap<(usize, usize), Rc<Stuck>>,
    advice: HashMap<(usize, usize), Option<Rc<Advice>>>,
}

impl<'a, P: Borrow<HostProfile>> DrainFleet<'a, P> {
    /// Prepare `hosts` (the whole fleet) for plans under `policy` (its `stack`, vendor and TSC
    /// settings apply to every VM; each VM's CPU comes from its own definition). Like
    /// [`crate::graph::build`], it takes profiles or references to them (`&HostProfile`,
    /// `Arc<HostProfile>`) and copies none.
    pub fn new(hosts: &'a [P], policy: &Policy) -> Self {
        Self::with_classes(hosts, group(hosts), policy)
    }

    /// [`Self::new`] with the hosts' classes known already (a cache's [`Classes::from_numbers`]):
    /// no class key is computed again.
    pub fn with_classes(hosts: &'a [P], classes: Classes, policy: &Policy) -> Self {
        let prints = classes
            .members
            .iter()
            .map(|m| crate::rules::layers_fingerprint(hosts[m[0]].borrow()))
            .collect();
        let free: Vec<Option<Free>> = hosts.iter().map(|p| free_of(p.borrow())).collect();
        let class_free = classes
            .members
            .iter()
            .map(|m| {
                m.iter()
                    .filter_map(|&h| free[h])
                    .fold((0, Free::default()), |(n, best), f| {
                        (
                            n + 1,
                            Free {
                                vcpus: best.vcpus.max(f.vcpus),
                                memory_mib: best.memory_mib.max(f.memory_mib),
                            },
                        )
                    })
            })
            .collect();
        let n = classes.members.len();
        Self {
            index: hosts
                .iter()
                .enumerate()
                .map(|(i, p)| (p.borrow().host_id.as_str(), i))
                .collect(),
            hosts,
            policy: policy.clone(),
            classes,
            prints,
            free,
            class_free,
            class_ids: vec![None; n],
            class_names: vec![None; n],
            parsed: HashMap::new(),
            guests: Vec::new(),
            guest_index: HashMap::new(),
            facts: Vec::new(),
            layers: HashMap::new(),
            targets: HashMap::new(),
            stuck: HashMap::new(),
            advice: HashMap::new(),
        }
    }

    /// The index of a host by id.
    pub fn host_index(&self, host_id: &str) -> Option<usize> {
        self.index.get(host_id).copied()
    }

    pub fn hosts(&self) -> &'a [P] {
        self.hosts
    }

    /// Host `i`'s profile.
    fn host(&self, i: usize) -> &'a HostProfile {
        self.hosts[i].borrow()
    }

    /// Hosts of class `c` other than `drained`.
    fn others(&self, c: usize, drained: usize) -> usize {
        let m = &self.classes.members[c];
        m.len() - usize::from(self.classes.class_of_host[drained] == c)
    }

    /// Hosts of class `c` with known capacity, `drained` left out.
    fn known_others(&self, c: usize, drained: usize) -> usize {
        self.class_free[c].0
            - usize::from(self.free[drained].is_some() && self.classes.class_of_host[drained] == c)
    }

    /// A host of class `c` other than `drained`, if any.
    fn rep_other(&self, c: usize, drained: usize) -> Option<usize> {
        self.classes.members[c]
            .iter()
            .copied()
            .find(|&h| h != drained)
    }

    fn class_entry(&mut self, c: usize, drained: usize) -> DrainClass {
        let members = &self.classes.members[c];
        let rep = self.host(members[0]);
        let id = self.class_ids[c]
            .get_or_insert_with(|| crate::class::class_id(rep))
            .clone();
        let hosts = self.hosts;
        let name = self.class_names[c]
            .get_or_insert_with(|| {
                let all: Vec<&HostProfile> = members.iter().map(|&h| hosts[h].borrow()).collect();
                crate::naming::class_name(&crate::naming::class_facts(rep, &all))
            })
            .clone();
        let n_hosts_with_capacity = self.known_others(c, drained);
        DrainClass {
            class_id: id,
            name,
            n_hosts: self.others(c, drained),
            n_hosts_with_capacity,
        }
    }

    /// The guest of a definition, parsed once per distinct text (less the VM's identity, see
    /// [`identity_free`]) and judged once per distinct configuration.
    fn parse(&mut self, text: &'a str) -> Parsed {
        let key = identity_free(text);
        if let Some(p) = self.parsed.get(key.as_ref()) {
            return p.clone();
        }
        let p = match parse_guest(text) {
            Ok((_, g)) => Parsed::Guest(self.intern(g)),
            Err(e) => Parsed::Unreadable(format!("its definition cannot be read: {e}")),
        };
        self.parsed.insert(key.into_owned(), p.clone());
        p
    }

    fn intern(&mut self, g: GuestConfig) -> usize {
        let key = serde_json::to_string(&g).unwrap_or_default();
        if let Some(&i) = self.guest_index.get(&key) {
            return i;
        }
        self.guests.push(g);
        self.facts.push(vec![None; self.classes.members.len()]);
        self.guest_index.insert(key, self.guests.len() - 1);
        self.guests.len() - 1
    }

    fn facts_of(&mut self, g: usize, c: usize) -> &HostFacts {
        let (hosts, guest, policy) = (self.hosts, &self.guests[g], &self.policy);
        let rep = self.classes.members[c][0];
        self.facts[g][c].get_or_insert_with(|| HostFacts::new(hosts[rep].borrow(), guest, policy))
    }

    /// Whether guests `g` on class `s` can move to another host of class `d`: the graphs' fast
    /// path, exactly `compare_with(..).compatible`.
    fn edge(&mut self, g: usize, s: usize, d: usize) -> bool {
        let named = matches!(self.guests[g].cpu, GuestCpu::Named { .. });
        self.facts_of(g, s);
        self.facts_of(g, d);
        let (Some(fs), Some(fd)) = (&self.facts[g][s], &self.facts[g][d]) else {
            return false;
        };
        if !fs.edge(fd, named, &self.policy) {
            return false;
        }
        let (ps, pd) = (self.prints[s], self.prints[d]);
        let (hosts, guest, policy) = (self.hosts, &self.guests[g], &self.policy);
        let (rs, rd) = (self.classes.members[s][0], self.classes.members[d][0]);
        !*self.layers.entry((g, ps, pd)).or_insert_with(|| {
            crate::rules::layers_block(
                hosts[rs].borrow(),
                hosts[rd].borrow(),
                guest,
                &effective_policy(guest, policy),
            )
        })
    }

    /// Classes guests `g` started on `host` can go to (other hosts only), its own class first.
    fn targets_of(&mut self, host: usize, g: usize) -> Rc<[usize]> {
        let s = self.classes.class_of_host[host];
        if let Some(t) = self.targets.get(&(s, g)) {
            return Rc::clone(t);
        }
        let n = self.classes.members.len();
        let order = std::iter::once(s).chain((0..n).filter(|&d| d != s));
        let mut out = Vec::new();
        if self.guests[g].migration_mode == MigrationMode::CprTransfer {
            // cpr-transfer moves a guest to a new QEMU on the same host only (rules/cpr.rs): no
            // other host is a target. Judged by the verdict itself, on another host.
            for d in order {
                if let Some(rd) = self.rep_other(d, host)
                    && compare_with(
                        self.host(host),
                        self.host(rd),
                        &self.guests[g],
                        &self.policy,
                    )
                    .compatible
                {
                    out.push(d);
                }
            }
        } else {
            for d in order {
                if self.edge(g, s, d) {
                    out.push(d);
                }
            }
        }
        let t: Rc<[usize]> = out.into();
        self.targets.insert((s, g), Rc::clone(&t));
        t
    }

    /// Classes with hosts other than `host`, largest first.
    fn classes_by_size(&self, host: usize) -> Vec<usize> {
        let mut cs: Vec<usize> = (0..self.classes.members.len())
            .filter(|&c| self.others(c, host) > 0)
            .collect();
        cs.sort_by_key(|&c| std::cmp::Reverse(self.others(c, host)));
        cs
    }

    /// The blockers of guests `g` from `host` towards the largest classes.
    fn stuck_of(&mut self, host: usize, g: usize) -> Rc<Stuck> {
        let s = self.classes.class_of_host[host];
        if let Some(st) = self.stuck.get(&(s, g)) {
            return Rc::clone(st);
        }
        let classes = self.classes_by_size(host);
        let mut st = Stuck {
            from: host,
            ..Stuck::default()
        };
        let mut counts: Vec<(String, String, usize, usize)> = Vec::new();
        for &d in classes.iter().take(MAX_JUDGED_CLASSES) {
            let Some(rd) = self.rep_other(d, host) else {
                continue;
            };
            let v = compare_with(
                self.host(host),
                self.host(rd),
                &self.guests[g],
                &self.policy,
            );
            let n = self.others(d, host);
            // A reason is counted once per class, keyed by its rule and the feature it names
            // (so "avx512-fp16 missing" and "sha-ni missing" are two reasons).
            let mut seen: Vec<String> = Vec::new();
            let mut blockers = Vec::new();
            for r in v.reasons {
                if r.severity != Severity::Blocker {
                    continue;
                }
                let key = match &r.evidence {
                    Evidence::Feature { feature, .. } => format!("{} {feature}", r.rule),
                    _ => r.rule.clone(),
                };
                if !seen.contains(&key) {
                    match counts.iter_mut().find(|c| c.0 == key) {
                        Some(c) => {
                            c.2 += 1;
                            c.3 += n;
                        }
                        None => counts.push((key.clone(), r.message.clone(), 1, n)),
                    }
                    seen.push(key);
                }
                blockers.push(DrainReason {
                    layer: r.layer,
                    severity: r.severity,
                    rule: r.rule,
                    message: r.message,
                });
            }
            if st.blockers.len() < MAX_BLOCKER_CLASSES {
                st.blockers.push((d, blockers));
            }
        }
        counts.sort_by(|a, b| b.3.cmp(&a.3).then(b.2.cmp(&a.2)).then(a.0.cmp(&b.0)));
        counts.truncate(3);
        // The key's rule, without the feature.
        st.common = counts
            .into_iter()
            .map(|(key, m, c, n)| {
                (
                    key.split(' ').next().unwrap_or_default().to_owned(),
                    m,
                    c,
                    n,
                )
            })
            .collect();
        st.not_listed = classes.len() - st.blockers.len();
        let st = Rc::new(st);
        self.stuck.insert((s, g), Rc::clone(&st));
        st
    }

    /// The smallest change found to guest `g`'s definition that gives it targets from `host`,
    /// checked by judging the changed definition.
    fn advice_of(&mut self, host: usize, g: usize) -> Option<Rc<Advice>> {
        let s = self.classes.class_of_host[host];
        if let Some(a) = self.advice.get(&(s, g)) {
            return a.clone();
        }
        let guest = self.guests[g].clone();
        let src = self.host(host);
        let mut candidates: Vec<(u8, &'static str, GuestConfig, String)> = Vec::new();
        for d in self
            .classes_by_size(host)
            .into_iter()
            .take(MAX_ADVICE_CLASSES)
        {
            let Some(rd) = self.rep_other(d, host) else {
                continue;
            };
            let dst = self.host(rd);
            let v = compare_with(src, dst, &guest, &self.policy);
            let blockers: Vec<&Reason> = v
                .reasons
                .iter()
                .filter(|r| r.severity == Severity::Blocker)
                .collect();
            let lost: Vec<String> = blockers
                .iter()
                .filter(|r| r.layer == Layer::CpuFeatures)
                .filter_map(|r| match &r.evidence {
                    Evidence::Feature { feature, .. } => Some(feature.clone()),
                    _ => None,
                })
                .collect();
            let cpu_blocks = blockers
                .iter()
                .any(|r| matches!(r.layer, Layer::CpuFeatures | Layer::Vendor));
            let machine_blocks = blockers.iter().any(|r| r.layer == Layer::QemuMachine);
            let mut cpus: Vec<(u8, &'static str, GuestCpu, String)> = Vec::new();
            if cpu_blocks {
                if let Some(c) = features_off(src, dst, &guest.cpu, &lost, &self.policy) {
                    cpus.push(c);
                }
                if let Some(c) = named_model(src, dst, &guest.cpu, &self.policy) {
                    cpus.push(c);
                }
            }
            let machine = if machine_blocks {
                common_machine(src, dst, &guest, &self.policy)
            } else {
                None
            };
            for (rank, kind, cpu, change) in &cpus {
                let mut changed = guest.clone();
                changed.cpu = cpu.clone();
                candidates.push((*rank, kind, changed.clone(), change.clone()));
                if let Some(m) = &machine {
                    changed.machine = Some(m.clone());
                    candidates.push((
                        rank + 2,
                        if *kind == "features_off" {
                            "features_off+machine_type"
                        } else {
                            "named_model+machine_type"
                        },
                        changed,
                        format!("{change}, and use machine type {m}"),
                    ));
                }
            }
            if let Some(m) = machine {
                let mut changed = guest.clone();
                changed.machine = Some(m.clone());
                candidates.push((0, "machine_type", changed, format!("use machine type {m}")));
            }
        }
        let before = guest_features(src, &guest).unwrap_or(FeatureSet::EMPTY);
        let accel = crate::models::accel_provided();
        let mut best: Option<(usize, u8, std::cmp::Reverse<usize>, Advice)> = None;
        let mut tried: Vec<String> = Vec::new();
        for (rank, kind, changed, change) in candidates {
            let key = serde_json::to_string(&changed).unwrap_or_default();
            if tried.contains(&key) {
                continue;
            }
            tried.push(key);
            let cg = self.intern(changed);
            let targets = self.targets_of(host, cg);
            let n_hosts: usize = targets.iter().map(|&c| self.others(c, host)).sum();
            if n_hosts == 0 {
                continue;
            }
            let changed = &self.guests[cg];
            let after = guest_features(src, changed).unwrap_or(FeatureSet::EMPTY);
            let lost = before.difference(&after).difference(&accel);
            let score = (lost.len(), rank, std::cmp::Reverse(n_hosts));
            if best.as_ref().is_none_or(|b| score < (b.0, b.1, b.2)) {
                best = Some((
                    score.0,
                    score.1,
                    score.2,
                    Advice {
                        kind: kind.to_owned(),
                        change,
                        cpu: changed.cpu.describe(),
                        machine: (changed.machine != guest.machine)
                            .then(|| changed.machine.clone())
                            .flatten(),
                        features_lost: lost.names(),
                        target_classes: targets,
                    },
                ));
            }
        }
        let a = best.map(|b| Rc::new(b.3));
        self.advice.insert((s, g), a.clone());
        a
    }

    /// The drain plan of host `host` (index into the fleet): every VM of it.
    pub fn plan(&mut self, host: usize) -> DrainPlan {
        self.plan_of(host, None)
    }

    /// One VM of a host (by id or name) with its current targets, placed as if it were the only
    /// VM to leave its host; `None` when the host has no such VM.
    pub fn vm_detail(&mut self, host: usize, vm: &str) -> Option<VmDetail> {
        let hosts = self.hosts;
        let found = hosts[host]
            .borrow()
            .guests
            .as_ref()?
            .vms
            .iter()
            .find(|v| v.id == vm)
            .or_else(|| {
                hosts[host]
                    .borrow()
                    .guests
                    .as_ref()?
                    .vms
                    .iter()
                    .find(|v| v.name == vm)
            })?;
        let plan = self.plan_of(host, Some(&found.id));
        let vm_plan = plan.vms.into_iter().next()?;
        let mut target_hosts = Vec::new();
        for &c in &vm_plan.target_classes {
            let Some(class) = plan.classes.get(c) else {
                continue;
            };
            let Some(ci) = self.class_by_id(&class.class_id) else {
                continue;
            };
            target_hosts.extend(
                self.classes.members[ci]
                    .iter()
                    .filter(|&&h| h != host)
                    .map(|&h| hosts[h].borrow().host_id.clone()),
            );
        }
        let (kind, text) = definition_text(found);
        Some(VmDetail {
            host_id: plan.host_id,
            host_class: plan.host_class,
            definition_kind: kind.to_owned(),
            definition: text.to_owned(),
            vm: vm_plan,
            classes: plan.classes,
            target_hosts,
        })
    }

    fn class_by_id(&mut self, id: &str) -> Option<usize> {
        (0..self.classes.members.len()).find(|&c| {
            let rep = self.host(self.classes.members[c][0]);
            self.class_ids[c].get_or_insert_with(|| crate::class::class_id(rep)) == id
        })
    }

    fn plan_of(&mut self, host: usize, only: Option<&str>) -> DrainPlan {
        let hosts = self.hosts;
        let src = hosts[host].borrow();
        let vms: Vec<&'a Vm> = src
            .guests
            .as_ref()
            .map(|g| {
                g.vms
                    .iter()
                    .filter(|v| only.is_none_or(|o| v.id == o))
                    .collect()
            })
            .unwrap_or_default();
        // Plan-local class indexes, in order of first mention.
        let mut local: HashMap<usize, usize> = HashMap::new();
        let mut table: Vec<usize> = Vec::new();
        let mut idx = |c: usize| -> usize {
            *local.entry(c).or_insert_with(|| {
                table.push(c);
                table.len() - 1
            })
        };
        idx(self.classes.class_of_host[host]);
        struct Work {
            vm: usize,
            targets: Option<Rc<[usize]>>,
            guest: Option<usize>,
            unreadable: Option<String>,
        }
        let mut work: Vec<Work> = Vec::with_capacity(vms.len());
        for (i, vm) in vms.iter().enumerate() {
            match self.parse(definition_text(vm).1) {
                Parsed::Guest(g) => {
                    let t = self.targets_of(host, g);
                    work.push(Work {
                        vm: i,
                        targets: Some(t),
                        guest: Some(g),
                        unreadable: None,
                    });
                }
                Parsed::Unreadable(why) => work.push(Work {
                    vm: i,
                    targets: None,
                    guest: None,
                    unreadable: Some(why),
                }),
            }
        }
        // First fit, largest first.
        let mut order: Vec<usize> = (0..work.len()).collect();
        order.sort_by(|&a, &b| {
            let (va, vb) = (vms[work[a].vm], vms[work[b].vm]);
            vb.memory_mib
                .cmp(&va.memory_mib)
                .then(vb.vcpus.cmp(&va.vcpus))
                .then(va.id.cmp(&vb.id))
        });
        let mut used: HashMap<usize, (i64, i64)> = HashMap::new();
        let mut outcome: Vec<(VmOutcome, Option<usize>, usize)> =
            vec![(VmOutcome::Stuck, None, 0); work.len()];
        for &w in &order {
            let Some(targets) = &work[w].targets else {
                outcome[w].0 = VmOutcome::Unreadable;
                continue;
            };
            let n_targets: usize = targets.iter().map(|&c| self.others(c, host)).sum();
            outcome[w].2 = n_targets;
            if n_targets == 0 {
                continue;
            }
            let need = uses(vms[work[w].vm]);
            let mut placed = None;
            let mut known = false;
            'classes: for &c in targets.iter() {
                let (n_known, most) = self.class_free[c];
                if n_known == 0 {
                    continue;
                }
                known |= self.classes.members[c]
                    .iter()
                    .any(|&h| h != host && self.free[h].is_some());
                if most.vcpus < need.0 || most.memory_mib < need.1 {
                    continue;
                }
                for &h in &self.classes.members[c] {
                    if h == host {
                        continue;
                    }
                    let Some(f) = self.free[h] else { continue };
                    let u = used.get(&h).copied().unwrap_or((0, 0));
                    if f.vcpus - u.0 >= need.0 && f.memory_mib - u.1 >= need.1 {
                        placed = Some(h);
                        break 'classes;
                    }
                }
            }
            outcome[w] = match placed {
                Some(h) => {
                    let u = used.entry(h).or_insert((0, 0));
                    u.0 += need.0;
                    u.1 += need.1;
                    (VmOutcome::Placed, Some(h), n_targets)
                }
                None if known => (VmOutcome::NoCapacity, None, n_targets),
                None => (VmOutcome::CapacityUnknown, None, n_targets),
            };
        }
        let mut out: Vec<VmDrain> = Vec::with_capacity(work.len());
        for (w, item) in work.iter().enumerate() {
            let vm = vms[item.vm];
            let (oc, placed, n_target_hosts) = outcome[w];
            let guest = item.guest.map(|g| &self.guests[g]);
            let cpu = guest.map(|g| g.cpu.describe());
            let machine = guest.and_then(|g| g.machine.clone());
            let target_classes: Vec<usize> = item
                .targets
                .iter()
                .flat_map(|t| t.iter().copied())
                .filter(|&c| self.others(c, host) > 0)
                .map(&mut idx)
                .collect();
            let mut d = VmDrain {
                vm_ref: vm_ref(&src.host_id, &vm.id),
                id: vm.id.clone(),
                name: vm.name.clone(),
                source: vm.source,
                state: vm.state,
                vcpus: vm.vcpus,
                memory_mib: vm.memory_mib,
                cpu,
                machine,
                outcome: oc,
                summary: String::new(),
                target_classes,
                n_target_hosts,
                placement: placed.map(|h| hosts[h].borrow().host_id.clone()),
                blockers: Vec::new(),
                common_reasons: Vec::new(),
                n_classes_not_listed: 0,
                advice: None,
            };
            d.summary = match oc {
                VmOutcome::Unreadable => item.unreadable.clone().unwrap_or_default(),
                VmOutcome::Placed => format!(
                    "goes to {} ({} compatible hosts)",
                    d.placement.as_deref().unwrap_or_default(),
                    n_target_hosts
                ),
                VmOutcome::NoCapacity => format!(
                    "{n_target_hosts} hosts are compatible, but none of known capacity has {} free vCPUs and {} MiB free: capacity, not compatibility, stops it",
                    vm.vcpus, vm.memory_mib
                ),
                VmOutcome::CapacityUnknown => format!(
                    "{n_target_hosts} hosts are compatible, but none has guest data, so their free capacity is unknown: probe them with the collector"
                ),
                VmOutcome::Stuck => String::new(),
            };
            if oc == VmOutcome::Stuck
                && let Some(g) = item.guest
            {
                let st = self.stuck_of(host, g);
                // Judged from another host of the class: its messages name that host.
                let (was, now) = (
                    format!("host {} ", hosts[st.from].borrow().host_id),
                    format!("host {} ", src.host_id),
                );
                let fix = |m: &str| {
                    if st.from == host {
                        m.to_owned()
                    } else {
                        m.replace(&was, &now)
                    }
                };
                d.blockers = st
                    .blockers
                    .iter()
                    .map(|(c, b)| ClassBlockers {
                        class: idx(*c),
                        blockers: b
                            .iter()
                            .map(|r| DrainReason {
                                message: fix(&r.message),
                                ..r.clone()
                            })
                            .collect(),
                    })
                    .collect();
                d.common_reasons = st
                    .common
                    .iter()
                    .map(|(rule, message, n_classes, n_hosts)| CommonReason {
                        rule: rule.clone(),
                        message: fix(message),
                        n_classes: *n_classes,
                        n_hosts: *n_hosts,
                    })
                    .collect();
                d.n_classes_not_listed = st.not_listed;
                d.summary = match d.common_reasons.first() {
                    Some(r) => format!("no other host can take it; most often: {}", r.message),
                    None => "no other host of the fleet can take it".to_owned(),
                };
                if let Some(a) = self.advice_of(host, g) {
                    let n_target_hosts =
                        a.target_classes.iter().map(|&c| self.others(c, host)).sum();
                    d.advice = Some(MaskAdvice {
                        kind: a.kind.clone(),
                        change: a.change.clone(),
                        cpu: a.cpu.clone(),
                        machine: a.machine.clone(),
                        features_lost: a.features_lost.clone(),
                        target_classes: a
                            .target_classes
                            .iter()
                            .copied()
                            .filter(|&c| self.others(c, host) > 0)
                            .map(&mut idx)
                            .collect(),
                        n_target_hosts,
                        needs_restart: true,
                    });
                }
            }
            out.push(d);
        }
        out.sort_by(|a, b| a.outcome.cmp(&b.outcome).then(a.name.cmp(&b.name)));
        let count = |o: VmOutcome| out.iter().filter(|v| v.outcome == o).count();
        let classes: Vec<DrainClass> = table.iter().map(|&c| self.class_entry(c, host)).collect();
        DrainPlan {
            host_id: src.host_id.clone(),
            host_class: classes[0].clone(),
            has_guest_data: src.guests.is_some(),
            drainable: out.iter().all(|v| v.outcome.has_place()),
            n_vms: out.len(),
            n_placed: count(VmOutcome::Placed),
            n_stuck: count(VmOutcome::Stuck),
            n_unreadable: count(VmOutcome::Unreadable),
            n_no_capacity: count(VmOutcome::NoCapacity),
            n_capacity_unknown: count(VmOutcome::CapacityUnknown),
            placement_rule: PLACEMENT_RULE.to_owned(),
            classes,
            vms: out,
        }
    }
}

/// Turn off, in the guest's `-cpu`, the features it would lose on `dst`: for `-cpu host` guests
/// the mask of [`crate::masks::pair_masks`] (QEMU flags the source's QEMU accepts, with what QEMU
/// turns off along), for named models the lost features added to `disable`.
fn features_off(
    src: &HostProfile,
    dst: &HostProfile,
    cpu: &GuestCpu,
    lost: &[String],
    policy: &Policy,
) -> Option<(u8, &'static str, GuestCpu, String)> {
    let (new, off): (GuestCpu, Vec<String>) = match cpu {
        GuestCpu::HostPassthrough | GuestCpu::HostPassthroughMasked { .. } => {
            let mask = crate::masks::pair_masks(src, dst, policy).ok()?.source;
            let mut disable = match cpu {
                GuestCpu::HostPassthroughMasked { disable } => disable.clone(),
                _ => Vec::new(),
            };
            let extra = mask.disable.union(&mask.implied).names();
            for f in &extra {
                if !disable.contains(f) {
                    disable.push(f.clone());
                }
            }
            if disable.is_empty() {
                return None;
            }
            (
                GuestCpu::HostPassthroughMasked { disable },
                mask.disable.names(),
            )
        }
        GuestCpu::Named {
            model,
            enable,
            disable,
        } => {
            if lost.is_empty() {
                return None;
            }
            let mut disable = disable.clone();
            for f in lost {
                if !disable.contains(f) {
                    disable.push(f.clone());
                }
            }
            (
                GuestCpu::Named {
                    model: model.clone(),
                    enable: enable
                        .iter()
                        .filter(|e| !lost.contains(e))
                        .cloned()
                        .collect(),
                    disable,
                },
                lost.to_vec(),
            )
        }
        GuestCpu::HostModel => return None,
    };
    if off.is_empty() {
        return None;
    }
    let change = format!("turn off {} in its -cpu", off.join(", "));
    Some((0, "features_off", new, change))
}

/// The best named model both hosts run (their baseline) with its extras, instead of the
/// guest's CPU.
fn named_model(
    src: &HostProfile,
    dst: &HostProfile,
    cpu: &GuestCpu,
    policy: &Policy,
) -> Option<(u8, &'static str, GuestCpu, String)> {
    let qemu = [policy.src_qemu, policy.dst_qemu]
        .into_iter()
        .zip([src, dst])
        .filter_map(|(v, h)| crate::rules::qemu_version(h, v))
        .min();
    let b = baseline(
        &[src, dst],
        &BaselineOptions {
            qemu,
            ..BaselineOptions::default()
        },
    )
    .ok()?;
    let new = GuestCpu::Named {
        model: b.base_model.clone(),
        enable: b.added.names(),
        disable: b.removed.names(),
    };
    if &new == cpu {
        return None;
    }
    let change = format!("use the named model {} (-cpu {})", b.model, new.describe());
    Some((1, "named_model", new, change))
}

/// The newest versioned machine type of the guest's family (`pc-q35-`, `pc-i440fx-`) that both
/// hosts' QEMUs have.
fn common_machine(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    policy: &Policy,
) -> Option<String> {
    let qs = crate::rules::qemu_install(src, policy.src_qemu)?;
    let qd = crate::rules::qemu_install(dst, policy.dst_qemu)?;
    let current = crate::rules::machine::resolved_machine(Some(qs), guest.machine.as_deref())
        .map(str::to_owned)
        .or_else(|| guest.machine.clone())?;
    let family = current.rsplit_once('-').map(|(f, _)| f)?;
    qs.machines
        .iter()
        .filter(|m| {
            m.name.rsplit_once('-').map(|(f, _)| f) == Some(family)
                && qd.machines.iter().any(|n| n.name == m.name)
        })
        .filter_map(|m| Some((crate::guest::machine_version(&m.name)?, &m.name)))
        .max()
        .map(|(_, n)| n.clone())
        .filter(|n| *n != current)
}

/// A definition without what names the VM and nothing else, so that VMs made from one template
/// share their parse: in a domain XML the first `<name>` and `<uuid>` elements (libvirt writes
/// them first, children of `<domain>`: src/conf/domain_conf.c,
/// `virDomainDefFormatInternalSetRootName`; `guest::libvirt` reads no `<name>` or `<uuid>`
/// element anywhere, so removing one never changes a parse) when their text holds no markup; in a command line without quotes, `-name X` and `-uuid X` (`guest::cmdline` reads
/// neither). Anything else is kept, so a definition that does not parse stays one that does not.
fn identity_free(text: &str) -> Cow<'_, str> {
    if text.trim_start().starts_with('<') {
        let mut out: Cow<'_, str> = Cow::Borrowed(text);
        for tag in ["name", "uuid"] {
            let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
            let Some(a) = out.find(&open) else { continue };
            let Some(len) = out[a + open.len()..].find(&close) else {
                continue;
            };
            let inner = &out[a + open.len()..a + open.len() + len];
            if inner.contains(['<', '&', '>']) {
                continue;
            }
            let end = a + open.len() + len + close.len();
            out = Cow::Owned(format!("{}{}", &out[..a], &out[end..]));
        }
        out
    } else if text.contains(['\'', '"', '\\']) {
        Cow::Borrowed(text)
    } else {
        let mut words = text.split_whitespace();
        let mut out = String::with_capacity(text.len());
        while let Some(w) = words.next() {
            if w == "-name" || w == "-uuid" {
                let _ = words.next();
                continue;
            }
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::identity_free;
    use crate::guest::parse_guest;
    use crate::testing::{command_line, domain_xml};

    #[test]
    fn identity_free_definitions_parse_as_the_originals() {
        let a = domain_xml(
            "web-1",
            "uuid-1",
            "Skylake-Server-v4",
            "pc-q35-7.2",
            2,
            1024,
        );
        let b = domain_xml(
            "web-2",
            "uuid-2",
            "Skylake-Server-v4",
            "pc-q35-7.2",
            2,
            1024,
        );
        assert_eq!(identity_free(&a), identity_free(&b));
        assert!(!identity_free(&a).contains("web-1"));
        assert_eq!(
            parse_guest(&identity_free(&a)).map(|g| g.1),
            parse_guest(&a).map(|g| g.1)
        );
        let c = command_line("db-1", "host-passthrough", "pc-q35-8.2", 4, 2048);
        let d = c.replace("-name db-1", "-name db-2");
        assert_eq!(identity_free(&c), identity_free(&d));
        assert_eq!(
            parse_guest(&identity_free(&c)).map(|g| g.1),
            parse_guest(&c).map(|g| g.1)
        );
        // Markup in a name, or quotes in a command line: kept as is.
        let odd = a.replace("<name>web-1</name>", "<name>a&amp;b</name>");
        assert!(identity_free(&odd).contains("a&amp;b"));
        let quoted = "qemu-system-x86_64 -name 'a b' -m 1G";
        assert_eq!(identity_free(quoted), quoted);
        // Different CPUs stay different.
        let e = domain_xml("web-1", "uuid-1", "host-passthrough", "pc-q35-7.2", 2, 1024);
        assert_ne!(identity_free(&a), identity_free(&e));
    }
}
