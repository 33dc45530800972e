//! `/pair/:from/:to?cpu=MODE`: can guests go from A to B? The answer first (one sentence), then
//! the fix (what to mask, or a named model both run, ready to copy), then the reasons folded by
//! layer and kind; the other way below.

use leptos::prelude::*;
use shared::api::graph_view::{ClassNames, HostClass};
use shared::api::ui::{HostMask, MasksRequest, PairMasks, Verdict};

use crate::components::{CopyButton, Reasons, sentence};
use crate::fetch::{Resource, get_json, post_json};
use crate::pages::graph::PolicyPicker;
use crate::router::{Link, encode, query, query_value, replace_query, use_location};

fn exports(qemu_cpu: String, libvirt: String) -> impl IntoView {
    let cpu = format!("-cpu {qemu_cpu}");
    view! {
        <div class="export-pair">
            <pre class="export" data-format="qemu">{cpu.clone()}</pre>
            <CopyButton text=cpu what="-cpu"/>
            <details>
                <summary>"libvirt XML"</summary>
                <pre class="export" data-format="libvirt">{libvirt.clone()}</pre>
            </details>
            <CopyButton text=libvirt what="libvirt XML"/>
        </div>
    }
}

fn mask_view(m: HostMask, side: &'static str) -> impl IntoView {
    let names = m.disable.join(", ");
    view! {
        <div class="mask">
            <p class="fix-line">{if names.is_empty() {
                format!("Guests started on {side} ({}) need nothing turned off.", m.host)
            } else {
                format!("Mask these for guests started on {side} ({}): {names}.", m.host)
            }}</p>
            {exports(m.qemu_cpu, m.libvirt)}
        </div>
    }
}

/// The fix for this direction: what to turn off on the source's guests, or a named model both
/// hosts run; what masking cannot fix only when there is something.
#[component]
fn Fix(from: String, to: String) -> impl IntoView {
    let masks = Resource::new(move || {
        let req = MasksRequest {
            hosts: vec![from.clone(), to.clone()],
        };
        async move { post_json::<_, PairMasks>("/api/v1/masks", &req).await }
    });
    move || {
        match masks.get() {
        None => view! { <p class="loading">"Working out the fix…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{format!("No fix to suggest: {e}")}</p> }.into_any(),
        Some(Ok(p)) if p.kind != "pair" => view! {
            <p class="error">"The server answered with the masks of a pool for a pair: please report this."</p>
        }
        .into_any(),
        Some(Ok(p)) => {
            let alt = p.named_alternative.map(|b| {
                view! {
                    <div class="mask">
                        <p class="fix-line">{format!("Or start guests on the named model both hosts run: {}.", b.model)}</p>
                        {exports(b.exports.qemu, b.exports.libvirt)}
                    </div>
                }
            });
            let unmaskable = (!p.unmaskable.is_empty()).then(|| {
                view! {
                    <h4>"What masking cannot fix"</h4>
                    <ul class="unmaskable">{p.unmaskable.into_iter().map(|r| view! { <li>{r.message}</li> }).collect_view()}</ul>
                }
            });
            view! {
                {mask_view(p.source, "the source")}
                {alt}
                {unmaskable}
            }
            .into_any()
        }
    }
    }
}

#[component]
pub fn PairPage(from: String, to: String) -> impl IntoView {
    let location = use_location();
    let pair = StoredValue::new((from, to));
    let cpu = RwSignal::new(
        query_value(&location.search.get_untracked(), "cpu")
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| "host-passthrough".to_owned()),
    );
    Effect::new(move |_| {
        let c = cpu.get();
        let c = if c == "host-passthrough" {
            String::new()
        } else {
            c
        };
        replace_query(&query(&[("cpu", &c)]));
    });
    let load = move |forward: bool| {
        Resource::new(move || {
            let (from, to) = pair.get_value();
            let (a, b) = if forward { (from, to) } else { (to, from) };
            let mode = cpu.get();
            async move {
                get_json::<Verdict>(&format!(
                    "/api/v1/compat{}",
                    query(&[("from", &a), ("to", &b), ("cpu", &mode)])
                ))
                .await
            }
        })
    };
    let forward = load(true);
    let backward = load(false);
    let headline = move |r: Resource<Result<Verdict, String>>, id: &'static str| {
        move || {
            match r.get() {
            None => view! { <span id=id class="headline loading">"Computing the verdict…"</span> }.into_any(),
            Some(Err(e)) => view! { <span id=id class="headline error">{format!("No verdict: {e}")}</span> }.into_any(),
            Some(Ok(v)) => view! {
                <span id=id class=if v.compatible { "headline ok" } else { "headline bad" }>{sentence(&v)}</span>
            }
            .into_any(),
        }
        }
    };
    let reasons = move |r: Resource<Result<Verdict, String>>| {
        move || {
            r.get()
                .and_then(Result::ok)
                .map(|v| view! { <Reasons reasons=v.reasons/> })
        }
    };
    let needs_fix = move || {
        forward
            .get()
            .and_then(Result::ok)
            .is_some_and(|v| !v.compatible)
    };
    let (f, t) = pair.get_value();
    let swap = format!("/pair/{}/{}", encode(&t), encode(&f));
    // The class names of both hosts: each host's class id and the table of class names (not the
    // whole graph: 31 MB at 100,000 hosts).
    let names = Resource::new(|| get_json::<ClassNames>("/api/v1/class-names"));
    let (from_class, to_class) = (f.clone(), t.clone());
    let class_of = move |host: String| {
        let url = format!("/api/v1/hosts/{}/class", encode(&host));
        let class = Resource::new(move || {
            let url = url.clone();
            async move { get_json::<HostClass>(&url).await }
        });
        move || {
            let c = class.get()?.ok()?;
            let n = names.get()?.ok()?;
            let i = n.class_ids.iter().position(|x| *x == c.class_id)?;
            n.names.get(i).map(|name| format!(" ({name})"))
        }
    };
    view! {
        <section id="pair">
            <h2 id="verdict-sentence">{headline(forward, "forward-headline")}</h2>
            <p class="hint pair-title">
                "Guests on "<Link href=format!("/hosts/{}", encode(&f))>{f.clone()}</Link>{class_of(from_class)}
                " moving to "<Link href=format!("/hosts/{}", encode(&t))>{t.clone()}</Link>{class_of(to_class)}" · "
                <Link href=move || format!("{swap}{}", query(&[("cpu", &cpu.get())]))>"the other way"</Link>
            </p>
            <div class="toolbar"><PolicyPicker cpu=cpu/></div>
            {move || needs_fix().then(|| {
                let (f, t) = pair.get_value();
                view! {
                    <div id="masks">
                        <h3>"The fix"</h3>
                        <Fix from=f to=t/>
                    </div>
                }
            })}
            <div id="forward">
                <h3>"Why"</h3>
                {reasons(forward)}
            </div>
        </section>
        <section id="backward">
            <h3>"The other way"</h3>
            <p class="verdict-line">{headline(backward, "backward-headline")}</p>
            {reasons(backward)}
        </section>
    }
}
