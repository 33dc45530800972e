//! `/vms/:ref`: one VM (`HOST:VM`, as the API names it): its definition in short, where it can
//! go now (classes and hosts, by name), or why it cannot and what to change.

use std::fmt::Write as _;

use leptos::prelude::*;
use shared::api::drain::{VmDetail, VmOutcome};

use crate::components::CopyButton;
use crate::drain::{StuckVm, esc, link, markup, memory, outcome_words, source_name, state_name};
use crate::fetch::{Resource, get_json_or_missing};
use crate::router::{Link, encode_path, query};

/// Hosts listed by name on the page; the rest are counted.
const HOSTS_SHOWN: usize = 300;

fn detail(d: VmDetail) -> impl IntoView {
    let vm = d.vm;
    let host = d.host_id;
    let (outcome, class) = outcome_words(vm.outcome);
    let kind = if d.definition_kind == "domain_xml" {
        "libvirt domain XML"
    } else {
        "QEMU command line"
    };
    let n_hosts = d.target_hosts.len();
    let answer = if n_hosts > 0 {
        format!(
            "It can move to {n_hosts} hosts in {} classes{}.",
            vm.target_classes.len(),
            vm.placement
                .as_ref()
                .map(|p| format!("; with its host drained alone it would go to {p}"))
                .unwrap_or_default()
        )
    } else {
        vm.summary.clone()
    };
    let headline = if n_hosts > 0 {
        "headline ok"
    } else {
        "headline bad"
    };
    let title = format!(
        "<h2 id=\"vm-title\">{} on {}</h2>",
        esc(&vm.name),
        link(&format!("/hosts/{host}"), &host)
    );
    let not_stated = "not stated in its definition";
    let mut facts = format!(
        "<table class=\"facts\" id=\"vm-facts\"><tr><th>state</th><td>{}</td></tr><tr><th>vCPUs, memory</th><td>{}, {}</td></tr><tr><th>runs as</th><td>{}</td></tr><tr><th>CPU model</th><td><code>{}</code></td></tr><tr><th>machine type</th><td><code>{}</code></td></tr><tr><th>its host's class</th><td>{}</td></tr><tr><th>drain</th><td class=\"outcome {class}\">{outcome}</td></tr><tr><th>id</th><td><code>{}</code></td></tr></table>",
        state_name(vm.state),
        vm.vcpus,
        memory(vm.memory_mib),
        source_name(vm.source),
        esc(vm.cpu.as_deref().unwrap_or(not_stated)),
        esc(vm.machine.as_deref().unwrap_or(not_stated)),
        esc(&d.host_class.name),
        esc(&vm.vm_ref),
    );
    let mut targets = format!(
        "<div class=\"two-columns\"><div><h3>Classes it can go to ({})</h3><ul id=\"vm-target-classes\">",
        vm.target_classes.len()
    );
    for c in vm.target_classes.iter().filter_map(|&c| d.classes.get(c)) {
        let href = format!(
            "/graph{}",
            query(&[("view", "graph"), ("class", &c.class_id)])
        );
        // The name counts the class's hosts already ("· 12 hosts").
        let _ = write!(targets, "<li>{}</li>", link(&href, &c.name));
    }
    let _ = write!(
        targets,
        "</ul></div><div><h3>Hosts it can go to ({n_hosts})</h3><ul id=\"vm-target-hosts\" class=\"hosts\">"
    );
    for h in d.target_hosts.iter().take(HOSTS_SHOWN) {
        let _ = write!(targets, "<li>{}</li>", link(&format!("/hosts/{h}"), h));
    }
    targets.push_str("</ul>");
    if n_hosts > HOSTS_SHOWN {
        let _ = write!(
            targets,
            "<p class=\"hint\">and {} more</p>",
            n_hosts - HOSTS_SHOWN
        );
    }
    targets.push_str("</div></div>");
    facts.insert_str(
        0,
        &format!(
            "<p id=\"vm-answer\" class=\"{headline}\">{}</p>",
            esc(&answer)
        ),
    );
    facts.insert_str(0, &title);
    let stuck = matches!(vm.outcome, VmOutcome::Stuck | VmOutcome::Unreadable);
    let stuck =
        stuck.then(|| view! { <div id="vm-stuck"><StuckVm vm=vm classes=d.classes/></div> });
    let definition = d.definition;
    let summary = format!("Its definition ({kind}, as the collector read it)");
    view! {
        {markup("vm-head", "", facts)}
        {stuck}
        {markup("vm-targets", "", targets)}
        <details id="vm-definition"><summary>{summary}</summary>
            <CopyButton text=definition.clone() what="the definition"/>
            <pre class="export">{definition}</pre>
        </details>
    }
}

#[component]
pub fn VmPage(vm_ref: String) -> impl IntoView {
    let url = format!("/api/v1/vms/{}", encode_path(&vm_ref));
    let answer = Resource::new(move || {
        let url = url.clone();
        async move { get_json_or_missing::<VmDetail>(&url).await }
    });
    let body = move || {
        match answer.get() {
        None => view! { <p class="loading">"Judging where this VM can go…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{format!("cannot load the VM: {e}")}</p> }.into_any(),
        Some(Ok(None)) => view! {
            <h2 id="vm-title">"Unknown VM"</h2>
            <p class="error">{format!("There is no VM {vm_ref} in this fleet: its host's newest profile does not list it. Open its host's page to see the VMs it has.")}</p>
            <p><Link href="/vms">"Every VM of the fleet"</Link></p>
        }
        .into_any(),
        Some(Ok(Some(d))) => detail(d).into_any(),
    }
    };
    view! { <section id="vm">{body}</section> }
}
