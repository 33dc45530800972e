//! A batch of uploads on PostgreSQL: a statement per step for the whole batch, its rows bound as
//! arrays and expanded by `UNNEST` (with several arrays it returns one column each, row by row,
//! as if each were unnested and zipped with `ROWS FROM`: PostgreSQL's manual, "Table
//! Functions", 7.2.1.4), so a batch of 256 costs about ten round trips, not three per upload.
//!
//! The same rules as the per-row path of `write.rs` (SQLite): the batch locks its hosts first,
//! in host-id order (`ORDER BY .. COLLATE "C"`: bytewise, as Rust sorts), then reads what it
//! needs from the rows it locked; the generation is bumped last and only rows already locked are
//! marked after it (`crate::changes`).

use std::collections::{BTreeMap, HashMap};

use sqlx::PgPool;

use crate::generation::bump_generation;
use crate::guests;
use crate::write::WriteJob;
use crate::{StoreError, Upserted, hash};

/// `(host_id, newest_version, newest_hash, capacity_json)` of a locked host.
type Locked = (String, i64, String, Option<String>);

/// One transaction for `batch` (each host once), `order` its indexes in host-id order. The
/// answers in batch order, and the new generation when anything changed.
pub(crate) async fn write_batch(
    p: &PgPool,
    batch: &[WriteJob],
    order: &[usize],
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
    let rows: Vec<_> = order.iter().map(|&i| &batch[i].row).collect();
    let mut tx = p.begin().await?;

    // Creates the hosts or takes their row locks until commit, in host-id order; their newest
    // version and capacity as they are now.
    let ids: Vec<&str> = rows.iter().map(|r| r.host_id.as_str()).collect();
    let received: Vec<&str> = rows.iter().map(|r| r.received_at.as_str()).collect();
    let locked: Vec<Locked> = sqlx::query_as(
        "INSERT INTO hosts (host_id, first_seen, last_seen) \
         SELECT id, at, at FROM UNNEST($1::text[], $2::text[]) AS u(id, at) \
         ORDER BY id COLLATE \"C\" \
         ON CONFLICT (host_id) DO UPDATE SET last_seen = excluded.last_seen \
         RETURNING host_id, newest_version, newest_hash, capacity_json",
    )
    .bind(&ids)
    .bind(&received)
    .fetch_all(&mut *tx)
    .await?;
    let locked: HashMap<String, (i64, String, Option<String>)> = locked
        .into_iter()
        .map(|(id, v, h, c)| (id, (v, h, c)))
        .collect();
    let now = |id: &str| {
        locked
            .get(id)
            .ok_or_else(|| StoreError::Write(format!("host {id} was not stored with its batch")))
    };

    // New versions.
    let mut v_ids = Vec::new();
    let mut v_numbers = Vec::new();
    let mut v_received = Vec::new();
    let mut v_collected = Vec::new();
    let mut v_classes = Vec::new();
    let mut v_hashes = Vec::new();
    let mut v_json = Vec::new();
    for (&i, r) in order.iter().zip(&rows) {
        let (newest, newest_hash, _) = now(&r.host_id)?;
        let up = &mut out[i];
        if *newest > 0 && hash::same_content(newest_hash, &r.sha256, &r.hashed) {
            up.version = u32::try_from(*newest).unwrap_or(0);
            continue;
        }
        let version = newest + 1;
        v_ids.push(r.host_id.as_str());
        v_numbers.push(version);
        v_received.push(r.received_at.as_str());
        v_collected.push(r.collected_at.as_str());
        v_classes.push(r.class_id.as_str());
        v_hashes.push(r.sha256.as_str());
        v_json.push(r.json.as_str());
        up.version = u32::try_from(version).unwrap_or(0);
        up.hardware_changed = true;
    }
    if !v_ids.is_empty() {
        sqlx::query(
            "INSERT INTO profile_versions (host_id, version, received_at, collected_at, class_id, \
             content_hash, profile_json) \
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::text[], \
             $6::text[], $7::text[])",
        )
        .bind(&v_ids)
        .bind(&v_numbers)
        .bind(&v_received)
        .bind(&v_collected)
        .bind(&v_classes)
        .bind(&v_hashes)
        .bind(&v_json)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE hosts SET newest_version = u.v, newest_hash = u.h, \
             n_versions = hosts.n_versions + 1 \
             FROM UNNEST($1::text[], $2::int8[], $3::text[]) AS u(id, v, h) \
             WHERE hosts.host_id = u.id",
        )
        .bind(&v_ids)
        .bind(&v_numbers)
        .bind(&v_hashes)
        .execute(&mut *tx)
        .await?;
    }

    // Guests, for the uploads that have them.
    let with_guests: Vec<&str> = rows
        .iter()
        .filter(|r| r.guests.is_some())
        .map(|r| r.host_id.as_str())
        .collect();
    if !with_guests.is_empty() {
        let stored_rows: Vec<(String, String, String, String)> = sqlx::query_as(
            "SELECT host_id, vm_id, name, vm_json FROM guests WHERE host_id = ANY($1::text[])",
        )
        .bind(&with_guests)
        .fetch_all(&mut *tx)
        .await?;
        let mut stored: HashMap<String, BTreeMap<String, (String, String)>> = HashMap::new();
        for (host, vm, name, json) in stored_rows {
            stored.entry(host).or_default().insert(vm, (name, json));
        }
        let empty = BTreeMap::new();
        // (host, vm, name, json, since) to write; (host, vm) to delete; events in order.
        let (mut u_host, mut u_vm, mut u_name, mut u_json, mut u_since) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let (mut d_host, mut d_vm) = (Vec::new(), Vec::new());
        let (mut e_host, mut e_at, mut e_vm, mut e_name, mut e_kind, mut e_json) = (
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::new(),
            Vec::<Option<&str>>::new(),
        );
        let (mut c_host, mut c_json) = (Vec::new(), Vec::new());
        for (&i, r) in order.iter().zip(&rows) {
            let Some(g) = &r.guests else { continue };
            let before = stored.get(&r.host_id).unwrap_or(&empty);
            let changes = guests::diff(before, &g.vms);
            for c in &changes {
                match c.json {
                    Some(json) => {
                        u_host.push(r.host_id.as_str());
                        u_vm.push(c.vm_id);
                        u_name.push(c.name);
                        u_json.push(json);
                        u_since.push(r.received_at.as_str());
                    }
                    None => {
                        d_host.push(r.host_id.as_str());
                        d_vm.push(c.vm_id);
                    }
                }
                e_host.push(r.host_id.as_str());
                e_at.push(r.received_at.as_str());
                e_vm.push(c.vm_id);
                e_name.push(c.name);
                e_kind.push(c.kind.as_str());
                e_json.push(c.json);
            }
            let (_, _, capacity) = now(&r.host_id)?;
            if !changes.is_empty() || capacity.as_deref() != Some(g.capacity_json.as_str()) {
                c_host.push(r.host_id.as_str());
                c_json.push(g.capacity_json.as_str());
                out[i].guests_changed = true;
            }
        }
        if !u_host.is_empty() {
            sqlx::query(
                "INSERT INTO guests (host_id, vm_id, name, vm_json, since) \
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) \
                 ON CONFLICT (host_id, vm_id) DO UPDATE SET name = excluded.name, \
                 vm_json = excluded.vm_json, since = excluded.since",
            )
            .bind(&u_host)
            .bind(&u_vm)
            .bind(&u_name)
            .bind(&u_json)
            .bind(&u_since)
            .execute(&mut *tx)
            .await?;
        }
        if !d_host.is_empty() {
            sqlx::query(
                "DELETE FROM guests g USING UNNEST($1::text[], $2::text[]) AS d(host_id, vm_id) \
                 WHERE g.host_id = d.host_id AND g.vm_id = d.vm_id",
            )
            .bind(&d_host)
            .bind(&d_vm)
            .execute(&mut *tx)
            .await?;
        }
        if !e_host.is_empty() {
            // In the order of the arrays: the events' sequence numbers follow it.
            sqlx::query(
                "INSERT INTO guest_events (host_id, at, vm_id, name, kind, vm_json) \
                 SELECT h, a, v, n, k, j FROM UNNEST($1::text[], $2::text[], $3::text[], \
                 $4::text[], $5::text[], $6::text[]) WITH ORDINALITY AS e(h, a, v, n, k, j, o) \
                 ORDER BY o",
            )
            .bind(&e_host)
            .bind(&e_at)
            .bind(&e_vm)
            .bind(&e_name)
            .bind(&e_kind)
            .bind(&e_json)
            .execute(&mut *tx)
            .await?;
        }
        if !c_host.is_empty() {
            sqlx::query(
                "UPDATE hosts SET capacity_json = u.c, guests_rev = hosts.guests_rev + 1 \
                 FROM UNNEST($1::text[], $2::text[]) AS u(id, c) WHERE hosts.host_id = u.id",
            )
            .bind(&c_host)
            .bind(&c_json)
            .execute(&mut *tx)
            .await?;
        }
    }

    let mut changed: Vec<&str> = Vec::new();
    for (&i, r) in order.iter().zip(&rows) {
        let up = &mut out[i];
        up.changed = up.hardware_changed || up.guests_changed;
        if up.changed {
            changed.push(r.host_id.as_str());
        }
    }
    let generation = if changed.is_empty() {
        None
    } else {
        let g = bump_generation!(tx, true);
        // Rows this transaction locked above (crate::changes).
        sqlx::query("UPDATE hosts SET changed_gen = $1 WHERE host_id = ANY($2::text[])")
            .bind(g)
            .bind(&changed)
            .execute(&mut *tx)
            .await?;
        Some(u64::try_from(g).unwrap_or(0))
    };
    tx.commit().await?;
    Ok((out, generation))
}
