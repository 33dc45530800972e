//! `/api/v1/class-names` and `/api/v1/graph/view`: what the web UI's fleet and graph pages read
//! of the class graph, sized for 100,000 hosts in thousands of classes (`shared::api::graph_view`).
//! The same cached graph and names as `/api/v1/graph` (`graph::graph_for`, `graph::names_of`);
//! only the answer is smaller: no host list per class beyond its first hosts, and edges as one
//! bitset row per class.

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use shared::api::graph_view::{ClassNames, GraphView, HostClass, ViewNames};
use shared::graph::CompatGraph;

use super::graph::{class_labels, graph_for, names_of};
use super::guest::GuestQuery;
use crate::AppState;
use crate::cache::Fleet;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/class-names", get(class_names))
        .route("/graph/view", get(graph_view))
        .route("/hosts/{host_id}/class", get(host_class))
}

/// Every class id of the graph with its human name.
#[utoipa::path(get, path = "/api/v1/class-names", tag = "graph",
    params(("cpu" = Option<String>, Query, description = "host-passthrough (default), host-model, a QEMU model, or baseline")),
    responses((status = 200, body = ClassNames), (status = 400, body = shared::api::ErrorBody)))]
pub async fn class_names(
    State(state): State<AppState>,
    q: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let (fleet, g) = graph_for(&state, &q).await?;
    let st = state.clone();
    state
        .engine
        .answer(move |_| {
            let names = names_of(&st, &fleet, &g);
            Ok(ClassNames {
                class_ids: g.classes.iter().map(|c| c.class_id.clone()).collect(),
                names: names.classes,
            })
        })
        .await
}

/// The view of a graph of `fleet`'s hosts, with its names and class labels (engine work).
pub(crate) fn view_of(state: &AppState, fleet: &Fleet, g: &CompatGraph) -> GraphView {
    let names = names_of(state, fleet, g);
    GraphView::of(
        g.n_hosts,
        &g.classes,
        &g.edges,
        &g.pools,
        ViewNames {
            class_labels: class_labels(state, fleet, g),
            class_names: names.classes,
            pool_names: names.pools,
        },
    )
}

/// The class graph for the graph page: classes with their host count and first hosts, pools,
/// labels, names, and edges as one adjacency row per class.
#[utoipa::path(get, path = "/api/v1/graph/view", tag = "graph",
    params(("cpu" = Option<String>, Query, description = "host-passthrough (default), host-model, a QEMU model, or baseline")),
    responses((status = 200, body = GraphView), (status = 400, body = shared::api::ErrorBody)))]
pub async fn graph_view(
    State(state): State<AppState>,
    q: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let (fleet, g) = graph_for(&state, &q).await?;
    let st = state.clone();
    state
        .engine
        .answer(move |cancel| {
            // Kept per store generation beside the graph (a few MB at 3,000 classes): the page
            // is opened again and again between changes.
            let key = format!(
                "graph-view:{}",
                serde_json::to_string(&(&g.guest, &g.policy)).unwrap_or_default()
            );
            let view = st
                .cache
                .derived(&fleet, &key, || view_of(&st, &fleet, &g))
                .map_err(|e| ApiError::Internal(format!("the cached graph view: {e}")))?;
            cancel.check()?;
            Ok(view)
        })
        .await
}

/// The class of a host's newest profile (as the fleet cache holds it).
#[utoipa::path(get, path = "/api/v1/hosts/{host_id}/class", tag = "graph",
    params(("host_id" = String, Path, description = "host id")),
    responses((status = 200, body = HostClass), (status = 404, body = shared::api::ErrorBody)))]
pub async fn host_class(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
) -> Result<Response, ApiError> {
    let fleet = state.cache.fleet(&state.store).await?;
    let st = state.clone();
    state
        .engine
        .answer(move |_| {
            let i = fleet
                .position(&host_id)
                .ok_or_else(|| ApiError::not_found(format!("host '{host_id}'")))?;
            Ok(HostClass {
                class_id: st.cache.class_id(&fleet, i).to_string(),
                host_id,
            })
        })
        .await
}
