//! A small client-side router: the page follows `location.pathname`, links push history entries,
//! back/forward work, and every page has a URL that can be shared. (leptos_router would pull URL
//! and Unicode tables that doubled the WASM; this needs none.)

use leptos::prelude::*;

/// Every route of the UI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Page {
    /// `/`
    Fleet,
    /// `/graph?cpu=&view=graph|matrix&class=N`
    Graph,
    /// `/hosts/:id`
    Host(String),
    /// `/pair/:from/:to`
    Pair {
        from: String,
        to: String,
    },
    /// `/baseline?hosts=a,b&label=k=v`
    Baseline,
    /// `/what-if?retire=a,b&cpu=`
    WhatIf,
    /// `/precheck?from=HOST`
    Precheck,
    /// `/clusters?label=cluster`
    Clusters,
    /// `/vms?host=&page=N`: the fleet's VMs, a page at a time.
    Vms,
    /// `/vms/:ref`, `ref` being the API's `HOST:VM` (percent-decoded here).
    Vm(String),
    NotFound(String),
}

/// The page for a path; pure, tested natively.
pub fn parse(path: &str) -> Page {
    let parts: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|p| !p.is_empty())
        .collect();
    match parts.as_slice() {
        [] => Page::Fleet,
        ["graph"] => Page::Graph,
        ["baseline"] => Page::Baseline,
        ["what-if"] => Page::WhatIf,
        ["precheck"] => Page::Precheck,
        ["clusters"] => Page::Clusters,
        ["hosts", id] => Page::Host((*id).to_owned()),
        ["vms"] => Page::Vms,
        ["vms", vm] => Page::Vm(decode_path(vm)),
        ["pair", from, to] => Page::Pair {
            from: (*from).to_owned(),
            to: (*to).to_owned(),
        },
        _ => Page::NotFound(path.to_owned()),
    }
}

/// The value of `key` in a query string like `?cpu=host-model&x=1`.
pub fn query_value(search: &str, key: &str) -> Option<String> {
    search
        .trim_start_matches('?')
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| decode(v))
}

/// Percent-decode a query value (`+` is a space); invalid escapes stay as they are.
pub fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(x) => {
                        out.push(x);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Percent-decode a path segment (`+` stays a plus sign).
pub fn decode_path(v: &str) -> String {
    decode(&v.replace('+', "%2B"))
}

/// Percent-encode a path segment: everything but unreserved characters and `:` (a VM's
/// `HOST:VM` stays readable in the address bar).
pub fn encode_path(v: &str) -> String {
    encode(v).replace("%3A", ":")
}

/// The page of a VM: `/vms/HOST:VM`, the VM part percent-encoded where a path needs it.
pub fn vm_href(vm_ref: &str) -> String {
    format!("/vms/{}", encode_path(vm_ref))
}

/// Percent-encode a query value (everything but unreserved characters and `,`).
pub fn encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.bytes() {
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b',') {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02X}"));
        }
    }
    out
}

/// A query string from pairs, leaving out empty values: `?a=1&b=x%20y`.
pub fn query(pairs: &[(&str, &str)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Replace the query of the current page (a shareable URL for the page's state) without a new
/// history entry.
pub fn replace_query(search: &str) {
    let loc = window().location();
    let path = loc.pathname().unwrap_or_default();
    let href = format!("{path}{search}");
    if let Ok(h) = window().history() {
        let _ = h.replace_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&href));
    }
    use_location().search.set(search.to_owned());
}

/// Where the app is: path and query string, as signals the pages read.
#[derive(Clone, Copy)]
pub struct Location {
    pub page: RwSignal<Page>,
    pub search: RwSignal<String>,
}

fn current() -> (Page, String) {
    let loc = window().location();
    (
        parse(&loc.pathname().unwrap_or_default()),
        loc.search().unwrap_or_default(),
    )
}

/// Create the location signals, follow back/forward, and provide them to every page.
pub fn provide_location() -> Location {
    let (page, search) = current();
    let location = Location {
        page: RwSignal::new(page),
        search: RwSignal::new(search),
    };
    let handle = window_event_listener(leptos::ev::popstate, move |_| {
        let (page, search) = current();
        location.page.set(page);
        location.search.set(search);
    });
    on_cleanup(move || handle.remove());
    provide_context(location);
    location
}

pub fn use_location() -> Location {
    use_context::<Location>().unwrap_or_else(provide_location)
}

/// Go to `href` (a path with an optional query) without reloading.
pub fn navigate(href: &str) {
    if window()
        .history()
        .and_then(|h| h.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(href)))
        .is_err()
    {
        // History refused (never expected): fall back to a full load.
        let _ = window().location().set_href(href);
        return;
    }
    let (path, search) = href.split_once('?').unwrap_or((href, ""));
    let location = use_location();
    location.page.set(parse(path));
    location.search.set(if search.is_empty() {
        String::new()
    } else {
        format!("?{search}")
    });
    window().scroll_to_with_x_and_y(0.0, 0.0);
}

/// Follow a click on a plain `<a href="/...">` inside markup written as text (`inner_html`)
/// in the app, as [`Link`] does; other clicks go on as usual.
pub fn follow_link(ev: leptos::ev::MouseEvent) {
    use wasm_bindgen::JsCast;
    if ev.button() != 0 || ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key() {
        return;
    }
    let href = ev
        .target()
        .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        .and_then(|e| e.closest("a[href^='/']").ok().flatten())
        .and_then(|a| a.get_attribute("href"));
    if let Some(href) = href {
        ev.prevent_default();
        navigate(&href);
    }
}

/// An `<a>` that navigates in the app; a ctrl/cmd/middle click still opens a new tab.
#[component]
pub fn Link(#[prop(into)] href: Signal<String>, children: Children) -> impl IntoView {
    view! {
        <a
            href=move || href.get()
            on:click=move |ev: leptos::ev::MouseEvent| {
                if ev.button() == 0 && !(ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key()) {
                    ev.prevent_default();
                    navigate(&href.get_untracked());
                }
            }
        >
            {children()}
        </a>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_pages() {
        assert_eq!(parse("/"), Page::Fleet);
        assert_eq!(parse(""), Page::Fleet);
        assert_eq!(
            parse("/hosts/fra-sky-01-01"),
            Page::Host("fra-sky-01-01".into())
        );
        assert_eq!(
            parse("/pair/a/b/"),
            Page::Pair {
                from: "a".into(),
                to: "b".into()
            }
        );
        assert_eq!(parse("/nope/x"), Page::NotFound("/nope/x".into()));
        assert_eq!(parse("/graph"), Page::Graph);
        assert_eq!(parse("/baseline/"), Page::Baseline);
        assert_eq!(parse("/what-if"), Page::WhatIf);
        assert_eq!(parse("/precheck"), Page::Precheck);
        assert_eq!(parse("/clusters/"), Page::Clusters);
        assert_eq!(parse("/graph/x"), Page::NotFound("/graph/x".into()));
        assert_eq!(parse("/vms"), Page::Vms);
        assert_eq!(
            parse("/vms/fra-sky-01-01:web%2F01%20a+b"),
            Page::Vm("fra-sky-01-01:web/01 a+b".into())
        );
        assert_eq!(
            query_value("?cpu=host-model&x=1", "cpu").as_deref(),
            Some("host-model")
        );
        assert_eq!(query_value("", "cpu"), None);
    }

    #[test]
    fn query_values_round_trip() {
        let q = query(&[("label", "zone=fra"), ("hosts", "a,b"), ("empty", "")]);
        assert_eq!(q, "?label=zone%3Dfra&hosts=a,b");
        assert_eq!(query_value(&q, "label").as_deref(), Some("zone=fra"));
        assert_eq!(query_value(&q, "hosts").as_deref(), Some("a,b"));
        assert_eq!(query_value(&q, "empty"), None);
        assert_eq!(decode("a+b%20c%zz%4"), "a b c%zz%4");
        assert_eq!(query(&[]), "");
    }

    #[test]
    fn vm_paths_round_trip() {
        for r in [
            "h-1:5e1f0000-0000-4000-8000-000000004002",
            "h:pid-42",
            "h:we b/x?y#z%,+",
        ] {
            let href = vm_href(r);
            assert!(!href[5..].contains(['/', '?', '#', ' ']), "{href}");
            assert_eq!(parse(&href), Page::Vm(r.to_owned()));
        }
        assert_eq!(vm_href("h:pid-42"), "/vms/h:pid-42");
    }
}
