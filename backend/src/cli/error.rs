//! `CliError`: why an engine subcommand could not read or judge its inputs (exit 2).
//!
//! Every message names the input (file, line, flag, host id) and, where it is not plain, what
//! to do; `main` prints it as `error: MESSAGE`.

use std::path::{Path, PathBuf};

/// An error of the engine subcommands; each exits with [`super::EXIT_ERROR`].
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A file that cannot be opened or read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A folder that cannot be listed.
    #[error("cannot list {}: {source}", path.display())]
    List {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A file that reads but does not parse as what it is given for (profile, guest, errata...).
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// A host file that is neither a profile nor a dump `shared::import` detects.
    #[error("{}: not a host profile (JSON) nor a dump fleetcompat can read: {message}", path.display())]
    NotAHost { path: PathBuf, message: String },
    /// A line of a fleet file that is not a profile.
    #[error("{} line {line}: {message}", path.display())]
    FleetLine {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A fleet file without a single host.
    #[error("{} holds no hosts: a fleet file has one profile JSON document a line", path.display())]
    EmptyFleet { path: PathBuf },
    /// No host at all among the arguments.
    #[error("no host files given (or none of them could be read)")]
    NoHosts,
    /// A host argument that is no file and no host id where ids are looked up.
    #[error("'{id}' is neither a file nor a host id in {where_}")]
    UnknownHost { id: String, where_: String },
    /// A version flag that does not parse.
    #[error("{flag} '{value}' is not a {kind} version like {example}")]
    Version {
        flag: &'static str,
        value: String,
        kind: &'static str,
        example: &'static str,
    },
    /// A guest CPU (model or feature) the engine does not know: a usage error, not a verdict.
    #[error("the guest cpu cannot be resolved: {0}")]
    GuestCpu(shared::verdict::GuestCpuError),
    /// `export --graph` with a baseline format.
    #[error("--graph exports json or dot, not {0}: use --format json or --format dot")]
    GraphFormat(String),
    /// `export --format dot` without `--graph`.
    #[error("dot is a graph format: add --graph")]
    DotNeedsGraph,
    #[error(transparent)]
    Baseline(#[from] shared::baseline::BaselineError),
    #[error(transparent)]
    Masks(#[from] shared::masks::MaskError),
    /// `--db PATH` that is not a file.
    #[error("database {} does not exist: give the file `fleetcompat serve --db` uses", .0.display())]
    NoDatabase(PathBuf),
    #[error(transparent)]
    Store(#[from] backend::store::StoreError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("cannot write json: {0}")]
    Json(serde_json::Error),
    /// `fleetcompat token` on a database: a bad scope, or no such token.
    #[error(transparent)]
    Token(#[from] backend::auth::TokenError),
    /// `fleetcompat token --server`: the server could not be reached or refused.
    #[error("{url}: {message}")]
    Server { url: String, message: String },
}

impl CliError {
    /// `cannot read PATH: ...`.
    pub fn read(path: &Path, source: std::io::Error) -> Self {
        Self::Read {
            path: path.to_owned(),
            source,
        }
    }

    /// `PATH: MESSAGE`, for a file that does not parse.
    pub fn invalid(path: &Path, message: impl std::fmt::Display) -> Self {
        Self::Invalid {
            path: path.to_owned(),
            message: message.to_string(),
        }
    }
}
