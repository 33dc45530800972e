//! `/`: every host; pick a source and a destination, see the verdict and open the pair page.

use std::fmt::Write as _;

use leptos::prelude::*;
use shared::api::graph_view::ClassNames;
use shared::api::ui::{PoolList, Verdict};
use shared::api::{HostList, HostSummary, ProcessorCount, Stats};
use wasm_bindgen::JsCast;

use crate::components::{VerdictView, page_of, pager};
use crate::drain::{esc, link};
use crate::fetch::{Resource, get_json};
use crate::router::{Link, follow_link, query, query_value, replace_query, use_location};

fn label(h: &HostSummary, key: &str) -> String {
    h.labels.get(key).cloned().unwrap_or_default()
}

/// Hosts on one page of the host list: the DOM holds at most this many rows, whatever the fleet.
const PAGE: usize = 200;

/// Hosts per processor model (vendor, generation, brand), most hosts first:
/// "Intel Skylake-SP: Xeon Gold 6148".
pub fn generations(processors: &[ProcessorCount]) -> Vec<(String, usize)> {
    use shared::naming::{generation, short_brand, vendor_name};
    let mut by: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for h in processors {
        let generation = generation(&h.vendor, h.family, h.model, h.stepping).map_or_else(
            || format!("family {} model {}", h.family, h.model),
            str::to_owned,
        );
        let brand = short_brand(&h.brand);
        let name = format!(
            "{} {generation}: {}",
            vendor_name(&h.vendor),
            if brand.is_empty() {
                "no brand string"
            } else {
                &brand
            }
        );
        *by.entry(name).or_default() += h.n_hosts;
    }
    let mut out: Vec<(String, usize)> = by.into_iter().collect();
    crate::sort::sort_by(&mut out, |a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

/// The fleet in numbers: hosts, classes, pools, vendors, generations, and the server's charts
/// (once `rows_in`: the host list has arrived).
#[component]
fn Overview(#[prop(into)] rows_in: Signal<bool>) -> impl IntoView {
    // No host rows: only the count per processor over the whole fleet.
    let hosts = Resource::new(|| get_json::<HostList>("/api/v1/hosts?limit=0"));
    let stats = Resource::new(|| get_json::<Stats>("/api/v1/stats"));
    let pools = Resource::new(|| get_json::<PoolList>("/api/v1/pools"));
    let numbers = move || {
        match stats.get() {
        None => view! { <p class="loading">"Loading fleet numbers…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{format!("cannot load the fleet numbers: {e}")}</p> }.into_any(),
        Some(Ok(s)) => view! {
            <dl id="stats" class="stats">
                <div><dt>"hosts"</dt><dd id="n-hosts">{s.n_hosts}</dd></div>
                <div><dt>"profile versions"</dt><dd>{s.n_versions}</dd></div>
                <div><dt>"classes"</dt><dd id="n-classes">{s.n_classes}</dd></div>
                <div><dt>"pools"</dt><dd id="n-pools">{s.n_pools}</dd></div>
                <div><dt>"largest pool"</dt><dd>{format!("{} hosts", s.largest_pool_hosts)}</dd></div>
                <div><dt>"without a guest view"</dt><dd>{s.hosts_without_guest_view}</dd></div>
                {s.hosts_by_vendor.into_iter().map(|(v, n)| view! { <div><dt>{format!("{} hosts", shared::naming::vendor_name(&v))}</dt><dd>{n}</dd></div> }).collect_view()}
            </dl>
        }
        .into_any(),
    }
    };
    let pool_list = move || {
        match pools.get() {
        None => view! { <p class="loading">"Loading pools…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{format!("cannot load the pools: {e}")}</p> }.into_any(),
        Some(Ok(p)) => view! {
            <table id="pool-list">
                <thead><tr><th>"pool: best model all its hosts run"</th><th class="n">"classes"</th><th>"guests can also go to"</th></tr></thead>
                <tbody>{
                    let names: Vec<String> = p.pools.iter().map(|p| if p.name.is_empty() { format!("pool {}", p.index) } else { p.name.clone() }).collect();
                    p.pools.into_iter().map(|p| {
                        let name = names.get(p.index).cloned().unwrap_or_default();
                        let n_drains = p.drains_to.len();
                        let drains: Vec<String> = p.drains_to.iter().take(3).filter_map(|&d| names.get(d).cloned()).collect();
                        let drains = match n_drains {
                            0 => "no other pool".to_owned(),
                            4 => format!("{} and 1 more pool", drains.join("; ")),
                            n if n > 4 => format!("{} and {} more pools", drains.join("; "), n - 3),
                            _ => drains.join("; "),
                        };
                        view! {
                            <tr>
                                <td><Link href=format!("/graph?view=graph&pool={}", p.index)>{name}</Link></td>
                                <td class="n">{p.classes.len()}</td>
                                <td>{drains}</td>
                            </tr>
                        }
                    }).collect_view()
                }</tbody>
            </table>
        }
        .into_any(),
    }
    };
    let gens = move || {
        hosts.get().and_then(Result::ok).map(|l| {
            view! {
                <ul id="generations">{generations(&l.processors).into_iter().map(|(g, n)| view! { <li>{format!("{n} × {g}")}</li> }).collect_view()}</ul>
            }
        })
    };
    view! {
        <section id="overview">
            <h2>"Fleet"</h2>
            {numbers}
            <p><Link href="/graph">"open the compatibility graph"</Link></p>
            <div class="two-columns">
                <div><h3>"Pools (host-passthrough guests)"</h3>{pool_list}</div>
                <div><h3>"CPU generations"</h3>{gens}</div>
            </div>
        </section>
        <section id="charts">
            <h2>"Charts"</h2>
            // The charts ask the server for work over every host (4 SVGs, hundreds of KB at
            // 100,000 hosts): they load once the numbers, pools and host rows are in, so they
            // never hold the browser's six connections, its main thread or the server's cores
            // before the page is usable.
            {move || (rows_in.get() && stats.get().is_some() && pools.get().is_some()).then(|| view! {
                <div class="charts">
                    <figure><object id="chart-coverage" type="image/svg+xml" data="/api/v1/charts/baseline-coverage.svg">"coverage curve: hosts that can run each QEMU model"</object><figcaption>"Baseline coverage: how many hosts run each named model (point at a step for its model)"</figcaption></figure>
                    <figure><object id="chart-classes" type="image/svg+xml" data="/api/v1/charts/class-sizes.svg">"bar chart of hosts per class, largest first"</object><figcaption>"Hosts per class (point at a bar for its class)"</figcaption></figure>
                    <figure><object id="chart-pools" type="image/svg+xml" data="/api/v1/charts/pool-sizes.svg">"bar chart of hosts per pool"</object><figcaption>"Hosts per migration pool, host-passthrough guests"</figcaption></figure>
                    <figure><object id="chart-features" type="image/svg+xml" data="/api/v1/charts/feature-prevalence.svg">"how many hosts offer each feature"</object><figcaption>"Features not every host has (point at a bar for its feature)"</figcaption></figure>
                </div>
            })}
        </section>
    }
}

#[component]
pub fn FleetPage() -> impl IntoView {
    // The list's filter and page live in the query (`?q=&class=&page=N`): the server filters and
    // pages, so a fleet of 100,000 hosts puts at most PAGE rows in the DOM. `class=` (a class
    // id) is where the graph page's "all hosts of the class" leads.
    let location = use_location();
    let list_state = move || {
        let s = location.search.get();
        (
            query_value(&s, "q").unwrap_or_default(),
            page_of(&s),
            query_value(&s, "class").unwrap_or_default(),
        )
    };
    let hosts = Resource::new(move || {
        let (q, page, class) = list_state();
        let url = format!(
            "/api/v1/hosts{}",
            query(&[
                ("q", &q),
                ("class", &class),
                ("offset", &((page - 1) * PAGE).to_string()),
                ("limit", &PAGE.to_string()),
            ])
        );
        async move { get_json::<HostList>(&url).await }
    });
    // Class names by class id (host-passthrough guests): the names alone, not the whole graph
    // (at 100,000 hosts that is every host id and every edge).
    let class_names = Resource::new(|| async {
        get_json::<ClassNames>("/api/v1/class-names")
            .await
            .map(|n| {
                n.class_ids
                    .into_iter()
                    .zip(n.names)
                    .collect::<std::collections::HashMap<String, String>>()
            })
    });
    let (from, set_from) = signal(None::<String>);
    let (to, set_to) = signal(None::<String>);
    let (mode, set_mode) = signal("host-passthrough".to_owned());

    let verdict = Resource::new(move || {
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
        let names = class_names.get().and_then(Result::ok).unwrap_or_default();
        let (q, page, class) = list_state();
        match hosts.get() {
            None => view! { <p class="loading">"Loading hosts…"</p> }.into_any(),
            Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
            Some(Ok(list)) => {
                let href = move |p: usize| {
                    format!(
                        "/{}",
                        query(&[("q", &q), ("class", &class), ("page", &p.to_string())])
                    )
                };
                let (f, t) = (from.get(), to.get());
                let mut rows = String::from(
                    "<table id=\"host-list\"><thead><tr><th>host</th><th>cluster</th><th>cpu</th><th>class</th><th>guest features</th><th>pick</th></tr></thead><tbody>",
                );
                for h in &list.hosts {
                    let id = h.host_id.as_str();
                    let mut class = String::from("host-row");
                    if f.as_deref() == Some(id) {
                        class.push_str(" is-from");
                    }
                    if t.as_deref() == Some(id) {
                        class.push_str(" is-to");
                    }
                    let _ = write!(
                        rows,
                        "<tr class=\"{class}\" data-host-id=\"{}\"><td class=\"host-id\">{}</td><td>{}</td><td>{}</td><td class=\"class-name\" title=\"{}\">{}</td><td>{}</td><td class=\"pick\"><button class=\"pick-from\" title=\"use as source\">from</button><button class=\"pick-to\" title=\"use as destination\">to</button></td></tr>",
                        esc(id),
                        link(&format!("/hosts/{id}"), id),
                        esc(&label(h, "cluster")),
                        esc(&shared::naming::short_brand(&h.brand)),
                        esc(&h.class_id),
                        esc(names.get(&h.class_id).unwrap_or(&h.class_id)),
                        h.n_guest_features
                            .map_or("unknown".to_owned(), |n| n.to_string()),
                    );
                }
                rows.push_str("</tbody></table>");
                // One handler for the whole table: links go through the router, the buttons
                // pick their row's host.
                let click = move |ev: leptos::ev::MouseEvent| {
                    let picked = ev
                        .target()
                        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
                        .and_then(|e| e.closest("button").ok().flatten())
                        .and_then(|b| {
                            let row = b.closest("tr").ok().flatten()?;
                            Some((b.class_name(), row.get_attribute("data-host-id")?))
                        });
                    match picked {
                        Some((c, id)) if c == "pick-from" => set_from.set(Some(id)),
                        Some((_, id)) => set_to.set(Some(id)),
                        None => follow_link(ev),
                    }
                };
                view! {
                    {pager("hosts", list.n_hosts, page, PAGE, href)}
                    <div inner_html=rows on:click=click></div>
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
        <Overview rows_in=Signal::derive(move || hosts.get().is_some())/>
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
            {move || {
                let class = list_state().2;
                (!class.is_empty()).then(|| {
                    let names = class_names.get().and_then(Result::ok).unwrap_or_default();
                    let name = names.get(&class).cloned().unwrap_or_else(|| format!("class {class}"));
                    view! { <p id="class-filter">{format!("Hosts of {name} only. ")}<Link href="/">"every host"</Link></p> }
                })
            }}
            <input id="host-filter" type="search" placeholder="filter by host, cpu or label"
                aria-label="filter hosts" prop:value=move || list_state().0
                on:input=move |ev| {
                    let class = list_state().2;
                    replace_query(&query(&[("q", &event_target_value(&ev)), ("class", &class)]));
                } />
            {host_rows}
        </section>

    }
}
