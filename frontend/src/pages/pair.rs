//! `/pair/:from/:to?cpu=MODE`: can guests go from A to B, and back? Every reason of both directions.

use leptos::prelude::*;
use shared::api::ui::{HostMask, MasksRequest, PairMasks, Verdict};

use crate::components::{CopyButton, VerdictView};
use crate::fetch::{get_json, post_json};

fn mask_view(title: &'static str, m: HostMask) -> impl IntoView {
    let xml = m.libvirt;
    let names = m.disable.join(", ");
    let cpu = m.qemu_cpu.clone();
    view! {
        <div class="mask">
            <h4>{format!("{title} ({})", m.host)}</h4>
            <p>{if names.is_empty() { "nothing to turn off".to_owned() } else { format!("turn off: {names}") }}</p>
            <pre class="export" data-format="qemu">{format!("-cpu {cpu}")}</pre>
            <CopyButton text=format!("-cpu {cpu}") what="-cpu"/>
            <pre class="export" data-format="libvirt">{xml.clone()}</pre>
            <CopyButton text=xml what="libvirt XML"/>
        </div>
    }
}

/// Masking suggestions for the pair: what to turn off on each side so guests can move.
#[component]
fn Masks(from: String, to: String) -> impl IntoView {
    let masks = LocalResource::new(move || {
        let req = MasksRequest {
            hosts: vec![from.clone(), to.clone()],
        };
        async move { post_json::<_, PairMasks>("/api/v1/masks", &req).await }
    });
    move || {
        match masks.get() {
        None => view! { <p class="loading">"Computing masks…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{format!("no masking suggestion: {e}")}</p> }.into_any(),
        Some(Ok(p)) if p.kind != "pair" => view! { <p class="error">"the server answered with pool masks for a pair: report this"</p> }.into_any(),
        Some(Ok(p)) => {
            let alt = p.named_alternative.map(|b| {
                let q = b.exports.qemu.clone();
                let x = b.exports.libvirt.clone();
                view! {
                    <div class="mask">
                        <h4>{format!("or a named model both run: {}", b.model)}</h4>
                        <pre class="export">{format!("-cpu {q}")}</pre>
                        <CopyButton text=format!("-cpu {q}") what="-cpu"/>
                        <pre class="export">{x.clone()}</pre>
                        <CopyButton text=x what="libvirt XML"/>
                    </div>
                }
            });
            let unmaskable = p.unmaskable.into_iter().map(|r| view! { <li>{r.message}</li> }).collect_view();
            view! {
                <div class="two-columns">
                    {mask_view("for guests started on the source", p.source)}
                    {mask_view("for guests started on the destination", p.destination)}
                </div>
                {alt}
                <h4>"what masking cannot fix"</h4>
                <ul class="unmaskable">{unmaskable}</ul>
            }
            .into_any()
        }
    }
    }
}
use crate::router::{Link, query_value, use_location};

#[component]
pub fn PairPage(from: String, to: String) -> impl IntoView {
    let location = use_location();
    let pair = StoredValue::new((from, to));
    let mode = move || {
        query_value(&location.search.get(), "cpu").unwrap_or_else(|| "host-passthrough".to_owned())
    };
    let load = move |forward: bool| {
        LocalResource::new(move || {
            let (from, to) = pair.get_value();
            let (a, b) = if forward { (from, to) } else { (to, from) };
            let mode = mode();
            async move {
                get_json::<Verdict>(&format!("/api/v1/compat?from={a}&to={b}&cpu={mode}")).await
            }
        })
    };
    let forward = load(true);
    let backward = load(false);
    let show = move |r: LocalResource<Result<Verdict, String>>| {
        move || match r.get() {
            None => view! { <p class="loading">"Computing the verdict…"</p> }.into_any(),
            Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
            Some(Ok(v)) => view! { <VerdictView verdict=v/> }.into_any(),
        }
    };
    view! {
        <section id="pair">
            <h2>{move || { let (f, t) = pair.get_value(); format!("{f} ⇄ {t}") }}</h2>
            <p class="hint">
                "guest cpu: " {mode} " · "
                <Link href=move || { let (f, _) = pair.get_value(); format!("/hosts/{f}") }>"source host"</Link>" · "
                <Link href=move || { let (_, t) = pair.get_value(); format!("/hosts/{t}") }>"destination host"</Link>" · "
                <Link href=move || { let (f, t) = pair.get_value(); format!("/pair/{t}/{f}?cpu={}", mode()) }>"swap"</Link>
            </p>
            <div class="two-columns">
                <div id="forward"><h3>"this way"</h3>{show(forward)}</div>
                <div id="backward"><h3>"the other way"</h3>{show(backward)}</div>
            </div>
        </section>
        <section id="masks">
            <h3>"Masking suggestions"</h3>
            {move || { let (f, t) = pair.get_value(); view! { <Masks from=f to=t/> } }}
        </section>
    }
}
