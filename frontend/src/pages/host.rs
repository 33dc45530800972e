//! `/hosts/:id`: one host's newest profile by layer: identity, KVM guest view, QEMU, gaps.

use leptos::prelude::*;
use shared::profile::HostProfile;

use crate::fetch::get_json;

#[component]
pub fn HostPage(id: String) -> impl IntoView {
    let id = move || id.clone();
    let profile = LocalResource::new(move || {
        let id = id();
        async move { get_json::<HostProfile>(&format!("/api/v1/hosts/{id}")).await }
    });
    let (filter, set_filter) = signal(String::new());

    let body = move || match profile.get() {
        None => view! { <p class="loading">"Loading the profile…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{e}</p> }.into_any(),
        Some(Ok(p)) => {
            let labels = p
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let guest = p
                .kvm
                .as_ref()
                .map(|k| k.guest_features.names())
                .unwrap_or_default();
            let host_only: Vec<String> = match &p.kvm {
                Some(k) => p.cpu.features.difference(&k.guest_features).names(),
                None => p.cpu.features.names(),
            };
            let n_msrs = p.kvm.as_ref().map_or(0, |k| k.msr_index_list.len());
            let source = p.kvm.as_ref().map_or("none".to_owned(), |k| {
                format!("{:?}", k.guest_features_source)
            });
            let features = move |names: Vec<String>| {
                move || {
                    let needle = filter.get().to_lowercase();
                    names
                        .iter()
                        .filter(|n| needle.is_empty() || n.contains(&needle))
                        .map(|n| view! { <code class="feature">{n.clone()}</code>" " })
                        .collect_view()
                }
            };
            view! {
                <h2 id="host-title">{p.host_id.clone()}</h2>
                <table class="facts">
                    <tr><th>"hostname"</th><td>{p.hostname.clone()}</td></tr>
                    <tr><th>"cpu"</th><td>{format!("{} — {} family {} model {} stepping {}", p.cpu.brand, p.cpu.vendor, p.cpu.family, p.cpu.model, p.cpu.stepping)}</td></tr>
                    <tr><th>"class"</th><td><code>{shared::class::class_id(&p)}</code></td></tr>
                    <tr><th>"labels"</th><td>{labels}</td></tr>
                    <tr><th>"kernel"</th><td>{p.kernel_release.clone().unwrap_or_else(|| "unknown".into())}</td></tr>
                    <tr><th>"microcode"</th><td>{p.cpu.microcode.clone().unwrap_or_else(|| "unknown".into())}</td></tr>
                    <tr><th>"TSC"</th><td>{p.cpu.tsc_khz.map_or("unknown".to_owned(), |k| format!("{k} kHz"))}</td></tr>
                    <tr><th>"guest view"</th><td>{format!("{} features, from {source}; KVM migrates {n_msrs} MSRs", guest.len())}</td></tr>
                    <tr><th>"collected"</th><td>{format!("{} ({:?}: {})", p.collected_at, p.origin.kind, p.origin.tool)}</td></tr>
                </table>
                {(!p.gaps.is_empty()).then(|| view! {
                    <h3>"What could not be read"</h3>
                    <ul class="gaps">{p.gaps.iter().map(|g| view! { <li><strong>{g.what.clone()}</strong>": "{g.reason.clone()}</li> }).collect_view()}</ul>
                })}
                <h3>"CPU features"</h3>
                <input id="feature-filter" type="search" placeholder="search features" aria-label="search features"
                    on:input=move |ev| set_filter.set(event_target_value(&ev)) />
                <h4>"offered to guests (KVM)"</h4>
                <p class="features" id="guest-features">{features(guest)}</p>
                <h4>"on the host only (raw CPUID, not offered to guests)"</h4>
                <p class="features">{features(host_only)}</p>
            }
            .into_any()
        }
    };
    view! { <section id="host">{body}</section> }
}
