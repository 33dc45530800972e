//! Pieces several pages show: a verdict with its reasons grouped by layer and severity, copy
//! buttons, the pager of long lists.

use leptos::prelude::*;
use shared::Severity;
use shared::api::ui::{Reason, Verdict};

use crate::router::Link;

/// The verdict as one sentence: "Blocked by 17 features: AVX-512 (6), TSX (2), MPX, ...";
/// "Compatible: guests can move this way." (with its warnings counted).
pub fn sentence(v: &Verdict) -> String {
    let mut features = Vec::new();
    let mut others = Vec::new();
    for r in v.reasons.iter().filter(|r| r.severity == Severity::Blocker) {
        match (r.evidence.kind.as_str(), &r.evidence.feature) {
            ("feature", Some(f)) => features.push(f.clone()),
            _ => others.push(short_message(&r.message)),
        }
    }
    if v.compatible {
        let n = v
            .reasons
            .iter()
            .filter(|r| r.severity == Severity::Warning)
            .count();
        return match n {
            0 => "Compatible: guests can move this way.".to_owned(),
            1 => "Compatible, with 1 warning: guests can move this way.".to_owned(),
            n => format!("Compatible, with {n} warnings: guests can move this way."),
        };
    }
    shared::naming::verdict_sentence(&features, &others)
}

/// A reason's message up to its explanation ("cpu vendor changes from A to B").
fn short_message(m: &str) -> String {
    m.split(": ").next().unwrap_or(m).to_owned()
}

/// What `n` reasons of a rule have in common, in words: for missing features, why it matters.
fn rule_text(n: usize, first_message: &str) -> String {
    match first_message.split_once("does not offer it: ") {
        Some((_, why)) => format!(
            "The guest sees these {n} features but the destination's KVM does not offer them: {why}."
        ),
        None => format!("{n} × {first_message}"),
    }
}

/// One line per kind of reason: a rule's feature reasons folded by feature family (each feature
/// once, its CPUID location in a tooltip), other reasons one a line.
fn kind_items(reasons: Vec<Reason>) -> impl IntoView {
    let mut by_rule: Vec<(String, Vec<Reason>)> = Vec::new();
    for r in reasons {
        match by_rule.iter_mut().find(|(k, _)| *k == r.rule) {
            Some((_, v)) => v.push(r),
            None => by_rule.push((r.rule.clone(), vec![r])),
        }
    }
    by_rule
        .into_iter()
        .map(|(rule, rs)| {
            let sev = rs[0].severity;
            let all_features = rs
                .iter()
                .all(|r| r.evidence.kind == "feature" && r.evidence.feature.is_some());
            if all_features && rs.len() > 1 {
                let names: Vec<String> = rs.iter().filter_map(|r| r.evidence.feature.clone()).collect();
                let citation = |f: &str| {
                    rs.iter()
                        .find(|r| r.evidence.feature.as_deref() == Some(f))
                        .and_then(|r| r.evidence.citation.clone())
                        .unwrap_or_default()
                };
                let families = shared::naming::group_features(&names)
                    .into_iter()
                    .map(|(fam, members)| {
                        let list = members
                            .iter()
                            .map(|f| view! { <code class="feature" title=citation(f)>{f.clone()}</code>" " })
                            .collect_view();
                        view! { <li><strong>{format!("{fam} ({}): ", members.len())}</strong>{list}</li> }
                    })
                    .collect_view();
                view! {
                    <li class=format!("reason {}", sev.name()) data-rule=rule.clone()>
                        <span class="sev">{sev.name()}</span>" "
                        <span class="msg">{rule_text(names.len(), &rs[0].message)}</span>
                        <ul class="families">{families}</ul>
                    </li>
                }
                .into_any()
            } else {
                rs.into_iter()
                    .map(|r| {
                        let words = r.evidence.words();
                        // The message often names the feature and its location already.
                        let cited = r.evidence.citation.as_deref().is_some_and(|c| r.message.contains(c));
                        let evidence = (!words.is_empty() && !cited).then(|| view! { <div class="evidence">{words}</div> });
                        view! {
                            <li class=format!("reason {}", r.severity.name()) data-rule=r.rule.clone()>
                                <span class="sev">{r.severity.name()}</span>" "
                                <span class="msg">{r.message}</span>
                                {evidence}
                            </li>
                        }
                    })
                    .collect_view()
                    .into_any()
            }
        })
        .collect_view()
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
        crate::sort::sort_by_key(v, |r| match r.severity {
            Severity::Blocker => 0,
            Severity::Warning => 1,
            _ => 2,
        });
    }
    groups
}

fn counted(n: usize, one: &str, many: &str) -> Option<String> {
    match n {
        0 => None,
        1 => Some(format!("1 {one}")),
        n => Some(format!("{n} {many}")),
    }
}

/// A verdict's reasons folded by layer (a layer with blockers open) and kind.
#[component]
pub fn Reasons(reasons: Vec<Reason>) -> impl IntoView {
    by_layer(reasons)
        .into_iter()
        .map(|(layer, reasons)| {
            let count = |sev: Severity| reasons.iter().filter(|r| r.severity == sev).count();
            let (b, w, i) = (
                count(Severity::Blocker),
                count(Severity::Warning),
                count(Severity::Info),
            );
            let parts: Vec<String> = [
                counted(b, "blocker", "blockers"),
                counted(w, "warning", "warnings"),
                counted(i, "note", "notes"),
            ]
            .into_iter()
            .flatten()
            .collect();
            let summary = format!("{layer}: {}", parts.join(", "));
            let open = b > 0;
            view! {
                <details class="layer-group" data-layer=layer open=open>
                    <summary>{summary}</summary>
                    <ul class="reasons">{kind_items(reasons)}</ul>
                </details>
            }
        })
        .collect_view()
}

/// A verdict: its sentence, then its reasons folded by layer and kind.
#[component]
pub fn VerdictView(verdict: Verdict) -> impl IntoView {
    let line = sentence(&verdict);
    view! {
        <div class="verdict">
            <p class=if verdict.compatible { "headline ok" } else { "headline bad" }>{line}</p>
            <Reasons reasons=verdict.reasons/>
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

/// The pages of a long list, 1-based: `(first, last)` item shown (1-based, inclusive) and the
/// number of pages.
pub fn page_span(total: usize, page: usize, size: usize) -> (usize, usize, usize) {
    let pages = total.div_ceil(size.max(1)).max(1);
    let first = (page - 1).saturating_mul(size).min(total);
    (
        first + usize::from(total > first),
        total.min(first + size),
        pages,
    )
}

/// "VMs 201–400 of 5,000" and links to the previous and next pages (`href(page)`).
pub fn pager(
    what: &str,
    total: usize,
    page: usize,
    size: usize,
    href: impl Fn(usize) -> String,
) -> AnyView {
    let (first, last, pages) = page_span(total, page, size);
    let prev = (page > 1).then(|| view! { <Link href=href(page - 1)>"← previous"</Link>" " });
    let next = (page < pages).then(|| view! { " "<Link href=href(page + 1)>"next →"</Link> });
    view! {
        <p class="pager">
            {prev}
            <span class="count">{format!("{what} {first}–{last} of {total} (page {page} of {pages})")}</span>
            {next}
        </p>
    }
    .into_any()
}

/// The 1-based page in the query (`page=N`), 1 when absent or not a number.
pub fn page_of(search: &str) -> usize {
    crate::router::query_value(search, "page")
        .and_then(|p| p.parse().ok())
        .filter(|&p| p > 0)
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::page_span;

    #[test]
    fn pages_cover_the_list() {
        assert_eq!(page_span(195, 1, 200), (1, 195, 1));
        assert_eq!(page_span(205, 2, 200), (201, 205, 2));
        assert_eq!(page_span(0, 1, 200), (0, 0, 1));
        assert_eq!(page_span(400, 2, 200), (201, 400, 2));
        // A page past the end names no item beyond the last.
        assert_eq!(page_span(10, 5, 200), (10, 10, 1));
    }
}
