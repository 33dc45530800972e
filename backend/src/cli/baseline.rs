//! `fleetcompat baseline HOST...`: the baseline CPU and its exports.

use std::path::{Path, PathBuf};

use shared::baseline::{BaselineHosts, BaselineOptions, baseline_of};
use shared::models::QemuVersion;

use super::db::DbArgs;
use super::error::CliError;
use super::input::gather_hosts;
use super::render::print_json;
use super::{EXIT_INCOMPATIBLE, EXIT_OK, Run};

#[derive(clap::Args, Debug)]
pub struct BaselineArgs {
    /// Hosts: profile JSON or dump files, fleet files (*.jsonl, one profile a line, as
    /// GET /api/v1/fleet.jsonl writes them), or folders of those (one host gives its host model).
    #[arg(required = true)]
    hosts: Vec<PathBuf>,
    /// The oldest QEMU release among the hosts: models it lacks are not used.
    #[arg(long, value_name = "VERSION")]
    qemu: Option<String>,
    /// The libvirt release that reads the libvirt, Nova and KubeVirt exports (e.g. 9.0.0): they
    /// name only models and features its cpu_map has. Default: the oldest libvirt the profiles
    /// recorded, 9.0.0 (Debian 12) for profiles without one.
    #[arg(long, value_name = "VERSION")]
    libvirt_version: Option<String>,
    /// Print the baseline as JSON (`model`, `features`, `exports`...).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

impl Run for BaselineArgs {
    fn ids(&self) -> Option<(&DbArgs, Vec<&Path>)> {
        Some((&self.db, self.hosts.iter().map(PathBuf::as_path).collect()))
    }
    fn run(&self) -> Result<u8, CliError> {
        run_baseline(self)
    }
}

pub(super) fn run_baseline(args: &BaselineArgs) -> Result<u8, CliError> {
    {
        let qemu = match &args.qemu {
            Some(v) => Some(QemuVersion::parse(v).ok_or_else(|| CliError::Version {
                flag: "--qemu",
                value: v.clone(),
                kind: "qemu",
                example: "10.0.2",
            })?),
            None => None,
        };
        let libvirt_version = parse_libvirt_version(args.libvirt_version.as_deref())?;
        // Streamed: each profile is folded in as it is parsed, none is kept.
        let hosts: BaselineHosts = gather_hosts(&args.hosts)?;
        let b = match baseline_of(
            hosts,
            &BaselineOptions {
                qemu,
                libvirt_version,
                ..BaselineOptions::default()
            },
        ) {
            Ok(b) => b,
            Err(shared::baseline::BaselineError::NoModel) => {
                eprintln!("no baseline: {}", shared::baseline::BaselineError::NoModel);
                return Ok(EXIT_INCOMPATIBLE);
            }
            Err(e) => return Err(e.into()),
        };
        if args.json {
            print_json(&b)?;
        } else {
            outln!(
                "baseline of {} host(s): {} (guest view; {} features)",
                b.hosts.len(),
                b.model,
                b.features.len()
            );
            outln!("  qemu:     -cpu {}", b.exports.qemu);
            outln!(
                "  nova:     cpu_mode = custom, cpu_models = {}, cpu_model_extra_flags = {}",
                b.exports.nova.cpu_models.join(","),
                b.exports.nova.cpu_model_extra_flags.join(",")
            );
            if !b.dropped_non_migratable.is_empty() {
                outln!(
                    "  left out (never migrate): {}",
                    b.dropped_non_migratable.names().join(", ")
                );
            }
            outln!(
                "  libvirt (model {}, names of libvirt {}'s cpu_map):\n{}",
                b.exports.libvirt_model,
                b.exports.libvirt_checked,
                indent(&b.exports.libvirt)
            );
            outln!(
                "  kubevirt spec.domain:\n{}",
                indent(&b.exports.kubevirt_yaml)
            );
            for n in &b.notes {
                outln!("  note: {n}");
            }
        }
        Ok(EXIT_OK)
    }
}

/// `--libvirt-version`, checked.
pub(super) fn parse_libvirt_version(
    v: Option<&str>,
) -> Result<Option<shared::libvirt::LibvirtVersion>, CliError> {
    v.map(|v| {
        shared::libvirt::LibvirtVersion::parse(v).ok_or_else(|| CliError::Version {
            flag: "--libvirt-version",
            value: v.to_owned(),
            kind: "libvirt",
            example: "9.0.0",
        })
    })
    .transpose()
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
