//! A batch of uploads in one transaction, a few statements for the whole batch, not a few per
//! upload: each statement is a round trip (to the server on PostgreSQL, to sqlx's worker
//! thread on SQLite, a thread wake-up either way), and with one writer per process the round
//! trips, not the work, bounded the ingest rate.
//!
//! Per batch: `BEGIN`; the hosts locked and read (one statement); on PostgreSQL, where only
//! the hosts that exist are locked, one statement bumps the generation, writes every host's
//! row once (a new host's inserted whole; a changed one's newest version, hash, count,
//! capacity and change mark) and inserts the new versions, then the guests' changes are written
//! when there are any; on SQLite all of those writes in one multi-statement command
//! (sqlx-sqlite runs every statement of a query string in turn on its worker, binding `$N` by
//! its number in each: `ExecuteIter::next` in sqlx-sqlite src/connection/execute.rs and
//! `SqliteArguments::bind` in src/arguments.rs); `COMMIT`.
//!
//! The batch's rows go in as one parameter per column on PostgreSQL, arrays expanded by
//! `UNNEST` (with several arrays it returns one column each, row by row, as if each were
//! unnested and zipped with `ROWS FROM`: PostgreSQL's manual, "Table Functions", 7.2.1.4), and
//! as one JSON array of rows on SQLite, expanded by its table-valued `json_each` (`value ->> N`
//! is the row's Nth field, as SQL text or integer: sqlite.org/json1.html, "The -> and ->>
//! operators"). The profiles themselves are not in that JSON on SQLite (SQLite would parse and
//! unescape every profile of the batch): they go in as one BLOB of the profiles end to end,
//! each row cut out by its byte offset and length, `substr` counting bytes in a BLOB, and the
//! bytes made TEXT again by `CAST` (sqlite.org/lang_corefunc.html#substr, "If X is a BLOB then
//! the indices refer to bytes"; sqlite.org/lang_expr.html#castexpr, a BLOB cast to TEXT is its
//! bytes read in the database's encoding, UTF-8 here). What the statements compute in between
//! (which upload is a new version, which guests changed) is planned here once for both.
//!
//! Locks, as in `write.rs`: the batch locks its hosts first, in host-id order (the first
//! statement; `ORDER BY .. COLLATE "C"` on PostgreSQL is bytewise, as Rust sorts), then reads
//! what it needs from the rows it locked; the generation is bumped last and only rows already
//! locked are marked after it (`crate::changes`).

use std::collections::{BTreeMap, HashMap};

use sqlx::{Connection, PgConnection, SqliteConnection};
use tokio::sync::OwnedSemaphorePermit;

use crate::guests;
use crate::write::Held;
use crate::write::{PendingRow, WriteJob};
use crate::{StoreError, Upserted, hash};

/// A locked host as the batch found it: newest version, its hash, the capacity JSON.
type Locked = HashMap<String, (i64, String, Option<String>)>;
/// `(host_id, newest_version, newest_hash, capacity_json)` as the lock statement returns it.
type LockedRow = (String, i64, String, Option<String>);
/// Stored guests of the batch's hosts: host -> vm id -> (name, JSON).
type StoredGuests = HashMap<String, BTreeMap<String, (String, String)>>;

/// A new version: host, version, received_at, collected_at, class, hash, JSON.
type VersionRow<'a> = (&'a str, i64, &'a str, &'a str, &'a str, &'a str, &'a str);

/// A guest event: host, at, vm, name, kind, JSON (none: it disappeared).
type EventRow<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str, Option<&'a str>);

/// A changed host's row as the batch leaves it: id, new version and its hash (none: its
/// hardware did not change), new capacity JSON (none: neither its guests nor its capacity
/// changed).
type HostUpdate<'a> = (&'a str, Option<i64>, Option<&'a str>, Option<&'a str>);

/// What a batch writes of guests.
#[derive(Default)]
struct GuestWrites<'a> {
    /// (host, vm, name, JSON, since): appeared or changed.
    upserts: Vec<(&'a str, &'a str, &'a str, &'a str, &'a str)>,
    /// (host, vm): disappeared.
    deletes: Vec<(&'a str, &'a str)>,
    /// In the order they get their sequence numbers.
    events: Vec<EventRow<'a>>,
}

fn locked_state<'l>(
    locked: &'l Locked,
    host_id: &str,
) -> Result<&'l (i64, String, Option<String>), StoreError> {
    locked
        .get(host_id)
        .ok_or_else(|| StoreError::Write(format!("host {host_id} was not stored with its batch")))
}

/// Which uploads are new versions (the others equal their host's newest), answering `out`.
fn plan_versions<'a>(
    order: &[usize],
    rows: &[&'a PendingRow],
    locked: &Locked,
    out: &mut [Upserted],
) -> Result<Vec<VersionRow<'a>>, StoreError> {
    let mut new = Vec::new();
    for (&i, r) in order.iter().zip(rows) {
        let (newest, newest_hash, _) = locked_state(locked, &r.host_id)?;
        let up = &mut out[i];
        if *newest > 0 && hash::same_content(newest_hash, &r.sha256, &r.hashed.pieces(&r.json)) {
            up.version = u32::try_from(*newest).unwrap_or(0);
            continue;
        }
        let version = newest + 1;
        new.push((
            r.host_id.as_str(),
            version,
            r.received_at.as_str(),
            r.collected_at.as_str(),
            r.class_id.as_str(),
            r.sha256.as_str(),
            r.json.as_str(),
        ));
        up.version = u32::try_from(version).unwrap_or(0);
        up.hardware_changed = true;
    }
    Ok(new)
}

/// The guests' rows and events to write, against what is stored, answering `out`.
fn plan_guests<'a>(
    order: &[usize],
    rows: &[&'a PendingRow],
    locked: &Locked,
    stored: &'a StoredGuests,
    empty: &'a BTreeMap<String, (String, String)>,
    out: &mut [Upserted],
) -> Result<GuestWrites<'a>, StoreError> {
    let mut w = GuestWrites::default();
    for (&i, r) in order.iter().zip(rows) {
        let Some(g) = &r.guests else { continue };
        let host = r.host_id.as_str();
        let at = r.received_at.as_str();
        let changes = guests::diff(stored.get(host).unwrap_or(empty), &g.vms);
        for c in &changes {
            match c.json {
                Some(json) => w.upserts.push((host, c.vm_id, c.name, json, at)),
                None => w.deletes.push((host, c.vm_id)),
            }
            w.events
                .push((host, at, c.vm_id, c.name, c.kind.as_str(), c.json));
        }
        let (_, _, capacity) = locked_state(locked, host)?;
        if !changes.is_empty() || capacity.as_deref() != Some(g.capacity_json.as_str()) {
            out[i].guests_changed = true;
        }
    }
    Ok(w)
}

/// Settle `changed` in `out`; the row of each host that changed, in host-id order.
fn host_updates<'a>(
    order: &[usize],
    rows: &[&'a PendingRow],
    out: &mut [Upserted],
) -> Vec<HostUpdate<'a>> {
    let mut changed = Vec::new();
    for (&i, r) in order.iter().zip(rows) {
        let up = &mut out[i];
        up.changed = up.hardware_changed || up.guests_changed;
        if up.changed {
            let hardware = up.hardware_changed;
            changed.push((
                r.host_id.as_str(),
                hardware.then_some(i64::from(up.version)),
                hardware.then_some(r.sha256.as_str()),
                r.guests
                    .as_ref()
                    .filter(|_| up.guests_changed)
                    .map(|g| g.capacity_json.as_str()),
            ));
        }
    }
    changed
}

/// One transaction for `batch` (each host once) on `conn`, `order` its indexes in host-id
/// order. The answers in batch order, and the new generation when anything changed.
pub(crate) async fn write_batch(
    conn: &mut Held,
    batch: &[WriteJob],
    order: &[usize],
    turn: &mut Option<OwnedSemaphorePermit>,
) -> Result<(Vec<Upserted>, Option<u64>), StoreError> {
    let mut out = vec![
        Upserted {
            version: 0,
            changed: false,
            hardware_changed: false,
            guests_changed: false,
        };
        batch.len()
    ];
    let rows: Vec<&PendingRow> = order.iter().map(|&i| &batch[i].row).collect();
    let generation = match conn {
        Held::Postgres(c) => postgres(c, order, &rows, &mut out, turn).await?,
        Held::Sqlite(c) => sqlite(c, order, &rows, &mut out).await?,
    };
    Ok((out, generation))
}

fn json<T: serde::Serialize + ?Sized>(rows: &T) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Write(format!("encoding a batch: {e}")))
}

fn locked_map(rows: Vec<LockedRow>) -> Locked {
    rows.into_iter()
        .map(|(id, v, h, c)| (id, (v, h, c)))
        .collect()
}

fn group_guests(rows: Vec<(String, String, String, String)>) -> StoredGuests {
    let mut stored = StoredGuests::new();
    for (host, vm, name, json) in rows {
        stored.entry(host).or_default().insert(vm, (name, json));
    }
    stored
}

/// The hosts of the batch that sent guests.
fn with_guests<'a>(rows: &[&'a PendingRow]) -> Vec<&'a str> {
    rows.iter()
        .filter(|r| r.guests.is_some())
        .map(|r| r.host_id.as_str())
        .collect()
}

/// SQLite: every write of a batch after its hosts are locked, one statement after the other in
/// one command. `$1`: the new versions without their profiles (host, version, received_at,
/// collected_at, class, hash, byte offset from 1, byte length); `$2`: the profiles end to end;
/// `$3`-`$5`: guests upserted, deleted, their events; `$6`: the changed hosts' rows
/// ([`HostUpdate`]). Its one result row is the new generation (the bump's `RETURNING`).
const SQLITE_WRITE: &str = "\
    INSERT INTO profile_versions (host_id, version, received_at, collected_at, class_id, \
      content_hash, profile_json) \
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
      CAST(substr($2, value ->> 6, value ->> 7) AS TEXT) FROM json_each($1); \
    INSERT INTO guests (host_id, vm_id, name, vm_json, since) \
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4 \
      FROM json_each($3) WHERE true \
    ON CONFLICT (host_id, vm_id) DO UPDATE SET name = excluded.name, \
      vm_json = excluded.vm_json, since = excluded.since; \
    DELETE FROM guests WHERE (host_id, vm_id) IN \
      (SELECT value ->> 0, value ->> 1 FROM json_each($4)); \
    INSERT INTO guest_events (host_id, at, vm_id, name, kind, vm_json) \
    SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5 \
      FROM json_each($5) ORDER BY key; \
    UPDATE store_generation SET value = value + 1 WHERE id = 1 RETURNING value; \
    UPDATE hosts SET \
      newest_version = coalesce(u.value ->> 1, newest_version), \
      newest_hash = coalesce(u.value ->> 2, newest_hash), \
      n_versions = n_versions + (u.value ->> 1 IS NOT NULL), \
      capacity_json = coalesce(u.value ->> 3, capacity_json), \
      guests_rev = guests_rev + (u.value ->> 3 IS NOT NULL), \
      changed_gen = (SELECT value FROM store_generation WHERE id = 1) \
    FROM json_each($6) AS u WHERE hosts.host_id = u.value ->> 0";

async fn sqlite(
    conn: &mut SqliteConnection,
    order: &[usize],
    rows: &[&PendingRow],
    out: &mut [Upserted],
) -> Result<Option<u64>, StoreError> {
    let mut tx = conn.begin().await?;
    let hosts: Vec<(&str, &str)> = rows
        .iter()
        .map(|r| (r.host_id.as_str(), r.received_at.as_str()))
        .collect();
    // `WHERE true`: SQLite's parser needs it between a SELECT and ON CONFLICT
    // (sqlite.org/lang_upsert.html, "Parsing Ambiguity").
    let locked: Vec<LockedRow> = sqlx::query_as(
        "INSERT INTO hosts (host_id, first_seen, last_seen) \
         SELECT value ->> 0, value ->> 1, value ->> 1 FROM json_each($1) WHERE true \
         ON CONFLICT (host_id) DO UPDATE SET last_seen = excluded.last_seen \
         RETURNING host_id, newest_version, newest_hash, capacity_json",
    )
    .bind(json(&hosts)?)
    .fetch_all(&mut *tx)
    .await?;
    let locked = locked_map(locked);

    let new = plan_versions(order, rows, &locked, out)?;
    let with_guests = with_guests(rows);
    let stored = if with_guests.is_empty() {
        StoredGuests::new()
    } else {
        group_guests(
            sqlx::query_as(
                "SELECT host_id, vm_id, name, vm_json FROM guests \
                 WHERE host_id IN (SELECT value FROM json_each($1))",
            )
            .bind(json(&with_guests)?)
            .fetch_all(&mut *tx)
            .await?,
        )
    };
    let empty = BTreeMap::new();
    let w = plan_guests(order, rows, &locked, &stored, &empty, out)?;
    let changed = host_updates(order, rows, out);
    if changed.is_empty() {
        tx.commit().await?;
        return Ok(None);
    }
    let mut profiles = Vec::with_capacity(new.iter().map(|r| r.6.len()).sum());
    let mut versions = Vec::with_capacity(new.len());
    for &(host, version, received, collected, class, sha, profile) in &new {
        let at = profiles.len() + 1;
        profiles.extend_from_slice(profile.as_bytes());
        versions.push((
            host,
            version,
            received,
            collected,
            class,
            sha,
            at,
            profile.len(),
        ));
    }
    // `fetch_all`, not `fetch_one`: a command stops at the first row it was asked for
    // (sqlx-sqlite src/connection/worker.rs, `Command::Execute` with a limit), and the marks
    // come after the bump's row.
    let bumped: Vec<i64> = sqlx::query_scalar(SQLITE_WRITE)
        .bind(json(&versions)?)
        .bind(profiles)
        .bind(json(&w.upserts)?)
        .bind(json(&w.deletes)?)
        .bind(json(&w.events)?)
        .bind(json(&changed)?)
        .fetch_all(&mut *tx)
        .await?;
    let [g] = bumped[..] else {
        return Err(StoreError::Write(format!(
            "the generation bump returned {} rows, not one",
            bumped.len()
        )));
    };
    tx.commit().await?;
    Ok(Some(u64::try_from(g).unwrap_or(0)))
}

async fn postgres(
    conn: &mut PgConnection,
    order: &[usize],
    rows: &[&PendingRow],
    out: &mut [Upserted],
    turn: &mut Option<OwnedSemaphorePermit>,
) -> Result<Option<u64>, StoreError> {
    let mut tx = conn.begin().await?;
    let ids: Vec<&str> = rows.iter().map(|r| r.host_id.as_str()).collect();
    // The batch's hosts that exist, locked in host-id order: `ORDER BY` is applied before the
    // locking clause (PostgreSQL's manual, SELECT, "The Locking Clause"). `NO KEY UPDATE`: the
    // key stays, so another writer's foreign-key check (`KEY SHARE`) does not wait on it.
    let mut locked = locked_map(
        sqlx::query_as(
            "SELECT host_id, newest_version, newest_hash, capacity_json FROM hosts \
             WHERE host_id = ANY($1::text[]) ORDER BY host_id COLLATE \"C\" \
             FOR NO KEY UPDATE",
        )
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?,
    );
    // A host not found is new: its row is written once, below, after the bump (see there).
    for id in &ids {
        if !locked.contains_key(*id) {
            locked.insert((*id).to_owned(), (0, String::new(), None));
        }
    }

    let new = plan_versions(order, rows, &locked, out)?;
    let with_guests = with_guests(rows);
    let stored = if with_guests.is_empty() {
        StoredGuests::new()
    } else {
        group_guests(
            sqlx::query_as(
                "SELECT host_id, vm_id, name, vm_json FROM guests \
                 WHERE host_id = ANY($1::text[])",
            )
            .bind(&with_guests)
            .fetch_all(&mut *tx)
            .await?,
        )
    };
    let empty = BTreeMap::new();
    let w = plan_guests(order, rows, &locked, &stored, &empty, out)?;
    let changed = host_updates(order, rows, out);

    let received: Vec<&str> = rows.iter().map(|r| r.received_at.as_str()).collect();
    let generation = if changed.is_empty() {
        // Every host exists (a new one always changes) and is locked: only `last_seen` moves.
        sqlx::query(
            "UPDATE hosts SET last_seen = u.at \
             FROM UNNEST($1::text[], $2::text[]) AS u(id, at) WHERE hosts.host_id = u.id",
        )
        .bind(&ids)
        .bind(&received)
        .execute(&mut *tx)
        .await?;
        None
    } else {
        let g = write_changes_postgres(&mut tx, &ids, &received, &changed, &new).await?;
        Some(u64::try_from(g).unwrap_or(0))
    };
    // After the hosts' rows: a new host's guests refer to its row.
    write_guests_postgres(&mut tx, &w).await?;
    // The statements are done: the other writer may start its batch while this one commits
    // (`write::Turn`).
    turn.take();
    tx.commit().await?;
    Ok(generation)
}

/// The generation bumped, every host of the batch written once and the new versions inserted,
/// in one statement (one round trip); the new generation.
///
/// Each host's row is written once: `last_seen` for all, and for a changed host its newest
/// version, hash, counts, capacity and change mark (`crate::changes`). A new host's row is
/// inserted here, after the bump, whole; before, it was inserted by the lock statement and
/// updated here, which wrote the row and its two indexes' entries twice.
///
/// Locks (`crate::changes`): the bump takes the generation's row lock; the hosts that existed
/// were locked above, and a new host's insert waits for no one: only a batch writer inserts
/// hosts, and it does so after its own bump, under the lock this transaction holds now, so any
/// other insert of the same id has committed. Two writers that both found a host new: the
/// second one's versions collide (unique violation) and its batch is tried again
/// (`write::write_with_retries`), then finding the host.
///
/// The proposed row (`excluded`) holds, for a host that exists, what to add: `n_versions` and
/// `guests_rev` 1 or 0, `newest_version` 0 and `newest_hash` '' when its hardware did not
/// change, `capacity_json` NULL when its guests did not, `changed_gen` 0 when it did not
/// change (generations only grow, so `GREATEST` keeps the mark). Each host is in the arrays
/// once, so the upsert touches each row once, as `ON CONFLICT DO UPDATE` must. The versions'
/// foreign key is checked at the end of the statement (an `AFTER` trigger), when the new hosts'
/// rows are there (PostgreSQL's manual, "Data-Modifying Statements in WITH": sub-statements
/// run with one snapshot, their order unpredictable; constraint checks are deferred to the
/// statement's end).
async fn write_changes_postgres(
    tx: &mut PgConnection,
    ids: &[&str],
    received: &[&str],
    changed: &[HostUpdate<'_>],
    new: &[VersionRow<'_>],
) -> Result<i64, StoreError> {
    // `changed` is in host-id order as `ids` is (`host_updates`): walked beside it.
    let mut changed = changed.iter().peekable();
    let mut version = Vec::with_capacity(ids.len());
    let mut hash = Vec::with_capacity(ids.len());
    let mut capacity = Vec::with_capacity(ids.len());
    let mut is_changed = Vec::with_capacity(ids.len());
    for id in ids {
        let c = changed.next_if(|c| c.0 == *id);
        version.push(c.and_then(|c| c.1));
        hash.push(c.and_then(|c| c.2));
        capacity.push(c.and_then(|c| c.3));
        is_changed.push(c.is_some());
    }
    let g: i64 = sqlx::query_scalar(
        "WITH g AS (UPDATE store_generation SET value = value + 1 WHERE id = 1 \
           RETURNING value), \
         h AS (INSERT INTO hosts AS t (host_id, first_seen, last_seen, newest_version, \
             newest_hash, n_versions, capacity_json, guests_rev, changed_gen) \
           SELECT u.id, u.at, u.at, COALESCE(u.v, 0), COALESCE(u.h, ''), \
             CASE WHEN u.v IS NULL THEN 0 ELSE 1 END, u.c, \
             CASE WHEN u.c IS NULL THEN 0 ELSE 1 END, CASE WHEN u.ch THEN g.value ELSE 0 END \
           FROM g, UNNEST($2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], \
             $7::bool[]) AS u(id, at, v, h, c, ch) \
           ON CONFLICT (host_id) DO UPDATE SET \
             last_seen = excluded.last_seen, \
             newest_version = CASE WHEN excluded.newest_version > 0 \
               THEN excluded.newest_version ELSE t.newest_version END, \
             newest_hash = CASE WHEN excluded.newest_version > 0 \
               THEN excluded.newest_hash ELSE t.newest_hash END, \
             n_versions = t.n_versions + excluded.n_versions, \
             capacity_json = COALESCE(excluded.capacity_json, t.capacity_json), \
             guests_rev = t.guests_rev + excluded.guests_rev, \
             changed_gen = GREATEST(t.changed_gen, excluded.changed_gen)), \
         v AS (INSERT INTO profile_versions (host_id, version, received_at, collected_at, \
             class_id, content_hash, profile_json) \
           SELECT * FROM UNNEST($8::text[], $9::int8[], $10::text[], $11::text[], \
             $12::text[], $13::text[], $14::text[])) \
         SELECT value, pg_notify($1, value::text) FROM g",
    )
    .bind(crate::generation::CHANNEL)
    .bind(ids)
    .bind(received)
    .bind(&version)
    .bind(&hash)
    .bind(&capacity)
    .bind(&is_changed)
    .bind(new.iter().map(|r| r.0).collect::<Vec<_>>())
    .bind(new.iter().map(|r| r.1).collect::<Vec<_>>())
    .bind(new.iter().map(|r| r.2).collect::<Vec<_>>())
    .bind(new.iter().map(|r| r.3).collect::<Vec<_>>())
    .bind(new.iter().map(|r| r.4).collect::<Vec<_>>())
    .bind(new.iter().map(|r| r.5).collect::<Vec<_>>())
    .bind(new.iter().map(|r| r.6).collect::<Vec<_>>())
    .fetch_one(&mut *tx)
    .await?;
    Ok(g)
}

/// The guests' rows and events of a batch on PostgreSQL, a statement for each kind there is.
async fn write_guests_postgres(
    tx: &mut PgConnection,
    w: &GuestWrites<'_>,
) -> Result<(), StoreError> {
    if !w.upserts.is_empty() {
        let u = &w.upserts;
        sqlx::query(
            "INSERT INTO guests (host_id, vm_id, name, vm_json, since) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
             ON CONFLICT (host_id, vm_id) DO UPDATE SET name = excluded.name, \
             vm_json = excluded.vm_json, since = excluded.since",
        )
        .bind(u.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(u.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(u.iter().map(|r| r.2).collect::<Vec<_>>())
        .bind(u.iter().map(|r| r.3).collect::<Vec<_>>())
        .bind(u.iter().map(|r| r.4).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !w.deletes.is_empty() {
        let d = &w.deletes;
        sqlx::query(
            "DELETE FROM guests g USING UNNEST($1::text[], $2::text[]) AS d(host_id, vm_id) \
             WHERE g.host_id = d.host_id AND g.vm_id = d.vm_id",
        )
        .bind(d.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(d.iter().map(|r| r.1).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    if !w.events.is_empty() {
        let e = &w.events;
        // In the order of the arrays: the events' sequence numbers follow it.
        sqlx::query(
            "INSERT INTO guest_events (host_id, at, vm_id, name, kind, vm_json) \
             SELECT h, a, v, n, k, j FROM UNNEST($1::text[], $2::text[], $3::text[], \
             $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS e(h, a, v, n, k, j, o) \
             ORDER BY o",
        )
        .bind(e.iter().map(|r| r.0).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.1).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.2).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.3).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.4).collect::<Vec<_>>())
        .bind(e.iter().map(|r| r.5).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await?;
    }
    Ok(())
}
