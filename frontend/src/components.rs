//! Pieces several pages show: a verdict with its reasons grouped by layer and severity.

use leptos::prelude::*;
use shared::verdict::Evidence;
use shared::{Reason, Severity, Verdict};

pub fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Blocker => "blocker",
        Severity::Warning => "warning",
        Severity::Info => "info",
    }
}

/// Evidence as one line: the manual citation of a feature, or the two sides' values.
pub fn evidence_text(e: &Evidence) -> String {
    match e {
        Evidence::Feature {
            feature, citation, ..
        } => format!("{feature} at {citation}"),
        Evidence::Values {
            source,
            destination,
        } => format!("source: {source} / destination: {destination}"),
        Evidence::Model { model, qemu } => match qemu {
            Some(q) => format!("model {model}, QEMU {q}"),
            None => format!("model {model}"),
        },
        // Evidence::None, and kinds later layers add.
        _ => String::new(),
    }
}

fn reason_item(r: Reason) -> impl IntoView {
    let evidence = evidence_text(&r.evidence);
    view! {
        <li class=format!("reason {}", severity_name(r.severity))>
            <span class="sev">{severity_name(r.severity)}</span>
            " "<span class="layer">{format!("{:?}", r.layer)}</span>
            " "<span class="msg">{r.message}</span>
            " "<code class="rule">{r.rule}</code>
            {(!evidence.is_empty()).then(|| view! { <div class="evidence">{evidence}</div> })}
        </li>
    }
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
            <ul class="reasons">{verdict.reasons.into_iter().map(reason_item).collect_view()}</ul>
        </div>
    }
}
