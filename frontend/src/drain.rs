//! Views of VMs and drain plans that the host page and the VM page share: a VM's facts in
//! words, the table of a host's VMs with where each would go, and a stuck VM with its blockers
//! (the verdict reasons component) and the change to its definition that would unstick it.
//!
//! Tables and lists are written as escaped markup (`inner_html`, links followed by
//! [`follow_link`]): one view type for any number of rows, where a `view!` per row costs the
//! WASM budget a few KB per table (BENCHMARKS.md, WASM size).

use std::fmt::Write as _;

use leptos::prelude::*;
use shared::api::drain::{DrainClass, DrainPlan, MaskAdvice, VmDrain, VmOutcome};
use shared::api::ui::{Evidence, Reason};
use shared::vms::{VmSource, VmState};

use crate::components::Reasons;
use crate::router::{follow_link, vm_href};

/// Text made safe for markup (element content and quoted attribute values).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `<a href="...">text</a>`, both escaped.
pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}

/// Markup written by this module, its links followed in the app.
pub fn markup(id: &'static str, class: &'static str, html: String) -> impl IntoView {
    view! { <div id=id class=class inner_html=html on:click=follow_link></div> }
}

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

/// "512 MiB", "4 GiB", "1.5 GiB" (tenths rounded half up). Integers only: formatting a float
/// with a precision links an exact float printer into the WASM for this one line.
pub fn memory(mib: u64) -> String {
    if mib < 1024 {
        format!("{mib} MiB")
    } else if mib.is_multiple_of(1024) {
        format!("{} GiB", mib / 1024)
    } else {
        let tenths = (mib * 10 + 512) / 1024;
        format!("{}.{} GiB", tenths / 10, tenths % 10)
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

pub fn class_name(classes: &[DrainClass], i: usize) -> String {
    classes
        .get(i)
        .map_or_else(|| format!("class {i}"), |c| c.name.clone())
}

/// One row per VM: name (its page), state, vCPUs, memory, source, CPU model and machine type as
/// its definition says, and where it would go (the placement's host, or what stops it).
pub fn vm_table(vms: &[VmDrain]) -> String {
    let mut h = String::from(
        "<table class=\"vm-table\"><thead><tr><th>VM</th><th>state</th><th class=\"n\">vCPUs</th><th class=\"n\">memory</th><th>runs as</th><th>CPU model</th><th>machine type</th><th>drain</th><th>goes to / stopped by</th></tr></thead><tbody>",
    );
    for vm in vms {
        let (words, class) = outcome_words(vm.outcome);
        let goes = match &vm.placement {
            Some(p) => format!(
                "→ {} (of {} compatible hosts)",
                link(&format!("/hosts/{p}"), p),
                vm.n_target_hosts
            ),
            None => format!("<span class=\"why\">{}</span>", esc(&vm.summary)),
        };
        let _ = write!(
            h,
            "<tr class=\"vm-row {class}\" data-vm=\"{}\" data-outcome=\"{words}\"><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td><td><code>{}</code></td><td><code>{}</code></td><td class=\"outcome {class}\">{words}</td><td>{goes}</td></tr>",
            esc(&vm.vm_ref),
            link(&vm_href(&vm.vm_ref), &vm.name),
            state_name(vm.state),
            vm.vcpus,
            memory(vm.memory_mib),
            source_name(vm.source),
            esc(vm.cpu.as_deref().unwrap_or("not stated")),
            esc(vm.machine.as_deref().unwrap_or("not stated")),
        );
    }
    h.push_str("</tbody></table>");
    h
}

/// The change that would unstick a VM, what it costs the guest and where it could then go.
fn advice_html(a: &MaskAdvice, classes: &[DrainClass]) -> String {
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
    let machine = a
        .machine
        .as_ref()
        .map(|m| format!(", machine type <code>{}</code>", esc(m)))
        .unwrap_or_default();
    format!(
        "<div class=\"advice\"><p class=\"fix-line\">To unstick it: {}</p><ul><li>its CPU becomes <code>-cpu {}</code>{machine}</li><li class=\"cost\">the guest loses {}</li><li>{}</li>{}</ul></div>",
        esc(&a.change),
        esc(&a.cpu),
        esc(&lost),
        esc(&format!(
            "then it can go to {} hosts in {} classes: {}",
            a.n_target_hosts,
            to.len(),
            to.join("; ")
        )),
        if a.needs_restart {
            "<li>takes effect when the guest is next started from the changed definition</li>"
        } else {
            ""
        }
    )
}

/// A stuck (or unreadable) VM: why no host can take it, towards which classes (the reasons
/// component, as on the pair page), and the change to its definition that would give it targets.
#[component]
pub fn StuckVm(vm: VmDrain, classes: Vec<DrainClass>) -> impl IntoView {
    let mut head = format!(
        "<h4>{} · {} · {} vCPUs, {}</h4><p class=\"summary\">{}</p>",
        link(&vm_href(&vm.vm_ref), &vm.name),
        outcome_words(vm.outcome).0,
        vm.vcpus,
        memory(vm.memory_mib),
        esc(&vm.summary)
    );
    if !vm.common_reasons.is_empty() {
        head.push_str("<p>What stops it most often:</p><ul class=\"common-reasons\">");
        for r in &vm.common_reasons {
            let _ = write!(
                head,
                "<li data-rule=\"{}\">{} ({} classes, {} hosts)</li>",
                esc(&r.rule),
                esc(&r.message),
                r.n_classes,
                r.n_hosts
            );
        }
        head.push_str("</ul>");
    }
    let mut tail = String::new();
    if vm.n_classes_not_listed > 0 {
        let _ = write!(
            tail,
            "<p class=\"hint\">and {} more classes, blocked too</p>",
            vm.n_classes_not_listed
        );
    }
    match &vm.advice {
        Some(a) => tail.push_str(&advice_html(a, &classes)),
        None if vm.outcome == VmOutcome::Stuck => tail.push_str(
            "<p class=\"hint\">No change of CPU flags, named model or machine type found gives it a target: it moves only with a host like its own.</p>",
        ),
        None => {}
    }
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
            let towards = format!("towards {}", class_name(&classes, b.class));
            view! {
                <details class="class-blockers">
                    <summary>{towards}</summary>
                    <Reasons reasons=reasons/>
                </details>
            }
        })
        .collect_view();
    view! {
        <div class="stuck-vm" data-vm=vm.vm_ref on:click=follow_link>
            <div inner_html=head></div>
            {per_class}
            <div inner_html=tail></div>
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

/// The answer to "can this host be drained?" in one sentence.
fn answer(plan: &DrainPlan) -> String {
    let vms = plural(plan.n_vms, "VM", "VMs");
    if plan.drainable {
        return format!("This host can be drained: each of its {vms} has a place.");
    }
    let parts: Vec<String> = [
        (
            plan.n_stuck,
            "is stuck (no compatible host)",
            "are stuck (no compatible host)",
        ),
        (
            plan.n_unreadable,
            "has a definition that cannot be read",
            "have definitions that cannot be read",
        ),
        (
            plan.n_no_capacity,
            "has compatible hosts but no room on them",
            "have compatible hosts but no room on them",
        ),
        (
            plan.n_capacity_unknown,
            "has compatible hosts of unknown capacity",
            "have compatible hosts of unknown capacity",
        ),
    ]
    .into_iter()
    .filter(|(n, _, _)| *n > 0)
    .map(|(n, one, many)| format!("{n} {}", if n == 1 { one } else { many }))
    .collect();
    format!(
        "This host cannot be drained: of its {vms}, {}; {} placed.",
        parts.join(", "),
        plan.n_placed
    )
}

/// "Can this host be drained?": the answer first, stuck VMs with their reasons and fixes, the
/// VMs capacity stops, then every VM with where it would go.
#[component]
pub fn DrainPlanView(plan: DrainPlan) -> impl IntoView {
    let (text, class) = if !plan.has_guest_data {
        ("This host's profile has no guest data: the collector did not read its VMs. Run fleetcompat-collector probe on it (libvirt read-only, QEMU processes from /proc) to see its VMs and whether it can be drained.".to_owned(), "hint")
    } else if plan.n_vms == 0 {
        (
            "No VMs run or are defined on this host: it can be drained as it is.".to_owned(),
            "headline ok",
        )
    } else if plan.drainable {
        (answer(&plan), "headline ok")
    } else {
        (answer(&plan), "headline bad")
    };
    let stuck: Vec<VmDrain> = plan
        .vms
        .iter()
        .filter(|v| matches!(v.outcome, VmOutcome::Stuck | VmOutcome::Unreadable))
        .cloned()
        .collect();
    let mut rest = String::new();
    let capacity: Vec<&VmDrain> = plan
        .vms
        .iter()
        .filter(|v| {
            matches!(
                v.outcome,
                VmOutcome::NoCapacity | VmOutcome::CapacityUnknown
            )
        })
        .collect();
    if !capacity.is_empty() {
        rest.push_str("<h4>Stopped by capacity, not compatibility</h4><ul id=\"drain-capacity\">");
        for vm in capacity {
            let _ = write!(
                rest,
                "<li>{} ({} vCPUs, {}): {}</li>",
                link(&vm_href(&vm.vm_ref), &vm.name),
                vm.vcpus,
                memory(vm.memory_mib),
                esc(&vm.summary)
            );
        }
        rest.push_str("</ul>");
    }
    if !plan.vms.is_empty() {
        let _ = write!(
            rest,
            "<h4>Every VM and where it would go</h4><div id=\"drain-vms\" class=\"table-scroll\">{}</div><p class=\"hint placement-rule\">Placement: {}.</p>",
            vm_table(&plan.vms),
            esc(&plan.placement_rule)
        );
    }
    let n_stuck = stuck.len();
    let classes = plan.classes;
    let stuck_cards = (n_stuck > 0).then(|| {
        let title = format!("Stuck VMs ({n_stuck})");
        let cards = stuck
            .into_iter()
            .map(|vm| view! { <StuckVm vm=vm classes=classes.clone()/> })
            .collect_view();
        view! { <div id="drain-stuck"><h4>{title}</h4>{cards}</div> }
    });
    view! {
        <p id="drain-answer" class=class>{text}</p>
        {stuck_cards}
        <div inner_html=rest on:click=follow_link></div>
    }
}

#[cfg(test)]
mod tests {
    use super::memory;

    #[test]
    fn memory_reads_as_people_write_it() {
        assert_eq!(memory(512), "512 MiB");
        assert_eq!(memory(4096), "4 GiB");
        assert_eq!(memory(1536), "1.5 GiB");
        // 1,075 MiB is 1.0498 GiB, 1,076 MiB 1.0508 GiB; 2,047 MiB (1.999 GiB) reads 2.0.
        assert_eq!(memory(1075), "1.0 GiB");
        assert_eq!(memory(1076), "1.1 GiB");
        assert_eq!(memory(2047), "2.0 GiB");
        assert_eq!(memory(1025), "1.0 GiB");
    }
}
