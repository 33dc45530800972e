//! `/vms?host=&page=N`: every VM of the fleet (`GET /api/v1/vms`), a page at a time, each
//! linked to its page and its host.

use std::fmt::Write as _;

use leptos::prelude::*;
use shared::api::drain::VmList;

use crate::components::{page_of, pager};
use crate::drain::{esc, link, markup, memory, source_name, state_name};
use crate::fetch::{Resource, get_json};
use crate::router::{query, query_value, use_location, vm_href};

/// VMs on one page.
const PAGE: usize = 200;

#[component]
pub fn VmsPage() -> impl IntoView {
    let location = use_location();
    let state = move || {
        let s = location.search.get();
        (query_value(&s, "host").unwrap_or_default(), page_of(&s))
    };
    let list = Resource::new(move || {
        let (host, page) = state();
        let offset = (page - 1) * PAGE;
        let url = format!(
            "/api/v1/vms{}",
            query(&[
                ("host", &host),
                ("offset", &offset.to_string()),
                ("limit", &PAGE.to_string()),
            ])
        );
        async move { get_json::<VmList>(&url).await }
    });
    let body = move || {
        let (host, page) = state();
        match list.get() {
            None => view! { <p class="loading">"Loading the VMs…"</p> }.into_any(),
            Some(Err(e)) => view! { <p class="error">{format!("cannot list the VMs: {e}")}</p> }.into_any(),
            Some(Ok(l)) if l.total == 0 => view! {
                <p class="hint">{format!("No VMs: none of the {} hosts with guest data runs or defines one{}. The collector reads a host's VMs when it probes it (libvirt read-only, QEMU processes from /proc).", l.n_hosts_with_guests, if host.is_empty() { String::new() } else { format!(" (host {host})") })}</p>
            }
            .into_any(),
            Some(Ok(l)) => {
                let href = {
                    let host = host.clone();
                    move |p: usize| format!("/vms{}", query(&[("host", &host), ("page", &p.to_string())]))
                };
                let mut rows = String::from("<table id=\"vm-list\"><thead><tr><th>VM</th><th>host</th><th>state</th><th class=\"n\">vCPUs</th><th class=\"n\">memory</th><th>runs as</th></tr></thead><tbody>");
                for vm in &l.vms {
                    let _ = write!(
                        rows,
                        "<tr class=\"vm-row\" data-vm=\"{}\"><td>{}</td><td>{}</td><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td>{}</td></tr>",
                        esc(&vm.vm_ref),
                        link(&vm_href(&vm.vm_ref), &vm.name),
                        link(&format!("/hosts/{}", vm.host_id), &vm.host_id),
                        state_name(vm.state),
                        vm.vcpus,
                        memory(vm.memory_mib),
                        source_name(vm.source),
                    );
                }
                rows.push_str("</tbody></table>");
                view! {
                    <p>{format!("{} VMs on {} hosts with guest data; open a host for its drain plan, a VM for where it can go.", l.total, l.n_hosts_with_guests)}</p>
                    {pager("VMs", l.total, page, PAGE, href)}
                    {markup("vm-list-table", "table-scroll", rows)}
                }
                .into_any()
            }
        }
    };
    view! { <section id="vms"><h2>"VMs"</h2>{body}</section> }
}
