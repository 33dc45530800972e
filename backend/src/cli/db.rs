//! `--db PATH`: hosts by id from a fleetcompat database, on a runtime of the process.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use shared::profile::HostProfile;

use super::EXIT_ERROR;

/// `--db PATH`: host arguments that are not files are host ids in this fleetcompat database.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DbArgs {
    /// A fleetcompat database: host arguments that are not files are host ids stored there.
    #[arg(long = "db", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

static DB: std::sync::OnceLock<(tokio::runtime::Runtime, backend::Store)> =
    std::sync::OnceLock::new();

/// Open the database of `--db` (if given) for [`read_host`], then run `f`.
pub fn with_db(db: &DbArgs, f: impl FnOnce() -> ExitCode) -> ExitCode {
    if let Some(path) = &db.path
        && let Err(e) = open_db(path)
    {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_ERROR);
    }
    f()
}

fn open_db(path: &Path) -> Result<(), String> {
    if !path.is_file() {
        return Err(format!(
            "database {} does not exist: give the file `fleetcompat serve --db` uses",
            path.display()
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let store = rt
        .block_on(backend::Store::open(path))
        .map_err(|e| e.to_string())?;
    let _ = DB.set((rt, store));
    Ok(())
}

/// With `--db`, a host argument that is not a file is a host id in the database.
pub(super) fn host_from_db(arg: &Path) -> Option<Result<HostProfile, String>> {
    let (rt, store) = DB.get()?;
    if arg.exists() {
        return None;
    }
    let id = arg.to_string_lossy();
    Some(match rt.block_on(store.latest_profile(&id)) {
        Ok(Some(s)) => Ok(s.profile),
        Ok(None) => Err(format!(
            "'{id}' is neither a file nor a host id in the database"
        )),
        Err(e) => Err(e.to_string()),
    })
}
