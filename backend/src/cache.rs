//! Derived data cached per store generation: the fleet's newest profiles, graphs (classes and
//! pools) per guest policy, and model coverage. A write bumps the generation (on PostgreSQL, a
//! write by any replica: `Store::generation` follows the database's); the next read refreshes
//! only the hosts whose version or guests changed, so 100,000 hosts stay fast. Each profile is
//! held once, shared between generations (`Arc<HostProfile>`, which the engine takes as it is);
//! graphs and other answers are bounded per generation (`lru::Bounded`, bounds in `limits.rs`,
//! counters in `/metrics`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use shared::graph::CompatGraph;
use shared::profile::HostProfile;
use shared::{GuestConfig, Policy};

use crate::limits;
use crate::lru::{Bounded, CacheStats};
use crate::store::{Store, StoreError};

/// The newest profile of every host at one generation, ordered by host id.
#[derive(Debug)]
pub struct Fleet {
    pub generation: u64,
    /// Shared with the previous generation where unchanged, so a refresh copies no profile;
    /// the engine's graph takes this slice as it is.
    pub profiles: Vec<Arc<HostProfile>>,
    /// A deep copy of the same profiles as one slice, made only for drain plans
    /// (`shared::drain::DrainFleet` still takes `&[HostProfile]`; to be changed like
    /// `graph::build`).
    owned: OnceLock<Vec<HostProfile>>,
    pub versions: Vec<u32>,
    pub n_versions: Vec<u32>,
    /// Each host's guest revision (guests change without making versions).
    guests_revs: Vec<u64>,
    pub index: HashMap<String, usize>,
}

impl Fleet {
    fn empty(generation: u64, n: usize) -> Self {
        Self {
            generation,
            profiles: Vec::with_capacity(n),
            owned: OnceLock::new(),
            versions: Vec::with_capacity(n),
            n_versions: Vec::with_capacity(n),
            guests_revs: Vec::with_capacity(n),
            index: HashMap::with_capacity(n),
        }
    }

    pub fn get(&self, host_id: &str) -> Option<&HostProfile> {
        self.index.get(host_id).map(|&i| &*self.profiles[i])
    }

    /// Every profile, ordered by host id, as one slice: a deep copy made on first use, for the
    /// drain plans only (graphs take `profiles` as they are).
    pub fn slice(&self) -> &[HostProfile] {
        self.owned
            .get_or_init(|| self.profiles.iter().map(|p| (**p).clone()).collect())
    }
}

#[derive(Debug)]
pub struct Cache {
    fleet: tokio::sync::Mutex<Option<Arc<Fleet>>>,
    /// Graphs per guest configuration and policy.
    graphs: Mutex<Bounded<CompatGraph>>,
    /// Other derived answers (coverage, names, cluster cards) as JSON.
    derived: Mutex<Bounded<Vec<u8>>>,
    refreshing: std::sync::atomic::AtomicBool,
}

impl Default for Cache {
    fn default() -> Self {
        Self {
            fleet: tokio::sync::Mutex::default(),
            graphs: Mutex::new(Bounded::new(
                limits::GRAPH_CACHE_ENTRIES,
                limits::GRAPH_CACHE_BYTES,
            )),
            derived: Mutex::new(Bounded::new(
                limits::DERIVED_CACHE_ENTRIES,
                limits::DERIVED_CACHE_BYTES,
            )),
            refreshing: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

/// What the bounded caches hold and how they fare, for `/metrics`.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheReport {
    pub graphs: CacheStats,
    pub derived: CacheStats,
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
    /// the background (one at a time). For point reads that can fall back to the database.
    pub fn current(self: &Arc<Self>, store: &Store) -> Option<Arc<Fleet>> {
        use std::sync::atomic::Ordering;
        let generation = store.generation();
        if let Ok(slot) = self.fleet.try_lock()
            && let Some(f) = slot.as_ref()
            && f.generation == generation
        {
            return Some(Arc::clone(f));
        }
        if !self.refreshing.swap(true, Ordering::SeqCst) {
            let (cache, store) = (Arc::clone(self), store.clone());
            tokio::spawn(async move {
                if let Err(e) = cache.fleet(&store).await {
                    tracing::warn!(error = %e, "background refresh of the fleet cache failed");
                }
                cache.refreshing.store(false, Ordering::SeqCst);
            });
        }
        None
    }

    /// The fleet at the store's current generation (refreshing changed hosts only).
    pub async fn fleet(&self, store: &Store) -> Result<Arc<Fleet>, StoreError> {
        let generation = store.generation();
        let mut slot = self.fleet.lock().await;
        if let Some(f) = slot.as_ref()
            && f.generation == generation
        {
            return Ok(Arc::clone(f));
        }
        let fleet = match slot.as_ref() {
            None => {
                // Revisions first: a change landing between the two reads makes the next
                // refresh read that host again, never keeps a stale one.
                let revs: HashMap<String, u64> = store
                    .latest_versions()
                    .await?
                    .into_iter()
                    .map(|lv| (lv.host_id, lv.guests_rev))
                    .collect();
                let all = store.latest_profiles().await?;
                let mut f = Fleet::empty(generation, all.len());
                for s in all {
                    f.guests_revs
                        .push(revs.get(&s.profile.host_id).copied().unwrap_or(0));
                    f.index.insert(s.profile.host_id.clone(), f.profiles.len());
                    f.versions.push(s.version);
                    f.n_versions.push(s.n_versions);
                    f.profiles.push(Arc::new(s.profile));
                }
                f
            }
            Some(old) => {
                let latest = store.latest_versions().await?;
                let mut f = Fleet::empty(generation, latest.len());
                for lv in latest {
                    // A host is read again when its version or its guests moved; the newest
                    // profile comes with its current guests.
                    let profile = match old.index.get(&lv.host_id) {
                        Some(&i)
                            if old.versions[i] == lv.version
                                && old.guests_revs[i] == lv.guests_rev =>
                        {
                            Arc::clone(&old.profiles[i])
                        }
                        _ => match store.latest_profile(&lv.host_id).await? {
                            Some(s) => Arc::new(s.profile),
                            None => continue,
                        },
                    };
                    f.index.insert(lv.host_id, f.profiles.len());
                    f.versions.push(lv.version);
                    f.n_versions.push(lv.n_versions);
                    f.guests_revs.push(lv.guests_rev);
                    f.profiles.push(profile);
                }
                f
            }
        };
        let fleet = Arc::new(fleet);
        *slot = Some(Arc::clone(&fleet));
        Ok(fleet)
    }

    /// The engine's graph of `fleet` for a guest configuration and policy, built once per
    /// generation and kept while it is among the most recently used (`limits::GRAPH_CACHE_*`).
    pub fn graph(&self, fleet: &Fleet, guest: &GuestConfig, policy: &Policy) -> Arc<CompatGraph> {
        let key = serde_json::to_string(&(guest, policy)).unwrap_or_default();
        let found = self
            .graphs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(fleet.generation, &key);
        if let Some(found) = found {
            return found;
        }
        let built = Arc::new(shared::graph::build(&fleet.profiles, guest, policy));
        let bytes = graph_bytes(&built);
        self.graphs
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(fleet.generation, key, Arc::clone(&built), bytes);
        built
    }

    /// Any other derived answer, computed once per generation under `key` and kept as JSON
    /// while it is among the most recently used (`limits::DERIVED_CACHE_*`).
    pub fn derived<T, F>(&self, fleet: &Fleet, key: &str, compute: F) -> Result<T, String>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> T,
    {
        let found = self
            .derived
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(fleet.generation, key);
        if let Some(json) = found {
            return serde_json::from_slice(&json).map_err(|e| e.to_string());
        }
        let value = compute();
        let json = serde_json::to_vec(&value).map_err(|e| e.to_string())?;
        let bytes = json.len();
        self.derived
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(fleet.generation, key.to_owned(), Arc::new(json), bytes);
        Ok(value)
    }

    /// The bounded caches' counters.
    pub fn report(&self) -> CacheReport {
        CacheReport {
            graphs: self
                .graphs
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .counters
                .stats(),
            derived: self
                .derived
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .counters
                .stats(),
        }
    }
}
