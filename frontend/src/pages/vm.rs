//! `/vms/:ref`: one VM (`HOST:VM`, as the API names it): its definition in short, where it can
//! go now (classes and hosts, by name), or why it cannot and what to change.

use leptos::prelude::*;
use shared::api::drain::{VmDetail, VmOutcome};

use crate::components::CopyButton;
use crate::drain::{StuckVm, memory, outcome_words, source_name, state_name};
use crate::fetch::get_json_or_missing;
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
    let targets = vm
        .target_classes
        .iter()
        .filter_map(|&c| d.classes.get(c))
        .map(|c| {
            let href = format!(
                "/graph{}",
                query(&[("view", "graph"), ("class", &c.class_id)])
            );
            let (name, n) = (c.name.clone(), format!(": {} hosts", c.n_hosts));
            view! { <li><Link href=href>{name}</Link>{n}</li> }
        })
        .collect_view();
    let n_hosts = d.target_hosts.len();
    let hosts = d
        .target_hosts
        .iter()
        .take(HOSTS_SHOWN)
        .map(|h| {
            let (href, h) = (format!("/hosts/{h}"), h.clone());
            view! { <li><Link href=href>{h}</Link></li> }
        })
        .collect_view();
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
    let stuck = matches!(vm.outcome, VmOutcome::Stuck | VmOutcome::Unreadable);
    let definition = d.definition;
    let host_href = format!("/hosts/{host}");
    let headline = if n_hosts > 0 {
        "headline ok"
    } else {
        "headline bad"
    };
    view! {
        <h2 id="vm-title">{vm.name.clone()}" on "<Link href=host_href>{host}</Link></h2>
        <p id="vm-answer" class=headline>{answer}</p>
        <table class="facts" id="vm-facts">
            <tr><th>"state"</th><td>{state_name(vm.state)}</td></tr>
            <tr><th>"vCPUs, memory"</th><td>{format!("{}, {}", vm.vcpus, memory(vm.memory_mib))}</td></tr>
            <tr><th>"runs as"</th><td>{source_name(vm.source)}</td></tr>
            <tr><th>"CPU model"</th><td><code>{vm.cpu.clone().unwrap_or_else(|| "not stated in its definition".into())}</code></td></tr>
            <tr><th>"machine type"</th><td><code>{vm.machine.clone().unwrap_or_else(|| "not stated in its definition".into())}</code></td></tr>
            <tr><th>"its host's class"</th><td>{d.host_class.name.clone()}</td></tr>
            <tr><th>"drain"</th><td class=format!("outcome {class}")>{outcome}</td></tr>
            <tr><th>"id"</th><td><code>{vm.vm_ref.clone()}</code></td></tr>
        </table>
        {stuck.then(|| view! { <div id="vm-stuck"><StuckVm vm=vm.clone() classes=d.classes.clone()/></div> })}
        <div class="two-columns">
            <div><h3>{format!("Classes it can go to ({})", vm.target_classes.len())}</h3><ul id="vm-target-classes">{targets}</ul></div>
            <div><h3>{format!("Hosts it can go to ({n_hosts})")}</h3>
                <ul id="vm-target-hosts" class="hosts">{hosts}</ul>
                {(n_hosts > HOSTS_SHOWN).then(|| view! { <p class="hint">{format!("and {} more", n_hosts - HOSTS_SHOWN)}</p> })}
            </div>
        </div>
        <details id="vm-definition"><summary>{format!("Its definition ({kind}, as the collector read it)")}</summary>
            <CopyButton text=definition.clone() what="the definition"/>
            <pre class="export">{definition}</pre>
        </details>
    }
}

#[component]
pub fn VmPage(vm_ref: String) -> impl IntoView {
    let url = format!("/api/v1/vms/{}", encode_path(&vm_ref));
    let answer = LocalResource::new(move || {
        let url = url.clone();
        async move { get_json_or_missing::<VmDetail>(&url).await }
    });
    let body = move || match answer.get() {
        None => view! { <p class="loading">"Judging where this VM can go…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{format!("cannot load the VM: {e}")}</p> }.into_any(),
        Some(Ok(None)) => view! {
            <h2 id="vm-title">"Unknown VM"</h2>
            <p class="error">{format!("There is no VM {vm_ref} in this fleet: its host's newest profile does not list it. Open its host's page to see the VMs it has.")}</p>
            <p><Link href="/vms">"Every VM of the fleet"</Link></p>
        }
        .into_any(),
        Some(Ok(Some(d))) => detail(d).into_any(),
    };
    view! { <section id="vm">{body}</section> }
}
