//! Retention: how much history the store keeps.
//!
//! Versions are made only by changes (an unchanged re-upload moves `hosts.last_seen` and nothing
//! else), so what grows is the history of hosts whose hardware or guests change often. The policy
//! thins the oldest of it: a host keeps its newest `keep_versions` versions, versions older than
//! `keep_days` go, and the same for guest events (`keep_guest_events` per host, `keep_days`).
//! A host's newest version is always kept, whatever the policy.

use std::collections::BTreeMap;

use crate::generation::{bump_generation, mark_changed};
use crate::{Store, StoreError, on_pool};

/// What to keep. `None` keeps everything on that count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Versions kept per host, newest first (at least 1).
    pub keep_versions: Option<u32>,
    /// Versions and guest events received longer ago than this many days are removed (the
    /// newest version of each host stays).
    pub keep_days: Option<u32>,
    /// Guest events kept per host, newest first.
    pub keep_guest_events: Option<u32>,
}

impl Default for Retention {
    /// 100 versions and 1,000 guest events per host, of any age: a host whose hardware changes
    /// weekly keeps two years of history; bounded for a host that flaps.
    fn default() -> Self {
        Self {
            keep_versions: Some(100),
            keep_days: None,
            keep_guest_events: Some(1000),
        }
    }
}

/// What a pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub versions: u64,
    pub guest_events: u64,
}

impl Store {
    /// Apply `policy` once, at `now_unix` (seconds), in one transaction.
    pub async fn prune(&self, policy: &Retention, now_unix: u64) -> Result<Pruned, StoreError> {
        let keep_versions = policy.keep_versions.map(|n| i64::from(n.max(1)));
        let keep_events = policy.keep_guest_events.map(i64::from);
        // RFC 3339 in UTC sorts as text, as every stored time is written.
        let cutoff = policy
            .keep_days
            .map(|d| shared::time::rfc3339(now_unix.saturating_sub(u64::from(d) * 86_400)));
        let (pruned, generation) = on_pool!(&self.pool, p, PG => {
            let mut tx = p.begin().await?;
            let mut pruned = Pruned::default();
            // Versions are numbered without gaps from the oldest kept one, so the newest N are
            // those above MAX - N. Only hosts with more than N versions are looked at (their
            // count is on their row): the whole table was read before, 2.5-5 s at every start
            // of a server on 100,000 hosts (BENCHMARKS.md), to delete nothing.
            // The host of every version removed, to count them off its row.
            let mut gone: Vec<String> = Vec::new();
            if let Some(n) = keep_versions {
                gone.extend(
                    sqlx::query_scalar::<_, String>(
                        "DELETE FROM profile_versions WHERE host_id IN \
                         (SELECT h.host_id FROM hosts h WHERE h.n_versions > $1) \
                         AND version <= \
                         (SELECT MAX(m.version) FROM profile_versions m \
                          WHERE m.host_id = profile_versions.host_id) - $1 \
                         RETURNING host_id",
                    )
                    .bind(n)
                    .fetch_all(&mut *tx)
                    .await?,
                );
            }
            if let Some(cutoff) = &cutoff {
                gone.extend(
                    sqlx::query_scalar::<_, String>(
                        "DELETE FROM profile_versions WHERE received_at < $1 AND version < \
                         (SELECT MAX(m.version) FROM profile_versions m \
                          WHERE m.host_id = profile_versions.host_id) \
                         RETURNING host_id",
                    )
                    .bind(cutoff)
                    .fetch_all(&mut *tx)
                    .await?,
                );
                pruned.guest_events += sqlx::query("DELETE FROM guest_events WHERE at < $1")
                    .bind(cutoff)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            }
            if let Some(n) = keep_events {
                // Each host's events ranked newest first in one pass (a window function: SQLite
                // 3.25+, sqlite.org/windowfunctions.html; PostgreSQL's manual, "Window
                // Functions"), the ones past the Nth deleted. A count of the newer events per
                // row made this pass quadratic in a host's events.
                pruned.guest_events += sqlx::query(
                    "DELETE FROM guest_events WHERE seq IN \
                     (SELECT r.seq FROM (SELECT e.seq, ROW_NUMBER() OVER \
                       (PARTITION BY e.host_id ORDER BY e.seq DESC) AS n FROM guest_events e) r \
                      WHERE r.n > $1)",
                )
                .bind(n)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            }
            pruned.versions = u64::try_from(gone.len()).unwrap_or(u64::MAX);
            let mut per_host: BTreeMap<String, i64> = BTreeMap::new();
            for host in gone {
                *per_host.entry(host).or_default() += 1;
            }
            // Each host's count, in host-id order (the order every writer locks hosts in), before
            // the bump: the rows marked after it are locked already (crate::changes).
            for (host, n) in &per_host {
                sqlx::query("UPDATE hosts SET n_versions = n_versions - $2 WHERE host_id = $1")
                    .bind(host)
                    .bind(n)
                    .execute(&mut *tx)
                    .await?;
            }
            // Version counts changed: caches must re-read them.
            let generation = if per_host.is_empty() {
                None
            } else {
                let g = bump_generation!(tx, PG);
                let hosts: Vec<&str> = per_host.keys().map(String::as_str).collect();
                mark_changed!(tx, PG, g, hosts);
                Some(g)
            };
            tx.commit().await?;
            (pruned, generation)
        });
        if let Some(g) = generation {
            self.saw_generation(g);
        }
        Ok(pruned)
    }
}
