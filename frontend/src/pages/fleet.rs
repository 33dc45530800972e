//! `/`: every host; pick a source and a destination, see the verdict and open the pair page.

use leptos::prelude::*;
use shared::Verdict;
use shared::api::{HostList, HostSummary};

use crate::components::VerdictView;
use crate::fetch::get_json;
use crate::router::Link;

fn label(h: &HostSummary, key: &str) -> String {
    h.labels.get(key).cloned().unwrap_or_default()
}

#[component]
pub fn FleetPage() -> impl IntoView {
    let hosts = LocalResource::new(|| get_json::<HostList>("/api/v1/hosts"));
    let (from, set_from) = signal(None::<String>);
    let (to, set_to) = signal(None::<String>);
    let (filter, set_filter) = signal(String::new());
    let (mode, set_mode) = signal("host-passthrough".to_owned());

    let verdict = LocalResource::new(move || {
        let pair = from.get().zip(to.get());
        let mode = mode.get();
        async move {
            match pair {
                Some((f, t)) => Some(
                    get_json::<Verdict>(&format!("/api/v1/compat?from={f}&to={t}&cpu={mode}"))
                        .await,
                ),
                None => None,
            }
        }
    });

    let host_rows = move || {
        let needle = filter.get().to_lowercase();
        match hosts.get() {
            None => view! { <p class="loading">"Loading hosts…"</p> }.into_any(),
            Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
            Some(Ok(list)) => {
                let shown: Vec<HostSummary> = list
                    .hosts
                    .into_iter()
                    .filter(|h| {
                        needle.is_empty()
                            || h.host_id.to_lowercase().contains(&needle)
                            || h.brand.to_lowercase().contains(&needle)
                            || h.labels
                                .values()
                                .any(|v| v.to_lowercase().contains(&needle))
                    })
                    .collect();
                let n_shown = shown.len();
                view! {
                    <p class="count">{format!("{n_shown} of {} hosts", list.n_hosts)}</p>
                    <table id="host-list">
                        <thead><tr>
                            <th>"host"</th><th>"cluster"</th><th>"vendor"</th><th>"cpu"</th>
                            <th>"class"</th><th>"guest features"</th><th>"pick"</th>
                        </tr></thead>
                        <tbody>
                        {shown.into_iter().map(|h| {
                            let id_from = h.host_id.clone();
                            let id_to = h.host_id.clone();
                            let id_row = h.host_id.clone();
                            let href = format!("/hosts/{}", h.host_id);
                            let id_text = h.host_id.clone();
                            let is_from = { let id = h.host_id.clone(); move || from.get().as_deref() == Some(id.as_str()) };
                            let is_to = { let id = h.host_id.clone(); move || to.get().as_deref() == Some(id.as_str()) };
                            view! {
                                <tr class="host-row" data-host-id=id_row
                                    class:is-from=is_from class:is-to=is_to>
                                    <td class="host-id"><Link href=href>{id_text}</Link></td>
                                    <td>{label(&h, "cluster")}</td>
                                    <td>{h.vendor.clone()}</td>
                                    <td>{h.brand.clone()}</td>
                                    <td><code>{h.class_id.clone()}</code></td>
                                    <td>{h.n_guest_features.map_or("unknown".to_owned(), |n| n.to_string())}</td>
                                    <td class="pick">
                                        <button class="pick-from" title="use as source"
                                            on:click=move |_| set_from.set(Some(id_from.clone()))>"from"</button>
                                        <button class="pick-to" title="use as destination"
                                            on:click=move |_| set_to.set(Some(id_to.clone()))>"to"</button>
                                    </td>
                                </tr>
                            }
                        }).collect_view()}
                        </tbody>
                    </table>
                }
                .into_any()
            }
        }
    };

    let verdict_view = move || match verdict.get().flatten() {
        None => {
            if from.get().is_some() && to.get().is_some() {
                view! { <p class="loading">"Computing the verdict…"</p> }.into_any()
            } else {
                view! { <p class="hint">"Pick a source host (from) and a destination host (to) in the table."</p> }.into_any()
            }
        }
        Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
        Some(Ok(v)) => view! { <VerdictView verdict=v/> }.into_any(),
    };
    let pair_link = move || {
        from.get().zip(to.get()).map(|(f, t)| {
            view! { <Link href=format!("/pair/{f}/{t}?cpu={}", mode.get())>"open the pair page (both directions, shareable)"</Link> }
        })
    };

    view! {
        <section id="verdict" aria-live="polite">
            <h2>"Verdict"</h2>
            <div class="pair">
                <span>"from: "<strong id="pick-from">{move || from.get().unwrap_or_else(|| "—".into())}</strong></span>
                <span>" to: "<strong id="pick-to">{move || to.get().unwrap_or_else(|| "—".into())}</strong></span>
                <label>" guest cpu: "
                    <select id="guest-mode" on:change=move |ev| set_mode.set(event_target_value(&ev))>
                        <option value="host-passthrough">"host-passthrough"</option>
                        <option value="host-model">"host-model"</option>
                    </select>
                </label>
                " "{pair_link}
            </div>
            {verdict_view}
        </section>
        <section id="hosts">
            <h2>"Hosts"</h2>
            <input id="host-filter" type="search" placeholder="filter by host, cpu or label"
                aria-label="filter hosts"
                on:input=move |ev| set_filter.set(event_target_value(&ev)) />
            {host_rows}
        </section>
        <section id="charts">
            <h2>"Hosts per class"</h2>
            <img src="/api/v1/charts/class-sizes.svg" alt="bar chart of hosts per class, largest first" />
        </section>
    }
}
