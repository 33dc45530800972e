//! `/clusters?label=cluster`: one card per cluster (any label: cluster, zone, rack), as VMware
//! EVC shows them: its processors, the best named model every host runs, the next model up and
//! the hosts that block it (`GET /api/v1/clusters`, computed by `shared::clusters`), the
//! baseline's `-cpu` line, and one click to the baseline with its exports. The cards come in
//! pages (`?page=N`, [`CARDS`] each): 100,000 hosts are 2,500 clusters, and each card asks for its
//! processors (`GET /api/v1/hosts?label=K=V&limit=0`) and its baseline; no page reads every host.

use std::collections::BTreeMap;

use leptos::prelude::*;
use shared::api::ui::{Baseline, BaselineRequest};
use shared::api::{ClusterBlocker, ClusterCard as Card, ClusterList, HostList, ProcessorCount};

use crate::components::{CopyButton, page_of, page_span, pager};
use crate::fetch::{Resource, get_json, post_json};
use crate::router::{Link, query, query_value, replace_query, use_location};

/// Cluster cards on one page.
pub const CARDS: usize = 24;

/// Hosts a page of hosts names its label keys from.
const KEY_SAMPLE: usize = 200;

/// "16 × Xeon Gold 6148 (Skylake-SP)", most hosts first (the server's counts, already in that
/// order, named).
pub fn processors(counts: &[ProcessorCount]) -> Vec<String> {
    use shared::naming::{generation, short_brand};
    let mut by: BTreeMap<String, usize> = BTreeMap::new();
    for p in counts {
        let brand = short_brand(&p.brand);
        let name = match generation(&p.vendor, p.family, p.model, p.stepping) {
            Some(g) => format!("{brand} ({g})"),
            None => brand,
        };
        *by.entry(name).or_default() += p.n_hosts;
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
fn ClusterCard(key: String, card: Card) -> impl IntoView {
    let value = card.value.clone();
    let n = card.n_hosts;
    let selector = BTreeMap::from([(key.clone(), value.clone())]);
    let baseline = Resource::new(move || {
        let req = BaselineRequest {
            hosts: Vec::new(),
            selector: Some(selector.clone()),
        };
        async move { post_json::<_, Baseline>("/api/v1/baseline", &req).await }
    });
    // The processors of this cluster's hosts, counted by the server.
    let url = format!(
        "/api/v1/hosts{}",
        query(&[("label", &format!("{key}={value}")), ("limit", "0")])
    );
    let counts = Resource::new(move || {
        let url = url.clone();
        async move { get_json::<HostList>(&url).await }
    });
    let procs = move || match counts.get() {
        None => view! { <li class="loading">"Counting the processors…"</li> }.into_any(),
        Some(Err(e)) => {
            view! { <li class="error">{format!("cannot count the processors: {e}")}</li> }
                .into_any()
        }
        Some(Ok(l)) => processors(&l.processors)
            .into_iter()
            .map(|p| view! { <li>{p}</li> })
            .collect_view()
            .into_any(),
    };
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
            <ul class="procs">{procs}</ul>
            {model_lines(Some(Ok(card)))}
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
    let page = Memo::new(move |_| page_of(&location.search.get()));
    Effect::new(move |_| {
        let p = page.get_untracked();
        let p = if p > 1 { p.to_string() } else { String::new() };
        replace_query(&query(&[("label", &key.get()), ("page", &p)]));
    });
    // Label names to offer: those of a first page of hosts (any other can be typed).
    let sample = Resource::new(|| {
        let url = format!(
            "/api/v1/hosts{}",
            query(&[("limit", &KEY_SAMPLE.to_string())])
        );
        async move { get_json::<HostList>(&url).await }
    });
    let keys = move || {
        let mut keys: Vec<String> = sample
            .get()
            .and_then(Result::ok)
            .map(|l| {
                l.hosts
                    .iter()
                    .flat_map(|h| h.labels.keys().cloned())
                    .collect()
            })
            .unwrap_or_default();
        crate::sort::sort(&mut keys);
        keys.dedup();
        keys.into_iter()
            .map(|k| view! { <option value=k.clone()>{k.clone()}</option> })
            .collect_view()
    };
    let cards = Resource::new(move || {
        let url = format!("/api/v1/clusters{}", query(&[("label", &key.get())]));
        async move { get_json::<ClusterList>(&url).await }
    });
    let body = move || match cards.get() {
        None => view! { <p class="loading">"Finding the clusters…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error">{format!("cannot show the clusters: {e}")}</p> }.into_any()
        }
        Some(Ok(list)) => {
            let n = list.clusters.len();
            let p = page.get();
            let (first, last, _) = page_span(n, p, CARDS);
            let k = list.label.clone();
            let href = {
                let k = k.clone();
                move |p: usize| {
                    format!(
                        "/clusters{}",
                        query(&[("label", &k), ("page", &p.to_string())])
                    )
                }
            };
            let shown: Vec<Card> = list
                .clusters
                .into_iter()
                .skip(first.saturating_sub(1))
                .take(last + 1 - first.max(1))
                .collect();
            view! {
                <p class="hint">{format!("{n} groups")}</p>
                {(n > CARDS).then(|| pager("clusters", n, p, CARDS, href))}
                <div class="cluster-cards">
                    {shown.into_iter().map(|c| view! { <ClusterCard key=k.clone() card=c/> }).collect_view()}
                </div>
            }
            .into_any()
        }
    };
    view! {
        <section id="clusters">
            <h2>"Clusters: the best CPU model each can offer its guests"</h2>
            <div class="toolbar">
                <label>"group hosts by the label "
                    <input id="cluster-label" type="text" list="cluster-label-keys" autocomplete="off"
                        prop:value=move || key.get()
                        on:change=move |ev| key.set(event_target_value(&ev)) />
                </label>
                <datalist id="cluster-label-keys">{keys}</datalist>
            </div>
            {body}
        </section>
    }
}
