//! `fleetcompat export HOST... --format F [--graph]`.

use std::path::{Path, PathBuf};

use shared::baseline::{BaselineOptions, baseline};
use shared::graph;
use shared::profile::HostProfile;
use shared::verdict::{GuestConfig, Policy};

use super::db::DbArgs;
use super::error::CliError;
use super::input::read_hosts;
use super::render::{graph_dot, names_of, print_json};
use super::{EXIT_OK, Run};

/// What `fleetcompat export` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Baseline as a QEMU `-cpu` argument.
    Qemu,
    /// Baseline as a libvirt `<cpu mode='custom'>` element.
    Libvirt,
    /// Baseline as Nova `[libvirt]` options.
    Nova,
    /// Baseline as KubeVirt `spec.domain.cpu` (YAML).
    Kubevirt,
    /// Baseline (or, with --graph, the class graph) as JSON.
    Json,
    /// The class graph as Graphviz DOT (needs --graph).
    Dot,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Hosts: profile or fleet files (*.jsonl), folders of them, or host ids with --db.
    #[arg(required = true)]
    hosts: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "qemu")]
    format: ExportFormat,
    /// Export the class graph and pools (json or dot) instead of the baseline.
    #[arg(long)]
    graph: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

impl Run for ExportArgs {
    fn ids(&self) -> Option<(&DbArgs, Vec<&Path>)> {
        Some((&self.db, self.hosts.iter().map(PathBuf::as_path).collect()))
    }
    fn run(&self) -> Result<u8, CliError> {
        run_export(self)
    }
}

fn run_export(args: &ExportArgs) -> Result<u8, CliError> {
    let hosts = read_hosts(&args.hosts)?;
    if args.graph {
        let g = graph::build(&hosts, &GuestConfig::default(), &Policy::default());
        match args.format {
            ExportFormat::Json => print_json(&g)?,
            ExportFormat::Dot => out!("{}", graph_dot(&g, &names_of(&g, &hosts))),
            other => {
                // As given on the command line (`qemu`), not as the enum spells it (`Qemu`).
                let name = clap::ValueEnum::to_possible_value(&other)
                    .map_or_else(|| format!("{other:?}"), |v| v.get_name().to_owned());
                return Err(CliError::GraphFormat(name));
            }
        }
        return Ok(EXIT_OK);
    }
    let refs: Vec<&HostProfile> = hosts.iter().collect();
    let b = if let [one] = refs.as_slice() {
        shared::baseline::host_model(one, &BaselineOptions::default())
    } else {
        baseline(&refs, &BaselineOptions::default())
    }?;
    match args.format {
        ExportFormat::Qemu => outln!("-cpu {}", b.exports.qemu),
        ExportFormat::Libvirt => outln!("{}", b.exports.libvirt),
        ExportFormat::Nova => {
            outln!("[libvirt]\ncpu_mode = {}", b.exports.nova.cpu_mode);
            outln!("cpu_models = {}", b.exports.nova.cpu_models.join(","));
            outln!(
                "cpu_model_extra_flags = {}",
                b.exports.nova.cpu_model_extra_flags.join(",")
            );
        }
        ExportFormat::Kubevirt => out!("{}", b.exports.kubevirt_yaml),
        ExportFormat::Json => print_json(&b)?,
        ExportFormat::Dot => {
            return Err(CliError::DotNeedsGraph);
        }
    }
    Ok(EXIT_OK)
}
