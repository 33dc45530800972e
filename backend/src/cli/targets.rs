//! `fleetcompat targets --from HOST HOST...`: where a guest can go.

use std::path::PathBuf;
use std::process::ExitCode;

use shared::verdict::Severity;

use super::guest::{GuestArgs, GuestFileArgs, compare_defs};
use super::input::{read_host, read_hosts};
use super::render::print_json;
use super::{EXIT_INCOMPATIBLE, EXIT_OK, finish};

#[derive(clap::Args, Debug)]
pub struct TargetsArgs {
    /// The host the guest runs on: profile JSON or a dump.
    #[arg(long, value_name = "HOST")]
    from: PathBuf,
    /// Candidate hosts: profile or fleet files (*.jsonl), or folders of them.
    #[arg(required = true)]
    hosts: Vec<PathBuf>,
    #[command(flatten)]
    guest: GuestArgs,
    #[command(flatten)]
    defs: GuestFileArgs,
    #[arg(long)]
    json: bool,
}

/// `fleetcompat targets --guest FILE --from HOST HOSTS...`: every host the guest can go to, and
/// the blockers of the others. Exit 0 when at least one target exists.
pub fn targets_cmd(args: &TargetsArgs) -> ExitCode {
    finish(run_targets(args))
}

pub(super) fn run_targets(args: &TargetsArgs) -> Result<u8, String> {
    let from = read_host(&args.from)?;
    let hosts = read_hosts(&args.hosts)?;
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
