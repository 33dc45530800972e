//! `POST /api/v1/what-if/graph` and `/api/v1/what-if/baseline` through `app()` on the demo fleet
//! in a real SQLite database: the side after a change is the graph view of exactly the hosts
//! `POST /api/v1/graph` would be given (every host but the retired), for the masked guest, and
//! the baseline of those hosts; bad changes are errors that name what to fix.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use backend::{AppState, app};
use serde_json::{Value, json};
use shared::GuestConfig;
use shared::api::GraphRequest;
use shared::api::graph_view::GraphView;
use shared::api::what_if::WhatIfBaseline;
use shared::verdict::GuestCpu;
use tower::ServiceExt;

mod common;
use common::demo_state;

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, String) {
    let resp = app(state.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, String) {
    send(
        state,
        Request::get(uri).body(Body::empty()).expect("request"),
    )
    .await
}

async fn post(state: &AppState, uri: &str, body: &Value) -> (StatusCode, String) {
    let req = Request::post(uri)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    send(state, req).await
}

fn view(status: StatusCode, body: &str) -> GraphView {
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(body).expect("a GraphView")
}

/// What two graphs of the same hosts must share: hosts, classes in order, pools, edges, names.
fn same_graph(a: &GraphView, b: &GraphView) {
    assert_eq!(a.n_hosts, b.n_hosts);
    assert_eq!(a.classes, b.classes);
    assert_eq!(a.pools, b.pools);
    assert_eq!(a.out, b.out);
    assert_eq!(a.class_names, b.class_names);
    assert_eq!(a.pool_names, b.pool_names);
}

/// The graph `POST /api/v1/graph` answers for a guest and host list, as a view.
async fn graph_of(s: &AppState, guest: GuestConfig, hosts: Option<Vec<String>>) -> GraphView {
    let req = GraphRequest {
        guest,
        hosts,
        ..GraphRequest::default()
    };
    let (status, body) = post(
        s,
        "/api/v1/graph",
        &serde_json::to_value(&req).expect("json"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let g: shared::api::ui::Graph = serde_json::from_str(&body).expect("a graph");
    GraphView::of(
        g.n_hosts,
        &g.classes,
        &g.edges,
        &g.pools,
        shared::api::graph_view::ViewNames {
            class_labels: g.class_labels,
            class_names: g.class_names,
            pool_names: g.pool_names,
        },
    )
}

async fn host_ids(s: &AppState, uri: &str) -> Vec<String> {
    let (status, body) = get(s, uri).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let l: shared::api::HostList = serde_json::from_str(&body).expect("a host list");
    l.hosts.into_iter().map(|h| h.host_id).collect()
}

#[tokio::test]
async fn nothing_changed_is_the_fleets_graph_view() {
    let s = demo_state().await;
    let (status, today) = get(&s, "/api/v1/graph/view").await;
    let today = view(status, &today);
    let (status, same) = post(&s, "/api/v1/what-if/graph", &json!({})).await;
    same_graph(&today, &view(status, &same));
}

#[tokio::test]
async fn retiring_hosts_is_the_graph_of_the_others() {
    let s = demo_state().await;
    let (status, today) = get(&s, "/api/v1/graph/view").await;
    let today = view(status, &today);
    // The smallest pool's hosts, retired: one pool fewer, as POST /api/v1/graph of the others.
    let smallest = today.pools.len() - 1;
    let retire = host_ids(&s, &format!("/api/v1/hosts?pool={smallest}")).await;
    assert!(!retire.is_empty());
    let all = host_ids(&s, "/api/v1/hosts").await;
    let kept: Vec<String> = all
        .iter()
        .filter(|h| !retire.contains(h))
        .cloned()
        .collect();
    let (status, after) = post(&s, "/api/v1/what-if/graph", &json!({ "retire": retire })).await;
    let after = view(status, &after);
    assert_eq!(after.n_hosts, all.len() - retire.len());
    assert_eq!(after.pools.len(), today.pools.len() - 1);
    same_graph(
        &after,
        &graph_of(&s, GuestConfig::default(), Some(kept.clone())).await,
    );

    // Its baseline is the baseline of the hosts kept; nothing retired, of every host.
    let (status, b) = post(&s, "/api/v1/what-if/baseline", &json!({ "retire": retire })).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let b: WhatIfBaseline = serde_json::from_str(&b).expect("a baseline line");
    let (status, theirs) = post(&s, "/api/v1/baseline", &json!({ "hosts": kept })).await;
    assert_eq!(status, StatusCode::OK, "{theirs}");
    let theirs: shared::api::ui::Baseline = serde_json::from_str(&theirs).expect("baseline");
    assert_eq!(
        (b.n_hosts, &b.model, &b.qemu),
        (kept.len(), &theirs.model, &theirs.exports.qemu)
    );
    let (status, fleet) = post(&s, "/api/v1/what-if/baseline", &json!({})).await;
    assert_eq!(status, StatusCode::OK, "{fleet}");
    let fleet: WhatIfBaseline = serde_json::from_str(&fleet).expect("a baseline line");
    assert_eq!(fleet.n_hosts, all.len());
    let (status, theirs) = post(&s, "/api/v1/baseline", &json!({ "hosts": all })).await;
    assert_eq!(status, StatusCode::OK, "{theirs}");
    let theirs: shared::api::ui::Baseline = serde_json::from_str(&theirs).expect("baseline");
    assert_eq!(fleet.model, theirs.model);
    // Asked again (from the cache), the same.
    let (_, again) = post(&s, "/api/v1/what-if/baseline", &json!({})).await;
    assert_eq!(
        serde_json::from_str::<WhatIfBaseline>(&again).expect("again"),
        fleet
    );
}

#[tokio::test]
async fn a_mask_is_the_graph_of_the_masked_guest() {
    let s = demo_state().await;
    let (status, masked) = post(
        &s,
        "/api/v1/what-if/graph",
        &json!({ "mask": ["hle", "rtm"] }),
    )
    .await;
    let masked = view(status, &masked);
    let guest = GuestConfig {
        cpu: GuestCpu::HostPassthroughMasked {
            disable: vec!["hle".into(), "rtm".into()],
        },
        ..GuestConfig::default()
    };
    same_graph(&masked, &graph_of(&s, guest, None).await);
    let (_, today) = get(&s, "/api/v1/graph/view").await;
    let today: GraphView = serde_json::from_str(&today).expect("view");
    assert!(
        masked.pools.len() < today.pools.len(),
        "masking TSX merges pools: {} then {}",
        today.pools.len(),
        masked.pools.len()
    );
}

#[tokio::test]
async fn bad_changes_name_what_to_fix() {
    let s = demo_state().await;
    for uri in ["/api/v1/what-if/graph", "/api/v1/what-if/baseline"] {
        let (status, body) = post(&s, uri, &json!({ "retire": ["no-such-host"] })).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}: {body}");
        assert!(body.contains("no-such-host"), "{uri}: {body}");
        let all = host_ids(&s, "/api/v1/hosts").await;
        let (status, body) = post(&s, uri, &json!({ "retire": all })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert!(body.contains("every host is retired"), "{uri}: {body}");
        let (status, body) = post(&s, uri, &json!({ "retire": "fra-sky-01-01" })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
    }
}

#[tokio::test]
async fn the_openapi_document_lists_both() {
    let s = demo_state().await;
    let (status, doc) = get(&s, "/api/v1/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc).expect("json");
    for path in ["/api/v1/what-if/graph", "/api/v1/what-if/baseline"] {
        assert!(doc["paths"][path]["post"].is_object(), "{path} missing");
    }
    for schema in ["WhatIfRequest", "WhatIfBaseline", "GraphView"] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "{schema} missing"
        );
    }
}
