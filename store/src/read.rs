//! Reads, point deletes and settings: one statement each, the same text for both databases.

use std::sync::Arc;

use shared::intern::memo::ListMemo;
use shared::profile::HostProfile;
use shared::vms::{HostCapacity, HostGuests, Vm};

use crate::generation::bump_generation;
use crate::guests::{GuestEvent, GuestEventKind};
use crate::{LatestVersion, Store, StoreError, StoredProfile, VersionRow, on_pool};

/// `(version, n, profile_json)` of one stored version.
type VersionText = (i64, i64, String);

fn count(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// A stored profile's text decoded, the QEMU lists it repeats once (`lists`); every read of
/// `profile_json` goes through here (`load.rs` too).
pub(crate) fn decode_profile(
    lists: &Arc<ListMemo>,
    host_id: &str,
    version: i64,
    json: &str,
) -> Result<HostProfile, StoreError> {
    lists
        .within(|| serde_json::from_str::<HostProfile>(json))
        .map_err(|e| StoreError::Corrupt {
            host_id: host_id.to_owned(),
            version,
            message: e.to_string(),
        })
}

/// A stored version, decoded.
fn decode(
    lists: &Arc<ListMemo>,
    host_id: &str,
    (version, n, json): VersionText,
) -> Result<StoredProfile, StoreError> {
    let profile = decode_profile(lists, host_id, version, &json)?;
    Ok(StoredProfile {
        version: count(version),
        n_versions: count(n),
        profile,
    })
}

/// A host's guests from its capacity and guest rows (`None`: never reported).
pub(crate) fn assemble(
    host_id: &str,
    capacity: Option<&str>,
    vms: Vec<String>,
) -> Result<Option<HostGuests>, StoreError> {
    let corrupt = |e: serde_json::Error| StoreError::Corrupt {
        host_id: host_id.to_owned(),
        version: 0,
        message: format!("stored guests: {e}"),
    };
    let Some(capacity) = capacity else {
        return Ok(None);
    };
    let capacity: HostCapacity = serde_json::from_str(capacity).map_err(corrupt)?;
    let vms = vms
        .iter()
        .map(|j| serde_json::from_str::<Vm>(j))
        .collect::<Result<Vec<_>, _>>()
        .map_err(corrupt)?;
    Ok(Some(HostGuests { capacity, vms }))
}

impl Store {
    pub async fn n_hosts(&self) -> Result<u64, StoreError> {
        let n: i64 = on_pool!(&self.pool, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM hosts").fetch_one(p).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// How many profile versions are stored in all.
    pub async fn n_versions(&self) -> Result<u64, StoreError> {
        let n: i64 = on_pool!(&self.pool, p => {
            sqlx::query_scalar("SELECT COUNT(*) FROM profile_versions").fetch_one(p).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// The newest profile of one host, with its current guests.
    pub async fn latest_profile(&self, host_id: &str) -> Result<Option<StoredProfile>, StoreError> {
        let row: Option<VersionText> = on_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT v.version, h.n_versions, v.profile_json \
                 FROM hosts h JOIN profile_versions v \
                   ON v.host_id = h.host_id AND v.version = h.newest_version \
                 WHERE h.host_id = $1",
            )
            .bind(host_id)
            .fetch_optional(p)
            .await?
        });
        let Some(row) = row else {
            return Ok(None);
        };
        let mut s = decode(&self.lists, host_id, row)?;
        s.profile.guests = self.guests(host_id).await?;
        Ok(Some(s))
    }

    /// One stored version of a host's hardware profile (without guests: they are not versioned;
    /// see [`Store::guests`] and [`Store::guest_history`]).
    pub async fn profile_version(
        &self,
        host_id: &str,
        version: u32,
    ) -> Result<Option<StoredProfile>, StoreError> {
        let row: Option<VersionText> = on_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT v.version, h.n_versions, v.profile_json \
                 FROM hosts h JOIN profile_versions v ON v.host_id = h.host_id \
                 WHERE h.host_id = $1 AND v.version = $2",
            )
            .bind(host_id)
            .bind(i64::from(version))
            .fetch_optional(p)
            .await?
        });
        row.map(|r| decode(&self.lists, host_id, r)).transpose()
    }

    /// Every host's newest version number, version count and guest revision, ordered by host id;
    /// no profiles are read, so caches can fetch only what changed.
    pub async fn latest_versions(&self) -> Result<Vec<LatestVersion>, StoreError> {
        let rows: Vec<crate::changes::HostRow> = on_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT host_id, newest_version, n_versions, guests_rev, newest_hash FROM hosts \
                 WHERE n_versions > 0 ORDER BY host_id",
            )
            .fetch_all(p)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(crate::changes::latest_version)
            .collect())
    }

    /// A host's history, oldest first (empty for an unknown host).
    pub async fn versions(&self, host_id: &str) -> Result<Vec<VersionRow>, StoreError> {
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT version, received_at, collected_at, class_id FROM profile_versions \
                 WHERE host_id = $1 ORDER BY version",
            )
            .bind(host_id)
            .fetch_all(p)
            .await?
        }))
    }

    /// When the host last sent a profile, changed or not (`None` for an unknown host).
    pub async fn last_seen(&self, host_id: &str) -> Result<Option<String>, StoreError> {
        let row: Option<Option<String>> = on_pool!(&self.pool, p => {
            sqlx::query_scalar("SELECT last_seen FROM hosts WHERE host_id = $1")
                .bind(host_id)
                .fetch_optional(p)
                .await?
        });
        Ok(row.flatten())
    }

    /// The host's current guests and capacity (`None`: unknown host, or it never sent guests).
    pub async fn guests(&self, host_id: &str) -> Result<Option<HostGuests>, StoreError> {
        let (capacity, vms): (Option<Option<String>>, Vec<String>) = on_pool!(&self.pool, p => {(
            sqlx::query_scalar("SELECT capacity_json FROM hosts WHERE host_id = $1")
                .bind(host_id)
                .fetch_optional(p)
                .await?,
            sqlx::query_scalar("SELECT vm_json FROM guests WHERE host_id = $1 ORDER BY vm_id")
                .bind(host_id)
                .fetch_all(p)
                .await?,
        )});
        assemble(host_id, capacity.flatten().as_deref(), vms)
    }

    /// Every guest event of a host, oldest first (empty for an unknown host).
    pub async fn guest_history(&self, host_id: &str) -> Result<Vec<GuestEvent>, StoreError> {
        let rows: Vec<(String, String, String, String, Option<String>)> = on_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT at, vm_id, name, kind, vm_json FROM guest_events WHERE host_id = $1 \
                 ORDER BY seq",
            )
            .bind(host_id)
            .fetch_all(p)
            .await?
        });
        rows.into_iter()
            .map(|(at, vm_id, name, kind, json)| {
                let corrupt = |message: String| StoreError::Corrupt {
                    host_id: host_id.to_owned(),
                    version: 0,
                    message,
                };
                let kind = GuestEventKind::parse(&kind)
                    .ok_or_else(|| corrupt(format!("guest event of {vm_id} has kind {kind:?}")))?;
                let vm = json
                    .map(|j| serde_json::from_str::<Vm>(&j))
                    .transpose()
                    .map_err(|e| corrupt(format!("guest event of {vm_id}: {e}")))?;
                Ok(GuestEvent {
                    at,
                    vm_id,
                    name,
                    kind,
                    vm,
                })
            })
            .collect()
    }

    /// Forget a host, its history and guests, in one transaction. False when it was unknown.
    pub async fn delete_host(&self, host_id: &str) -> Result<bool, StoreError> {
        let (gone, generation) = on_pool!(&self.pool, p, PG => {
            let mut tx = p.begin().await?;
            for sql in [
                "DELETE FROM guest_events WHERE host_id = $1",
                "DELETE FROM guests WHERE host_id = $1",
                "DELETE FROM profile_versions WHERE host_id = $1",
            ] {
                sqlx::query(sql).bind(host_id).execute(&mut *tx).await?;
            }
            let gone = sqlx::query("DELETE FROM hosts WHERE host_id = $1")
                .bind(host_id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let generation = if gone > 0 {
                let g = bump_generation!(tx, PG);
                // After the bump, as every mark (crate::changes): the tombstone of this host.
                sqlx::query(
                    "INSERT INTO host_tombstones (host_id, deleted_gen) VALUES ($1, $2) \
                     ON CONFLICT (host_id) DO UPDATE SET deleted_gen = excluded.deleted_gen",
                )
                .bind(host_id)
                .bind(g)
                .execute(&mut *tx)
                .await?;
                Some(g)
            } else {
                None
            };
            tx.commit().await?;
            (gone, generation)
        });
        if let Some(g) = generation {
            self.saw_generation(g);
        }
        Ok(gone > 0)
    }

    /// Record a generation this process committed (it may be ahead of the notifications).
    pub(crate) fn saw_generation(&self, g: i64) {
        self.generation.fetch_max(
            u64::try_from(g).unwrap_or(0),
            std::sync::atomic::Ordering::SeqCst,
        );
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_scalar("SELECT value FROM settings WHERE name = $1")
                .bind(name)
                .fetch_optional(p)
                .await?
        }))
    }

    /// A setting as read at most [`crate::SETTING_MEMO_TTL`] ago (for the token check of
    /// every request): a change through this store is seen at once, one by another process or
    /// replica within the TTL. Use [`Store::setting`] where that delay matters.
    pub async fn setting_recent(&self, name: &str) -> Result<Option<String>, StoreError> {
        let now = std::time::Instant::now();
        if let Some(value) = self.settings.get(name, now) {
            return Ok(value);
        }
        let value = self.setting(name).await?;
        self.settings.put(name, value.clone(), now);
        Ok(value)
    }

    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        self.settings.forget(name);
        on_pool!(&self.pool, p => {
            sqlx::query(
                "INSERT INTO settings (name, value) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            )
            .bind(name)
            .bind(value)
            .execute(p)
            .await?;
        });
        // Again: a read that raced the write may have kept the old value.
        self.settings.forget(name);
        Ok(())
    }

    /// Every setting whose name starts with `prefix` (taken literally: `%` and `_` are not
    /// patterns), ordered by name.
    pub async fn settings_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        // i32: PostgreSQL's substr takes integer, and a bigint does not cast to it implicitly.
        let n = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
        Ok(on_pool!(&self.pool, p => {
            sqlx::query_as(
                "SELECT name, value FROM settings WHERE substr(name, 1, $2) = $1 ORDER BY name",
            )
            .bind(prefix)
            .bind(n)
            .fetch_all(p)
            .await?
        }))
    }

    /// Remove a setting. False when there was none.
    pub async fn delete_setting(&self, name: &str) -> Result<bool, StoreError> {
        self.settings.forget(name);
        let gone = on_pool!(&self.pool, p => {
            sqlx::query("DELETE FROM settings WHERE name = $1")
                .bind(name)
                .execute(p)
                .await?
                .rows_affected()
        });
        self.settings.forget(name);
        Ok(gone > 0)
    }

    /// "ok" when the database is sound. SQLite: `PRAGMA integrity_check` (pages, indexes,
    /// constraints). PostgreSQL has no such statement (page checks need the `amcheck` extension
    /// and its privileges): the store's own invariants are checked instead, every host has its
    /// newest version and the generation row exists; anything else is named.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        match &self.pool {
            crate::Pool::Sqlite(p) => Ok(sqlx::query_scalar("PRAGMA integrity_check")
                .fetch_one(p)
                .await?),
            crate::Pool::Postgres(p) => {
                let orphans: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM hosts h WHERE NOT EXISTS \
                     (SELECT 1 FROM profile_versions v WHERE v.host_id = h.host_id)",
                )
                .fetch_one(p)
                .await?;
                let generations: i64 =
                    sqlx::query_scalar("SELECT COUNT(*) FROM store_generation WHERE id = 1")
                        .fetch_one(p)
                        .await?;
                Ok(match (orphans, generations) {
                    (0, 1) => "ok".to_owned(),
                    (n, 1) => format!("{n} hosts have no profile version"),
                    _ => "the store_generation row is missing".to_owned(),
                })
            }
        }
    }
}
