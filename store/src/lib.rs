//! All SQL of fleetcompat lives here: SQLite through sqlx, runtime queries, numbered migrations.
//!
//! Architecture Invariant: no other module builds or runs SQL, and no SQL is built from strings.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use shared::profile::HostProfile;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

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
    pub version: u32,
    pub changed: bool,
}

#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
    /// Bumped after every committed change, so caches of derived data (classes, graphs) know when
    /// to refresh. Per process: a multi-replica store (PostgreSQL) will need a stored counter.
    generation: Arc<AtomicU64>,
    writer: tokio::sync::mpsc::Sender<WriteJob>,
}

/// A profile ready to be written (serialised and hashed by the caller's task).
#[derive(Debug)]
struct PendingRow {
    host_id: String,
    collected_at: String,
    received_at: String,
    class_id: String,
    hash: String,
    json: String,
}

#[derive(Debug)]
struct WriteJob {
    row: PendingRow,
    reply: tokio::sync::oneshot::Sender<Result<Upserted, StoreError>>,
}

/// The newest version of one host, without its profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestVersion {
    pub host_id: String,
    pub version: u32,
    pub n_versions: u32,
}

/// One row of a host's history, without its profile.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct VersionRow {
    pub version: i64,
    pub received_at: String,
    pub collected_at: String,
    pub class_id: String,
}

/// FNV-1a of the profile without its collection time, to tell a re-sent profile from a new one.
fn content_hash(p: &HostProfile) -> String {
    let mut copy = p.clone();
    copy.collected_at.clear();
    let text = serde_json::to_string(&copy).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

impl Store {
    /// Open (creating if needed) a database file, in WAL mode, and run the migrations.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let shown = path.display().to_string();
        let opts = SqliteConnectOptions::from_str(&format!("sqlite://{shown}"))
            .map_err(|source| StoreError::Open {
                path: shown.clone(),
                source,
            })?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open {
                path: shown.clone(),
                source,
            })?;
        Self::migrate(pool, &shown).await
    }

    /// A private in-memory database (tests, `--db :memory:`).
    pub async fn in_memory() -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(|source| StoreError::Open {
                path: ":memory:".into(),
                source,
            })?
            .foreign_keys(true);
        // Each connection to :memory: is its own database: keep exactly one.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .map_err(|source| StoreError::Open {
                path: ":memory:".into(),
                source,
            })?;
        Self::migrate(pool, ":memory:").await
    }

    async fn migrate(pool: SqlitePool, shown: &str) -> Result<Self, StoreError> {
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|source| StoreError::Migrate {
                path: shown.to_owned(),
                source,
            })?;
        let generation = Arc::new(AtomicU64::new(1));
        let (writer, rx) = tokio::sync::mpsc::channel(1024);
        tokio::spawn(Self::writer(pool.clone(), Arc::clone(&generation), rx));
        Ok(Self {
            pool,
            generation,
            writer,
        })
    }

    pub async fn n_hosts(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM hosts")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Store a profile as a new version of its host, unless it equals the newest version.
    /// One transaction: a profile is stored whole or not at all. Concurrent uploads are committed
    /// together by one writer (group commit): each caller is answered only after the commit that
    /// holds its profile is durable.
    pub async fn upsert(&self, p: &HostProfile, received_at: &str) -> Result<Upserted, StoreError> {
        let row = PendingRow {
            json: serde_json::to_string(p).map_err(|e| StoreError::Corrupt {
                host_id: p.host_id.clone(),
                version: 0,
                message: e.to_string(),
            })?,
            hash: content_hash(p),
            class_id: shared::class::class_id(p),
            host_id: p.host_id.clone(),
            collected_at: p.collected_at.clone(),
            received_at: received_at.to_owned(),
        };
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(WriteJob { row, reply })
            .await
            .map_err(|_| StoreError::Write("the database writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Write("the database writer has stopped".into()))?
    }

    /// The writer task: takes queued upserts, writes up to `MAX_BATCH` of them in one transaction,
    /// then answers each.
    async fn writer(
        pool: SqlitePool,
        generation: Arc<AtomicU64>,
        mut rx: tokio::sync::mpsc::Receiver<WriteJob>,
    ) {
        const MAX_BATCH: usize = 256;
        while let Some(first) = rx.recv().await {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(job) => batch.push(job),
                    Err(_) => break,
                }
            }
            match Self::write_batch(&pool, &batch).await {
                Ok(done) => {
                    if done.iter().any(|u| u.changed) {
                        generation.fetch_add(1, Ordering::SeqCst);
                    }
                    for (job, up) in batch.into_iter().zip(done) {
                        let _ = job.reply.send(Ok(up));
                    }
                }
                Err(e) => {
                    let message = e.to_string();
                    for job in batch {
                        let _ = job.reply.send(Err(StoreError::Write(message.clone())));
                    }
                }
            }
        }
    }

    async fn write_batch(
        pool: &SqlitePool,
        batch: &[WriteJob],
    ) -> Result<Vec<Upserted>, StoreError> {
        let mut tx = pool.begin().await?;
        let mut out = Vec::with_capacity(batch.len());
        for WriteJob { row: r, .. } in batch {
            sqlx::query("INSERT INTO hosts (host_id, first_seen) VALUES (?, ?) ON CONFLICT (host_id) DO NOTHING")
                .bind(&r.host_id)
                .bind(&r.received_at)
                .execute(&mut *tx)
                .await?;
            let newest: Option<(i64, String)> = sqlx::query_as(
                "SELECT version, content_hash FROM profile_versions WHERE host_id = ? ORDER BY version DESC LIMIT 1",
            )
            .bind(&r.host_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((version, old_hash)) = &newest
                && *old_hash == r.hash
            {
                out.push(Upserted {
                    version: u32::try_from(*version).unwrap_or(0),
                    changed: false,
                });
                continue;
            }
            let version = newest.map_or(1, |(v, _)| v + 1);
            sqlx::query(
                "INSERT INTO profile_versions (host_id, version, received_at, collected_at, class_id, content_hash, profile_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(&r.host_id)
            .bind(version)
            .bind(&r.received_at)
            .bind(&r.collected_at)
            .bind(&r.class_id)
            .bind(&r.hash)
            .bind(&r.json)
            .execute(&mut *tx)
            .await?;
            out.push(Upserted {
                version: u32::try_from(version).unwrap_or(0),
                changed: true,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// A row with `version`, `n` (how many versions) and `profile_json` as a stored profile.
    fn decode(host_id: String, r: &sqlx::sqlite::SqliteRow) -> Result<StoredProfile, StoreError> {
        let version: i64 = r.try_get("version")?;
        let n: i64 = r.try_get("n")?;
        let profile = serde_json::from_str(r.try_get::<&str, _>("profile_json")?).map_err(|e| {
            StoreError::Corrupt {
                host_id,
                version,
                message: e.to_string(),
            }
        })?;
        Ok(StoredProfile {
            version: u32::try_from(version).unwrap_or(0),
            n_versions: u32::try_from(n).unwrap_or(0),
            profile,
        })
    }

    /// The newest profile of every host, ordered by host id.
    pub async fn latest_profiles(&self) -> Result<Vec<StoredProfile>, StoreError> {
        let rows = sqlx::query(
            "SELECT v.host_id, v.version, v.profile_json, \
               (SELECT COUNT(*) FROM profile_versions c WHERE c.host_id = v.host_id) AS n \
             FROM profile_versions v \
             WHERE v.version = (SELECT MAX(m.version) FROM profile_versions m WHERE m.host_id = v.host_id) \
             ORDER BY v.host_id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| Self::decode(r.try_get("host_id")?, &r))
            .collect()
    }

    /// The newest profile of one host.
    pub async fn latest_profile(&self, host_id: &str) -> Result<Option<StoredProfile>, StoreError> {
        let row = sqlx::query(
            "SELECT version, profile_json, \
               (SELECT COUNT(*) FROM profile_versions c WHERE c.host_id = ?) AS n \
             FROM profile_versions WHERE host_id = ? ORDER BY version DESC LIMIT 1",
        )
        .bind(host_id)
        .bind(host_id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Self::decode(host_id.to_owned(), &r))
            .transpose()
    }

    pub async fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    pub async fn set_setting(&self, name: &str, value: &str) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET value = excluded.value")
            .bind(name)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    fn bump(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The current generation: changes after every committed write.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Every host's newest version number and version count, ordered by host id; no profiles
    /// are read, so caches can fetch only what changed.
    pub async fn latest_versions(&self) -> Result<Vec<LatestVersion>, StoreError> {
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT host_id, MAX(version), COUNT(*) FROM profile_versions GROUP BY host_id ORDER BY host_id",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(host_id, v, n)| LatestVersion {
                host_id,
                version: u32::try_from(v).unwrap_or(0),
                n_versions: u32::try_from(n).unwrap_or(0),
            })
            .collect())
    }

    /// One stored version of a host's profile.
    pub async fn profile_version(
        &self,
        host_id: &str,
        version: u32,
    ) -> Result<Option<StoredProfile>, StoreError> {
        let row = sqlx::query(
            "SELECT version, profile_json, \
               (SELECT COUNT(*) FROM profile_versions c WHERE c.host_id = ?) AS n \
             FROM profile_versions WHERE host_id = ? AND version = ?",
        )
        .bind(host_id)
        .bind(host_id)
        .bind(i64::from(version))
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| Self::decode(host_id.to_owned(), &r))
            .transpose()
    }

    /// A host's history, oldest first (empty for an unknown host).
    pub async fn versions(&self, host_id: &str) -> Result<Vec<VersionRow>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT version, received_at, collected_at, class_id FROM profile_versions WHERE host_id = ? ORDER BY version",
        )
        .bind(host_id)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Forget a host and its whole history, in one transaction. False when it was unknown.
    pub async fn delete_host(&self, host_id: &str) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM profile_versions WHERE host_id = ?")
            .bind(host_id)
            .execute(&mut *tx)
            .await?;
        let gone = sqlx::query("DELETE FROM hosts WHERE host_id = ?")
            .bind(host_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        if gone > 0 {
            self.bump();
        }
        Ok(gone > 0)
    }

    /// How many profile versions are stored in all.
    pub async fn n_versions(&self) -> Result<u64, StoreError> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM profile_versions")
            .fetch_one(&self.pool)
            .await?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    pub async fn integrity_check(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&self.pool)
            .await?)
    }

    /// Settings whose name starts with `prefix`, by name (SQLite copy; helper "pg" has the one
    /// for both databases).
    pub async fn settings_with_prefix(
        &self,
        prefix: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query_as(
            "SELECT name, value FROM settings WHERE substr(name, 1, length(?)) = ? ORDER BY name",
        )
        .bind(prefix)
        .bind(prefix)
        .fetch_all(&self.pool)
        .await?)
    }

    /// Remove a setting; false when there was none (SQLite copy, see `settings_with_prefix`).
    pub async fn delete_setting(&self, name: &str) -> Result<bool, StoreError> {
        let gone = sqlx::query("DELETE FROM settings WHERE name = ?")
            .bind(name)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(gone > 0)
    }
}
