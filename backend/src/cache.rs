//! Derived data cached per store generation: the fleet's newest profiles, graphs (classes and
//! pools) per guest policy, and model coverage. A write bumps the generation (on PostgreSQL, a
//! write by any replica: `Store::generation` follows the database's); the next read refreshes
//! only the hosts whose version or guests changed, so 10,000 hosts stay fast.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use shared::graph::CompatGraph;
use shared::profile::HostProfile;
use shared::{GuestConfig, Policy};

use crate::store::{Store, StoreError};

/// The newest profile of every host at one generation, ordered by host id.
#[derive(Debug)]
pub struct Fleet {
    pub generation: u64,
    /// Shared with the previous generation where unchanged, so a refresh copies no profile.
    pub profiles: Vec<Arc<HostProfile>>,
    /// The same profiles as one slice, for the engine's graph; made on first use.
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

    /// Every profile, ordered by host id, as one slice.
    pub fn slice(&self) -> &[HostProfile] {
        self.owned
            .get_or_init(|| self.profiles.iter().map(|p| (**p).clone()).collect())
    }
}

type GraphKey = String;

#[derive(Debug, Default)]
pub struct Cache {
    fleet: tokio::sync::Mutex<Option<Arc<Fleet>>>,
    graphs: Mutex<(u64, HashMap<GraphKey, Arc<CompatGraph>>)>,
    derived: Mutex<(u64, HashMap<String, Arc<serde_json::Value>>)>,
    refreshing: std::sync::atomic::AtomicBool,
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
    /// generation.
    pub fn graph(&self, fleet: &Fleet, guest: &GuestConfig, policy: &Policy) -> Arc<CompatGraph> {
        let key = serde_json::to_string(&(guest, policy)).unwrap_or_default();
        {
            let mut g = self.graphs.lock().unwrap_or_else(PoisonError::into_inner);
            if g.0 != fleet.generation {
                *g = (fleet.generation, HashMap::new());
            }
            if let Some(found) = g.1.get(&key) {
                return Arc::clone(found);
            }
        }
        let built = Arc::new(shared::graph::build(fleet.slice(), guest, policy));
        let mut g = self.graphs.lock().unwrap_or_else(PoisonError::into_inner);
        if g.0 == fleet.generation {
            g.1.insert(key, Arc::clone(&built));
        }
        built
    }

    /// Any other derived answer (as JSON), computed once per generation under `key`.
    pub fn derived<T, F>(&self, fleet: &Fleet, key: &str, compute: F) -> Result<T, String>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
        F: FnOnce() -> T,
    {
        {
            let mut d = self.derived.lock().unwrap_or_else(PoisonError::into_inner);
            if d.0 != fleet.generation {
                *d = (fleet.generation, HashMap::new());
            }
            if let Some(v) = d.1.get(key) {
                return serde_json::from_value((**v).clone()).map_err(|e| e.to_string());
            }
        }
        let value = compute();
        let json = serde_json::to_value(&value).map_err(|e| e.to_string())?;
        let mut d = self.derived.lock().unwrap_or_else(PoisonError::into_inner);
        if d.0 == fleet.generation {
            d.1.insert(key.to_owned(), Arc::new(json));
        }
        Ok(value)
    }
}
