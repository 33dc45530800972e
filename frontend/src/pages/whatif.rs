//! `/what-if?retire=a,b&mask=tsx,hle`: retire hosts or turn features off for every guest and see
//! pools, graph and baseline change, before anyone touches the fleet. The server computes both
//! sides.
//!
//! Sized for 100,000 hosts (issue 12): the fleet today is the graph view
//! (`GET /api/v1/graph/view`, not the whole graph) and its baseline
//! (`POST /api/v1/what-if/baseline`, nothing retired); the side after is asked only once something
//! is retired or masked (`POST /api/v1/what-if/graph` and `/baseline`, which take the hosts
//! retired, not every host kept). Hosts to retire are searched ([`crate::picker`]), whole
//! clusters named from the view's labels and whole classes from its classes, their hosts asked
//! when one is picked.

use leptos::prelude::*;
use shared::api::HostList;
use shared::api::graph_view::GraphView;
use shared::api::ui::FeatureName;
use shared::api::what_if::{WhatIfBaseline, WhatIfRequest};

use crate::fetch::{Resource, get_json, post_json};
use crate::pages::graph::{AUTO_MATRIX, Drawing};
use crate::picker::HostSearch;
use crate::router::{query, query_value, replace_query, use_location};

fn list(text: &str) -> Vec<String> {
    text.split([',', ' '])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The change asked: hosts retired, features typed to turn off.
pub fn request(retired: &[String], mask: &str) -> WhatIfRequest {
    WhatIfRequest {
        retire: retired.to_vec(),
        mask: list(mask),
    }
}

/// The ids of the hosts a filter of `GET /api/v1/hosts` matches (a cluster, a class).
async fn host_ids(filter: (&str, &str)) -> Result<Vec<String>, String> {
    let url = format!("/api/v1/hosts{}", query(&[filter, ("limit", "10000")]));
    get_json::<HostList>(&url)
        .await
        .map(|l| l.hosts.into_iter().map(|h| h.host_id).collect())
}

/// The baseline line of the hosts a change keeps.
async fn baseline(req: WhatIfRequest) -> Result<String, String> {
    post_json::<_, WhatIfBaseline>("/api/v1/what-if/baseline", &req)
        .await
        .map(|b| format!("{} (-cpu {})", b.model, b.qemu))
}

/// What the change did to the pools, in sentences: pools merged (classes of several pools now
/// share one) and split (the classes of one pool now in several), named by the pools' names
/// before and after. Classes are matched by class id, which stays the same across what-if.
pub fn differences(before: &GraphView, after: &GraphView) -> Vec<String> {
    // The pools of `to` that the classes of pool `p` of `from` are in.
    let spread = |from: &GraphView, to: &GraphView, p: usize| {
        let mut pools: Vec<usize> = from.pools[p]
            .classes
            .iter()
            .filter_map(|&c| {
                let id = &from.classes.get(c)?.class_id;
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
    let names = |g: &GraphView, pools: &[usize]| {
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
    // A host is stranded before and after exactly when its class is (class ids are stable).
    let was: Vec<&str> = stranded(before)
        .map(|i| before.classes[i].class_id.as_str())
        .collect();
    let now: Vec<usize> = stranded(after)
        .filter(|&i| !was.contains(&after.classes[i].class_id.as_str()))
        .collect();
    let total: usize = now.iter().map(|&i| after.classes[i].n_hosts).sum();
    if total > 0 {
        let named: Vec<&str> = now
            .iter()
            .flat_map(|&i| after.classes[i].hosts.iter().map(String::as_str))
            .take(8)
            .collect();
        let more = total - named.len();
        out.push(format!(
            "Newly stranded, with no other host to take their guests: {}{}.",
            named.join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        ));
    }
    out
}

/// Classes whose hosts' guests can go nowhere: the class takes guests to no other class (its
/// adjacency row has no bit: every character the digit zero, `A`), and no other host of the class
/// can take them.
fn stranded(g: &GraphView) -> impl Iterator<Item = usize> + '_ {
    g.classes.iter().enumerate().filter_map(|(i, c)| {
        let no_edge = g
            .out
            .get(i)
            .is_none_or(|row| row.bytes().all(|b| b == b'A'));
        (no_edge && (!c.self_compatible || c.n_hosts < 2)).then_some(i)
    })
}

fn summary(
    id: &'static str,
    title: &'static str,
    g: &GraphView,
    baseline: Option<Result<String, String>>,
) -> impl IntoView {
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
                <div><dt>"edges"</dt><dd>{g.n_edges}</dd></div>
                <div><dt>"largest pool"</dt><dd>{largest}</dd></div>
            </dl>
            <p class="baseline">{match baseline {
                None => "Computing the baseline…".to_owned(),
                Some(Ok(b)) => format!("baseline: {b}"),
                Some(Err(e)) => format!("no baseline: {e}"),
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
    let before = Resource::new(|| get_json::<GraphView>("/api/v1/graph/view"));
    let before_baseline = Resource::new(|| baseline(WhatIfRequest::default()));
    // `None`: nothing retired or masked, the side after is today's.
    let after_side = Resource::new(move || {
        let req = request(&retire.get(), &mask.get());
        async move {
            if req == WhatIfRequest::default() {
                None
            } else {
                Some(post_json::<_, GraphView>("/api/v1/what-if/graph", &req).await)
            }
        }
    });
    // The baseline reads only the hosts: a mask alone keeps today's.
    let after_baseline = Resource::new(move || {
        let retired = retire.get();
        async move {
            if retired.is_empty() {
                None
            } else {
                Some(baseline(request(&retired, "")).await)
            }
        }
    });
    // The graph after: today's until something is applied.
    let after_view = move || match after_side.get() {
        None => None,
        Some(None) => before.get(),
        Some(Some(r)) => Some(r),
    };
    let show_before = move || match before.get() {
        None => view! { <p class="loading">"Computing pools and baseline…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error">{format!("cannot compute the fleet today: {e}")}</p> }
                .into_any()
        }
        Some(Ok(g)) => summary(
            "whatif-before",
            "the fleet today",
            &g,
            before_baseline.get(),
        )
        .into_any(),
    };
    let show_after = move || match after_view() {
        None => view! { <p class="loading">"Computing pools and baseline…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error">{format!("cannot compute after the change: {e}")}</p> }
                .into_any()
        }
        Some(Ok(g)) => {
            let b = match after_baseline.get() {
                Some(None) => before_baseline.get(),
                b => b.flatten(),
            };
            summary("whatif-after", "after the change", &g, b).into_any()
        }
    };
    let changes = move || {
        let (Some(Ok(b)), Some(Ok(a))) = (before.get(), after_view()) else {
            return None;
        };
        let mut lines = differences(&b, &a);
        if let (Some(Ok(x)), Some(Some(Ok(y)))) = (before_baseline.get(), after_baseline.get())
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
        after_view().and_then(Result::ok).map(|view| {
            let n = view.classes.len();
            if n > AUTO_MATRIX {
                view! { <p class="hint">{format!("{n} classes: open /graph for the matrix")}</p> }
                    .into_any()
            } else {
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
    let add = move |hosts: Vec<String>| {
        draft_retire.update(|r| {
            for h in hosts {
                if !r.contains(&h) {
                    r.push(h);
                }
            }
        });
    };
    let failed = RwSignal::new(None::<String>);
    // Whole clusters (the `cluster` label's values over the classes) and whole classes, their
    // hosts asked when one is picked.
    let add_all = move |filter: (&'static str, String)| {
        leptos::task::spawn_local(async move {
            match host_ids((filter.0, &filter.1)).await {
                Ok(hosts) => {
                    failed.set(None);
                    add(hosts);
                }
                Err(e) => failed.set(Some(format!("cannot list the hosts to retire: {e}"))),
            }
        });
    };
    let clusters = move || {
        before.get().and_then(Result::ok).map(|g| {
            let mut values: Vec<String> = g
                .class_labels
                .iter()
                .filter_map(|l| l.get("cluster"))
                .flatten()
                .cloned()
                .collect();
            crate::sort::sort(&mut values);
            values.dedup();
            values
                .into_iter()
                .map(|k| view! { <option value=k.clone()>{k.clone()}</option> })
                .collect_view()
        })
    };
    let classes = move || {
        before.get().and_then(Result::ok).map(|g| {
            g.classes
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let name = format!("{} ({} hosts)", g.class_name(i), c.n_hosts);
                    view! { <option value=c.class_id.clone()>{name}</option> }
                })
                .collect_view()
        })
    };
    let picker = view! {
        <div class="toolbar">
            <label>"retire a whole cluster "
                <select id="retire-cluster" prop:value="" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    if !v.is_empty() {
                        add_all(("label", format!("cluster={v}")));
                    }
                }>
                    <option value="">"pick a cluster"</option>
                    {clusters}
                </select>
            </label>
            <label>" or a class "
                <select id="retire-class" prop:value="" on:change=move |ev| {
                    let v = event_target_value(&ev);
                    if !v.is_empty() {
                        add_all(("class", v));
                    }
                }>
                    <option value="">"pick a class"</option>
                    {classes}
                </select>
            </label>
        </div>
        {move || failed.get().map(|e| view! { <p class="error">{e}</p> })}
        <fieldset id="retire-picker" class="picker">
            <legend>"hosts to retire (untick to keep one)"</legend>
            {move || draft_retire.get().into_iter().map(|id| {
                let gone = id.clone();
                view! {
                    <label class="pick"><input type="checkbox" value=id.clone() prop:checked=true
                        on:change=move |_| draft_retire.update(|r| r.retain(|x| *x != gone)) />{id}</label>
                }
            }).collect_view()}
            <HostSearch id="retire-hosts" label="add hosts to retire" picked=draft_retire
                on_pick=Callback::new(move |h: String| add(vec![h]))/>
        </fieldset>
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
                {show_before}
                {show_after}
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
    use shared::api::graph_view::ViewNames;
    use shared::graph::{ClassEdge, ClassNode, Pool};

    /// A graph of one-host classes (named by their ids) in pools `P0`, `P1`...
    struct Fixture {
        classes: Vec<ClassNode>,
        edges: Vec<ClassEdge>,
        pools: Vec<Pool>,
    }

    fn graph(pools: &[&[&str]]) -> Fixture {
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
        Fixture {
            classes,
            edges: vec![],
            pools: out_pools,
        }
    }

    /// The view the server would send of the fixture.
    fn v(g: &Fixture) -> GraphView {
        GraphView::of(
            g.classes.len(),
            &g.classes,
            &g.edges,
            &g.pools,
            ViewNames {
                pool_names: (0..g.pools.len()).map(|p| format!("P{p}")).collect(),
                ..ViewNames::default()
            },
        )
    }

    #[test]
    fn differences_name_merged_and_split_pools() {
        let before = graph(&[&["a"], &["b"], &["c", "d"]]);
        let after = graph(&[&["a", "b"], &["c"], &["d"]]);
        assert_eq!(
            differences(&v(&before), &v(&after)),
            vec![
                "Merged into P0: P0 + P1.".to_owned(),
                "Split P2 into P1 + P2.".to_owned()
            ]
        );
        assert!(differences(&v(&before), &v(&before)).is_empty());
    }

    #[test]
    fn differences_name_newly_stranded_hosts() {
        // Two classes that take each other's guests; retiring one strands the other's host.
        let mut before = graph(&[&["a", "b"]]);
        before.edges = vec![ClassEdge { from: 0, to: 1 }, ClassEdge { from: 1, to: 0 }];
        let after = graph(&[&["a"]]);
        assert_eq!(
            differences(&v(&before), &v(&after)),
            vec!["Newly stranded, with no other host to take their guests: h-a.".to_owned()]
        );
        // A class of two hosts that take each other's guests strands nobody.
        let mut pair = graph(&[&["a"]]);
        pair.classes[0].hosts = vec!["h-a".into(), "h-a2".into()].into();
        assert_eq!(stranded(&v(&pair)).count(), 0);
        // Hosts past the view's first ones are counted, not named.
        let mut big = graph(&[&["a"]]);
        big.classes[0].self_compatible = false;
        big.classes[0].hosts = (0..20).map(|i| format!("h-{i}")).collect::<Vec<_>>().into();
        let lines = differences(&v(&before), &v(&big));
        assert_eq!(
            lines,
            vec![
                "Newly stranded, with no other host to take their guests: \
                 h-0, h-1, h-2, h-3, h-4, h-5, h-6, h-7 and 12 more."
                    .to_owned()
            ]
        );
    }

    #[test]
    fn requests_name_the_retired_hosts_and_the_mask() {
        let r = request(&["b".into()], "");
        assert_eq!(r.retire, vec!["b".to_owned()]);
        assert!(r.mask.is_empty());
        let r = request(&[], "tsx, hle");
        assert!(r.retire.is_empty());
        assert_eq!(r.mask, vec!["tsx".to_owned(), "hle".to_owned()]);
        assert_eq!(request(&[], " , "), WhatIfRequest::default());
    }
}
