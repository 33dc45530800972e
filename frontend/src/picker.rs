//! The host picker the precheck, baseline and what-if pages share: the user types words and,
//! after a pause, the server answers the first matching hosts (`GET /api/v1/hosts?q=WORDS&limit=50`,
//! each word found in the host id, hostname, CPU brand or a label value). The page never lists
//! the fleet: at 100,000 hosts that was 100,000 `<option>`s or checkboxes (issue 12).

use std::time::Duration;

use leptos::prelude::*;
use shared::api::HostList;

use crate::fetch::{Resource, get_json};
use crate::router::query;

/// Hosts shown for one search.
pub const SHOWN: usize = 50;

/// The pause after the last key before the search is sent.
const PAUSE: Duration = Duration::from_millis(250);

/// A search box and the first [`SHOWN`] matching hosts, each a button that calls `on_pick` with
/// its host id; hosts already in `picked` carry the class `picked`. Element ids start with `id`.
#[component]
pub fn HostSearch(
    id: &'static str,
    label: &'static str,
    on_pick: Callback<String>,
    #[prop(into)] picked: Signal<Vec<String>>,
) -> impl IntoView {
    let typed = RwSignal::new(String::new());
    let asked = RwSignal::new(String::new());
    let found = Resource::new(move || {
        let url = format!(
            "/api/v1/hosts{}",
            query(&[("q", &asked.get()), ("limit", &SHOWN.to_string())])
        );
        async move { get_json::<HostList>(&url).await }
    });
    let input = move |ev: leptos::ev::Event| {
        let t = event_target_value(&ev);
        typed.set(t.clone());
        // Only the words still there after the pause are searched.
        set_timeout(
            move || {
                if typed.get_untracked() == t {
                    asked.set(t);
                }
            },
            PAUSE,
        );
    };
    let results = move || match found.get() {
        None => view! { <p class="loading">"Searching the hosts…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error">{format!("cannot search the hosts: {e}")}</p> }.into_any()
        }
        Some(Ok(l)) => {
            let shown = l.hosts.len();
            let count = match l.n_hosts {
                0 => "no host matches: try fewer or other words".to_owned(),
                n if n > shown => {
                    format!("the first {shown} of {n} matching hosts: type more to narrow")
                }
                1 => "1 matching host".to_owned(),
                n => format!("{n} matching hosts"),
            };
            let buttons = l
                .hosts
                .into_iter()
                .map(|h| {
                    let host = h.host_id.clone();
                    let shown = host.clone();
                    let text = format!("{} · {}", h.host_id, shared::naming::short_brand(&h.brand));
                    view! {
                        <li><button type="button" class="pick-host" data-host=host.clone()
                            class:picked=move || picked.with(|p| p.contains(&shown))
                            on:click=move |_| on_pick.run(host.clone())>{text}</button></li>
                    }
                })
                .collect_view();
            view! {
                <p class="hint found">{count}</p>
                <ul class="picker host-results">{buttons}</ul>
            }
            .into_any()
        }
    };
    view! {
        <div class="host-search" id=id>
            <label>{label}" "
                <input type="search" id=format!("{id}-q") autocomplete="off"
                    placeholder="host id, hostname, CPU or label value"
                    prop:value=move || typed.get() on:input=input />
            </label>
            <div aria-live="polite">{results}</div>
        </div>
    }
}
