//! `fleetcompat targets --from HOST HOST...`: where a guest can go.

use std::path::{Path, PathBuf};

use shared::verdict::Severity;

use super::db::{DbArgs, ids_given};
use super::error::CliError;
use super::guest::{GuestArgs, GuestFileArgs, compare_defs};
use super::input::{read_host, read_hosts};
use super::render::print_json;
use super::{EXIT_INCOMPATIBLE, EXIT_OK, Run};

#[derive(clap::Args, Debug)]
pub struct TargetsArgs {
    /// The host the guest runs on: profile JSON or a dump, or a host id (in --db, --fleet, or
    /// else among the candidate hosts, e.g. of a fleet file).
    #[arg(long, value_name = "HOST")]
    from: PathBuf,
    /// Candidate hosts: profile or fleet files (*.jsonl), folders of them, or host ids with --db
    /// or --fleet.
    #[arg(required = true)]
    hosts: Vec<PathBuf>,
    #[command(flatten)]
    guest: GuestArgs,
    #[command(flatten)]
    defs: GuestFileArgs,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// `fleetcompat targets --guest FILE --from HOST HOSTS...`: every host the guest can go to, and
/// the blockers of the others. Exit 0 when at least one target exists.
impl Run for TargetsArgs {
    fn ids(&self) -> Option<(&DbArgs, Vec<&Path>)> {
        Some((
            &self.db,
            std::iter::once(&self.from)
                .chain(&self.hosts)
                .map(PathBuf::as_path)
                .collect(),
        ))
    }
    fn run(&self) -> Result<u8, CliError> {
        run_targets(self)
    }
}

pub(super) fn run_targets(args: &TargetsArgs) -> Result<u8, CliError> {
    // `--from ID` without --db or --fleet is a host of the candidates (a fleet file's, say).
    let by_candidate_id = !args.from.exists() && !ids_given();
    let from = if by_candidate_id {
        None
    } else {
        Some(read_host(&args.from)?)
    };
    let hosts = read_hosts(&args.hosts)?;
    let from = match from {
        Some(from) => from,
        None => {
            let id = args.from.to_string_lossy();
            hosts
                .iter()
                .find(|h| h.host_id == id)
                .cloned()
                .ok_or_else(|| CliError::UnknownHost {
                    id: id.into_owned(),
                    where_: "the candidate hosts: give a profile file, the id of a candidate, or --db/--fleet"
                        .to_owned(),
                })?
        }
    };
    let verdicts = hosts
        .iter()
        .filter(|h| h.host_id != from.host_id)
        .map(|h| compare_defs(&from, h, &args.guest, &args.defs))
        .collect::<Result<Vec<_>, _>>()?;
    let any = verdicts.iter().any(|v| v.compatible);
    if args.json {
        print_json(&verdicts)?;
    } else {
        for v in &verdicts {
            let blockers: Vec<&str> = v
                .with_severity(Severity::Blocker)
                .map(|r| r.rule.as_str())
                .collect();
            if blockers.is_empty() {
                outln!("{}: can go", v.to);
            } else {
                outln!("{}: cannot go ({})", v.to, blockers.join(", "));
            }
        }
    }
    Ok(if any { EXIT_OK } else { EXIT_INCOMPATIBLE })
}
