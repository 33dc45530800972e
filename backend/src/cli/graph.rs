//! `fleetcompat graph HOST...`: host classes and migration pools.

use std::path::{Path, PathBuf};

use shared::graph;

use super::db::DbArgs;
use super::error::CliError;
use super::guest::GuestArgs;
use super::input::read_hosts;
use super::render::{names_of, print_json};
use super::{EXIT_INCOMPATIBLE, EXIT_OK, Run};

#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// Host files, fleet files (*.jsonl), or folders of them (*.json, *.xml, *.txt, *.jsonl).
    #[arg(required = true)]
    hosts: Vec<PathBuf>,
    #[command(flatten)]
    guest: GuestArgs,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

impl Run for GraphArgs {
    fn ids(&self) -> Option<(&DbArgs, Vec<&Path>)> {
        Some((&self.db, self.hosts.iter().map(PathBuf::as_path).collect()))
    }
    fn run(&self) -> Result<u8, CliError> {
        run_graph(self)
    }
}

pub(super) fn run_graph(args: &GraphArgs) -> Result<u8, CliError> {
    {
        let hosts = read_hosts(&args.hosts)?;
        let g = graph::build(&hosts, &args.guest.guest(), &args.guest.policy()?);
        if args.json {
            print_json(&g)?;
        } else {
            outln!(
                "{} hosts, {} classes, {} pools (guest cpu: {})",
                g.n_hosts,
                g.classes.len(),
                g.pools.len(),
                args.guest.cpu
            );
            let names = names_of(&g, &hosts);
            for (i, p) in g.pools.iter().enumerate() {
                outln!(
                    "  pool {i}: {}{}{}",
                    names.pools[i],
                    if p.internally_compatible {
                        ""
                    } else {
                        " (not even among themselves)"
                    },
                    if p.drains_to.is_empty() {
                        String::new()
                    } else {
                        format!(", guests can move one way to pools {:?}", p.drains_to)
                    },
                );
                for &c in &p.classes {
                    outln!("    {}: {}", names.classes[c], g.classes[c].hosts.join(" "));
                }
            }
        }
        Ok(
            if g.pools.len() == 1 && g.pools.iter().all(|p| p.internally_compatible) {
                EXIT_OK
            } else {
                EXIT_INCOMPATIBLE
            },
        )
    }
}
