//! All SQL of fleetcompat lives here: SQLite or PostgreSQL through sqlx, runtime queries,
//! numbered migrations per database (`migrations/sqlite`, `migrations/postgres`).
//!
//! Every statement is written once, in the SQL both databases read (`$1` parameters, which
//! sqlx's SQLite driver binds by their number too: `SqliteArguments::bind` in sqlx-sqlite
//! src/arguments.rs reads `$NNN` names as indexes), and run on either pool by `on_pool!`; what
//! exists on one side only (NOTIFY, `PRAGMA integrity_check`) says so.
//!
//! Architecture Invariant: no other module builds or runs SQL, and no SQL is built from strings.

mod batch;
mod changes;
mod generation;
mod guests;
mod hash;
mod load;
mod memo;
mod read;
mod retention;
mod target;
mod write;

#[cfg(feature = "testing")]
pub mod testing;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shared::intern::memo::ListMemo;
use shared::profile::HostProfile;
use sqlx::SqlitePool;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

pub use changes::Changes;
pub use guests::{GuestEvent, GuestEventKind};
pub use memo::SETTING_MEMO_TTL;
pub use retention::{Pruned, Retention};
pub use target::DbTarget;
pub use write::Prepared;

/// Runs `$body` with `$p` bound to the SQLite or the PostgreSQL pool (the body is compiled once
/// per database); `$pg` (optional) is a `const bool` telling which.
macro_rules! on_pool {
    ($pool:expr, $p:ident => $body:expr) => {
        match $pool {
            $crate::Pool::Sqlite($p) => $body,
            $crate::Pool::Postgres($p) => $body,
        }
    };
    ($pool:expr, $p:ident, $pg:ident => $body:expr) => {
        match $pool {
            $crate::Pool::Sqlite($p) => {
                const $pg: bool = false;
                $body
            }
            $crate::Pool::Postgres($p) => {
                const $pg: bool = true;
                $body
            }
        }
    };
}
pub(crate) use on_pool;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open database {path}: {source}")]
    Open { path: String, source: sqlx::Error },
    #[error("cannot migrate database {path}: {source}")]
    Migrate {
        path: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("database error: {0}")]
    Sql(#[from] sqlx::Error),
    #[error("cannot write to the database: {0}")]
    Write(String),
    /// The upload holds what no database column can (a NUL character in a text field).
    #[error("the profile of {host_id} cannot be stored: {message}")]
    Invalid { host_id: String, message: String },
    #[error("stored profile of {host_id} version {version} is unreadable: {message}")]
    Corrupt {
        host_id: String,
        version: i64,
        message: String,
    },
}

/// A stored profile version.
#[derive(Debug, Clone)]
pub struct StoredProfile {
    pub version: u32,
    pub n_versions: u32,
    pub profile: HostProfile,
}

/// Outcome of an upsert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upserted {
    /// The host's newest hardware version after this upload.
    pub version: u32,
    /// Anything changed: a new hardware version or the guests.
    pub changed: bool,
    /// A new hardware version was stored.
    pub hardware_changed: bool,
    /// The guests or the host's capacity changed (always false for `guests: None`).
    pub guests_changed: bool,
}

/// The pool of one of the two databases.
#[derive(Clone, Debug)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: Pool,
    /// Moves after every committed change, so caches of derived data (fleet, classes, graphs)
    /// know when to refresh. SQLite: per process. PostgreSQL: the database's `store_generation`,
    /// bumped in each writing transaction and followed through LISTEN/NOTIFY, so it moves on
    /// every replica.
    generation: Arc<AtomicU64>,
    writer: tokio::sync::mpsc::Sender<write::WriteJob>,
    target: Arc<DbTarget>,
    /// Settings read within [`SETTING_MEMO_TTL`] (token checks): [`Store::setting_recent`].
    settings: Arc<memo::SettingsMemo>,
    /// The QEMU lists stored profiles repeat, decoded once when profiles are read
    /// (`shared::intern::memo`).
    lists: Arc<ListMemo>,
}

/// The newest version of one host, without its profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestVersion {
    pub host_id: String,
    pub version: u32,
    pub n_versions: u32,
    /// Moves whenever the host's guests or capacity change (they are not versions).
    pub guests_rev: u64,
    /// The newest version's content hash as a number (its first 16 hex digits): two newest
    /// versions with one number (a host deleted and sent again, then pruned back to it) are
    /// told apart without reading their profiles.
    pub hash_tag: u64,
}

/// One row of a host's history, without its profile.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VersionRow {
    pub version: i64,
    pub received_at: String,
    pub collected_at: String,
    pub class_id: String,
}

impl Store {
    /// Open `db`, a SQLite file (created if missing, WAL mode) or a `postgres://` URL (see
    /// [`DbTarget::parse`]), and run its migrations.
    pub async fn open(db: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::connect(DbTarget::parse(db.as_ref())).await
    }

    /// Open a database and run its migrations.
    pub async fn connect(target: DbTarget) -> Result<Self, StoreError> {
        let shown = target.shown();
        let open_err = |source| StoreError::Open {
            path: shown.clone(),
            source,
        };
        let pool = match &target {
            DbTarget::Sqlite(path) if path.as_os_str() == ":memory:" => {
                return Self::in_memory().await;
            }
            DbTarget::Sqlite(path) => {
                // A path, never a formatted URL: a file name may hold `?` or `#`.
                let opts = SqliteConnectOptions::new()
                    .filename(path)
                    .create_if_missing(true)
                    .journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Full)
                    .foreign_keys(true)
                    .busy_timeout(Duration::from_secs(10));
                Pool::Sqlite(
                    SqlitePoolOptions::new()
                        .max_connections(4)
                        .connect_with(opts)
                        .await
                        .map_err(open_err)?,
                )
            }
            DbTarget::Postgres(url) => {
                // A plan for each execution of a prepared statement, made with the tables as
                // they are then. PostgreSQL's default (`auto`) keeps a generic plan once it
                // costs no more than the first five custom ones (`choose_custom_plan` in
                // src/backend/utils/cache/plancache.c); sqlx prepares every statement, and a
                // store starts empty, so the generic plans were made on tables of a few rows
                // and kept: the upload's update of its hosts became a sequential scan of every
                // host with a hash join, 5-9 ms a batch at 30,000 hosts and growing
                // (BENCHMARKS.md, "Ingest at 100,000 hosts").
                let opts: PgConnectOptions = url
                    .parse::<PgConnectOptions>()
                    .map_err(open_err)?
                    .options([("plan_cache_mode", "force_custom_plan")]);
                Pool::Postgres(
                    PgPoolOptions::new()
                        .max_connections(8)
                        .acquire_timeout(Duration::from_secs(10))
                        .connect_with(opts)
                        .await
                        .map_err(open_err)?,
                )
            }
        };
        Self::migrate(pool, target).await
    }

    /// A private in-memory SQLite database (tests, `--db :memory:`).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let open_err = |source| StoreError::Open {
            path: ":memory:".into(),
            source,
        };
        let opts = SqliteConnectOptions::new()
            .in_memory(true)
            .foreign_keys(true);
        // Each connection to :memory: is its own database: keep exactly one.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(open_err)?;
        Self::migrate(Pool::Sqlite(pool), DbTarget::Sqlite(":memory:".into())).await
    }

    async fn migrate(pool: Pool, target: DbTarget) -> Result<Self, StoreError> {
        let migrate_err = |source| StoreError::Migrate {
            path: target.shown(),
            source,
        };
        match &pool {
            Pool::Sqlite(p) => sqlx::migrate!("./migrations/sqlite")
                .run(p)
                .await
                .map_err(migrate_err)?,
            Pool::Postgres(p) => sqlx::migrate!("./migrations/postgres")
                .run(p)
                .await
                .map_err(migrate_err)?,
        }
        let generation = Arc::new(AtomicU64::new(generation::read(&pool).await?));
        if let Pool::Postgres(p) = &pool {
            generation::follow(p.clone(), &generation).await?;
        }
        let (writer, rx) = tokio::sync::mpsc::channel(1024);
        let queue: write::Queue = Arc::new(tokio::sync::Mutex::new(rx));
        let turn = write::turn();
        for _ in 0..write::writers(&pool) {
            tokio::spawn(write::writer(
                pool.clone(),
                Arc::clone(&generation),
                Arc::clone(&queue),
                Arc::clone(&turn),
            ));
        }
        Ok(Self {
            pool,
            generation,
            writer,
            target: Arc::new(target),
            settings: Arc::default(),
            lists: ListMemo::new(),
        })
    }

    /// The database this store is on (a URL without its password).
    pub fn target(&self) -> &DbTarget {
        &self.target
    }

    /// Whether this store is on PostgreSQL (shared by replicas) rather than SQLite.
    pub fn is_postgres(&self) -> bool {
        matches!(self.pool, Pool::Postgres(_))
    }

    /// The current generation: moves after every committed change (on PostgreSQL, within a
    /// moment of a change made by any replica).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_connections_plan_each_execution() {
        let cluster = crate::testing::PgCluster::start()
            .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
        let url = cluster.fresh_database().await.expect("database");
        let store = Store::open(&url).await.expect("store");
        let Pool::Postgres(p) = &store.pool else {
            panic!("not on PostgreSQL")
        };
        // Every connection of the pool, not just the first.
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut c = p.acquire().await.expect("connection");
            let mode: String = sqlx::query_scalar("SHOW plan_cache_mode")
                .fetch_one(&mut *c)
                .await
                .expect("show");
            assert_eq!(mode, "force_custom_plan");
            held.push(c);
        }
    }
}
