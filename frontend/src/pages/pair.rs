//! `/pair/:from/:to?cpu=MODE`: can guests go from A to B, and back? Every reason of both directions.

use leptos::prelude::*;
use shared::Verdict;

use crate::components::VerdictView;
use crate::fetch::get_json;
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
    }
}
