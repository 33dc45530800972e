//! `/what-if?retire=a,b&mask=tsx,hle`: retire hosts or turn features off for every guest and see
//! pools, graph and baseline change, before anyone touches the fleet. The server computes both
//! sides (`POST /api/v1/graph` and `/api/v1/baseline` take a host selection).

use leptos::prelude::*;
use shared::api::HostList;
use shared::api::ui::{Baseline, BaselineRequest, FeatureName, Graph, GraphRequest, Guest};
use shared::verdict::GuestCpu;

use crate::fetch::{Resource, get_json, post_json};
use crate::pages::graph::{AUTO_MATRIX, Drawing};
use crate::router::{query, query_value, replace_query, use_location};

fn list(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The graph request for the fleet less `retired`, guests masked by `mask`.
pub fn graph_request(all: &[String], retired: &[String], mask: &[String]) -> GraphRequest {
    let cpu = if mask.is_empty() {
        GuestCpu::HostPassthrough
    } else {
        GuestCpu::HostPassthroughMasked {
            disable: mask.to_vec(),
        }
    };
    GraphRequest {
        guest: Guest { cpu },
        hosts: (!retired.is_empty()).then(|| {
            all.iter()
                .filter(|h| !retired.contains(h))
                .cloned()
                .collect()
        }),
    }
}

#[derive(Clone, PartialEq)]
struct Side {
    graph: Graph,
    baseline: Result<String, String>,
}

async fn side(req: GraphRequest, hosts: Vec<String>) -> Result<Side, String> {
    let graph = post_json::<_, Graph>("/api/v1/graph", &req).await?;
    let baseline = post_json::<_, Baseline>(
        "/api/v1/baseline",
        &BaselineRequest {
            hosts,
            ..BaselineRequest::default()
        },
    )
    .await
    .map(|b| format!("{} (-cpu {})", b.model, b.exports.qemu));
    Ok(Side { graph, baseline })
}

/// What the change did to the pools, in sentences: pools merged (classes of several pools now
/// share one) and split (the classes of one pool now in several), named by the pools' names
/// before and after. Classes are matched by class id, which stays the same across what-if.
pub fn differences(before: &Graph, after: &Graph) -> Vec<String> {
    // The pools of `to` that the classes of pool `p` of `from` are in.
    let spread = |from: &Graph, to: &Graph, p: usize| {
        let mut pools: Vec<usize> = from.pools[p]
            .classes
            .iter()
            .filter_map(|&c| {
                let id = &from.classes[c].class_id;
                to.classes
                    .iter()
                    .find(|x| x.class_id == *id)
                    .map(|x| x.pool)
            })
            .collect();
        crate::sort::sort(&mut pools);
        pools.dedup();
        pools
    };
    let names = |g: &Graph, pools: &[usize]| {
        pools
            .iter()
            .map(|&p| g.pool_name(p))
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let mut out = Vec::new();
    for p in 0..after.pools.len() {
        let from = spread(after, before, p);
        if from.len() > 1 {
            out.push(format!(
                "Merged into {}: {}.",
                after.pool_name(p),
                names(before, &from)
            ));
        }
    }
    for p in 0..before.pools.len() {
        let to = spread(before, after, p);
        if to.len() > 1 {
            out.push(format!(
                "Split {} into {}.",
                before.pool_name(p),
                names(after, &to)
            ));
        }
    }
    let was = stranded(before);
    let now: Vec<&str> = stranded(after)
        .into_iter()
        .filter(|h| !was.contains(h))
        .collect();
    if !now.is_empty() {
        let more = now.len().saturating_sub(8);
        out.push(format!(
            "Newly stranded, with no other host to take their guests: {}{}.",
            now[..now.len().min(8)].join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    out
}

/// Hosts whose guests can go nowhere: their class takes guests to no other class, and no other
/// host of their own class can take them.
fn stranded(g: &Graph) -> Vec<&str> {
    g.classes
        .iter()
        .enumerate()
        .filter(|(i, c)| {
            !g.edges.iter().any(|e| e.from == *i) && (!c.self_compatible || c.hosts.len() < 2)
        })
        .flat_map(|(_, c)| c.hosts.iter().map(String::as_str))
        .collect()
}

fn summary(id: &'static str, title: &'static str, s: &Side) -> impl IntoView {
    let g = &s.graph;
    let largest = g.pools.first().map_or(0, |p| p.n_hosts);
    let pools = g
        .pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let names: Vec<String> = p.classes.iter().map(|&c| g.class_name(c)).collect();
            format!("{}: {}", g.pool_name(i), names.join("; "))
        })
        .collect::<Vec<_>>();
    view! {
        <div id=id class="side">
            <h3>{title}</h3>
            <dl class="stats">
                <div><dt>"hosts"</dt><dd class="n-hosts">{g.n_hosts}</dd></div>
                <div><dt>"classes"</dt><dd class="n-classes">{g.classes.len()}</dd></div>
                <div><dt>"pools"</dt><dd class="n-pools">{g.pools.len()}</dd></div>
                <div><dt>"edges"</dt><dd>{g.edges.len()}</dd></div>
                <div><dt>"largest pool"</dt><dd>{largest}</dd></div>
            </dl>
            <p class="baseline">{match &s.baseline {
                Ok(b) => format!("baseline: {b}"),
                Err(e) => format!("no baseline: {e}"),
            }}</p>
            <details><summary>"pools"</summary>
                <ul>{pools.into_iter().map(|p| view! { <li>{p}</li> }).collect_view()}</ul>
            </details>
        </div>
    }
}

#[component]
pub fn WhatIfPage() -> impl IntoView {
    let location = use_location();
    let init = |k: &str| query_value(&location.search.get_untracked(), k).unwrap_or_default();
    // What is applied (and computed), and what the user is editing until Apply.
    let retire = RwSignal::new(list(&init("retire")));
    let mask = RwSignal::new(init("mask"));
    let draft_retire = RwSignal::new(retire.get_untracked());
    let draft_mask = RwSignal::new(mask.get_untracked());
    let pending =
        move || draft_retire.get() != retire.get() || list(&draft_mask.get()) != list(&mask.get());
    let apply = move || {
        retire.set(draft_retire.get_untracked());
        mask.set(draft_mask.get_untracked());
    };
    Effect::new(move |_| {
        replace_query(&query(&[
            ("retire", &retire.get().join(",")),
            ("mask", &mask.get()),
        ]));
    });
    let hosts = Resource::new(|| get_json::<HostList>("/api/v1/hosts"));
    // Feature names to complete the mask from: the catalog's, less the raw spellings of bits
    // QEMU does not name; each option carries what is typed before the last comma.
    let catalog = Resource::new(|| get_json::<Vec<FeatureName>>("/api/v1/features"));
    let feature_options = move || {
        let draft = draft_mask.get();
        let prefix = draft.rfind(',').map_or("", |i| &draft[..=i]).to_owned();
        catalog.get().and_then(Result::ok).map(|features| {
            features
                .into_iter()
                .filter(|f| !f.name.contains('@') && !f.name.starts_with("e_"))
                .map(|f| view! { <option value=format!("{prefix}{}", f.name)>{f.description}</option> })
                .collect_view()
        })
    };
    let all = move || {
        hosts
            .get()
            .and_then(Result::ok)
            .map(|l| l.hosts.into_iter().map(|h| h.host_id).collect::<Vec<_>>())
    };
    let before = Resource::new(move || {
        let all = all();
        async move {
            let all = all?;
            Some(side(GraphRequest::default(), all).await)
        }
    });
    let after = Resource::new(move || {
        let all = all();
        let retired = retire.get();
        let mask = list(&mask.get());
        async move {
            let all = all?;
            let left: Vec<String> = all
                .iter()
                .filter(|h| !retired.contains(h))
                .cloned()
                .collect();
            if left.is_empty() {
                return Some(Err("every host is retired: keep at least one".to_owned()));
            }
            Some(side(graph_request(&all, &retired, &mask), left).await)
        }
    });
    let show = move |r: Resource<Option<Result<Side, String>>>,
                     id: &'static str,
                     title: &'static str| {
        move || match r.get().flatten() {
            None => view! { <p class="loading">"Computing pools and baseline…"</p> }.into_any(),
            Some(Err(e)) => {
                view! { <p class="error">{format!("cannot compute {title}: {e}")}</p> }.into_any()
            }
            Some(Ok(s)) => summary(id, title, &s).into_any(),
        }
    };
    let changes = move || {
        let (Some(Ok(b)), Some(Ok(a))) = (before.get().flatten(), after.get().flatten()) else {
            return None;
        };
        let mut lines = differences(&b.graph, &a.graph);
        if let (Ok(x), Ok(y)) = (&b.baseline, &a.baseline)
            && x != y
        {
            lines.push(format!("The fleet baseline changes from {x} to {y}."));
        }
        let n = lines.len();
        Some(view! {
            <div id="whatif-changes">
                <h3>{if n == 0 { "No pool merges or splits".to_owned() } else { format!("{n} changes") }}</h3>
                <ul>{lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
            </div>
        })
    };
    let after_graph = move || {
        after.get().flatten().and_then(Result::ok).map(|s| {
            let n = s.graph.classes.len();
            if n > AUTO_MATRIX {
                view! { <p class="hint">{format!("{n} classes: open /graph for the matrix")}</p> }
                    .into_any()
            } else {
                let view = super::graph::view_of(&s.graph);
                let adj = StoredValue::new(view.adjacency());
                let g = StoredValue::new(view);
                let shown = Memo::new(move |_| vec![true; n]);
                let class = RwSignal::new(None);
                let cpu = RwSignal::new("host-passthrough".to_owned());
                view! { <h3>"The graph after"</h3><Drawing g=g adj=adj shown=shown class=class cpu=cpu/> }
                    .into_any()
            }
        })
    };
    let picker = move || {
        match hosts.get() {
            None => view! { <p class="loading">"Loading hosts…"</p> }.into_any(),
            Some(Err(e)) => {
                view! { <p class="error">{format!("cannot list hosts: {e}")}</p> }.into_any()
            }
            Some(Ok(l)) => {
                // Whole clusters (by the `cluster` label) and whole classes at once.
                let mut clusters: Vec<(String, Vec<String>)> = Vec::new();
                for h in &l.hosts {
                    if let Some(c) = h.labels.get("cluster") {
                        match clusters.iter_mut().find(|(k, _)| k == c) {
                            Some((_, v)) => v.push(h.host_id.clone()),
                            None => clusters.push((c.clone(), vec![h.host_id.clone()])),
                        }
                    }
                }
                crate::sort::sort(&mut clusters);
                let groups = StoredValue::new(clusters);
                let classes = move || {
                    before.get().flatten().and_then(Result::ok).map(|b| {
                        b.graph
                            .classes
                            .iter()
                            .enumerate()
                            .map(|(i, c)| (b.graph.class_name(i), c.hosts.clone()))
                            .collect::<Vec<_>>()
                    })
                };
                let add = move |hosts: Vec<String>| {
                    draft_retire.update(|r| {
                        for h in hosts {
                            if !r.contains(&h) {
                                r.push(h);
                            }
                        }
                    });
                };
                view! {
            <div class="toolbar">
                <label>"retire a whole cluster "
                    <select id="retire-cluster" prop:value="" on:change=move |ev| {
                        let v = event_target_value(&ev);
                        if let Some(hosts) = groups.with_value(|g| g.iter().find(|(k, _)| *k == v).map(|(_, h)| h.clone())) {
                            add(hosts.to_vec());
                        }
                    }>
                        <option value="">"pick a cluster"</option>
                        {groups.with_value(|g| g.iter().map(|(k, h)| view! { <option value=k.clone()>{format!("{k} ({} hosts)", h.len())}</option> }).collect_view())}
                    </select>
                </label>
                <label>" or a class "
                    <select id="retire-class" prop:value="" on:change=move |ev| {
                        let v = event_target_value(&ev);
                        if let Some(hosts) = classes().and_then(|cs| cs.into_iter().find(|(n, _)| *n == v).map(|(_, h)| h)) {
                            add(hosts.to_vec());
                        }
                    }>
                        <option value="">"pick a class"</option>
                        {move || classes().unwrap_or_default().into_iter().map(|(n, _)| view! { <option value=n.clone()>{n.clone()}</option> }).collect_view()}
                    </select>
                </label>
            </div>
            <fieldset id="retire-picker" class="picker">
                <legend>"hosts to retire"</legend>
                {l.hosts.into_iter().map(|h| {
                    let id = h.host_id.clone();
                    let id2 = id.clone();
                    view! {
                        <label class="pick"><input type="checkbox" value=id.clone()
                            prop:checked=move || draft_retire.get().contains(&id)
                            on:change=move |ev| {
                                let on = event_target_checked(&ev);
                                draft_retire.update(|r| { r.retain(|x| *x != id2); if on { r.push(id2.clone()); } });
                            } />{h.host_id}</label>
                    }
                }).collect_view()}
            </fieldset>
            }
            .into_any()
            }
        }
    };
    view! {
        <section id="what-if">
            <h2>"What if…"</h2>
            <div class="toolbar">
                <label>"turn off for every guest "
                    <input id="whatif-mask" type="text" placeholder="hle,rtm" list="whatif-features" autocomplete="off" prop:value=move || draft_mask.get()
                        on:input=move |ev| draft_mask.set(event_target_value(&ev))
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| if ev.key() == "Enter" { apply(); } />
                </label>
                <datalist id="whatif-features">{feature_options}</datalist>
                <button id="whatif-apply" class:primary=pending disabled=move || !pending() on:click=move |_| apply()>"apply"</button>
                <button on:click=move |_| {
                    draft_retire.set(Vec::new());
                    draft_mask.set(String::new());
                    apply();
                }>"reset"</button>
                <span class="hint">{move || {
                    let n = draft_retire.get().len();
                    let hosts = if n == 1 { "1 host".to_owned() } else { format!("{n} hosts") };
                    if pending() { format!(" {hosts} to retire; apply to see the change") } else { format!(" {hosts} retired") }
                }}</span>
            </div>
            <div class="two-columns" aria-live="polite">
                {show(before, "whatif-before", "the fleet today")}
                {show(after, "whatif-after", "after the change")}
            </div>
            {changes}
            {after_graph}
            {picker}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::graph::{ClassNode, Pool};

    fn graph(pools: &[&[&str]]) -> Graph {
        let mut classes = Vec::new();
        let mut out_pools = Vec::new();
        for (p, ids) in pools.iter().enumerate() {
            let mut members = Vec::new();
            for id in *ids {
                members.push(classes.len());
                classes.push(ClassNode {
                    class_id: (*id).to_owned(),
                    vendor: "GenuineIntel".into(),
                    n_guest_features: None,
                    tsc_khz: None,
                    hosts: vec![format!("h-{id}")].into(),
                    self_compatible: true,
                    pool: p,
                });
            }
            out_pools.push(Pool {
                n_hosts: members.len(),
                classes: members,
                internally_compatible: true,
                drains_to: vec![],
            });
        }
        Graph {
            n_hosts: classes.len(),
            pool_names: (0..out_pools.len()).map(|p| format!("P{p}")).collect(),
            classes,
            edges: vec![],
            pools: out_pools,
            class_labels: vec![],
            class_names: vec![],
        }
    }

    #[test]
    fn differences_name_merged_and_split_pools() {
        let before = graph(&[&["a"], &["b"], &["c", "d"]]);
        let after = graph(&[&["a", "b"], &["c"], &["d"]]);
        assert_eq!(
            differences(&before, &after),
            vec![
                "Merged into P0: P0 + P1.".to_owned(),
                "Split P2 into P1 + P2.".to_owned()
            ]
        );
        assert!(differences(&before, &before).is_empty());
    }

    #[test]
    fn differences_name_newly_stranded_hosts() {
        // Two classes that take each other's guests; retiring one strands the other's host.
        let mut before = graph(&[&["a", "b"]]);
        before.edges = vec![
            shared::graph::ClassEdge { from: 0, to: 1 },
            shared::graph::ClassEdge { from: 1, to: 0 },
        ];
        let after = graph(&[&["a"]]);
        assert_eq!(
            differences(&before, &after),
            vec!["Newly stranded, with no other host to take their guests: h-a.".to_owned()]
        );
        // A class of two hosts that take each other's guests strands nobody.
        let mut pair = graph(&[&["a"]]);
        pair.classes[0].hosts = vec!["h-a".into(), "h-a2".into()].into();
        assert!(stranded(&pair).is_empty());
    }

    #[test]
    fn requests_leave_out_retired_hosts_and_mask_guests() {
        let all: Vec<String> = ["a", "b", "c"].map(String::from).to_vec();
        let r = graph_request(&all, &["b".into()], &[]);
        assert_eq!(r.hosts, Some(vec!["a".to_owned(), "c".to_owned()]));
        assert_eq!(r.guest.cpu, GuestCpu::HostPassthrough);
        let r = graph_request(&all, &[], &list("tsx, hle"));
        assert_eq!(r.hosts, None);
        assert_eq!(
            r.guest.cpu,
            GuestCpu::HostPassthroughMasked {
                disable: vec!["tsx".into(), "hle".into()]
            }
        );
    }
}
