//! `/clusters?label=cluster`: one card per cluster (any label: cluster, zone, rack), as VMware
//! EVC shows them: its processors, the best named model every host runs, the next model up and
//! the hosts that block it (`GET /api/v1/clusters`, computed by `shared::clusters`), the
//! baseline's `-cpu` line, and one click to the baseline with its exports.

use std::collections::BTreeMap;

use leptos::prelude::*;
use shared::api::ui::{Baseline, BaselineRequest};
use shared::api::{ClusterBlocker, ClusterCard as Card, ClusterList, HostList, HostSummary};

use crate::components::CopyButton;
use crate::fetch::{Resource, get_json, post_json};
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
    crate::sort::sort_by(&mut out, |a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out.into_iter().map(|(n, c)| format!("{c} × {n}")).collect()
}

/// The blockers of a next model grouped by what they lack (the same features, or the same other
/// reasons): the most hosts first.
pub fn blocker_groups(blockers: &[ClusterBlocker]) -> Vec<(Vec<String>, Vec<String>)> {
    let mut by: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for b in blockers {
        let why = if b.missing.is_empty() {
            b.other.clone()
        } else {
            b.missing.clone()
        };
        by.entry(why).or_default().push(b.host.clone());
    }
    let mut out: Vec<(Vec<String>, Vec<String>)> = by.into_iter().collect();
    crate::sort::sort_by(&mut out, |a, b| {
        b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0))
    });
    out
}

/// "a, b, c and 3 more".
fn some_of(items: &[String], n: usize) -> String {
    let shown = items.iter().take(n).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > n {
        format!("{shown} and {} more", items.len() - n)
    } else {
        shown
    }
}

/// The card's model lines: the best model every host runs, the next one up and its blockers.
fn model_lines(card: Option<Result<Card, String>>) -> AnyView {
    let c = match card {
        None => {
            return view! { <p class="loading">"Finding the models every host runs…"</p> }
                .into_any();
        }
        Some(Err(e)) => {
            return view! { <p class="error">{format!("cannot find the models: {e}")}</p> }
                .into_any();
        }
        Some(Ok(c)) => c,
    };
    let best = match (&c.best_model, c.vendors.len()) {
        (Some(m), _) => view! {
            <p class="card-model">"Every host runs "<strong>{m.clone()}</strong>" as QEMU defines it"</p>
        }
        .into_any(),
        (None, n) if n > 1 => view! {
            <p class="card-model">"No named model runs on every host: "<strong>{format!("{n} CPU vendors")}</strong></p>
        }
        .into_any(),
        (None, _) => view! {
            <p class="card-model">"No named QEMU model runs whole on "<strong>"every host"</strong></p>
        }
        .into_any(),
    };
    let next = match &c.next_model {
        None if c.vendors.len() == 1 && c.best_model.is_none() => view! {
            <p class="card-next hint">"Nor does one run whole on any host here: see the baseline for the closest model with features added or removed."</p>
        }
        .into_any(),
        None if c.vendors.len() == 1 => view! {
            <p class="card-next hint">"No model above it runs on any host here: the cluster moves up only with newer hosts."</p>
        }
        .into_any(),
        None => ().into_any(),
        Some(m) => {
            let n_blocking = c.blockers.len();
            let groups = blocker_groups(&c.blockers);
            view! {
                <p class="card-next">"Next model up: "<strong>{m.clone()}</strong>
                    {format!(", held back by {n_blocking} of {} hosts:", c.n_hosts)}</p>
                <ul class="card-blockers">
                    {groups.into_iter().map(|(why, hosts)| {
                        let lack = if hosts.len() == 1 { "lacks" } else { "lack" };
                        let all = hosts.join(", ");
                        view! {
                            <li title=all>
                                <span class="hosts">{some_of(&hosts, 3)}</span>
                                {format!(" {lack} ")}
                                <span class="why">{some_of(&why, 8)}</span>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            }
            .into_any()
        }
    };
    view! { {best}{next} }.into_any()
}

#[component]
fn ClusterCard(
    key: String,
    value: String,
    hosts: Vec<HostSummary>,
    cards: Resource<Result<ClusterList, String>>,
) -> impl IntoView {
    // The engine's card for this cluster, once it has come for this label.
    let (k, v) = (key.clone(), value.clone());
    let card = move || match cards.get() {
        Some(Ok(list)) if list.label == k => Some(
            list.clusters
                .into_iter()
                .find(|c| c.value == v)
                .ok_or_else(|| "the server has no card for it".to_owned()),
        ),
        Some(Err(e)) => Some(Err(e)),
        _ => None,
    };
    let selector = BTreeMap::from([(key.clone(), value.clone())]);
    let baseline = Resource::new(move || {
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
        None => view! { <p class="loading">"Finding the baseline…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{format!("No common model: {e}")}</p> }.into_any(),
        Some(Ok(b)) => {
            let cpu = format!("-cpu {}", b.exports.qemu);
            view! {
                <div class="card-baseline">
                    <details>
                        <summary>{format!("Baseline -cpu {} with {} features added, {} removed", b.base_model, b.added.len(), b.removed.len())}</summary>
                        <pre class="export">{cpu.clone()}</pre>
                    </details>
                    <CopyButton text=cpu what="-cpu"/>
                </div>
            }
            .into_any()
        }
    };
    view! {
        <article class="cluster-card" data-cluster=value.clone()>
            <h3>{format!("{key}={value}")}</h3>
            <p class="count">{if n == 1 { "1 host".to_owned() } else { format!("{n} hosts") }}</p>
            <ul class="procs">{procs.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
            {move || model_lines(card())}
            {body}
            <Link href=href>"The baseline with every export →"</Link>
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
    let hosts = Resource::new(|| get_json::<HostList>("/api/v1/hosts"));
    let cards = Resource::new(move || {
        let url = format!("/api/v1/clusters{}", query(&[("label", &key.get())]));
        async move { get_json::<ClusterList>(&url).await }
    });
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
            crate::sort::sort(&mut keys);
            keys.dedup();
            let k = key.get();
            let groups = groups(&l.hosts, &k);
            let n = groups.len();

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
                    {groups.into_iter().map(|(v, hs)| view! { <ClusterCard key=k.clone() value=v hosts=hs cards=cards/> }).collect_view()}
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
