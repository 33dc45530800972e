//! The store's generation: a counter in the database (`store_generation`), bumped in the
//! transaction of every committed change. On PostgreSQL each bump also sends
//! `NOTIFY fleetcompat_generation, '<value>'`, which PostgreSQL delivers to every listening
//! session only when the transaction commits (PostgreSQL's src/backend/commands/async.c:
//! `pg_notify` adds to `pendingNotifies`, "we do not actually perform a NOTIFY until and unless
//! the transaction commits"; `PreCommit_Notify` queues it, `SignalBackends` wakes the
//! listeners after commit; a rollback discards it), so every replica's
//! `Store::generation()` moves within a moment of a change on another. No polling loop: one
//! listening connection per process, and a slow re-read (every 30 s, and after the listener
//! reconnects) for notifications lost while it was away.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};

use crate::{Pool, StoreError, on_pool};

/// The NOTIFY channel of generation bumps.
pub(crate) const CHANNEL: &str = "fleetcompat_generation";

/// How often a replica re-reads the generation even without notifications.
const SAFETY_REREAD: Duration = Duration::from_secs(30);

/// Bump the generation inside the open transaction `$tx` and, on PostgreSQL (`$pg`), announce it
/// at commit. Evaluates to the new value (i64).
macro_rules! bump_generation {
    ($tx:expr, $pg:expr) => {{
        let g: i64 = sqlx::query_scalar(
            "UPDATE store_generation SET value = value + 1 WHERE id = 1 RETURNING value",
        )
        .fetch_one(&mut *$tx)
        .await?;
        if $pg {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind($crate::generation::CHANNEL)
                .bind(g.to_string())
                .execute(&mut *$tx)
                .await?;
        }
        g
    }};
}
pub(crate) use bump_generation;

/// Mark `$hosts` (a `Vec<&str>` of host ids) as changed at generation `$g` (i64, what
/// `bump_generation!` returned) inside the same transaction `$tx`, so
/// [`crate::Store::changes_since`] finds them. Run it only after the bump, and only on host
/// rows the transaction has locked already (before the bump): see [`crate::changes`] for why
/// the answer is then complete and no two writers can deadlock on it.
macro_rules! mark_changed {
    ($tx:expr, $pg:expr, $g:expr, $hosts:expr) => {{
        let ids = serde_json::to_string(&$hosts)
            .map_err(|e| $crate::StoreError::Write(format!("listing changed hosts: {e}")))?;
        // One statement for the whole list, a JSON array on both databases (PostgreSQL:
        // `json_array_elements_text`; SQLite: the table-valued `json_each`).
        let sql = if $pg {
            "UPDATE hosts SET changed_gen = $1 WHERE host_id IN \
             (SELECT json_array_elements_text($2::json))"
        } else {
            "UPDATE hosts SET changed_gen = $1 WHERE host_id IN (SELECT value FROM json_each($2))"
        };
        sqlx::query(sql)
            .bind($g)
            .bind(ids)
            .execute(&mut *$tx)
            .await?;
    }};
}
pub(crate) use mark_changed;

/// The value stored now.
pub(crate) async fn read(pool: &Pool) -> Result<u64, StoreError> {
    let g: i64 = on_pool!(pool, p => {
        sqlx::query_scalar("SELECT value FROM store_generation WHERE id = 1")
            .fetch_one(p)
            .await?
    });
    Ok(u64::try_from(g).unwrap_or(0))
}

/// Make `value` follow the database's generation: the current value now, then every NOTIFY, and
/// a re-read every 30 s and after each reconnection. The tasks end with the store.
pub(crate) async fn follow(pool: PgPool, value: &Arc<AtomicU64>) -> Result<(), StoreError> {
    let pool = Pool::Postgres(pool);
    value.fetch_max(read(&pool).await?, Ordering::SeqCst);
    let Pool::Postgres(pg) = &pool else {
        return Ok(());
    };
    let mut listener = PgListener::connect_with(pg).await?;
    listener.listen(CHANNEL).await?;
    tokio::spawn(listen(listener, pool.clone(), Arc::downgrade(value)));
    tokio::spawn(reread_now_and_then(pool, Arc::downgrade(value)));
    Ok(())
}

async fn listen(mut listener: PgListener, pool: Pool, value: Weak<AtomicU64>) {
    loop {
        let event = listener.try_recv().await;
        let Some(value) = value.upgrade() else {
            return;
        };
        match event {
            Ok(Some(n)) => match n.payload().parse::<u64>() {
                Ok(g) => {
                    value.fetch_max(g, Ordering::SeqCst);
                }
                Err(_) => tracing::warn!(
                    payload = n.payload(),
                    "ignored a notification on {CHANNEL} that is not a generation"
                ),
            },
            // The connection was lost and is made again: what was sent meanwhile is lost.
            Ok(None) => reread(&pool, &value).await,
            Err(e) => {
                tracing::warn!(error = %e, "listening for generation changes failed; retrying in 1 s");
                tokio::time::sleep(Duration::from_secs(1)).await;
                reread(&pool, &value).await;
            }
        }
    }
}

async fn reread_now_and_then(pool: Pool, value: Weak<AtomicU64>) {
    let mut tick = tokio::time::interval(SAFETY_REREAD);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(value) = value.upgrade() else {
            return;
        };
        reread(&pool, &value).await;
    }
}

async fn reread(pool: &Pool, value: &AtomicU64) {
    match read(pool).await {
        Ok(g) => {
            value.fetch_max(g, Ordering::SeqCst);
        }
        Err(e) => tracing::warn!(error = %e, "cannot re-read the store generation"),
    }
}
