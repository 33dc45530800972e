//! A throwaway PostgreSQL cluster for tests (feature `testing`): `initdb` in a temporary folder,
//! `pg_ctl start` with its unix socket in that folder and no TCP port, stopped and removed on
//! drop. Debian's `postgresql` package provides the binaries (/usr/lib/postgresql/N/bin);
//! without them `start` fails and names the package: tests never skip.
//!
//! PostgreSQL refuses to run as root (`check_root()` in src/backend/main/main.c: "\"root\"
//! execution of the PostgreSQL server is not permitted"), so as root the cluster runs as
//! `nobody` (uid 65534) through `setpriv`, in a folder chowned to it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

/// uid and gid of `nobody` / `nogroup` on Debian.
const NOBODY: u32 = 65_534;

/// A running cluster; stopped (`pg_ctl stop -m immediate`) and deleted on drop.
#[derive(Debug)]
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    as_nobody: bool,
    databases: AtomicU32,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "no PostgreSQL server binaries (initdb, pg_ctl) in /usr/lib/postgresql/*/bin or \
         $FLEETCOMPAT_PG_BIN: install Debian's `postgresql` package (apt-get install postgresql; \
         `cargo xtask test` installs it)"
    )]
    Missing,
    #[error("cannot prepare the cluster folder: {0}")]
    Folder(std::io::Error),
    #[error("{what} failed: {detail}")]
    Command { what: String, detail: String },
}

/// The folder holding `initdb` and `pg_ctl`: `$FLEETCOMPAT_PG_BIN`, else the newest
/// /usr/lib/postgresql/N/bin.
pub fn server_bin_dir() -> Result<PathBuf, ClusterError> {
    find_bin_dir(
        std::env::var_os("FLEETCOMPAT_PG_BIN").map(PathBuf::from),
        Path::new("/usr/lib/postgresql"),
    )
}

fn find_bin_dir(given: Option<PathBuf>, versions: &Path) -> Result<PathBuf, ClusterError> {
    if let Some(dir) = given {
        return if dir.join("initdb").is_file() {
            Ok(dir)
        } else {
            Err(ClusterError::Missing)
        };
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir(versions)
        .map_err(|_| ClusterError::Missing)?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            (bin.join("initdb").is_file() && bin.join("pg_ctl").is_file()).then_some((major, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, b)| b).ok_or(ClusterError::Missing)
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl PgCluster {
    /// initdb and start a cluster; superuser `fleetcompat`, trust authentication over its socket.
    pub fn start() -> Result<Self, ClusterError> {
        let bin = server_bin_dir()?;
        let dir = tempfile::Builder::new()
            .prefix("fleetcompat-pg-")
            .tempdir()
            .map_err(ClusterError::Folder)?;
        let as_nobody = is_root();
        if as_nobody {
            std::os::unix::fs::chown(dir.path(), Some(NOBODY), Some(NOBODY))
                .map_err(ClusterError::Folder)?;
        }
        let cluster = Self {
            dir,
            bin,
            as_nobody,
            databases: AtomicU32::new(0),
        };
        let data = cluster.data_dir();
        cluster.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-U".as_ref(),
                "fleetcompat".as_ref(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--locale=C".as_ref(),
                "--no-sync".as_ref(),
            ],
        )?;
        let socket = cluster.dir.path().display().to_string();
        let log = cluster.dir.path().join("server.log");
        cluster.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
                "-w".as_ref(),
                "-t".as_ref(),
                "60".as_ref(),
                "-o".as_ref(),
                format!("-k {socket} -c listen_addresses='' -c max_connections=200").as_ref(),
                "start".as_ref(),
            ],
        )?;
        Ok(cluster)
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// The folder of the cluster's unix socket.
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The URL of database `name` (`postgres` exists from the start).
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://fleetcompat@localhost/{name}?host={}",
            self.dir.path().display()
        )
    }

    /// A new, empty database; its URL.
    pub async fn fresh_database(&self) -> Result<String, ClusterError> {
        use sqlx::Connection;
        let name = format!("t{}", self.databases.fetch_add(1, Ordering::SeqCst));
        let fail = |e: sqlx::Error| ClusterError::Command {
            what: format!("CREATE DATABASE {name}"),
            detail: e.to_string(),
        };
        let mut conn = sqlx::PgConnection::connect(&self.url("postgres"))
            .await
            .map_err(fail)?;
        // The name is ours (t + a number): no user input reaches this statement.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .map_err(fail)?;
        conn.close().await.map_err(fail)?;
        Ok(self.url(&name))
    }

    fn run(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Result<Output, ClusterError> {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_nobody {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let out = cmd
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .map_err(|e| ClusterError::Command {
                what: program.display().to_string(),
                detail: e.to_string(),
            })?;
        if out.status.success() {
            Ok(out)
        } else {
            let log =
                std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
            Err(ClusterError::Command {
                what: format!("{tool} ({})", out.status),
                detail: format!(
                    "{}{}{log}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ),
            })
        }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let data = self.data_dir();
        let _ = self.run(
            "pg_ctl",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "stop".as_ref(),
            ],
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_binaries_name_the_debian_package() {
        let empty = tempfile::tempdir().expect("temp dir");
        for given in [None, Some(empty.path().to_owned())] {
            let err = find_bin_dir(given, empty.path()).expect_err("nothing there");
            assert!(err.to_string().contains("`postgresql` package"), "{err}");
        }
    }

    #[test]
    fn the_newest_major_version_is_taken() {
        let root = tempfile::tempdir().expect("temp dir");
        for major in ["9", "15", "13"] {
            let bin = root.path().join(major).join("bin");
            std::fs::create_dir_all(&bin).expect("folder");
            for tool in ["initdb", "pg_ctl"] {
                std::fs::write(bin.join(tool), "").expect("file");
            }
        }
        let found = find_bin_dir(None, root.path()).expect("found");
        assert_eq!(found, root.path().join("15").join("bin"));
    }
}
