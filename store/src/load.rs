//! The first load of a fleet: every host's newest profile, handed over page by page as it is
//! read, so memory holds a few pages of text, never the fleet's (a gigabyte at 100,000 hosts).
//!
//! One snapshot for the whole walk (as [`crate::changes`]), read in pages of [`PAGE`] hosts by
//! host id (keyset: each page starts after the last id of the one before, an index range on
//! both databases). Each page's JSON is decoded on blocking threads, split in as many parts as
//! there are cores, while the next page is read.

use std::collections::HashMap;
use std::sync::Arc;

use shared::intern::memo::ListMemo;
use shared::profile::HostProfile;

use crate::read::{assemble, decode_profile};
use crate::{LatestVersion, Store, StoreError, StoredProfile, on_pool};

/// Hosts per page: about 5 MB of profile text at 10 KiB a profile.
const PAGE: i64 = 512;

/// `(host_id, newest_version, n_versions, guests_rev, newest_hash, capacity_json,
/// profile_json)`.
type LatestRow = (String, i64, i64, i64, String, Option<String>, String);
/// A [`LatestRow`] as a page reads it (the profile `None` if its version is missing).
type PageRow = (
    String,
    i64,
    i64,
    i64,
    String,
    Option<String>,
    Option<String>,
);

/// A row and its guests' JSON, ready to decode.
struct Raw {
    row: LatestRow,
    vms: Vec<String>,
}

type Decoded = Vec<(LatestVersion, HostProfile)>;

/// Decode rows, the QEMU lists they repeat once (`lists`).
fn decode(part: Vec<Raw>, lists: &Arc<ListMemo>) -> Result<Decoded, StoreError> {
    part.into_iter()
        .map(|Raw { row, vms }| {
            let (host_id, version, n, rev, hash, capacity, json) = row;
            let mut profile = decode_profile(lists, &host_id, version, &json)?;
            profile.guests = assemble(&host_id, capacity.as_deref(), vms)?;
            let lv = crate::changes::latest_version((host_id, version, n, rev, hash));
            Ok((lv, profile))
        })
        .collect()
}

/// Decodes of one page, in order.
type Pending = Vec<tokio::task::JoinHandle<Result<Decoded, StoreError>>>;

/// Start decoding `page` on `parts` blocking threads.
fn start_decoding(page: Vec<Raw>, parts: usize, lists: &Arc<ListMemo>) -> Pending {
    let per = page.len().div_ceil(parts.max(1)).max(1);
    let mut rest = page;
    let mut chunks = Vec::new();
    while rest.len() > per {
        let tail = rest.split_off(per);
        chunks.push(rest);
        rest = tail;
    }
    chunks.push(rest);
    chunks
        .into_iter()
        .map(|c| {
            let lists = Arc::clone(lists);
            tokio::task::spawn_blocking(move || decode(c, &lists))
        })
        .collect()
}

/// Wait for a page's decodes and hand its profiles to `f`, in order.
async fn finish(
    pending: Pending,
    f: &mut impl FnMut(LatestVersion, HostProfile),
) -> Result<(), StoreError> {
    for part in pending {
        let decoded = part
            .await
            .map_err(|e| StoreError::Write(format!("decoding stored profiles: {e}")))??;
        for (lv, p) in decoded {
            f(lv, p);
        }
    }
    Ok(())
}

impl Store {
    /// Every host's newest profile with its current guests, in host-id order, handed to `f` as
    /// pages of rows arrive (memory: a few pages, not the fleet). Returns the store generation
    /// the walk saw: [`Store::changes_since`] from it gives everything that changed after.
    pub async fn for_each_latest(
        &self,
        mut f: impl FnMut(LatestVersion, HostProfile) + Send,
    ) -> Result<u64, StoreError> {
        let parts = std::thread::available_parallelism().map_or(2, std::num::NonZero::get);
        let g: i64 = on_pool!(&self.pool, p, PG => {
            let begin = if PG {
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
            } else {
                "BEGIN"
            };
            let mut tx = p.begin_with(begin).await?;
            let g: i64 = sqlx::query_scalar("SELECT value FROM store_generation WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
            let mut after: Option<String> = None;
            let mut pending: Option<Pending> = None;
            loop {
                // The page's hosts by their primary key, then each one's newest profile by its
                // own (a subquery per row of the page), so no plan can read more than the page:
                // as a join, PostgreSQL planned it right after a large ingest (no statistics
                // yet) as a hash join of both whole tables for every page, 25-35 ms a page at
                // 30,000 hosts, 18 s for a 100,000-host first load instead of 7.
                // `newest_version > 0`: hosts with a version, as the join had it.
                let rows: Vec<PageRow> = match &after {
                    None => sqlx::query_as(
                        "SELECT h.host_id, h.newest_version, h.n_versions, h.guests_rev, \
                           h.newest_hash, h.capacity_json, (SELECT v.profile_json FROM profile_versions v \
                             WHERE v.host_id = h.host_id AND v.version = h.newest_version) \
                         FROM hosts h WHERE h.newest_version > 0 \
                         ORDER BY h.host_id LIMIT $1",
                    )
                    .bind(PAGE)
                    .fetch_all(&mut *tx)
                    .await?,
                    Some(last) => sqlx::query_as(
                        "SELECT h.host_id, h.newest_version, h.n_versions, h.guests_rev, \
                           h.newest_hash, h.capacity_json, (SELECT v.profile_json FROM profile_versions v \
                             WHERE v.host_id = h.host_id AND v.version = h.newest_version) \
                         FROM hosts h WHERE h.newest_version > 0 AND h.host_id > $2 \
                         ORDER BY h.host_id LIMIT $1",
                    )
                    .bind(PAGE)
                    .bind(last)
                    .fetch_all(&mut *tx)
                    .await?,
                };
                let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) >= PAGE;
                let (Some(first), Some(last)) = (rows.first(), rows.last()) else {
                    break;
                };
                // The page's guests: hosts with capacity only (the others never sent any).
                let mut vms: HashMap<String, Vec<String>> = HashMap::new();
                if rows.iter().any(|r| r.5.is_some()) {
                    let guest_rows: Vec<(String, String)> = sqlx::query_as(
                        "SELECT host_id, vm_json FROM guests WHERE host_id >= $1 AND host_id <= $2 \
                         ORDER BY host_id, vm_id",
                    )
                    .bind(&first.0)
                    .bind(&last.0)
                    .fetch_all(&mut *tx)
                    .await?;
                    for (host, json) in guest_rows {
                        vms.entry(host).or_default().push(json);
                    }
                }
                after = Some(last.0.clone());
                // A host whose newest version is missing is left out, as a join leaves it.
                let page: Vec<Raw> = rows
                    .into_iter()
                    .filter_map(|(id, v, n, rev, hash, capacity, json)| {
                        let row = (id, v, n, rev, hash, capacity, json?);
                        let vms = vms.remove(&row.0).unwrap_or_default();
                        Some(Raw { row, vms })
                    })
                    .collect();
                let next = start_decoding(page, parts, &self.lists);
                if let Some(done) = pending.replace(next) {
                    finish(done, &mut f).await?;
                }
                if !full {
                    break;
                }
            }
            if let Some(done) = pending {
                finish(done, &mut f).await?;
            }
            tx.commit().await?;
            g
        });
        Ok(u64::try_from(g).unwrap_or(0))
    }

    /// The newest profile of every host, with its current guests, ordered by host id (all in
    /// memory: [`Store::for_each_latest`] hands them over as they are read).
    pub async fn latest_profiles(&self) -> Result<Vec<StoredProfile>, StoreError> {
        let mut out = Vec::new();
        self.for_each_latest(|lv, profile| {
            out.push(StoredProfile {
                version: lv.version,
                n_versions: lv.n_versions,
                profile,
            });
        })
        .await?;
        Ok(out)
    }
}
