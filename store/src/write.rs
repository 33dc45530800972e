//! Uploads: writer tasks commit queued profiles in batches (group commit), each batch one
//! transaction, each caller answered once the commit that holds its profile is durable. SQLite
//! has one writer (its database takes one writing transaction at a time); PostgreSQL has
//! [`POSTGRES_WRITERS`], taking turns for their statements ([`Turn`]), so one batch is written
//! while the one before waits for its commit's WAL flush. A writer keeps its connection while
//! uploads keep coming (no pool round trips per batch: sqlx pings a connection when it is taken
//! from the pool and when it is given back, `check_idle_conn` and `return_to_pool` in sqlx-core
//! src/pool/), and gives it back after [`KEEP_CONNECTION`] without work, or at once when the
//! pool has one connection only.
//!
//! Several writers (in one process, or replicas on one PostgreSQL) stay correct: a batch takes
//! each existing host's row lock (PostgreSQL: `SELECT .. FOR NO KEY UPDATE`; SQLite: `INSERT ..
//! ON CONFLICT DO UPDATE`, its database lock besides) before it reads the newest version, in
//! host-id order, so two writers of one host take turns and never deadlock; a batch that fails
//! on a serialization failure, deadlock or unique violation anyway (two writers that both found
//! a host new) is retried whole.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shared::profile::HostProfile;
use sqlx::pool::PoolConnection;
use sqlx::{Postgres, Sqlite};
use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore, mpsc};

use crate::guests::IncomingGuests;
use crate::{Pool, Store, StoreError, Upserted, hash};

/// A profile ready to be written (serialised and hashed by the caller's task).
#[derive(Debug)]
pub(crate) struct PendingRow {
    pub(crate) host_id: String,
    pub(crate) collected_at: String,
    pub(crate) received_at: String,
    pub(crate) class_id: String,
    pub(crate) sha256: String,
    /// The text hashed, told by `json`, for comparing with schema 1's FNV-1a hashes.
    pub(crate) hashed: hash::Hashed,
    pub(crate) json: String,
    pub(crate) guests: Option<IncomingGuests>,
}

#[derive(Debug)]
pub(crate) struct WriteJob {
    pub(crate) row: PendingRow,
    reply: tokio::sync::oneshot::Sender<Result<Upserted, StoreError>>,
}

/// At most this many uploads in one transaction.
const MAX_BATCH: usize = 256;
/// Tries of one batch that conflicts with another writer (PostgreSQL).
const MAX_TRIES: usize = 5;
/// Writer tasks per process on PostgreSQL: two batches in flight, one written while the other
/// commits.
pub(crate) const POSTGRES_WRITERS: usize = 2;
/// How long a writer waits for the statements' turn ([`Turn`]) before it writes anyway: a batch
/// held up (a host's row locked from outside) must not hold up the other writer for longer.
const TURN_WAIT: Duration = Duration::from_millis(50);
/// How long a writer keeps its connection without uploads to write.
const KEEP_CONNECTION: Duration = Duration::from_secs(1);

/// The writers of a store on `pool`.
pub(crate) fn writers(pool: &Pool) -> usize {
    match pool {
        Pool::Sqlite(_) => 1,
        Pool::Postgres(_) => POSTGRES_WRITERS,
    }
}

/// The queue of uploads, shared by the writers: one at a time takes a batch from it.
pub(crate) type Queue = Arc<Mutex<mpsc::Receiver<WriteJob>>>;

/// The statements' turn, shared by the writers (one permit): a writer takes it before it takes
/// its batch from the queue and gives it back when its statements are done, before its commit
/// (`batch.rs`). So one writer's statements run at a time, the uploads that come meanwhile make
/// the next batch (twice as large as when both writers took what was there, each batch's
/// planning and round trips shared by twice the uploads: BENCHMARKS.md, "Scale, session of
/// 2026-12-06 night"), and one batch's commit (its WAL flush) still overlaps the next one's
/// statements. Waited for [`TURN_WAIT`] at most.
pub(crate) type Turn = Arc<Semaphore>;

/// A new turn for the writers of one store.
pub(crate) fn turn() -> Turn {
    Arc::new(Semaphore::new(1))
}

/// The statements' turn, or none after [`TURN_WAIT`].
async fn take_turn(turn: &Turn) -> Option<OwnedSemaphorePermit> {
    tokio::time::timeout(TURN_WAIT, Arc::clone(turn).acquire_owned())
        .await
        .ok()?
        .ok()
}

/// A writer's connection, taken from the pool.
pub(crate) enum Held {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

async fn acquire(pool: &Pool) -> Result<Held, StoreError> {
    Ok(match pool {
        Pool::Sqlite(p) => Held::Sqlite(p.acquire().await?),
        Pool::Postgres(p) => Held::Postgres(p.acquire().await?),
    })
}

/// Whether the pool has more than one connection (a writer may keep one).
fn can_keep(pool: &Pool) -> bool {
    match pool {
        Pool::Sqlite(p) => p.options().get_max_connections() > 1,
        Pool::Postgres(p) => p.options().get_max_connections() > 1,
    }
}

/// An upload made ready for the writer: checked, serialised and hashed
/// ([`Store::prepare`]), CPU work the caller can do on a blocking thread.
#[derive(Debug)]
pub struct Prepared(PendingRow);

impl Prepared {
    pub fn host_id(&self) -> &str {
        &self.0.host_id
    }
}

impl Store {
    /// Store a profile as a new version of its host unless its hardware equals the newest
    /// version (the content hash leaves out `collected_at` and `guests`), and its guests, when it
    /// has them, as the host's current guests with a history event for each that appeared,
    /// changed or disappeared (`guests: None` leaves them as they are). One transaction: an
    /// upload is stored whole or not at all. Concurrent uploads are committed together by one
    /// writer (group commit).
    pub async fn upsert(&self, p: &HostProfile, received_at: &str) -> Result<Upserted, StoreError> {
        self.upsert_prepared(Self::prepare(p.clone(), received_at)?)
            .await
    }

    /// The CPU half of [`Store::upsert`]: refuse what no column can hold, compute the class, the
    /// stored JSON and its content hash. Takes the profile by value (nothing is copied).
    pub fn prepare(mut p: HostProfile, received_at: &str) -> Result<Prepared, StoreError> {
        refuse_nul(&p)?;
        let corrupt = |host_id: &str, e: serde_json::Error| StoreError::Corrupt {
            host_id: host_id.to_owned(),
            version: 0,
            message: e.to_string(),
        };
        let class_id = shared::class::class_id(&p);
        let guests = p
            .guests
            .take()
            .as_ref()
            .map(IncomingGuests::new)
            .transpose()
            .map_err(|e| corrupt(&p.host_id, e))?;
        let (json, hashed, collected_at) =
            hash::hardware_json(&mut p).map_err(|e| corrupt(&p.host_id, e))?;
        Ok(Prepared(PendingRow {
            sha256: hash::sha256_hex_of(&hashed.pieces(&json)),
            hashed,
            json,
            guests,
            class_id,
            host_id: p.host_id,
            collected_at,
            received_at: received_at.to_owned(),
        }))
    }

    /// The database half of [`Store::upsert`]: queue the prepared upload for the writer and wait
    /// for the commit that holds it.
    pub async fn upsert_prepared(&self, prepared: Prepared) -> Result<Upserted, StoreError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(WriteJob {
                row: prepared.0,
                reply,
            })
            .await
            .map_err(|_| StoreError::Write("the database writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Write("the database writer has stopped".into()))?
    }
}

/// A writer task: takes a batch of queued upserts (up to `MAX_BATCH`), writes it in one
/// transaction, then answers each; until the queue is closed (the store is dropped).
pub(crate) async fn writer(pool: Pool, generation: Arc<AtomicU64>, queue: Queue, turn: Turn) {
    let keep = can_keep(&pool);
    let mut conn: Option<Held> = None;
    // An upload of a host already in the batch waits for the next one: a batch holds each host
    // once (PostgreSQL's multi-row `ON CONFLICT DO UPDATE` cannot touch a row twice).
    let mut carried: Option<WriteJob> = None;
    loop {
        let (batch, mut my_turn) = match carried.take() {
            // This writer has its first upload already: it must not wait for the queue, which
            // the other writer may hold while it waits for uploads that only come once this one
            // is answered.
            Some(first) => {
                let my_turn = take_turn(&turn).await;
                let batch = match queue.try_lock() {
                    Ok(mut rx) => fill(first, &mut rx, &mut carried),
                    Err(_) => vec![first],
                };
                (batch, my_turn)
            }
            None => {
                // The other writer may hold the queue while it waits for uploads: without work
                // for a while, this one gives its connection back too.
                let mut rx = match tokio::time::timeout(KEEP_CONNECTION, queue.lock()).await {
                    Ok(rx) => rx,
                    Err(_) => {
                        conn = None;
                        queue.lock().await
                    }
                };
                let first = match rx.try_recv() {
                    Ok(job) => Some(job),
                    Err(mpsc::error::TryRecvError::Disconnected) => None,
                    Err(mpsc::error::TryRecvError::Empty) if conn.is_some() => {
                        match tokio::time::timeout(KEEP_CONNECTION, rx.recv()).await {
                            Ok(job) => job,
                            Err(_) => {
                                conn = None;
                                rx.recv().await
                            }
                        }
                    }
                    Err(mpsc::error::TryRecvError::Empty) => rx.recv().await,
                };
                let Some(first) = first else { break };
                // Holding the queue: what comes while the other writer's statements run joins
                // this batch.
                let my_turn = take_turn(&turn).await;
                (fill(first, &mut rx, &mut carried), my_turn)
            }
        };
        let result = write_with_retries(&pool, &mut conn, &batch, &mut my_turn).await;
        drop(my_turn);
        match result {
            Ok((done, new_generation)) => {
                if let Some(g) = new_generation {
                    generation.fetch_max(g, Ordering::SeqCst);
                }
                for (job, up) in batch.into_iter().zip(done) {
                    let _ = job.reply.send(Ok(up));
                }
            }
            // One upload the database refuses must not fail the others of its batch: each is
            // written alone, and only what fails alone is answered with its error.
            Err(_) if batch.len() > 1 => {
                for job in batch {
                    let one = std::slice::from_ref(&job);
                    let answer = match write_with_retries(&pool, &mut conn, one, &mut None).await {
                        Ok((mut done, new_generation)) => {
                            if let Some(g) = new_generation {
                                generation.fetch_max(g, Ordering::SeqCst);
                            }
                            done.pop()
                                .ok_or_else(|| StoreError::Write("no answer".into()))
                        }
                        Err(e) => Err(StoreError::Write(e.to_string())),
                    };
                    let _ = job.reply.send(answer);
                }
            }
            Err(e) => {
                let message = e.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(StoreError::Write(message.clone())));
                }
            }
        }
        if !keep {
            conn = None;
        }
    }
}

/// A batch: `first` and what is queued behind it, up to `MAX_BATCH`, each host once; an upload
/// of a host already in it is `carried` to the next batch (and ends this one, so uploads are
/// written in the order they came).
fn fill(
    first: WriteJob,
    rx: &mut mpsc::Receiver<WriteJob>,
    carried: &mut Option<WriteJob>,
) -> Vec<WriteJob> {
    let mut hosts = HashSet::from([first.row.host_id.clone()]);
    let mut batch = vec![first];
    while batch.len() < MAX_BATCH {
        match rx.try_recv() {
            Ok(job) if hosts.insert(job.row.host_id.clone()) => batch.push(job),
            Ok(job) => {
                *carried = Some(job);
                break;
            }
            Err(_) => break,
        }
    }
    batch
}

/// PostgreSQL's text cannot hold a NUL character (SQLite's can, but both databases must take
/// the same uploads): refuse it, naming the field. Profile JSON escapes it (`\u0000`); the text
/// columns outside it are checked here.
fn refuse_nul(p: &HostProfile) -> Result<(), StoreError> {
    let invalid = |field: String| StoreError::Invalid {
        host_id: p.host_id.clone(),
        message: format!("{field} holds a NUL character; remove it and send the profile again"),
    };
    if p.host_id.contains('\0') {
        return Err(invalid("host_id".into()));
    }
    if p.collected_at.contains('\0') {
        return Err(invalid("collected_at".into()));
    }
    for vm in p.guests.iter().flat_map(|g| &g.vms) {
        if vm.id.contains('\0') || vm.name.contains('\0') {
            return Err(invalid(format!("the id or name of guest {:?}", vm.id)));
        }
    }
    Ok(())
}

/// `write_batch` on the writer's connection (taken from the pool when it has none), tried
/// again while it loses to another writer. A failed try gives the connection back: the next
/// one is a fresh one from the pool, should the failure have been the connection's.
async fn write_with_retries(
    pool: &Pool,
    conn: &mut Option<Held>,
    batch: &[WriteJob],
    turn: &mut Option<OwnedSemaphorePermit>,
) -> Result<(Vec<Upserted>, Option<u64>), StoreError> {
    let mut tries = 0;
    loop {
        tries += 1;
        let held = match conn {
            Some(held) => held,
            None => conn.insert(acquire(pool).await?),
        };
        let result = write_batch(held, batch, turn).await;
        if result.is_err() {
            *conn = None;
        }
        match &result {
            Err(StoreError::Sql(e)) if is_conflict(e) && tries < MAX_TRIES => {}
            _ => return result,
        }
    }
}

/// PostgreSQL's serialization failure (40001), deadlock (40P01) or unique violation (23505):
/// another writer got there first; the batch can be tried again.
fn is_conflict(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| matches!(&*c, "40001" | "40P01" | "23505"))
}

/// One transaction for the batch (`batch.rs`), its hosts in host-id order: every writer locks
/// hosts in the same order.
async fn write_batch(
    conn: &mut Held,
    batch: &[WriteJob],
    turn: &mut Option<OwnedSemaphorePermit>,
) -> Result<(Vec<Upserted>, Option<u64>), StoreError> {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by(|&a, &b| batch[a].row.host_id.cmp(&batch[b].row.host_id));
    crate::batch::write_batch(conn, batch, &order, turn).await
}
