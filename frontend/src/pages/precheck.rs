//! `/precheck?from=HOST`: "Can this VM go there?" Paste a libvirt domain XML or a QEMU command
//! line, pick the host the VM runs on (searched, [`crate::picker`]), and see every class of the
//! fleet grouped by verdict (`POST /api/v1/precheck`, one brief per class: `detail: "blockers"`),
//! and the reasons of a class it cannot go to once that class is opened (the same request with
//! `to`). The graph view that names the classes (`GET /api/v1/graph/view`, not the whole graph)
//! is read only once a check is asked.

use leptos::prelude::*;
use shared::api::graph_view::GraphView;
use shared::api::ui::{PrecheckAnswer, PrecheckRequest, Verdict};

use crate::components::Reasons;
use crate::fetch::{Resource, get_json, post_json};
use crate::picker::HostSearch;
use crate::router::{Link, query, query_value, replace_query, use_location};

/// A small VM definition to start from.
pub const EXAMPLE: &str = "<domain type='kvm'>
  <name>web-01</name>
  <memory unit='MiB'>4096</memory>
  <vcpu>2</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <cpu mode='host-passthrough'/>
</domain>";

/// One class's outcome: its index and the verdict for its host.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassOutcome {
    pub class: usize,
    pub verdict: Verdict,
}

/// Verdicts per destination host grouped by the class of the host: each class once, judged by
/// its first host the answer has a verdict for (the page asks one verdict per class, for the
/// class's first host other than the source, which the view lists): (can go, cannot go), the latter fewest blockers first.
pub fn by_class(g: &GraphView, verdicts: &[Verdict]) -> (Vec<ClassOutcome>, Vec<ClassOutcome>) {
    // The server sends the compatible verdicts first, each part in host id order
    // (`backend/src/api/precheck.rs`): a binary search in each part finds a host's.
    let split = verdicts.partition_point(|v| v.compatible);
    let (yes, no) = verdicts.split_at(split);
    let of = |h: &str| {
        [yes, no].into_iter().find_map(|part| {
            part.binary_search_by(|v| v.to.as_str().cmp(h))
                .ok()
                .map(|i| &part[i])
        })
    };
    let seen: Vec<ClassOutcome> = g
        .classes
        .iter()
        .enumerate()
        .filter_map(|(class, c)| {
            let v = c.hosts.iter().find_map(|h| of(h))?;
            Some(ClassOutcome {
                class,
                verdict: v.clone(),
            })
        })
        .collect();
    let (ok, mut bad): (Vec<ClassOutcome>, Vec<ClassOutcome>) =
        seen.into_iter().partition(|o| o.verdict.compatible);
    // Near misses first: the fewest blockers.
    let blockers = |o: &ClassOutcome| o.verdict.n_blockers;
    crate::sort::sort_by_key(&mut bad, blockers);
    (ok, bad)
}

/// A line in place of the results.
fn hint(text: &'static str) -> AnyView {
    view! { <p class="hint">{text}</p> }.into_any()
}

#[component]
pub fn PrecheckPage() -> impl IntoView {
    let location = use_location();
    let from =
        RwSignal::new(query_value(&location.search.get_untracked(), "from").unwrap_or_default());
    let text = RwSignal::new(EXAMPLE.to_owned());
    Effect::new(move |_| replace_query(&query(&[("from", &from.get())])));
    // The request asked: a click on "check" sets it.
    let asked = RwSignal::new(None::<PrecheckRequest>);
    // The destination host whose class is opened: its full reasons, asked with `to`.
    let opened = RwSignal::new(String::new());
    let ask = move |req: Option<PrecheckRequest>| async move {
        match req {
            Some(r) => Some(post_json::<_, PrecheckAnswer>("/api/v1/precheck", &r).await),
            None => None,
        }
    };
    let answer = Resource::new(move || ask(asked.get()));
    let reasons = Resource::new(move || {
        let to = opened.get();
        ask(asked
            .get()
            .filter(|_| !to.is_empty())
            .map(|r| PrecheckRequest {
                to,
                by_class: false,
                detail: String::new(),
                ..r
            }))
    });
    // Read beside the first check, not on load: the page opens without it.
    let graph = Resource::new(move || {
        let wanted = asked.with(Option::is_some);
        async move {
            if wanted {
                Some(get_json::<GraphView>("/api/v1/graph/view").await)
            } else {
                None
            }
        }
    });
    let picked = Signal::derive(move || vec![from.get()]);
    let picker = view! {
        <p>"the VM runs on "
            <strong id="precheck-from">{move || {
                let f = from.get();
                if f.is_empty() { "no host yet: search for it below".to_owned() } else { f }
            }}</strong>
        </p>
        <HostSearch id="precheck-hosts" label="search the hosts" picked=picked
            on_pick=Callback::new(move |h: String| from.set(h))/>
    };
    let check = move |_| {
        let f = from.get_untracked();
        if !f.is_empty() {
            opened.set(String::new());
            asked.set(Some(PrecheckRequest {
                from: f,
                to: String::new(),
                guest: text.get_untracked(),
                by_class: true,
                detail: "blockers".to_owned(),
            }));
        }
    };
    let results = move || {
        let g = graph.get().flatten();
        match (answer.get().flatten(), g) {
            // One view for each kind of line: every view type adds to the WASM.
            (Some(Err(e)), _) | (Some(Ok(_)), Some(Err(e))) => view! { <p class="error" id="precheck-error">{format!("Cannot check this VM: {e}; check again")}</p> }.into_any(),
            (None, _) => hint("Pick the host the VM runs on, paste its definition, and check."),
            (Some(Ok(_)), None) => hint("Loading the class names…"),
            (Some(Ok(a)), Some(Ok(g))) => {
                let (ok, bad) = by_class(&g, &a.verdicts);
                let (n_ok, n_bad) = (ok.len(), bad.len());
                let from = a.verdicts.first().map(|v| v.from.clone()).unwrap_or_default();
                let line = |o: &ClassOutcome| {
                    let name = g.class_name(o.class);
                    let href = format!("/pair/{from}/{}", o.verdict.to);
                    (name, href, o.verdict.sentence.clone())
                };
                let ok_list = ok.iter().map(|o| {
                    let (name, href, _) = line(o);
                    view! { <li><Link href=href>{name}</Link></li> }
                }).collect_view();
                let bad_list = bad.into_iter().map(|o| {
                    let (name, _, why) = line(&o);
                    let to = o.verdict.to;
                    let open = to.clone();
                    // The reasons as the pair page shows them (the same view type: a smaller WASM;
                    // for the same reason a failed request shows none, and the pair page's link
                    // is on the classes it can go to only).
                    let full = move || {
                        reasons
                            .get()
                            .flatten()
                            .and_then(Result::ok)
                            .filter(|_| opened.get() == to)
                            .and_then(|a| a.verdicts.into_iter().next())
                            .map(|v| view! { <Reasons reasons=v.reasons/> })
                    };
                    view! {
                        <li>
                            <details>
                                <summary on:click=move |_| opened.set(open.clone())><strong>{name}</strong>": "{why}</summary>
                                {full}
                            </details>
                        </li>
                    }
                }).collect_view();
                view! {
                    <p id="precheck-summary" class="headline">{format!(
                        "Read as {}: the VM can go to {} of {} hosts ({n_ok} classes), not to {n_bad} classes.",
                        a.guest_format.replace('-', " "), a.n_compatible, a.n_targets
                    )}</p>
                    <div class="two-columns">
                        <div id="precheck-ok"><h3>{format!("It can go to {n_ok} classes")}</h3><ul>{ok_list}</ul></div>
                        <div id="precheck-bad"><h3>{format!("It cannot go to {n_bad} classes")}</h3><ul class="precheck-bad">{bad_list}</ul></div>
                    </div>
                }
                .into_any()
            }
        }
    };
    view! {
        <section id="precheck">
            <h2>"Can this VM go there?"</h2>
            <div class="toolbar">{picker}</div>
            <label for="precheck-guest">"its libvirt domain XML (virsh dumpxml) or QEMU command line"</label>
            <textarea id="precheck-guest" rows="9" prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))></textarea>
            <div class="toolbar">
                <button id="precheck-run" on:click=check disabled=move || from.get().is_empty()>"check every host"</button>
                <button on:click=move |_| text.set(EXAMPLE.to_owned())>"use the example"</button>
            </div>
            <div aria-live="polite">{results}</div>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::api::graph_view::ViewNames;
    use shared::graph::{ClassNode, Pool};

    fn verdict(to: &str, compatible: bool) -> Verdict {
        Verdict {
            from: "src".into(),
            to: to.into(),
            compatible,
            reasons: Vec::new(),
            n_blockers: 0,
            sentence: String::new(),
        }
    }

    #[test]
    fn each_class_is_judged_by_its_first_judged_host() {
        let class = |id: &str, hosts: &[&str]| ClassNode {
            class_id: id.into(),
            vendor: "GenuineIntel".into(),
            n_guest_features: None,
            tsc_khz: None,
            hosts: hosts
                .iter()
                .map(|h| (*h).to_owned())
                .collect::<Vec<_>>()
                .into(),
            self_compatible: true,
            pool: 0,
        };
        // `a`'s first host cannot take the VM, its second can; `s` holds only the source.
        let classes = vec![
            class("a", &["a0", "a1"]),
            class("b", &["b0"]),
            class("s", &["src"]),
            class("c", &["src", "c1"]),
        ];
        let pools = vec![Pool {
            n_hosts: 6,
            classes: vec![0, 1, 2, 3],
            internally_compatible: true,
            drains_to: vec![],
        }];
        let g = GraphView::of(6, &classes, &[], &pools, ViewNames::default());
        // As the server sends them: compatible first, each part by host id.
        let verdicts = [
            verdict("a1", true),
            verdict("b0", true),
            verdict("c1", true),
            verdict("a0", false),
        ];
        let (ok, bad) = by_class(&g, &verdicts);
        let classes = |o: &[ClassOutcome]| {
            o.iter()
                .map(|o| (o.class, o.verdict.to.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            classes(&ok),
            vec![(1, "b0".to_owned()), (3, "c1".to_owned())]
        );
        assert_eq!(classes(&bad), vec![(0, "a0".to_owned())]);
    }
}
