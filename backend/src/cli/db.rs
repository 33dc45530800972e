//! Hosts by id: `--db PATH` (a fleetcompat database, read on a runtime of the process) and
//! `--fleet FILE` (a fleet file). A host argument that is no file is looked up there.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use shared::profile::{HostProfile, ProfileError};

use super::error::CliError;
use super::fleet_file::{HostSink, read_fleet_file};

/// Where host arguments that are not files are looked up by host id.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DbArgs {
    /// A fleetcompat database (SQLite file or postgres:// URL): host arguments that are not
    /// files are host ids stored there.
    #[arg(long = "db", value_name = "PATH|URL")]
    pub path: Option<PathBuf>,
    /// A fleet file (*.jsonl, as GET /api/v1/fleet.jsonl writes it): host arguments that are not
    /// files are host ids in it (with --db: ids the database lacks).
    #[arg(long = "fleet", value_name = "FILE")]
    pub fleet: Option<PathBuf>,
}

/// The hosts of `--fleet` that the arguments name by id, and the file they came from.
type FleetIndex = (PathBuf, HashMap<String, HostProfile>);

static DB: std::sync::OnceLock<(tokio::runtime::Runtime, backend::Store)> =
    std::sync::OnceLock::new();
static FLEET: std::sync::OnceLock<FleetIndex> = std::sync::OnceLock::new();
/// The host ids the arguments name, while `--fleet` is read: only those hosts are kept.
static WANTED: std::sync::OnceLock<HashSet<String>> = std::sync::OnceLock::new();

/// Open the database of `--db` and read the hosts `args` name by id from the fleet file of
/// `--fleet` (each if given), for [`super::input::read_host`].
pub fn open(ids: &DbArgs, args: &[&Path]) -> Result<(), CliError> {
    if let Some(path) = &ids.path {
        open_db(path)?;
    }
    if let Some(path) = &ids.fleet {
        let wanted = args
            .iter()
            .filter(|a| !a.exists())
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let _ = WANTED.set(wanted);
        // Streamed like any fleet file; only the hosts named by id are kept.
        let mut named = Named::default();
        read_fleet_file(path, &mut named)?;
        // A later line of the same host wins, as a later upload does.
        let by_id = named
            .0
            .into_iter()
            .map(|h| (h.host_id.clone(), h))
            .collect();
        let _ = FLEET.set((path.clone(), by_id));
    }
    Ok(())
}

/// The hosts of a fleet file that the arguments name ([`WANTED`]), in file order.
#[derive(Default)]
struct Named(Vec<HostProfile>);

impl HostSink for Named {
    type Line = HostProfile;
    fn parse_line(json: &str) -> Result<HostProfile, ProfileError> {
        HostProfile::from_json(json)
    }
    fn add_line(&mut self, host: HostProfile) {
        if WANTED.get().is_some_and(|w| w.contains(&host.host_id)) {
            self.0.push(host);
        }
    }
    fn add(&mut self, host: HostProfile) {
        self.add_line(host);
    }
    fn append(&mut self, mut later: Self) {
        self.0.append(&mut later.0);
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A SQLite `--db` that is no file (opening would create an empty one); a postgres:// URL is
/// never one.
pub(super) fn missing_sqlite_file(path: &Path) -> bool {
    matches!(
        backend::store::DbTarget::parse(path),
        backend::store::DbTarget::Sqlite(_)
    ) && !path.is_file()
}

fn open_db(path: &Path) -> Result<(), CliError> {
    if missing_sqlite_file(path) {
        return Err(CliError::NoDatabase(path.to_owned()));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let store = rt.block_on(backend::Store::open(path))?;
    let _ = DB.set((rt, store));
    Ok(())
}

/// Whether host ids are looked up anywhere (`--db` or `--fleet` given).
pub(super) fn ids_given() -> bool {
    DB.get().is_some() || FLEET.get().is_some()
}

/// With `--db` or `--fleet`, a host argument that is not a file is a host id there (the
/// database first).
pub(super) fn host_by_id(arg: &Path) -> Option<Result<HostProfile, CliError>> {
    if !ids_given() || arg.exists() {
        return None;
    }
    let id = arg.to_string_lossy();
    if let Some((rt, store)) = DB.get() {
        match rt.block_on(store.latest_profile(&id)) {
            Ok(Some(s)) => return Some(Ok(s.profile)),
            Ok(None) => {}
            Err(e) => return Some(Err(e.into())),
        }
    }
    if let Some((_, by_id)) = FLEET.get()
        && let Some(h) = by_id.get(id.as_ref())
    {
        return Some(Ok(h.clone()));
    }
    let where_ = match (DB.get(), FLEET.get()) {
        (Some(_), None) => "the database".to_owned(),
        (None, Some((path, _))) => format!("the fleet file {}", path.display()),
        (Some(_), Some((path, _))) => {
            format!("the database nor the fleet file {}", path.display())
        }
        (None, None) => return None,
    };
    Some(Err(CliError::UnknownHost {
        id: id.into_owned(),
        where_,
    }))
}
