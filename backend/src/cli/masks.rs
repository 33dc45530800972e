//! `fleetcompat masks SRC DST [HOST...]`: what to turn off where.

use std::path::{Path, PathBuf};

use shared::masks::pair_masks;
use shared::profile::HostProfile;
use shared::verdict::Policy;

use super::baseline::parse_libvirt_version;
use super::db::DbArgs;
use super::error::CliError;
use super::input::{read_host, read_hosts};
use super::render::print_json;
use super::{EXIT_INCOMPATIBLE, EXIT_OK, Run};

#[derive(clap::Args, Debug)]
pub struct MasksArgs {
    src: PathBuf,
    dst: PathBuf,
    /// More hosts: masks for the whole pool (blocking features, hosts holding it back, costs).
    more: Vec<PathBuf>,
    /// The guest runs with a fixed TSC frequency (kHz), for the TSC checks (invtsc is never
    /// masked: -cpu host leaves it out while migratable=on, QEMU's default).
    #[arg(long, value_name = "KHZ")]
    tsc_khz: Option<u64>,
    /// The hosts' libvirt release (e.g. 9.0.0), for the libvirt forms of the masks and of the
    /// named alternative. Default: what each profile recorded, 9.0.0 (Debian 12) otherwise.
    #[arg(long, value_name = "VERSION")]
    libvirt_version: Option<String>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

impl Run for MasksArgs {
    fn ids(&self) -> Option<(&DbArgs, Vec<&Path>)> {
        Some((
            &self.db,
            [&self.src, &self.dst]
                .into_iter()
                .chain(&self.more)
                .map(PathBuf::as_path)
                .collect(),
        ))
    }
    fn run(&self) -> Result<u8, CliError> {
        run_masks(self)
    }
}

pub(super) fn run_masks(args: &MasksArgs) -> Result<u8, CliError> {
    {
        let libvirt_version = parse_libvirt_version(args.libvirt_version.as_deref())?;
        let mut src = read_host(&args.src)?;
        let mut dst = read_host(&args.dst)?;
        let policy = Policy {
            guest_tsc_khz: args.tsc_khz,
            ..Policy::default()
        };
        let mut more = if args.more.is_empty() {
            Vec::new()
        } else {
            read_hosts(&args.more)?
        };
        if let Some(v) = libvirt_version {
            for h in [&mut src, &mut dst].into_iter().chain(more.iter_mut()) {
                h.libvirt_version = Some(v.to_string());
            }
        }
        if !more.is_empty() {
            let mut hosts = vec![src, dst];
            hosts.append(&mut more);
            return run_pool_masks(&hosts, &policy, args.json);
        }
        let m = pair_masks(&src, &dst, &policy)?;
        if args.json {
            print_json(&m)?;
        } else {
            // What masking cannot fix comes first: the masks below do not help with it.
            if !m.unmaskable.is_empty() {
                outln!("masking cannot fix:");
            }
            for r in &m.unmaskable {
                outln!("  [blocker, not maskable] {}: {}", r.rule, r.message);
            }
            for h in [&m.source, &m.destination] {
                if h.disable.is_empty() {
                    outln!("guests started on {}: -cpu host (nothing to mask)", h.host);
                } else {
                    outln!("guests started on {}: -cpu {}", h.host, h.qemu_cpu);
                }
            }
            if let Some(b) = &m.named_alternative {
                outln!("or on both: -cpu {}", b.exports.qemu);
            }
        }
        Ok(if m.unmaskable.is_empty() {
            EXIT_OK
        } else {
            EXIT_INCOMPATIBLE
        })
    }
}

fn run_pool_masks(hosts: &[HostProfile], policy: &Policy, json: bool) -> Result<u8, CliError> {
    let refs: Vec<&HostProfile> = hosts.iter().collect();
    let m = shared::masks::pool_masks(&refs, policy)?;
    if json {
        print_json(&m)?;
    } else {
        // What masking cannot fix (a vendor change) first: the masks below do not help with it.
        for r in &m.unmaskable {
            outln!("[blocker, not maskable] {}: {}", r.rule, r.message);
        }
        outln!(
            "pool of {} hosts: guests can share {} features",
            m.hosts.len(),
            m.common.len()
        );
        for h in &m.per_host {
            outln!("  guests started on {}: -cpu {}", h.host, h.qemu_cpu);
        }
        for b in m.blocking_features.iter().take(20) {
            outln!(
                "  blocking: {} ({}) lacked by {}",
                b.feature,
                b.citation,
                b.hosts_without.join(" ")
            );
        }
        if !m.non_migratable.is_empty() {
            outln!(
                "  never given to -cpu host guests (migratable=on): {}",
                m.non_migratable.names().join(", ")
            );
        }
        for h in &m.holding_back {
            outln!(
                "  {} holds the pool back by {} features: {}",
                h.host,
                h.lacks.len(),
                h.lacks.names().join(", ")
            );
        }
        for o in &m.options {
            outln!(
                "  option: {} ({} features, up to {} lost per host, {} hosts left out)",
                o.description,
                o.n_features,
                o.max_features_lost,
                o.hosts_left_out.len()
            );
        }
    }
    Ok(if m.unmaskable.is_empty() {
        EXIT_OK
    } else {
        EXIT_INCOMPATIBLE
    })
}
