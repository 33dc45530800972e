//! Derived data cached per store generation: the fleet's newest profiles, graphs (classes and
//! pools) per guest policy, and model coverage. A write bumps the generation (on PostgreSQL, a
//! write by any replica: `Store::generation` follows the database's); the next read refreshes
//! only the hosts changed since the fleet's generation (`Store::changes_since`), so 100,000
//! hosts stay fast. Each profile is held once, shared between generations (`Arc<HostProfile>`,
//! which the engine takes as it is); graphs and other answers are bounded per generation
//! (`lru::Bounded`, bounds in `limits.rs`, counters in `/metrics`).
//!
//! Architecture Invariant: the refresh never runs in a request's future. [`Cache::fleet`]
//! starts it in a task of its own (one at a time) and waits for it; a request that goes away
//! leaves it running, and the requests after it take its answer. Graphs are built once per
//! generation and guest policy ([`Cache::graph`]): whoever comes second waits for the first.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use shared::class::Interner;
use shared::graph::{ClassEdge, Classes, CompatGraph, Incremental};
use shared::intern::ProfileInterner;
use shared::intern::SharedList;
use shared::naming::Labels;
use shared::profile::HostProfile;
use shared::{GuestConfig, Policy};
use tokio::sync::watch;

use crate::error::ApiError;
use crate::limits;
use crate::lru::{Bounded, CacheStats};
use crate::store::{Changes, LatestVersion, Store, StoreError};

/// The newest profile of every host at one generation, ordered by host id (bytewise, as both
/// databases order ids: `COLLATE "C"` on PostgreSQL). A host is found by binary search: a new
/// generation copies the previous one's pointers and builds no index.
#[derive(Debug)]
pub struct Fleet {
    pub generation: u64,
    /// Shared with the previous generation where unchanged, so a refresh copies no profile;
    /// the engine takes this slice as it is.
    pub profiles: Vec<Arc<HostProfile>>,
    pub versions: Vec<u32>,
    pub n_versions: Vec<u32>,
    /// Each host's guest revision (guests change without making versions).
    guests_revs: Vec<u64>,
    /// Each host's newest content hash as a number (`store::LatestVersion::hash_tag`).
    hash_tags: Vec<u64>,
    /// Each host's class number ([`Interner`], kept across generations): computed when the host
    /// changed, never again.
    pub class_of: Vec<u32>,
}

impl Fleet {
    fn with_capacity(generation: u64, n: usize) -> Self {
        Self {
            generation,
            profiles: Vec::with_capacity(n),
            versions: Vec::with_capacity(n),
            n_versions: Vec::with_capacity(n),
            guests_revs: Vec::with_capacity(n),
            hash_tags: Vec::with_capacity(n),
            class_of: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, lv: &LatestVersion, profile: Arc<HostProfile>, class: u32) {
        self.versions.push(lv.version);
        self.n_versions.push(lv.n_versions);
        self.guests_revs.push(lv.guests_rev);
        self.hash_tags.push(lv.hash_tag);
        self.profiles.push(profile);
        self.class_of.push(class);
    }

    /// The position of a host in `profiles`.
    pub fn position(&self, host_id: &str) -> Option<usize> {
        self.profiles
            .binary_search_by(|p| p.host_id.as_str().cmp(host_id))
            .ok()
    }

    pub fn get(&self, host_id: &str) -> Option<&HostProfile> {
        self.position(host_id).map(|i| &*self.profiles[i])
    }
}

/// What waiters of a refresh get: the fleet, or what went wrong (said once per waiter).
type Outcome = Option<Result<Arc<Fleet>, Arc<str>>>;

#[derive(Debug, Default)]
struct FleetSlot {
    current: Option<Arc<Fleet>>,
    /// The refresh under way, if any: at most one at a time, in a task of its own.
    running: Option<watch::Receiver<Outcome>>,
}

/// The incremental graph of one guest configuration and policy, and its last answer.
#[derive(Debug)]
struct GraphSlot {
    key: String,
    used: u64,
    state: Arc<Mutex<GraphState>>,
}

#[derive(Debug)]
struct GraphState {
    incremental: Incremental,
    /// The last answer while anyone holds it (the bounded map, a request): not kept here, so
    /// the map's bounds hold.
    last: Option<(u64, std::sync::Weak<CompatGraph>)>,
}

#[derive(Debug)]
pub struct Cache {
    fleet: Mutex<FleetSlot>,
    /// Class keys numbered across generations.
    interner: Mutex<Interner>,
    /// Equal QEMU machine and CPU model lists held once ([`ProfileInterner`]): 100,000 hosts
    /// share a dozen lists instead of 16 KB each (BENCHMARKS.md, "Memory of 100,000 decoded
    /// profiles").
    lists: Mutex<ProfileInterner>,
    /// Graphs per guest configuration and policy.
    graphs: Mutex<Bounded<CompatGraph>>,
    /// The incremental state of each recent guest configuration and policy (at most
    /// `limits::INCREMENTAL_GRAPHS`, least recently used dropped).
    incremental: Mutex<(u64, Vec<GraphSlot>)>,
    /// Other derived answers (coverage, names, cluster cards) as JSON.
    derived: Mutex<Bounded<Vec<u8>>>,
    /// The labels of each class's hosts, kept per class while its members do not change.
    labels: Mutex<LabelMemo>,
    /// The model each pool is named by, kept per pool (its classes and their first hosts).
    models: Mutex<ModelMemo>,
    /// The JSON of recent graphs' edges, by the edge list it was written from (a graph of the
    /// next generation with the same judgements shares that list).
    edges_json: Mutex<Vec<EdgesJson>>,
    /// `can_run_model` answers per class id and model under the default policy (cluster cards
    /// and model coverage), kept across generations: a class id stands for the same facts.
    runs: Mutex<shared::clusters::ModelRuns>,
    /// Cluster cards kept per label value while the cluster's members are the same profiles.
    cards: Mutex<crate::api::clusters::CardMemo>,
    /// Each class number's class id ([`shared::class::class_id`], a hash of the class key a
    /// number stands for: computed once per number, never again).
    class_ids: Mutex<HashMap<u32, Arc<str>>>,
    /// Fleet refreshes started (each runs to its end in a task of its own).
    refreshes: std::sync::atomic::AtomicU64,
}

/// An edge list's JSON; the list is not held (`Weak`), so the entry is dropped with it.
#[derive(Debug)]
struct EdgesJson {
    edges: std::sync::Weak<[ClassEdge]>,
    /// `Bytes` made from the written `Vec` (no copy: an `Arc<[u8]>` copied the 26 MB into fresh
    /// pages).
    json: axum::body::Bytes,
    used: u64,
}

/// Labels and names of each class (in the order graphs number classes) at one generation, and
/// per class number the members they were made of.
#[derive(Debug, Default)]
struct LabelMemo {
    current: Option<(u64, Arc<ClassLabels>)>,
    by_number: HashMap<u32, ClassMemo>,
}

/// A class's labels and name, and the profiles of its members they were made of: the same
/// profiles (pointers, in order) give the same labels and name.
#[derive(Debug)]
struct ClassMemo {
    members: Vec<Arc<HostProfile>>,
    labels: Arc<Labels>,
    name: Arc<str>,
}

/// The labels and names of each class of a fleet, class for class as its graphs number them.
#[derive(Debug)]
pub struct ClassLabels {
    pub classes: Vec<Arc<Labels>>,
    /// Each class's name before names are made unique ([`shared::naming::class_name_of`]).
    pub names: Vec<Arc<str>>,
    /// Each class's first host.
    pub first: Vec<usize>,
}

/// Pool names by the class numbers of the pool, with what they were made of.
#[derive(Debug, Default)]
struct ModelMemo {
    generation: u64,
    by_pool: HashMap<Vec<u32>, FittedModel>,
}

/// A pool's model and name, the generation that last used them, the first hosts the model was
/// fitted on, and the labels and size the name was made of.
#[derive(Debug)]
struct FittedModel {
    used: u64,
    reps: Vec<Arc<HostProfile>>,
    model: Option<String>,
    labels: Vec<Arc<Labels>>,
    n_hosts: usize,
    name: String,
}

impl FittedModel {
    /// A model fitted, the pool not named yet.
    fn unnamed(used: u64, reps: Vec<Arc<HostProfile>>, model: Option<String>) -> Self {
        Self {
            used,
            reps,
            model,
            labels: Vec::new(),
            n_hosts: usize::MAX,
            name: String::new(),
        }
    }
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            fleet: Mutex::default(),
            interner: Mutex::default(),
            lists: Mutex::default(),
            graphs: Mutex::new(Bounded::new(
                limits::GRAPH_CACHE_ENTRIES,
                limits::GRAPH_CACHE_BYTES,
            )),
            incremental: Mutex::default(),
            derived: Mutex::new(Bounded::new(
                limits::DERIVED_CACHE_ENTRIES,
                limits::DERIVED_CACHE_BYTES,
            )),
            labels: Mutex::default(),
            models: Mutex::default(),
            edges_json: Mutex::default(),
            class_ids: Mutex::default(),
            runs: Mutex::new(shared::clusters::ModelRuns::new(&Policy::default())),
            cards: Mutex::default(),
            refreshes: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A changed host's profile, as the refresh read it.
enum Fresh {
    /// Only its version count moved: the profile held is still the newest.
    Same,
    New(Box<HostProfile>),
    /// Deleted since the changes were read.
    Gone,
}

/// What the bounded caches hold and how they fare, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheReport {
    pub graphs: CacheStats,
    pub derived: CacheStats,
    /// Fleet refreshes started.
    pub refreshes: u64,
}

/// The heap a graph holds, estimated from its parts (host ids, edges, pools).
fn graph_bytes(g: &CompatGraph) -> usize {
    use std::mem::size_of;
    let classes: usize = g
        .classes
        .iter()
        .map(|c| {
            size_of::<shared::graph::ClassNode>()
                + c.class_id.len()
                + c.vendor.len()
                + c.hosts
                    .iter()
                    .map(|h| size_of::<String>() + h.len())
                    .sum::<usize>()
        })
        .sum();
    let pools: usize = g
        .pools
        .iter()
        .map(|p| {
            size_of::<shared::graph::Pool>()
                + size_of::<usize>() * (p.classes.len() + p.drains_to.len())
        })
        .sum();
    size_of::<CompatGraph>()
        + classes
        + pools
        + g.edges.len() * size_of::<shared::graph::ClassEdge>()
}

impl Cache {
    /// The cached fleet if it is current, without waiting; else `None`, and a refresh starts in
    /// the background if none is under way. For point reads that can fall back to the database.
    pub fn current(self: &Arc<Self>, store: &Store) -> Option<Arc<Fleet>> {
        let generation = store.generation();
        let mut slot = lock(&self.fleet);
        if let Some(f) = &slot.current
            && f.generation >= generation
        {
            return Some(Arc::clone(f));
        }
        self.start_refresh(&mut slot, store);
        None
    }

    /// The fleet at the store's current generation or newer. The refresh runs in a task of its
    /// own, one at a time, and every request waiting for that generation shares it: a request
    /// that goes away (its client, the request timeout) never cancels or repeats the work.
    pub async fn fleet(self: &Arc<Self>, store: &Store) -> Result<Arc<Fleet>, ApiError> {
        let wanted = store.generation();
        loop {
            let mut running = {
                let mut slot = lock(&self.fleet);
                if let Some(f) = &slot.current
                    && f.generation >= wanted
                {
                    return Ok(Arc::clone(f));
                }
                self.start_refresh(&mut slot, store)
            };
            // `wait_for` reads the value already sent before it waits, even once the task has
            // ended and dropped its sender (tokio 1.54, src/sync/watch.rs,
            // `Receiver::wait_for_inner`): an answer is never missed.
            let outcome = running
                .wait_for(Option::is_some)
                .await
                .map(|o| o.clone())
                .ok()
                .flatten();
            match outcome {
                // A refresh that started before this request's generation: wait for the next.
                Some(Ok(f)) if f.generation < wanted => {}
                Some(Ok(f)) => return Ok(f),
                Some(Err(e)) => {
                    return Err(ApiError::Internal(format!(
                        "refreshing the fleet cache: {e}"
                    )));
                }
                None => {
                    // The task ended without an answer (it panicked): let the next one start.
                    let mut slot = lock(&self.fleet);
                    if slot
                        .running
                        .as_ref()
                        .is_some_and(|r| r.same_channel(&running))
                    {
                        slot.running = None;
                    }
                    return Err(ApiError::Internal(
                        "the fleet cache's refresh stopped without an answer".into(),
                    ));
                }
            }
        }
    }

    /// The refresh under way, or a new one in its own task (`slot` is locked).
    fn start_refresh(
        self: &Arc<Self>,
        slot: &mut FleetSlot,
        store: &Store,
    ) -> watch::Receiver<Outcome> {
        // A refresh whose task ended without answering (it panicked) is replaced: `has_changed`
        // is `Err` once every sender is gone (tokio 1.54, src/sync/watch.rs,
        // `Receiver::has_changed`), and a task that answered has left `running` empty already.
        if let Some(r) = &slot.running
            && r.has_changed().is_ok()
        {
            return r.clone();
        }
        let (tx, rx) = watch::channel(None);
        slot.running = Some(rx.clone());
        self.refreshes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (cache, store, old) = (Arc::clone(self), store.clone(), slot.current.clone());
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let result = cache.refresh(&store, old).await;
            let outcome = {
                let mut slot = lock(&cache.fleet);
                slot.running = None;
                match result {
                    Ok(f) => {
                        let f = Arc::new(f);
                        if slot
                            .current
                            .as_ref()
                            .is_none_or(|c| c.generation <= f.generation)
                        {
                            slot.current = Some(Arc::clone(&f));
                        }
                        tracing::debug!(
                            generation = f.generation,
                            hosts = f.profiles.len(),
                            ms = started.elapsed().as_secs_f64() * 1e3,
                            "fleet cache refreshed"
                        );
                        Ok(f)
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "refreshing the fleet cache failed");
                        Err(Arc::from(e.to_string()))
                    }
                }
            };
            // Nobody waiting is fine: the fleet is kept for the next request.
            let _ = tx.send(Some(outcome));
        });
        rx
    }

    /// The fleet at the store's generation now: the first time every host, streamed from the
    /// store ([`Store::for_each_latest`]); then `old` with what changed since its generation
    /// ([`Store::changes_since`]), so a change reads one host, not the fleet.
    async fn refresh(
        self: &Arc<Self>,
        store: &Store,
        old: Option<Arc<Fleet>>,
    ) -> Result<Fleet, StoreError> {
        let cache = Arc::clone(self);
        // Class keys are CPU work (QEMU's view of each new host): off the async workers.
        let blocking = |e: tokio::task::JoinError| {
            StoreError::Write(format!("the fleet refresh's thread failed: {e}"))
        };
        match old {
            None => {
                let mut rows: Vec<(LatestVersion, HostProfile)> = Vec::new();
                // Lists shared as each profile arrives: the load's peak is the interned fleet,
                // not every profile's own copy of its QEMU's lists.
                let generation = store
                    .for_each_latest(|lv, mut p| {
                        lock(&self.lists).intern(&mut p);
                        rows.push((lv, p));
                    })
                    .await?;
                if !rows.windows(2).all(|w| w[0].0.host_id < w[1].0.host_id) {
                    rows.sort_by(|a, b| a.0.host_id.cmp(&b.0.host_id));
                }
                tokio::task::spawn_blocking(move || cache.first(generation, rows))
                    .await
                    .map_err(blocking)
            }
            Some(old) => {
                let changes = store.changes_since(old.generation).await?;
                let mut fresh = Vec::with_capacity(changes.changed.len());
                for lv in &changes.changed {
                    // Only the version count went down (retention prunes): the profile is the
                    // same. A host named with nothing moved, or more versions, was deleted and
                    // sent again (its versions start again from 1, `Changes::deleted`): its
                    // profile is read again; and so is one whose newest content hash moved (a
                    // host deleted, sent again several times and pruned back to the number it
                    // had, all before one refresh).
                    let same = old.position(&lv.host_id).is_some_and(|i| {
                        old.versions[i] == lv.version
                            && old.guests_revs[i] == lv.guests_rev
                            && old.hash_tags[i] == lv.hash_tag
                            && old.n_versions[i] > lv.n_versions
                    });
                    fresh.push(if same {
                        Fresh::Same
                    } else {
                        match store.latest_profile(&lv.host_id).await? {
                            Some(mut s) => {
                                lock(&self.lists).intern(&mut s.profile);
                                Fresh::New(Box::new(s.profile))
                            }
                            // Deleted since the changes were read: the next refresh says so.
                            None => Fresh::Gone,
                        }
                    });
                }
                tokio::task::spawn_blocking(move || cache.apply(&old, &changes, fresh))
                    .await
                    .map_err(blocking)
            }
        }
    }

    /// The first fleet: every host (ordered by id) numbered into its class.
    fn first(&self, generation: u64, rows: Vec<(LatestVersion, HostProfile)>) -> Fleet {
        let mut interner = lock(&self.interner);
        let mut f = Fleet::with_capacity(generation, rows.len());
        for (lv, p) in rows {
            let class = interner.intern(&p);
            f.push(&lv, Arc::new(p), class);
        }
        f
    }

    /// `old` with `changes` (`fresh[j]` the profile of `changes.changed[j]`): unchanged hosts
    /// keep their profile and class number (the runs between changed or deleted hosts copied
    /// whole, found by binary search: no host id of the fleet is read), changed ones are
    /// numbered again, deleted ones leave.
    fn apply(&self, old: &Fleet, changes: &Changes, fresh: Vec<Fresh>) -> Fleet {
        let mut interner = lock(&self.interner);
        let (changed, deleted) = (&changes.changed, &changes.deleted);
        let mut f = Fleet::with_capacity(changes.generation, old.profiles.len() + changed.len());
        // Old hosts `from..to`, as they were.
        let copy = |f: &mut Fleet, from: usize, to: usize| {
            f.versions.extend_from_slice(&old.versions[from..to]);
            f.n_versions.extend_from_slice(&old.n_versions[from..to]);
            f.guests_revs.extend_from_slice(&old.guests_revs[from..to]);
            f.hash_tags.extend_from_slice(&old.hash_tags[from..to]);
            f.profiles.extend(old.profiles[from..to].iter().cloned());
            f.class_of.extend_from_slice(&old.class_of[from..to]);
        };
        let mut fresh = fresh.into_iter();
        let (mut i, mut j, mut k) = (0, 0, 0);
        loop {
            // The next changed or deleted host (a changed one first when both name one host).
            let next = match (changed.get(j), deleted.get(k)) {
                (Some(c), Some(d)) if d.as_str() < c.host_id.as_str() => Err(d.as_str()),
                (Some(c), _) => Ok(c),
                (None, Some(d)) => Err(d.as_str()),
                (None, None) => break,
            };
            let id = next.map_or_else(|d| d, |c| c.host_id.as_str());
            let at = i + old.profiles[i..].partition_point(|p| p.host_id.as_str() < id);
            copy(&mut f, i, at);
            i = at;
            let here = old.profiles.get(i).is_some_and(|p| p.host_id == id);
            match next {
                Ok(lv) => {
                    match fresh.next() {
                        Some(Fresh::Same) if here => {
                            f.push(lv, Arc::clone(&old.profiles[i]), old.class_of[i]);
                        }
                        Some(Fresh::New(p)) => {
                            let class = interner.intern(&p);
                            f.push(lv, Arc::new(*p), class);
                        }
                        _ => {}
                    }
                    j += 1;
                }
                Err(_) => k += 1,
            }
            if here {
                i += 1;
            }
        }
        copy(&mut f, i, old.profiles.len());
        f
    }

    /// The engine's graph of `fleet` for a guest configuration and policy, built once per
    /// generation (callers waiting for the same one share its build) and kept while it is among
    /// the most recently used (`limits::GRAPH_CACHE_*`). Only classes that are new or whose
    /// first host changed since the last build are judged again ([`Incremental`]). Engine work:
    /// call it on the engine's threads.
    pub fn graph(&self, fleet: &Fleet, guest: &GuestConfig, policy: &Policy) -> Arc<CompatGraph> {
        let key = serde_json::to_string(&(guest, policy)).unwrap_or_default();
        if let Some(found) = lock(&self.graphs).get(fleet.generation, &key) {
            return found;
        }
        let state = self.graph_state(&key, guest, policy);
        // One build per generation: others wanting it wait here and take it.
        let mut state = lock(&state);
        if let Some((generation, g)) = &state.last
            && *generation == fleet.generation
            && let Some(g) = g.upgrade()
        {
            return g;
        }
        let started = std::time::Instant::now();
        let built = Arc::new(state.incremental.update(&fleet.profiles, &fleet.class_of));
        tracing::debug!(
            generation = fleet.generation,
            classes = built.classes.len(),
            rejudged = state.incremental.rejudged(),
            ms = started.elapsed().as_secs_f64() * 1e3,
            "graph updated"
        );
        state.last = Some((fleet.generation, Arc::downgrade(&built)));
        let bytes = graph_bytes(&built);
        lock(&self.graphs).insert(fleet.generation, key, Arc::clone(&built), bytes);
        built
    }

    fn graph_state(
        &self,
        key: &str,
        guest: &GuestConfig,
        policy: &Policy,
    ) -> Arc<Mutex<GraphState>> {
        let mut slots = lock(&self.incremental);
        slots.0 += 1;
        let now = slots.0;
        if let Some(s) = slots.1.iter_mut().find(|s| s.key == key) {
            s.used = now;
            return Arc::clone(&s.state);
        }
        if slots.1.len() >= limits::INCREMENTAL_GRAPHS
            && let Some(oldest) = slots
                .1
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.used)
                .map(|(i, _)| i)
        {
            slots.1.swap_remove(oldest);
        }
        let state = Arc::new(Mutex::new(GraphState {
            incremental: Incremental::new(guest, policy),
            last: None,
        }));
        slots.1.push(GraphSlot {
            key: key.to_owned(),
            used: now,
            state: Arc::clone(&state),
        });
        state
    }

    /// The labels and names of each class of `fleet` (classes are the same for every guest: in
    /// the order its graphs number them), made again only for classes whose members changed
    /// (another profile of a member, a member more or less). Engine work.
    pub fn class_labels(&self, fleet: &Fleet) -> Arc<ClassLabels> {
        let mut memo = lock(&self.labels);
        if let Some((generation, labels)) = &memo.current
            && *generation == fleet.generation
        {
            return Arc::clone(labels);
        }
        let started = std::time::Instant::now();
        let classes = Classes::from_numbers(&fleet.class_of);
        let mut by_number = HashMap::with_capacity(classes.members.len());
        let n = classes.members.len();
        let (mut labels, mut names) = (Vec::with_capacity(n), Vec::with_capacity(n));
        for m in &classes.members {
            let number = fleet.class_of[m[0]];
            let class = match memo.by_number.remove(&number) {
                Some(held)
                    if held.members.len() == m.len()
                        && held
                            .members
                            .iter()
                            .zip(m)
                            .all(|(h, &i)| Arc::ptr_eq(h, &fleet.profiles[i])) =>
                {
                    held
                }
                _ => {
                    let members: Vec<Arc<HostProfile>> =
                        m.iter().map(|&i| Arc::clone(&fleet.profiles[i])).collect();
                    let l = shared::naming::labels_of_hosts(members.iter().map(|p| &**p));
                    let name = shared::naming::class_name_of(&members[0], &l, m.len());
                    ClassMemo {
                        members,
                        labels: Arc::new(l),
                        name: Arc::from(name),
                    }
                }
            };
            labels.push(Arc::clone(&class.labels));
            names.push(Arc::clone(&class.name));
            by_number.insert(number, class);
        }
        let labels = Arc::new(ClassLabels {
            classes: labels,
            names,
            first: classes.members.iter().map(|m| m[0]).collect(),
        });
        memo.by_number = by_number;
        memo.current = Some((fleet.generation, Arc::clone(&labels)));
        tracing::debug!(
            generation = fleet.generation,
            ms = started.elapsed().as_secs_f64() * 1e3,
            "class labels"
        );
        labels
    }

    /// The name of each pool of `g`, a graph of the whole `fleet` whose classes are `labels`'s
    /// ([`shared::naming::pool_name`], before names are made unique): made again only for pools
    /// whose classes, labels or size changed, and the model fitted again only when the pool's
    /// classes or their first hosts changed. Engine work.
    pub fn pool_names(&self, fleet: &Fleet, labels: &ClassLabels, g: &CompatGraph) -> Vec<String> {
        // Each pool's first hosts and its key (their class numbers).
        let pools: Vec<(Vec<usize>, Vec<u32>)> = g
            .pools
            .iter()
            .map(|p| {
                let firsts: Vec<usize> = p.classes.iter().map(|&c| labels.first[c]).collect();
                let key = firsts.iter().map(|&i| fleet.class_of[i]).collect();
                (firsts, key)
            })
            .collect();
        let same_reps = |held: &[Arc<HostProfile>], firsts: &[usize]| {
            held.len() == firsts.len()
                && held
                    .iter()
                    .zip(firsts)
                    .all(|(h, &i)| Arc::ptr_eq(h, &fleet.profiles[i]))
        };
        // A pool's first hosts and the model fitted on them.
        let fit_model = |firsts: &[usize]| {
            let reps: Vec<Arc<HostProfile>> = firsts
                .iter()
                .map(|&i| Arc::clone(&fleet.profiles[i]))
                .collect();
            let refs: Vec<&HostProfile> = reps.iter().map(|p| &**p).collect();
            let model = shared::naming::pool_model(&refs);
            (reps, model)
        };
        // The models to fit (a baseline each), fitted without holding the memo: a first naming
        // of hundreds of pools does not hold up another graph's.
        let unfitted: Vec<usize> = {
            let memo = lock(&self.models);
            (0..pools.len())
                .filter(|&k| {
                    let (firsts, key) = &pools[k];
                    !memo
                        .by_pool
                        .get(key)
                        .is_some_and(|fit| same_reps(&fit.reps, firsts))
                })
                .collect()
        };
        let fitted: Vec<(usize, Vec<Arc<HostProfile>>, Option<String>)> = unfitted
            .into_iter()
            .map(|k| {
                let (reps, model) = fit_model(&pools[k].0);
                (k, reps, model)
            })
            .collect();
        let mut memo = lock(&self.models);
        if fleet.generation > memo.generation {
            // Forget pools no graph of the last two generations named.
            let keep = memo.generation;
            memo.by_pool.retain(|_, fit| fit.used >= keep);
            memo.generation = fleet.generation;
        }
        let generation = fleet.generation;
        for (k, reps, model) in fitted {
            memo.by_pool.insert(
                pools[k].1.clone(),
                FittedModel::unnamed(generation, reps, model),
            );
        }
        g.pools
            .iter()
            .zip(&pools)
            .map(|(p, (firsts, key))| {
                let class_labels: Vec<Arc<Labels>> = p
                    .classes
                    .iter()
                    .map(|&c| Arc::clone(&labels.classes[c]))
                    .collect();
                let fit = memo.by_pool.entry(key.clone()).or_insert_with(|| {
                    // Fitted by a graph of a newer generation meanwhile and forgotten: fit here.
                    let (reps, model) = fit_model(firsts);
                    FittedModel::unnamed(generation, reps, model)
                });
                fit.used = fit.used.max(generation);
                if !same_reps(&fit.reps, firsts) {
                    // Another graph's fleet (an older or newer generation) fitted it meanwhile.
                    (fit.reps, fit.model) = fit_model(firsts);
                    fit.n_hosts = usize::MAX;
                }
                let same_name = fit.n_hosts == p.n_hosts
                    && fit.labels.len() == class_labels.len()
                    && fit
                        .labels
                        .iter()
                        .zip(&class_labels)
                        .all(|(a, b)| Arc::ptr_eq(a, b));
                if !same_name {
                    let union = shared::naming::union_labels(class_labels.iter().map(|l| &**l));
                    fit.name = shared::naming::pool_name(fit.model.as_deref(), &union, p.n_hosts);
                    fit.labels = class_labels;
                    fit.n_hosts = p.n_hosts;
                }
                fit.name.clone()
            })
            .collect()
    }

    /// The class id of `fleet`'s host at position `i` (its class number's, computed once: the
    /// engine's hash of the class key reads QEMU's view of the host, tens of microseconds, a
    /// few seconds for 100,000 hosts).
    pub fn class_id(&self, fleet: &Fleet, i: usize) -> Arc<str> {
        let number = fleet.class_of[i];
        if let Some(id) = lock(&self.class_ids).get(&number) {
            return Arc::clone(id);
        }
        let id: Arc<str> = Arc::from(shared::class::class_id(&fleet.profiles[i]));
        lock(&self.class_ids).insert(number, Arc::clone(&id));
        id
    }

    /// The kept `can_run_model` answers (default policy). Lock it after [`Self::cards`], never
    /// before.
    pub fn model_runs(&self) -> MutexGuard<'_, shared::clusters::ModelRuns> {
        lock(&self.runs)
    }

    /// The kept cluster cards.
    pub fn cards(&self) -> MutexGuard<'_, crate::api::clusters::CardMemo> {
        lock(&self.cards)
    }

    /// The first host of `fleet` whose class id is `id`, found through the class numbers (one
    /// id per class, not per host).
    pub fn host_of_class(&self, fleet: &Fleet, id: &str) -> Option<usize> {
        let mut seen = std::collections::HashSet::new();
        (0..fleet.profiles.len())
            .filter(|&i| seen.insert(fleet.class_of[i]))
            .find(|&i| &*self.class_id(fleet, i) == id)
    }

    /// The JSON of a graph's edges (a million edges are 25 MB of it), written once per edge list
    /// by `write`: graphs of successive generations share their list while no judgement
    /// changes, so `/api/v1/graph` after a change that moved hosts writes the hosts, not the
    /// edges, again. At most `limits::EDGES_JSON_*` kept, least recently used dropped. Engine
    /// work.
    pub fn edges_json(
        &self,
        edges: &SharedList<ClassEdge>,
        write: impl FnOnce(&[ClassEdge]) -> Vec<u8>,
    ) -> axum::body::Bytes {
        let list = edges.as_arc();
        {
            let mut held = lock(&self.edges_json);
            let now = held.iter().map(|e| e.used).max().unwrap_or(0) + 1;
            if let Some(e) = held
                .iter_mut()
                .find(|e| e.edges.upgrade().is_some_and(|l| Arc::ptr_eq(&l, list)))
            {
                e.used = now;
                return e.json.clone();
            }
        }
        let json = axum::body::Bytes::from(write(list));
        let mut held = lock(&self.edges_json);
        held.retain(|e| e.edges.strong_count() > 0);
        let now = held.iter().map(|e| e.used).max().unwrap_or(0) + 1;
        held.push(EdgesJson {
            edges: Arc::downgrade(list),
            json: json.clone(),
            used: now,
        });
        let bytes = |h: &[EdgesJson]| h.iter().map(|e| e.json.len()).sum::<usize>();
        while held.len() > 1
            && (held.len() > limits::EDGES_JSON_ENTRIES || bytes(&held) > limits::EDGES_JSON_BYTES)
        {
            let Some(oldest) = held
                .iter()
                .enumerate()
                .min_by_key(|(_, e)| e.used)
                .map(|(i, _)| i)
            else {
                break;
            };
            held.swap_remove(oldest);
        }
        json
    }

    /// Any other derived answer, computed once per generation under `key` and kept as JSON
    /// while it is among the most recently used (`limits::DERIVED_CACHE_*`).
    pub fn derived<T, F>(&self, fleet: &Fleet, key: &str, compute: F) -> Result<T, String>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> T,
    {
        let found = lock(&self.derived).get(fleet.generation, key);
        if let Some(json) = found {
            return serde_json::from_slice(&json).map_err(|e| e.to_string());
        }
        let value = compute();
        let json = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
        let bytes = json.len();
        lock(&self.derived).insert(fleet.generation, key.to_owned(), Arc::new(json), bytes);
        Ok(value)
    }

    /// Whether a fleet refresh is under way.
    pub fn refreshing(&self) -> bool {
        lock(&self.fleet).running.is_some()
    }

    /// How many fleet refreshes started (each runs to its end).
    pub fn refreshes(&self) -> u64 {
        self.refreshes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The bounded caches' counters.
    pub fn report(&self) -> CacheReport {
        CacheReport {
            graphs: lock(&self.graphs).counters.stats(),
            derived: lock(&self.derived).counters.stats(),
            refreshes: self.refreshes(),
        }
    }
}
