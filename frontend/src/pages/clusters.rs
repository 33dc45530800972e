//! `/clusters?label=cluster`: one card per cluster (any label: cluster, zone, rack), as VMware
//! EVC shows them: its processors, the best named model every host runs, the hosts that hold it
//! there, and one click to the baseline with its exports.

use std::collections::BTreeMap;

use leptos::prelude::*;
use shared::api::ui::{Baseline, BaselineRequest};
use shared::api::{HostList, HostSummary};

use crate::components::CopyButton;
use crate::fetch::{get_json, post_json};
use crate::router::{Link, query, query_value, replace_query, use_location};

/// Hosts by the value of label `key`, in value order; hosts without it are left out.
pub fn groups(hosts: &[HostSummary], key: &str) -> Vec<(String, Vec<HostSummary>)> {
    let mut by: BTreeMap<String, Vec<HostSummary>> = BTreeMap::new();
    for h in hosts {
        if let Some(v) = h.labels.get(key) {
            by.entry(v.clone()).or_default().push(h.clone());
        }
    }
    by.into_iter().collect()
}

/// "16 × Xeon Gold 6148 (Skylake-SP)", most hosts first.
pub fn processors(hosts: &[HostSummary]) -> Vec<String> {
    use shared::naming::{generation, short_brand};
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for h in hosts {
        let brand = short_brand(&h.brand);
        let name = match generation(&h.vendor, h.family, h.model, h.stepping) {
            Some(g) => format!("{brand} ({g})"),
            None => brand,
        };
        *by.entry(name).or_default() += 1;
    }
    let mut out: Vec<(String, usize)> = by.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out.into_iter().map(|(n, c)| format!("{c} × {n}")).collect()
}

/// The hosts that hold a baseline where it is: those giving up the fewest features under it
/// (their own guest view is closest to it), with that number.
pub fn holding_back(b: &Baseline) -> (Vec<String>, usize) {
    let least = b
        .lost_per_host
        .iter()
        .map(|h| h.lost.len())
        .min()
        .unwrap_or(0);
    let hosts = b
        .lost_per_host
        .iter()
        .filter(|h| h.lost.len() == least)
        .map(|h| h.host.clone())
        .collect();
    (hosts, least)
}

#[component]
fn ClusterCard(key: String, value: String, hosts: Vec<HostSummary>) -> impl IntoView {
    let selector = BTreeMap::from([(key.clone(), value.clone())]);
    let baseline = LocalResource::new(move || {
        let req = BaselineRequest {
            hosts: Vec::new(),
            selector: Some(selector.clone()),
        };
        async move { post_json::<_, Baseline>("/api/v1/baseline", &req).await }
    });
    let n = hosts.len();
    let procs = processors(&hosts);
    let href = format!(
        "/baseline{}",
        query(&[("label", &format!("{key}={value}"))])
    );
    let body = move || match baseline.get() {
        None => view! { <p class="loading">"Finding the best common model…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{format!("No common model: {e}")}</p> }.into_any(),
        Some(Ok(b)) => {
            let (held, least) = holding_back(&b);
            let n_held = held.len();
            let held_text = if n_held == n {
                "Every host offers the same features: none holds the others back.".to_owned()
            } else {
                let shown: Vec<String> = held.iter().take(4).cloned().collect();
                format!(
                    "Held there by {}{} ({} {} under it; the other hosts give up more).",
                    shown.join(", "),
                    if n_held > 4 {
                        format!(" and {} more", n_held - 4)
                    } else {
                        String::new()
                    },
                    if least == 0 {
                        "they give up nothing".to_owned()
                    } else {
                        format!("they give up {least} features")
                    },
                    if n_held == 1 { "host" } else { "hosts" },
                )
            };
            let cpu = format!("-cpu {}", b.exports.qemu);
            view! {
                <p class="card-model">"Every host runs "<strong>{b.model.clone()}</strong></p>
                <details>
                    <summary>{format!("-cpu {} with {} features added, {} removed", b.base_model, b.added.len(), b.removed.len())}</summary>
                    <pre class="export">{cpu.clone()}</pre>
                </details>
                <CopyButton text=cpu what="-cpu"/>
                <p class="hint">{held_text}</p>
            }
            .into_any()
        }
    };
    view! {
        <article class="cluster-card" data-cluster=value.clone()>
            <h3>{format!("{key}={value}")}</h3>
            <p class="count">{if n == 1 { "1 host".to_owned() } else { format!("{n} hosts") }}</p>
            <ul class="procs">{procs.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
            {body}
            <Link href=href>"the baseline with every export"</Link>
        </article>
    }
}

#[component]
pub fn ClustersPage() -> impl IntoView {
    let location = use_location();
    let key = RwSignal::new(
        query_value(&location.search.get_untracked(), "label")
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "cluster".to_owned()),
    );
    Effect::new(move |_| replace_query(&query(&[("label", &key.get())])));
    let hosts = LocalResource::new(|| get_json::<HostList>("/api/v1/hosts"));
    let body = move || match hosts.get() {
        None => view! { <p class="loading">"Loading hosts…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error">{format!("cannot list the hosts: {e}")}</p> }.into_any()
        }
        Some(Ok(l)) => {
            let mut keys: Vec<String> = l
                .hosts
                .iter()
                .flat_map(|h| h.labels.keys().cloned())
                .collect();
            keys.sort();
            keys.dedup();
            let k = key.get();
            let cards = groups(&l.hosts, &k);
            let n = cards.len();
            view! {
                <div class="toolbar">
                    <label>"group hosts by the label "
                        <select id="cluster-label" prop:value=move || key.get()
                            on:change=move |ev| key.set(event_target_value(&ev))>
                            {keys.into_iter().map(|k| view! { <option value=k.clone()>{k.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                    <span class="hint">{format!(" {n} groups")}</span>
                </div>
                <div class="cluster-cards">
                    {cards.into_iter().map(|(v, hs)| view! { <ClusterCard key=k.clone() value=v hosts=hs/> }).collect_view()}
                </div>
            }
            .into_any()
        }
    };
    view! {
        <section id="clusters">
            <h2>"Clusters: the best CPU model each can offer its guests"</h2>
            {body}
        </section>
    }
}
