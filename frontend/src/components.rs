//! Pieces several pages show: a verdict with its reasons grouped by layer and severity.

use leptos::prelude::*;
use shared::Severity;
use shared::api::ui::{Reason, Verdict};

fn reason_item(r: Reason) -> impl IntoView {
    let evidence = r.evidence.summary();
    view! {
        <li class=format!("reason {}", r.severity.name())>
            <span class="sev">{r.severity.name()}</span>
            " "<span class="layer">{r.layer.name()}</span>
            " "<span class="msg">{r.message}</span>
            " "<code class="rule">{r.rule}</code>
            {(!evidence.is_empty()).then(|| view! { <div class="evidence">{evidence}</div> })}
        </li>
    }
}

/// Reasons grouped by layer (in the order layers first appear), each group most severe first.
pub fn by_layer(reasons: Vec<Reason>) -> Vec<(String, Vec<Reason>)> {
    let mut groups: Vec<(String, Vec<Reason>)> = Vec::new();
    for r in reasons {
        let layer = r.layer.name().to_owned();
        match groups.iter_mut().find(|(l, _)| *l == layer) {
            Some((_, v)) => v.push(r),
            None => groups.push((layer, vec![r])),
        }
    }
    for (_, v) in &mut groups {
        v.sort_by_key(|r| match r.severity {
            Severity::Blocker => 0,
            Severity::Warning => 1,
            _ => 2,
        });
    }
    groups
}

/// A verdict: headline, then every reason, blockers first (the engine's order).
#[component]
pub fn VerdictView(verdict: Verdict) -> impl IntoView {
    let n = verdict.reasons.len();
    let n_blockers = verdict
        .reasons
        .iter()
        .filter(|r| r.severity == Severity::Blocker)
        .count();
    let headline = if verdict.compatible {
        format!(
            "compatible: guests can move from {} to {}",
            verdict.from, verdict.to
        )
    } else {
        format!(
            "incompatible: guests cannot move from {} to {}",
            verdict.from, verdict.to
        )
    };
    view! {
        <div class="verdict">
            <p class=if verdict.compatible { "headline ok" } else { "headline bad" }>{headline}</p>
            <p class="count">{format!("{n} reason(s), {n_blockers} blocker(s)")}</p>
            {by_layer(verdict.reasons).into_iter().map(|(layer, reasons)| {
                let count = |sev: Severity| reasons.iter().filter(|r| r.severity == sev).count();
                let summary = format!(
                    "{layer}: {} blocker(s), {} warning(s), {} info",
                    count(Severity::Blocker), count(Severity::Warning), count(Severity::Info)
                );
                view! {
                    <div class="layer-group" data-layer=layer>
                        <h4>{summary}</h4>
                        <ul class="reasons">{reasons.into_iter().map(reason_item).collect_view()}</ul>
                    </div>
                }
            }).collect_view()}
        </div>
    }
}

/// A button copying `text` to the clipboard; it says "copied" once the browser confirms.
#[component]
pub fn CopyButton(#[prop(into)] text: String, #[prop(into)] what: String) -> impl IntoView {
    let state = RwSignal::new(None::<bool>);
    let text = StoredValue::new(text);
    let copy = move |_| {
        let promise = window()
            .navigator()
            .clipboard()
            .write_text(&text.get_value());
        leptos::task::spawn_local(async move {
            let ok = wasm_bindgen_futures::JsFuture::from(promise).await.is_ok();
            state.set(Some(ok));
        });
    };
    let label = what.clone();
    view! {
        <button class="copy" class:copied=move || state.get() == Some(true)
            aria-label=format!("copy {label}") on:click=copy>
            {move || match state.get() {
                None => format!("copy {what}"),
                Some(true) => "copied".to_owned(),
                Some(false) => "copy failed: select the text and copy it by hand".to_owned(),
            }}
        </button>
    }
}

/// A `data:` URL for a text download.
pub fn data_url(mime: &str, text: &str) -> String {
    format!("data:{mime};charset=utf-8,{}", crate::router::encode(text))
}
