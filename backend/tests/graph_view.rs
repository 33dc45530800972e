//! `GET /api/v1/graph/view` and `GET /api/v1/class-names` through `app()` on the demo fleet in a
//! real SQLite database: the same classes, names, pools, labels and edges as `/api/v1/graph`,
//! only smaller (first hosts per class, edges as adjacency rows).

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use backend::{AppState, app};
use shared::api::graph_view::{Adjacency, ClassNames, GraphView, VIEW_HOSTS_PER_CLASS};
use tower::ServiceExt;

mod common;
use common::demo_state;

async fn get(state: &AppState, uri: &str) -> (StatusCode, String) {
    let resp = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

#[tokio::test]
async fn the_view_is_the_graph_with_first_hosts_and_adjacency_rows() {
    let s = demo_state().await;
    let mut truncated = 0;
    for cpu in [
        "host-passthrough",
        "host-model",
        "baseline",
        "Skylake-Server-v4",
    ] {
        let (status, graph) = get(&s, &format!("/api/v1/graph?cpu={cpu}")).await;
        assert_eq!(status, StatusCode::OK, "{graph}");
        let graph: serde_json::Value = serde_json::from_str(&graph).expect("graph json");
        let (status, view) = get(&s, &format!("/api/v1/graph/view?cpu={cpu}")).await;
        assert_eq!(status, StatusCode::OK, "{view}");
        let view: GraphView = serde_json::from_str(&view).expect("a GraphView");

        let classes = graph["classes"].as_array().expect("classes");
        assert_eq!(view.classes.len(), classes.len(), "{cpu}");
        assert_eq!(
            view.n_hosts,
            graph["n_hosts"].as_u64().expect("n_hosts") as usize
        );
        for (c, v) in classes.iter().zip(&view.classes) {
            let hosts: Vec<String> = serde_json::from_value(c["hosts"].clone()).expect("hosts");
            assert_eq!(v.class_id, c["class_id"].as_str().expect("id"));
            assert_eq!(v.n_hosts, hosts.len());
            assert_eq!(v.hosts[..], hosts[..hosts.len().min(VIEW_HOSTS_PER_CLASS)]);
            assert_eq!(v.pool, c["pool"].as_u64().expect("pool") as usize);
            assert_eq!(
                v.self_compatible,
                c["self_compatible"].as_bool().expect("bool")
            );
            truncated += usize::from(hosts.len() > VIEW_HOSTS_PER_CLASS);
        }
        assert_eq!(
            serde_json::to_value(&view.class_names).expect("json"),
            graph["class_names"]
        );
        assert_eq!(
            serde_json::to_value(&view.pool_names).expect("json"),
            graph["pool_names"]
        );
        assert_eq!(
            serde_json::to_value(&view.pools).expect("json"),
            graph["pools"]
        );
        assert_eq!(
            serde_json::to_value(&view.class_labels).expect("json"),
            graph["class_labels"]
        );

        // Exactly the graph's edges, no more, no fewer.
        let edges: BTreeSet<(usize, usize)> = graph["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| {
                (
                    e["from"].as_u64().expect("from") as usize,
                    e["to"].as_u64().expect("to") as usize,
                )
            })
            .collect();
        let n = view.classes.len();
        assert_eq!(view.out.len(), n);
        let rows: Vec<Adjacency> = view
            .out
            .iter()
            .map(|r| Adjacency::decode(r, n).expect("a row of n classes"))
            .collect();
        let from_rows: BTreeSet<(usize, usize)> = rows
            .iter()
            .enumerate()
            .flat_map(|(a, r)| r.iter().map(move |b| (a, b)))
            .collect();
        assert_eq!(from_rows, edges, "{cpu}");
        assert_eq!(view.n_edges, edges.len());
        assert!(!edges.is_empty(), "the demo fleet has edges for {cpu}");
    }
    assert!(
        truncated > 0,
        "some demo class has more than {VIEW_HOSTS_PER_CLASS} hosts"
    );
}

#[tokio::test]
async fn class_names_name_every_class_of_the_graph() {
    let s = demo_state().await;
    let (status, graph) = get(&s, "/api/v1/graph").await;
    assert_eq!(status, StatusCode::OK);
    let graph: serde_json::Value = serde_json::from_str(&graph).expect("json");
    let (status, names) = get(&s, "/api/v1/class-names").await;
    assert_eq!(status, StatusCode::OK, "{names}");
    let names: ClassNames = serde_json::from_str(&names).expect("ClassNames");
    let ids: Vec<&str> = graph["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|c| c["class_id"].as_str().expect("id"))
        .collect();
    assert_eq!(names.class_ids, ids);
    assert_eq!(
        serde_json::to_value(&names.names).expect("json"),
        graph["class_names"]
    );
    assert!(names.names.iter().all(|n| n.contains(" · ")), "{names:?}");
}

#[tokio::test]
async fn a_bad_guest_cpu_is_a_400_naming_it() {
    let s = demo_state().await;
    for path in ["/api/v1/graph/view", "/api/v1/class-names"] {
        let (status, body) = get(&s, &format!("{path}?cpu=No-Such-Model-v9")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert!(body.contains("No-Such-Model-v9"), "{path}: {body}");
    }
}

#[tokio::test]
async fn a_hosts_class_is_the_graph_class_that_lists_it() {
    let s = demo_state().await;
    let (_, graph) = get(&s, "/api/v1/graph").await;
    let graph: serde_json::Value = serde_json::from_str(&graph).expect("json");
    let mut checked = 0;
    for c in graph["classes"].as_array().expect("classes") {
        for h in c["hosts"].as_array().expect("hosts").iter().take(2) {
            let h = h.as_str().expect("host id");
            let (status, body) = get(&s, &format!("/api/v1/hosts/{h}/class")).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let hc: shared::api::graph_view::HostClass =
                serde_json::from_str(&body).expect("HostClass");
            assert_eq!(hc.host_id, h);
            assert_eq!(hc.class_id, c["class_id"].as_str().expect("id"), "{h}");
            checked += 1;
        }
    }
    assert!(checked > 20, "{checked}");
    let (status, body) = get(&s, "/api/v1/hosts/no-such-host/class").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(body.contains("no-such-host"), "{body}");
}
