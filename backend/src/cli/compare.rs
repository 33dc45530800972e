//! `fleetcompat compare SRC DST`: one verdict.

use std::path::{Path, PathBuf};

use super::db::DbArgs;
use super::error::CliError;
use super::guest::{GuestArgs, GuestFileArgs, compare_defs};
use super::input::read_host;
use super::render::print_json;
use super::{EXIT_INCOMPATIBLE, EXIT_OK, Run};

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Source host: profile JSON or a dump (cpuid -r, InstLatx64, libvirt xml/json, lscpu).
    src: PathBuf,
    /// Destination host: profile JSON or a dump (cpuid -r, InstLatx64, libvirt xml/json, lscpu).
    dst: PathBuf,
    #[command(flatten)]
    guest: GuestArgs,
    #[command(flatten)]
    defs: GuestFileArgs,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

impl Run for CompareArgs {
    fn ids(&self) -> Option<(&DbArgs, Vec<&Path>)> {
        Some((&self.db, vec![self.src.as_path(), self.dst.as_path()]))
    }
    fn run(&self) -> Result<u8, CliError> {
        run_compare(self)
    }
}

pub(super) fn run_compare(args: &CompareArgs) -> Result<u8, CliError> {
    {
        let src = read_host(&args.src)?;
        let dst = read_host(&args.dst)?;
        let v = compare_defs(&src, &dst, &args.guest, &args.defs)?;
        if args.json {
            print_json(&v)?;
        } else {
            outln!(
                "{} {} -> {} (guest cpu: {})",
                if v.compatible {
                    "COMPATIBLE"
                } else {
                    "INCOMPATIBLE"
                },
                v.from,
                v.to,
                v.guest.cpu.describe()
            );
            for r in &v.reasons {
                let ev = r.evidence.summary();
                outln!(
                    "  [{}] {}: {}{}",
                    r.severity.name(),
                    r.rule,
                    r.message,
                    if ev.is_empty() {
                        String::new()
                    } else {
                        format!(" ({ev})")
                    }
                );
            }
        }
        Ok(if v.compatible {
            EXIT_OK
        } else {
            EXIT_INCOMPATIBLE
        })
    }
}
