//! Drain plans agree with pair verdicts: for fleets with guests (libvirt domain XMLs and QEMU
//! command lines of named models, host-passthrough and host-model on machine types of several
//! QEMU releases), every VM's targets are exactly the other hosts where
//! `compare_with(src, dst, parse_guest(definition))` is compatible; placement respects free
//! capacity; masking advice is checked against the verdicts of the changed definition.

use std::collections::BTreeSet;

use shared::api::drain::{DrainPlan, VmOutcome};
use shared::drain::DrainFleet;
use shared::guest::parse_guest;
use shared::profile::HostProfile;
use shared::testing::{domain_xml, guest_fleet, profile_of_model, qemu_with_machines};
use shared::verdict::{GuestConfig, GuestCpu, ManagementStack, Policy, compare_with};
use shared::vms::{HostCapacity, HostGuests, Vm, VmDefinition, VmSource, VmState};

fn definition(vm: &Vm) -> &str {
    match &vm.definition {
        VmDefinition::DomainXml(t) | VmDefinition::CommandLine(t) => t,
    }
}

/// The hosts each VM of `plan` may go to, by the plan: every host of its target classes.
fn plan_targets(fleet: &[HostProfile], plan: &DrainPlan, vm: &str) -> BTreeSet<String> {
    let v = plan.vms.iter().find(|v| v.id == vm).expect("vm in plan");
    let ids: BTreeSet<&str> = v
        .target_classes
        .iter()
        .map(|&c| plan.classes[c].class_id.as_str())
        .collect();
    let hosts: BTreeSet<String> = fleet
        .iter()
        .filter(|h| h.host_id != plan.host_id && ids.contains(shared::class::class_id(h).as_str()))
        .map(|h| h.host_id.clone())
        .collect();
    assert_eq!(hosts.len(), v.n_target_hosts, "{}: n_target_hosts", v.name);
    hosts
}

fn check_agreement(fleet: &[HostProfile], policy: &Policy) -> (usize, usize) {
    let mut df = DrainFleet::new(fleet, policy);
    let (mut n_vms, mut n_pairs_ok) = (0, 0);
    for (i, src) in fleet.iter().enumerate() {
        let plan = df.plan(i);
        let Some(g) = &src.guests else {
            assert!(!plan.has_guest_data && plan.vms.is_empty() && plan.drainable);
            continue;
        };
        assert_eq!(plan.n_vms, g.vms.len());
        for vm in &g.vms {
            n_vms += 1;
            let (_, guest) = parse_guest(definition(vm)).expect("generated definitions parse");
            let expected: BTreeSet<String> = fleet
                .iter()
                .filter(|d| d.host_id != src.host_id)
                .filter(|d| compare_with(src, d, &guest, policy).compatible)
                .map(|d| d.host_id.clone())
                .collect();
            n_pairs_ok += expected.len();
            assert_eq!(
                plan_targets(fleet, &plan, &vm.id),
                expected,
                "{} on {} ({})",
                vm.name,
                src.host_id,
                guest.cpu.describe()
            );
        }
    }
    (n_vms, n_pairs_ok)
}

#[test]
fn drain_targets_equal_pair_verdicts() {
    for seed in [1, 2, 3] {
        let fleet = guest_fleet(24, 6, 36, 5, 6, seed);
        for policy in [
            Policy::default(),
            Policy {
                stack: Some(ManagementStack::Qemu),
                ..Policy::default()
            },
            Policy {
                allow_vendor_change: true,
                ..Policy::default()
            },
        ] {
            let (n_vms, n_ok) = check_agreement(&fleet, &policy);
            assert!(n_vms > 100, "{n_vms}");
            // Something moves and something does not, so the agreement says something.
            assert!(
                n_ok > 0 && n_ok < n_vms * (fleet.len() - 1),
                "{n_ok} of {n_vms}"
            );
        }
    }
}

fn host(id: &str, model: &str, qemu: &str, cpus: u32, gib: u64, vms: Vec<Vm>) -> HostProfile {
    let mut p = profile_of_model(id, model).expect("model");
    p.qemu = vec![qemu_with_machines(qemu)];
    p.guests = Some(HostGuests {
        capacity: HostCapacity {
            logical_cpus: cpus,
            memory_mib: gib * 1024,
        },
        vms,
    });
    p
}

fn vm(name: &str, cpu: &str, machine: &str, vcpus: u32, mib: u64, state: VmState) -> Vm {
    let uuid = format!("{name}-uuid");
    Vm {
        id: uuid.clone(),
        name: name.to_owned(),
        source: VmSource::Libvirt,
        state,
        vcpus,
        memory_mib: mib,
        definition: VmDefinition::DomainXml(domain_xml(name, &uuid, cpu, machine, vcpus, mib)),
    }
}

#[test]
fn placement_says_when_capacity_not_compatibility_stops_a_vm() {
    use VmState::{Running, ShutOff};
    let fleet = vec![
        host(
            "src",
            "Cascadelake-Server-v4",
            "8.2.2",
            64,
            256,
            vec![
                vm(
                    "big",
                    "Skylake-Server-v4",
                    "pc-q35-7.2",
                    8,
                    48 * 1024,
                    Running,
                ),
                vm(
                    "mid",
                    "Skylake-Server-v4",
                    "pc-q35-7.2",
                    4,
                    24 * 1024,
                    Running,
                ),
                vm(
                    "small",
                    "Skylake-Server-v4",
                    "pc-q35-7.2",
                    2,
                    8 * 1024,
                    Running,
                ),
                vm(
                    "off",
                    "Skylake-Server-v4",
                    "pc-q35-7.2",
                    16,
                    200 * 1024,
                    ShutOff,
                ),
                vm("pass", "host-passthrough", "pc-q35-7.2", 2, 1024, Running),
                vm(
                    "newmachine",
                    "Skylake-Server-v4",
                    "pc-q35-10.0",
                    2,
                    1024,
                    Running,
                ),
            ],
        ),
        // 64 GiB, 40 of it used: room for "mid" or "small" but not "big".
        host(
            "sky-a",
            "Skylake-Server-v4",
            "8.2.2",
            32,
            64,
            vec![vm(
                "resident",
                "Skylake-Server-v4",
                "pc-q35-7.2",
                4,
                40 * 1024,
                Running,
            )],
        ),
        // Full for vCPUs.
        host(
            "sky-b",
            "Skylake-Server-v4",
            "8.2.2",
            8,
            512,
            vec![vm(
                "r2",
                "Skylake-Server-v4",
                "pc-q35-7.2",
                8,
                1024,
                Running,
            )],
        ),
    ];
    let mut df = DrainFleet::new(&fleet, &Policy::default());
    let plan = df.plan(0);
    let get = |n: &str| plan.vms.iter().find(|v| v.name == n).expect(n);
    // Largest first: "big" (48 GiB) fits nowhere (sky-a has 24 GiB free, sky-b no vCPU).
    assert_eq!(
        get("big").outcome,
        VmOutcome::NoCapacity,
        "{:?}",
        get("big")
    );
    assert!(get("big").summary.contains("capacity, not compatibility"));
    assert_eq!(get("mid").placement.as_deref(), Some("sky-a"));
    // sky-a is full after "mid": "small" has nowhere to go.
    assert_eq!(get("small").outcome, VmOutcome::NoCapacity);
    // A shut-off VM needs no room.
    assert_eq!(get("off").placement.as_deref(), Some("sky-a"));
    // host-passthrough on Cascade Lake cannot go to Skylake: compatibility stops it.
    let pass = get("pass");
    assert_eq!(pass.outcome, VmOutcome::Stuck);
    assert!(pass.target_classes.is_empty() && !pass.blockers.is_empty());
    assert!(!pass.common_reasons.is_empty());
    // A machine type the 8.2 QEMUs do not have: stuck, and the advice is a machine type.
    let nm = get("newmachine");
    assert_eq!(nm.outcome, VmOutcome::Stuck, "{nm:?}");
    let advice = nm.advice.as_ref().expect("a machine type gives targets");
    assert_eq!(advice.kind, "machine_type", "{advice:?}");
    assert_eq!(advice.machine.as_deref(), Some("pc-q35-8.2"));
    assert!(advice.features_lost.is_empty());
    // Stuck first, then capacity, then placed; not drainable.
    assert!(!plan.drainable);
    let order: Vec<VmOutcome> = plan.vms.iter().map(|v| v.outcome).collect();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(order, sorted);
    assert_eq!(plan.n_stuck, 2);
    assert_eq!(plan.n_no_capacity, 2);
    assert_eq!(plan.n_placed, 2);
    // A host with no guest data: capacity unknown, nothing placed there.
    let mut fleet2 = fleet.clone();
    fleet2[1].guests = None;
    fleet2[2].guests = None;
    let mut df = DrainFleet::new(&fleet2, &Policy::default());
    let plan = df.plan(0);
    let mid = plan.vms.iter().find(|v| v.name == "mid").expect("mid");
    assert_eq!(mid.outcome, VmOutcome::CapacityUnknown);
    assert_eq!(plan.n_capacity_unknown, 4);
}

#[test]
fn advice_is_the_engines_own_verdict_on_the_changed_definition() {
    let policy = Policy::default();
    let mut checked = 0;
    let mut stuck = 0;
    let mut kinds = BTreeSet::new();
    for seed in 1..6 {
        // Small fleets: few classes, so some VMs have nowhere to go.
        let fleet = guest_fleet(5, 10, 36, 0, 3, seed);
        let mut df = DrainFleet::new(&fleet, &policy);
        for (i, src) in fleet.iter().enumerate() {
            let plan = df.plan(i);
            for v in plan.vms.iter().filter(|v| v.outcome == VmOutcome::Stuck) {
                stuck += 1;
                let Some(a) = &v.advice else { continue };
                kinds.insert(a.kind.clone());
                // Rebuild the changed guest as the advice says and judge it pair by pair.
                let vm = src
                    .guests
                    .as_ref()
                    .expect("guests")
                    .vms
                    .iter()
                    .find(|x| x.id == v.id)
                    .expect("vm");
                let (_, mut guest) = parse_guest(definition(vm)).expect("parses");
                guest.cpu = cpu_of(&a.cpu, &guest.cpu);
                if let Some(m) = &a.machine {
                    guest.machine = Some(m.clone());
                }
                let ok: Vec<&HostProfile> = fleet
                    .iter()
                    .filter(|d| {
                        d.host_id != src.host_id && compare_with(src, d, &guest, &policy).compatible
                    })
                    .collect();
                assert_eq!(ok.len(), a.n_target_hosts, "{} {a:?}", v.name);
                assert!(!ok.is_empty());
                checked += 1;
            }
        }
    }
    assert!(checked > 5, "{checked} {stuck} {kinds:?}");
    assert!(kinds.len() >= 2, "{kinds:?}");
}

/// The `GuestCpu` of an advice's `-cpu` description (`host-passthrough,-a,-b`, `Model,+x,-y`).
fn cpu_of(describe: &str, _was: &GuestCpu) -> GuestCpu {
    let mut parts = describe.split(',');
    let base = parts.next().unwrap_or_default();
    let (mut enable, mut disable) = (Vec::new(), Vec::new());
    for p in parts {
        if let Some(f) = p.strip_prefix('+') {
            enable.push(f.to_owned());
        } else if let Some(f) = p.strip_prefix('-') {
            disable.push(f.to_owned());
        }
    }
    match base {
        "host-passthrough" if disable.is_empty() => GuestCpu::HostPassthrough,
        "host-passthrough" => GuestCpu::HostPassthroughMasked { disable },
        "host-model" => GuestCpu::HostModel,
        model => GuestCpu::Named {
            model: model.to_owned(),
            enable,
            disable,
        },
    }
}

#[test]
fn an_unreadable_definition_makes_its_vm_stuck_with_the_reason() {
    let mut bad = vm(
        "broken",
        "Skylake-Server-v4",
        "pc-q35-7.2",
        2,
        1024,
        VmState::Running,
    );
    bad.definition = VmDefinition::DomainXml("<domain><memory>lots</memory></domain>".into());
    let fleet = vec![
        host("a", "Skylake-Server-v4", "8.2.2", 16, 64, vec![bad]),
        host("b", "Skylake-Server-v4", "8.2.2", 16, 64, Vec::new()),
    ];
    let mut df = DrainFleet::new(&fleet, &Policy::default());
    let plan = df.plan(0);
    assert_eq!(plan.n_unreadable, 1);
    assert!(!plan.drainable);
    let v = &plan.vms[0];
    assert_eq!(v.outcome, VmOutcome::Unreadable);
    assert!(
        v.summary.contains("cannot be read") && v.summary.contains("memory"),
        "{}",
        v.summary
    );
    // The same VM as its detail.
    let d = df.vm_detail(0, "broken").expect("by name");
    assert_eq!(d.vm.outcome, VmOutcome::Unreadable);
    assert!(df.vm_detail(0, "nope").is_none());
    // A GuestConfig default is host-passthrough: b takes a's guests of that kind.
    let ok = compare_with(
        &fleet[0],
        &fleet[1],
        &GuestConfig::default(),
        &Policy::default(),
    );
    assert!(ok.compatible);
}

#[test]
fn blockers_judged_once_per_class_name_the_drained_host() {
    let vms = || {
        vec![vm(
            "v",
            "Skylake-Server-v4",
            "pc-q35-7.2",
            2,
            1024,
            VmState::Running,
        )]
    };
    let mut a1 = host("a1", "Skylake-Server-v4", "8.2.2", 16, 64, vms());
    let mut a2 = host("a2", "Skylake-Server-v4", "8.2.2", 16, 64, vms());
    // No KVM guest view: nothing can be judged, a blocker that names the source host.
    a1.kvm = None;
    a2.kvm = None;
    let b = host("b", "Skylake-Server-v4", "8.2.2", 16, 64, Vec::new());
    let fleet = vec![a1, a2, b];
    // One class: the second plan reuses the first one's judgement.
    assert_eq!(
        shared::class::class_id(&fleet[0]),
        shared::class::class_id(&fleet[1])
    );
    let mut df = DrainFleet::new(&fleet, &Policy::default());
    for (i, id) in [(0, "a1"), (1, "a2")] {
        let plan = df.plan(i);
        let v = &plan.vms[0];
        assert_eq!(v.outcome, VmOutcome::Stuck, "{v:?}");
        let messages: Vec<&str> = v
            .blockers
            .iter()
            .flat_map(|c| c.blockers.iter().map(|r| r.message.as_str()))
            .chain(v.common_reasons.iter().map(|r| r.message.as_str()))
            .collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains(&format!("source host {id} "))),
            "{messages:?}"
        );
        let other = if id == "a1" { "a2" } else { "a1" };
        assert!(
            !messages
                .iter()
                .any(|m| m.contains(&format!("source host {other} "))),
            "{messages:?}"
        );
    }
}
