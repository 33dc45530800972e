//! What changed since a generation: the hosts whose newest version, version count or guests
//! moved, and the hosts deleted, so a cache refreshes only those.
//!
//! Every writing transaction that changes a host bumps the store generation (`store_generation`,
//! [`crate::generation`]) and, after the bump, writes the new value into `hosts.changed_gen` of
//! each host it changed (a deletion writes `host_tombstones.deleted_gen`). A reader takes one
//! snapshot and reads in it the generation `G` and every row marked above the caller's `since`.
//!
//! Why the answer is complete up to `G`, with several writers (replicas on one PostgreSQL):
//! - The bump is `UPDATE store_generation SET value = value + 1` on the one row: a second writer
//!   waits on the first's row lock until it commits, then adds 1 to the committed value
//!   (PostgreSQL's READ COMMITTED update of a concurrently updated row: `ExecUpdate` in
//!   src/backend/executor/nodeModifyTable.c re-checks the newest version through
//!   `EvalPlanQual`). So generations are handed out in commit order, one transaction each, and
//!   a transaction holds its generation's lock from its bump to its commit: no other writer
//!   commits a change in between.
//! - A transaction's row locks are released only after it is visible as committed:
//!   `CommitTransaction` in src/backend/access/transam/xact.c calls `ProcArrayEndTransaction`
//!   ("must be done _before_ releasing locks we hold") and only then
//!   `ResourceOwnerRelease(.., RESOURCE_RELEASE_LOCKS, ..)`. So when the writer of `g` commits,
//!   every writer of a lower generation is already visible, and a snapshot that sees `G` sees
//!   every change marked `<= G` and none marked above it (those commit after `G`'s writer).
//! - Hence a change committed late never carries a lower generation than one already
//!   answered: asking again from `G` finds everything after it.
//!
//! SQLite has one writer at a time (its database lock), so commit order is generation order
//! there too; in WAL mode a read transaction sees the database as it was when the transaction
//! started, for all its statements (sqlite.org/isolation.html: snapshot isolation in WAL mode).
//!
//! No deadlock with the bump: a transaction locks every existing host row it will mark before
//! it bumps (the upload's lock statement, retention's `UPDATE hosts`, the deletion itself), so no
//! transaction holding the generation's lock waits for a host row. A new host's row is inserted
//! after the bump (PostgreSQL, `crate::batch`), which waits for no one either: only a batch
//! writer inserts hosts, always after its own bump, so an earlier insert of the same id has
//! committed (then the later batch's versions collide, and it is tried again).

use crate::{LatestVersion, Store, StoreError, on_pool};

/// The answer of [`Store::changes_since`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Changes {
    /// The store generation this answer is complete up to: ask again from here next time.
    pub generation: u64,
    /// Every host whose newest version, version count or guests changed after the asked
    /// generation (and every host created after it), ordered by host id.
    pub changed: Vec<LatestVersion>,
    /// Hosts deleted after the asked generation that do not exist now, ordered by host id (a
    /// host deleted and sent again is in `changed` only, from version 1).
    pub deleted: Vec<String>,
}

/// `(host_id, newest_version, n_versions, guests_rev, newest_hash)`.
pub(crate) type HostRow = (String, i64, i64, i64, String);

impl Store {
    /// Every host changed after `generation`, and every host deleted after it, in one snapshot;
    /// `changes_since(0)` lists every host. `Changes::generation` is where to ask from next.
    pub async fn changes_since(&self, generation: u64) -> Result<Changes, StoreError> {
        let since = i64::try_from(generation).unwrap_or(i64::MAX);
        let (g, rows, deleted): (i64, Vec<HostRow>, Vec<String>) = on_pool!(&self.pool, p, PG => {
            // One snapshot for the three reads (PostgreSQL: REPEATABLE READ takes it at the first
            // statement; SQLite: a read transaction takes it at its first read).
            let begin = if PG {
                "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"
            } else {
                "BEGIN"
            };
            let mut tx = p.begin_with(begin).await?;
            let g: i64 = sqlx::query_scalar("SELECT value FROM store_generation WHERE id = 1")
                .fetch_one(&mut *tx)
                .await?;
            // No ORDER BY: SQLite would walk the whole primary key in order rather than the few
            // rows of `hosts_changed_gen` (70 ms at 100,000 hosts for no change); sorted below.
            let rows: Vec<HostRow> = sqlx::query_as(
                "SELECT host_id, newest_version, n_versions, guests_rev, newest_hash FROM hosts \
                 WHERE changed_gen > $1 AND n_versions > 0",
            )
            .bind(since)
            .fetch_all(&mut *tx)
            .await?;
            let deleted: Vec<String> = sqlx::query_scalar(
                "SELECT t.host_id FROM host_tombstones t WHERE t.deleted_gen > $1 \
                 AND NOT EXISTS (SELECT 1 FROM hosts h WHERE h.host_id = t.host_id)",
            )
            .bind(since)
            .fetch_all(&mut *tx)
            .await?;
            tx.commit().await?;
            (g, rows, deleted)
        });
        // Host-id order, bytewise: as both databases order ids (COLLATE "C" on PostgreSQL).
        let mut changed: Vec<LatestVersion> = rows.into_iter().map(latest_version).collect();
        changed.sort_unstable_by(|a, b| a.host_id.cmp(&b.host_id));
        let mut deleted = deleted;
        deleted.sort_unstable();
        Ok(Changes {
            generation: u64::try_from(g).unwrap_or(0),
            changed,
            deleted,
        })
    }
}

pub(crate) fn latest_version((host_id, v, n, rev, hash): HostRow) -> LatestVersion {
    LatestVersion {
        host_id,
        version: u32::try_from(v).unwrap_or(0),
        n_versions: u32::try_from(n).unwrap_or(0),
        guests_rev: u64::try_from(rev).unwrap_or(0),
        hash_tag: crate::hash::tag(&hash),
    }
}
