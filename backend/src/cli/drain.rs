//! `fleetcompat drain HOST (--db PATH | FLEET...)`: can this host be drained? Every VM of HOST
//! (its profile's `guests`, as the collector read them) with the hosts it can go to, stuck VMs
//! first with their blockers and the smallest change to their definition that unsticks them,
//! and a first-fit placement into the other hosts' free capacity (`shared::drain`).
//! Exit 0 when every VM has a place, 1 otherwise, 2 when the inputs cannot be read.

use std::path::{Path, PathBuf};

use shared::api::drain::{DrainPlan, VmDrain, VmOutcome};
use shared::drain::DrainFleet;
use shared::profile::HostProfile;
use shared::verdict::{ManagementStack, Policy};

use super::error::CliError;
use super::input::read_hosts;
use super::render::print_json;
use super::{EXIT_INCOMPATIBLE, EXIT_OK, Run};

#[derive(clap::Args, Debug)]
pub struct DrainArgs {
    /// The host to drain, by host id (in the fleet given).
    host: String,
    /// The fleet: profile or fleet files (*.jsonl, as GET /api/v1/fleet.jsonl writes them),
    /// folders of them.
    #[arg(required_unless_present = "db", conflicts_with = "db")]
    fleet: Vec<PathBuf>,
    /// The fleet of a fleetcompat database (the file `fleetcompat serve --db` uses).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Who starts the destination: qemu or libvirt. Default: each VM's own (libvirt for domain
    /// XML, qemu for a QEMU command line).
    #[arg(long, value_name = "qemu|libvirt", value_parser = ["qemu", "libvirt"])]
    stack: Option<String>,
    /// Allow a change of CPU vendor for guests on a named model.
    #[arg(long)]
    allow_vendor_change: bool,
    #[arg(long)]
    json: bool,
}

impl Run for DrainArgs {
    fn run(&self) -> Result<u8, CliError> {
        let hosts = match &self.db {
            Some(path) => hosts_in_db(path)?,
            None => read_hosts(&self.fleet)?,
        };
        let policy = Policy {
            allow_vendor_change: self.allow_vendor_change,
            stack: self.stack.as_deref().map(|s| match s {
                "libvirt" => ManagementStack::Libvirt,
                _ => ManagementStack::Qemu,
            }),
            ..Policy::default()
        };
        let mut fleet = DrainFleet::new(&hosts, &policy);
        let Some(h) = fleet.host_index(&self.host) else {
            return Err(CliError::UnknownHost {
                id: self.host.clone(),
                where_: match &self.db {
                    Some(p) => format!("the database {}", p.display()),
                    None => "the fleet given: name a host of it by its id".to_owned(),
                },
            });
        };
        let plan = fleet.plan(h);
        if self.json {
            print_json(&plan)?;
        } else {
            print_plan(&plan);
        }
        Ok(if plan.drainable {
            EXIT_OK
        } else {
            EXIT_INCOMPATIBLE
        })
    }
}

/// Every host's newest profile in the database at `path`.
fn hosts_in_db(path: &Path) -> Result<Vec<HostProfile>, CliError> {
    if !path.is_file() {
        return Err(CliError::NoDatabase(path.to_owned()));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let stored = rt.block_on(async {
        let store = backend::Store::open(path).await?;
        store.latest_profiles().await
    })?;
    Ok(stored.into_iter().map(|s| s.profile).collect())
}

fn print_plan(plan: &DrainPlan) {
    if !plan.has_guest_data {
        outln!(
            "{}: its profile has no guest data, so there is nothing to judge: probe it with fleetcompat-collector (which reads libvirt domains and QEMU processes)",
            plan.host_id
        );
        return;
    }
    let verdict = if plan.drainable {
        "can be drained"
    } else {
        "cannot be drained"
    };
    outln!(
        "{} ({}) {verdict}: {} VMs, {} placed, {} stuck, {} unreadable, {} without room, {} on hosts of unknown capacity",
        plan.host_id,
        plan.host_class.name,
        plan.n_vms,
        plan.n_placed,
        plan.n_stuck,
        plan.n_unreadable,
        plan.n_no_capacity,
        plan.n_capacity_unknown
    );
    for vm in &plan.vms {
        print_vm(plan, vm);
    }
}

fn print_vm(plan: &DrainPlan, vm: &VmDrain) {
    let tag = match vm.outcome {
        VmOutcome::Unreadable => "UNREADABLE",
        VmOutcome::Stuck => "STUCK",
        VmOutcome::NoCapacity => "NO ROOM",
        VmOutcome::CapacityUnknown => "UNKNOWN ROOM",
        VmOutcome::Placed => "ok",
    };
    let cpu = vm.cpu.as_deref().unwrap_or("?");
    outln!(
        "\n{tag:>12}  {} ({}, {} vCPUs, {} MiB, -cpu {cpu}{}): {}",
        vm.name,
        vm.id,
        vm.vcpus,
        vm.memory_mib,
        vm.machine
            .as_deref()
            .map(|m| format!(", machine {m}"))
            .unwrap_or_default(),
        vm.summary
    );
    for r in &vm.common_reasons {
        outln!(
            "              {} ({} hosts in {} classes): {}",
            r.rule,
            r.n_hosts,
            r.n_classes,
            r.message
        );
    }
    if vm.outcome == VmOutcome::Stuck {
        for b in vm.blockers.iter().take(3) {
            if let Some(class) = plan.classes.get(b.class) {
                let rules: Vec<&str> = b.blockers.iter().map(|r| r.rule.as_str()).collect();
                outln!("              to {}: {}", class.name, rules.join(", "));
            }
        }
        match &vm.advice {
            Some(a) => {
                let lost = if a.features_lost.is_empty() {
                    "no CPU feature".to_owned()
                } else {
                    a.features_lost.join(", ")
                };
                outln!(
                    "              fix: {} -> {} hosts (the guest loses {lost}; applies at its next start)",
                    a.change,
                    a.n_target_hosts
                );
            }
            None => outln!(
                "              fix: no change to its CPU or machine type found that gives it a target"
            ),
        }
    }
}
