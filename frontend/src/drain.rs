//! Views of VMs and drain plans that the host page and the VM page share: a VM's facts in
//! words, the table of a host's VMs with where each would go, and a stuck VM with its blockers
//! (the verdict reasons component) and the change to its definition that would unstick it.

use leptos::prelude::*;
use shared::api::drain::{DrainClass, DrainPlan, MaskAdvice, VmDrain, VmOutcome};
use shared::api::ui::{Evidence, Reason};
use shared::vms::{VmSource, VmState};

use crate::components::Reasons;
use crate::router::{Link, vm_href};

pub fn state_name(s: VmState) -> &'static str {
    match s {
        VmState::Running => "running",
        VmState::Paused => "paused",
        VmState::ShutOff => "shut off",
        VmState::Other => "other",
    }
}

pub fn source_name(s: VmSource) -> &'static str {
    match s {
        VmSource::Libvirt => "libvirt domain",
        VmSource::Process => "QEMU process (no libvirt)",
    }
}

/// "512 MiB", "4 GiB", "1.5 GiB".
pub fn memory(mib: u64) -> String {
    if mib < 1024 {
        format!("{mib} MiB")
    } else if mib % 1024 == 0 {
        format!("{} GiB", mib / 1024)
    } else {
        format!("{:.1} GiB", mib as f64 / 1024.0)
    }
}

/// The outcome in a few words, and its CSS class.
pub fn outcome_words(o: VmOutcome) -> (&'static str, &'static str) {
    match o {
        VmOutcome::Unreadable => ("definition unreadable", "bad"),
        VmOutcome::Stuck => ("stuck: no compatible host", "bad"),
        VmOutcome::NoCapacity => ("no room: capacity stops it", "warn"),
        VmOutcome::CapacityUnknown => ("capacity unknown", "warn"),
        VmOutcome::Placed => ("has a place", "ok"),
    }
}

fn class_name(classes: &[DrainClass], i: usize) -> String {
    classes
        .get(i)
        .map_or_else(|| format!("class {i}"), |c| c.name.clone())
}

/// Where a VM goes, as a cell: the placement's host, or the sentence that says what stops it.
fn where_cell(vm: &VmDrain) -> AnyView {
    match vm.placement.clone() {
        Some(h) => {
            let href = format!("/hosts/{h}");
            let of = format!(" (of {} compatible hosts)", vm.n_target_hosts);
            view! { "→ "<Link href=href>{h}</Link>{of} }.into_any()
        }
        None => {
            let why = vm.summary.clone();
            view! { <span class="why">{why}</span> }.into_any()
        }
    }
}

/// One row per VM: name (its page), state, vCPUs, memory, source, CPU model and machine type as
/// its definition says, and where it would go.
#[component]
pub fn VmTable(vms: Vec<VmDrain>) -> impl IntoView {
    let rows = vms
        .into_iter()
        .map(|vm| {
            let (words, class) = outcome_words(vm.outcome);
            let cell = where_cell(&vm);
            view! {
                <tr class=format!("vm-row {class}") data-vm=vm.vm_ref.clone() data-outcome=words>
                    <td><Link href=vm_href(&vm.vm_ref)>{vm.name.clone()}</Link></td>
                    <td>{state_name(vm.state)}</td>
                    <td class="n">{vm.vcpus}</td>
                    <td class="n">{memory(vm.memory_mib)}</td>
                    <td>{source_name(vm.source)}</td>
                    <td><code>{vm.cpu.clone().unwrap_or_else(|| "not stated".into())}</code></td>
                    <td><code>{vm.machine.clone().unwrap_or_else(|| "not stated".into())}</code></td>
                    <td class=format!("outcome {class}")>{words}</td>
                    <td>{cell}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll">
            <table class="vm-table">
                <thead><tr>
                    <th>"VM"</th><th>"state"</th><th class="n">"vCPUs"</th><th class="n">"memory"</th>
                    <th>"runs as"</th><th>"CPU model"</th><th>"machine type"</th><th>"drain"</th><th>"goes to / stopped by"</th>
                </tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// The change that would unstick a VM, what it costs the guest and where it could then go.
fn advice_view(a: MaskAdvice, classes: &[DrainClass]) -> impl IntoView + use<> {
    let lost = if a.features_lost.is_empty() {
        "nothing: the guest keeps every CPU feature it sees now".to_owned()
    } else {
        format!(
            "{} CPU features it sees now: {}",
            a.features_lost.len(),
            a.features_lost.join(", ")
        )
    };
    let to: Vec<String> = a
        .target_classes
        .iter()
        .map(|&c| class_name(classes, c))
        .collect();
    view! {
        <div class="advice">
            <p class="fix-line">"To unstick it: "{a.change.clone()}</p>
            <ul>
                <li>"its CPU becomes "<code>{format!("-cpu {}", a.cpu)}</code>
                    {a.machine.clone().map(|m| view! { ", machine type "<code>{m}</code> })}</li>
                <li class="cost">"the guest loses "{lost}</li>
                <li>{format!("then it can go to {} hosts in {} classes: {}", a.n_target_hosts, to.len(), to.join("; "))}</li>
                {a.needs_restart.then(|| view! { <li>"takes effect when the guest is next started from the changed definition"</li> })}
            </ul>
        </div>
    }
}

/// A stuck (or unreadable) VM: why no host can take it, towards which classes, and the change to
/// its definition that would give it targets.
#[component]
pub fn StuckVm(vm: VmDrain, classes: Vec<DrainClass>) -> impl IntoView {
    let common = (!vm.common_reasons.is_empty()).then(|| {
        let items = vm
            .common_reasons
            .iter()
            .map(|r| {
                view! { <li data-rule=r.rule.clone()>{format!("{} ({} classes, {} hosts)", r.message, r.n_classes, r.n_hosts)}</li> }
            })
            .collect_view();
        view! { <p>"What stops it most often:"</p><ul class="common-reasons">{items}</ul> }
    });
    let per_class = vm
        .blockers
        .into_iter()
        .map(|b| {
            let reasons: Vec<Reason> = b
                .blockers
                .into_iter()
                .map(|r| Reason {
                    layer: r.layer,
                    severity: r.severity,
                    rule: r.rule,
                    message: r.message,
                    evidence: Evidence::default(),
                })
                .collect();
            view! {
                <details class="class-blockers">
                    <summary>{format!("towards {}", class_name(&classes, b.class))}</summary>
                    <Reasons reasons=reasons/>
                </details>
            }
        })
        .collect_view();
    let more = (vm.n_classes_not_listed > 0)
        .then(|| format!("and {} more classes, blocked too", vm.n_classes_not_listed));
    let advice = match vm.advice {
        Some(a) => advice_view(a, &classes).into_any(),
        None if vm.outcome == VmOutcome::Stuck => view! {
            <p class="hint">"No change of CPU flags, named model or machine type found gives it a target: it moves only with a host like its own."</p>
        }
        .into_any(),
        None => ().into_any(),
    };
    view! {
        <div class="stuck-vm" data-vm=vm.vm_ref.clone()>
            <h4><Link href=vm_href(&vm.vm_ref)>{vm.name.clone()}</Link>
                {format!(" · {} · {} vCPUs, {}", outcome_words(vm.outcome).0, vm.vcpus, memory(vm.memory_mib))}</h4>
            <p class="summary">{vm.summary.clone()}</p>
            {common}
            {per_class}
            {more.map(|m| view! { <p class="hint">{m}</p> })}
            {advice}
        </div>
    }
}

fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// "Can this host be drained?": the answer first, stuck VMs with their reasons and fixes, the
/// VMs capacity stops, then every VM with where it would go.
#[component]
pub fn DrainPlanView(plan: DrainPlan) -> impl IntoView {
    if !plan.has_guest_data {
        return view! {
            <p id="drain-answer" class="hint">"This host's profile has no guest data: the collector did not read its VMs. Run fleetcompat-collector probe on it (libvirt read-only, QEMU processes from /proc) to see its VMs and whether it can be drained."</p>
        }
        .into_any();
    }
    if plan.n_vms == 0 {
        return view! { <p id="drain-answer" class="headline ok">"No VMs run or are defined on this host: it can be drained as it is."</p> }.into_any();
    }
    let answer = if plan.drainable {
        format!(
            "This host can be drained: each of its {} has a place.",
            plural(plan.n_vms, "VM", "VMs")
        )
    } else {
        let parts: Vec<String> = [
            (plan.n_stuck, "is stuck (no compatible host)", "are stuck (no compatible host)"),
            (plan.n_unreadable, "has a definition that cannot be read", "have definitions that cannot be read"),
            (plan.n_no_capacity, "has compatible hosts but no room on them", "have compatible hosts but no room on them"),
            (plan.n_capacity_unknown, "has compatible hosts of unknown capacity", "have compatible hosts of unknown capacity"),
        ]
        .into_iter()
        .filter(|(n, _, _)| *n > 0)
        .map(|(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
        .collect();
        format!(
            "This host cannot be drained: {} of its {}; {} placed.",
            parts.join(", "),
            plural(plan.n_vms, "VM", "VMs"),
            plan.n_placed
        )
    };
    let headline = if plan.drainable {
        "headline ok"
    } else {
        "headline bad"
    };
    let classes = plan.classes;
    let stuck: Vec<VmDrain> = plan
        .vms
        .iter()
        .filter(|v| matches!(v.outcome, VmOutcome::Stuck | VmOutcome::Unreadable))
        .cloned()
        .collect();
    let capacity: Vec<VmDrain> = plan
        .vms
        .iter()
        .filter(|v| matches!(v.outcome, VmOutcome::NoCapacity | VmOutcome::CapacityUnknown))
        .cloned()
        .collect();
    let n_stuck = stuck.len();
    let stuck_cards = stuck
        .into_iter()
        .map(|vm| view! { <StuckVm vm=vm classes=classes.clone()/> })
        .collect_view();
    let capacity_list = (!capacity.is_empty()).then(|| {
        view! {
            <h4>"Stopped by capacity, not compatibility"</h4>
            <ul id="drain-capacity">{capacity.into_iter().map(|vm| view! {
                <li><Link href=vm_href(&vm.vm_ref)>{vm.name.clone()}</Link>{format!(" ({} vCPUs, {}): {}", vm.vcpus, memory(vm.memory_mib), vm.summary)}</li>
            }).collect_view()}</ul>
        }
    });
    view! {
        <p id="drain-answer" class=headline>{answer}</p>
        {(n_stuck > 0).then(|| view! { <div id="drain-stuck"><h4>{format!("Stuck VMs ({n_stuck})")}</h4>{stuck_cards}</div> })}
        {capacity_list}
        <h4>"Every VM and where it would go"</h4>
        <div id="drain-vms"><VmTable vms=plan.vms/></div>
        <p class="hint placement-rule">{format!("Placement: {}.", plan.placement_rule)}</p>
    }
    .into_any()
}
