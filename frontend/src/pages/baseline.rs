//! `/baseline?label=k=v&pool=N&hosts=a,b`: the named model a set of hosts can all run, what
//! each host gives up, and every export to download or copy. Hosts are picked by label, pool, or
//! by hand through a search ([`crate::picker`]), never from a list of the whole fleet.

use std::collections::BTreeMap;

use leptos::prelude::*;
use shared::api::HostList;
use shared::api::ui::{Baseline, BaselineRequest};

use crate::components::{CopyButton, data_url};
use crate::fetch::{Resource, get_json, post_json};
use crate::picker::HostSearch;
use crate::router::{Link, query, query_value, replace_query, use_location};

/// `k=v,k2=v2` as a label selector; `None` when empty.
pub fn selector(text: &str) -> Option<BTreeMap<String, String>> {
    let m: BTreeMap<String, String> = text
        .split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .collect();
    (!m.is_empty()).then_some(m)
}

/// Every export of a baseline: (file name, MIME type, text).
pub fn exports(a: &Baseline) -> Vec<(&'static str, &'static str, String)> {
    let e = &a.exports;
    let nova = format!(
        "[libvirt]\ncpu_mode = {}\ncpu_models = {}\ncpu_model_extra_flags = {}\n",
        e.nova.cpu_mode,
        e.nova.cpu_models.join(","),
        e.nova.cpu_model_extra_flags.join(",")
    );
    vec![
        (
            "baseline-qemu.txt",
            "text/plain",
            format!("-cpu {}", e.qemu),
        ),
        ("baseline-libvirt.xml", "application/xml", e.libvirt.clone()),
        ("baseline-nova.conf", "text/plain", nova),
        (
            "baseline-kubevirt.json",
            "application/json",
            serde_json::to_string_pretty(&e.kubevirt).unwrap_or_default(),
        ),
        (
            "baseline-kubevirt.yaml",
            "application/yaml",
            e.kubevirt_yaml.clone(),
        ),
        (
            "baseline.json",
            "application/json",
            serde_json::to_string_pretty(a).unwrap_or_default(),
        ),
    ]
}

#[component]
pub fn BaselinePage() -> impl IntoView {
    let location = use_location();
    let init = |k: &str| query_value(&location.search.get_untracked(), k).unwrap_or_default();
    let label = RwSignal::new(init("label"));
    let pool = RwSignal::new(init("pool"));
    let picked = RwSignal::new(
        init("hosts")
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect::<Vec<String>>(),
    );
    Effect::new(move |_| {
        let hosts = picked.get().join(",");
        replace_query(&query(&[
            ("label", &label.get()),
            ("pool", &pool.get()),
            ("hosts", &hosts),
        ]));
    });
    let pool_hosts = Resource::new(move || {
        let p = pool.get();
        async move {
            if p.is_empty() {
                Ok(Vec::new())
            } else {
                get_json::<HostList>(&format!("/api/v1/hosts{}", query(&[("pool", &p)])))
                    .await
                    .map(|l| l.hosts.into_iter().map(|h| h.host_id).collect::<Vec<_>>())
            }
        }
    });
    let answer = Resource::new(move || {
        let sel = selector(&label.get());
        let mut hosts = picked.get();
        let from_pool = pool_hosts.get();
        async move {
            match from_pool {
                Some(Ok(p)) => hosts.extend(p),
                Some(Err(e)) => return Some(Err(format!("cannot list the pool's hosts: {e}"))),
                None => return None,
            }
            if hosts.is_empty() && sel.is_none() {
                return Some(Err(
                    "no hosts selected: pick hosts below, a pool, or type a label selector such as zone=fra"
                        .to_owned(),
                ));
            }
            let req = BaselineRequest {
                hosts,
                selector: sel,
            };
            Some(post_json::<_, Baseline>("/api/v1/baseline", &req).await)
        }
    });
    let result = move || match answer.get().flatten() {
        None => view! { <p class="loading">"Computing the baseline…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error" id="baseline-error">{e}</p> }.into_any(),
        Some(Ok(a)) => {
            let b = &a;
            let files = exports(&a)
                .into_iter()
                .map(|(name, mime, text)| {
                    view! {
                        <li>
                            <a class="download" download=name href=data_url(mime, &text)>{format!("download {name}")}</a>
                            " "<CopyButton text=text what=name/>
                        </li>
                    }
                })
                .collect_view();
            let lost = a
                .lost_per_host
                .iter()
                .map(|l| {
                    let h = l.host.clone();
                    view! {
                        <tr><td><Link href=format!("/hosts/{h}")>{h.clone()}</Link></td>
                        <td>{l.lost.len()}</td><td class="features">{l.lost.join(" ")}</td></tr>
                    }
                })
                .collect_view();
            view! {
                <h3 id="baseline-model">{format!("{} ({} hosts)", b.model, b.hosts.len())}</h3>
                <pre class="export" data-format="qemu">{format!("-cpu {}", b.exports.qemu)}</pre>
                <table class="facts">
                    <tr><th>"base model"</th><td>{b.base_model.clone()}</td></tr>
                    <tr><th>"vendor"</th><td>{b.vendor.clone().unwrap_or_else(|| "any".into())}</td></tr>
                    <tr><th>"added to the model"</th><td>{b.added.join(" ")}</td></tr>
                    <tr><th>"removed from the model"</th><td>{b.removed.join(" ")}</td></tr>
                    <tr><th>"left out (never migrate)"</th><td>{b.dropped_non_migratable.join(" ")}</td></tr>
                    <tr><th>"guest features"</th><td>{b.features.len()}</td></tr>
                </table>
                {(!b.notes.is_empty()).then(|| view! { <ul class="notes">{b.notes.iter().map(|n| view! { <li>{n.clone()}</li> }).collect_view()}</ul> })}
                <h3>"Exports"</h3>
                <ul id="exports">{files}</ul>
                <h3>"What each host gives up"</h3>
                <table id="lost"><thead><tr><th>"host"</th><th>"features lost"</th><th>"which"</th></tr></thead><tbody>{lost}</tbody></table>
            }
            .into_any()
        }
    };
    // The hosts picked by hand, each a ticked box (untick to drop it), and the search to add more.
    let host_picker = view! {
        <fieldset id="host-picker" class="picker">
            <legend>{move || match picked.with(Vec::len) {
                0 => "by hand: no host picked yet".to_owned(),
                1 => "by hand: 1 host".to_owned(),
                n => format!("by hand: {n} hosts"),
            }}</legend>
            {move || picked.get().into_iter().map(|id| {
                let gone = id.clone();
                view! {
                    <label class="pick"><input type="checkbox" value=id.clone() prop:checked=true
                        on:change=move |_| picked.update(|p| p.retain(|x| *x != gone)) />{id}</label>
                }
            }).collect_view()}
            <HostSearch id="baseline-hosts" label="add hosts" picked=picked
                on_pick=Callback::new(move |h: String| picked.update(|p| if !p.contains(&h) { p.push(h) }))/>
        </fieldset>
    };
    view! {
        <section id="baseline">
            <h2>"Baseline builder"</h2>
            <div class="toolbar">
                <label>"label selector "
                    <input id="baseline-label" type="text" placeholder="zone=fra,rack=r1" prop:value=move || label.get()
                        on:change=move |ev| label.set(event_target_value(&ev)) />
                </label>
                <label>" pool "
                    <input id="baseline-pool" type="number" min="0" placeholder="index" prop:value=move || pool.get()
                        on:change=move |ev| pool.set(event_target_value(&ev)) />
                </label>
                <button on:click=move |_| { picked.set(Vec::new()); label.set(String::new()); pool.set(String::new()); }>"clear the selection"</button>
            </div>
            <div aria-live="polite">{result}</div>
            <h3>"Coverage"</h3>
            <img src="/api/v1/charts/baseline-coverage.svg" alt="coverage curve: hosts that can run each QEMU model" />
            {host_picker}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_selectors_parse() {
        assert_eq!(selector(""), None);
        assert_eq!(selector("nonsense"), None);
        let s = selector("zone=fra, rack = r1").unwrap();
        assert_eq!(s.get("zone").map(String::as_str), Some("fra"));
        assert_eq!(s.get("rack").map(String::as_str), Some("r1"));
    }
}
