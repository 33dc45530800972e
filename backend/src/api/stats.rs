//! `/api/v1/stats` and `/metrics`.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use shared::api::Stats;
use shared::{GuestConfig, Policy};

use crate::AppState;
use crate::error::ApiError;
use crate::metrics::Gauges;

pub fn router() -> Router<AppState> {
    Router::new().route("/stats", get(stats))
}

async fn compute(state: &AppState) -> Result<Stats, ApiError> {
    let fleet = state.cache.fleet(&state.store).await?;
    let g =
        super::graph::fleet_graph(state, &fleet, GuestConfig::default(), Policy::default()).await?;
    let mut hosts_by_vendor: BTreeMap<String, usize> = BTreeMap::new();
    for p in &fleet.profiles {
        *hosts_by_vendor.entry(p.cpu.vendor.clone()).or_default() += 1;
    }
    Ok(Stats {
        n_hosts: fleet.profiles.len(),
        n_versions: state.store.n_versions().await?,
        n_classes: g.classes.len(),
        n_pools: g.pools.len(),
        largest_pool_hosts: g.pools.iter().map(|p| p.n_hosts).max().unwrap_or(0),
        hosts_by_vendor,
        hosts_without_guest_view: fleet.profiles.iter().filter(|p| p.kvm.is_none()).count(),
    })
}

/// Fleet totals; classes and pools for host-passthrough guests.
#[utoipa::path(get, path = "/api/v1/stats", tag = "stats", responses((status = 200, body = Stats)))]
pub async fn stats(State(state): State<AppState>) -> Result<Json<Stats>, ApiError> {
    compute(&state).await.map(Json)
}

/// Prometheus text exposition: hosts, versions, classes, pools, ingest counts and latencies.
#[utoipa::path(get, path = "/metrics", tag = "stats",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let s = compute(&state).await?;
    let text = state.metrics.render(Gauges {
        hosts: s.n_hosts,
        versions: s.n_versions,
        classes: s.n_classes,
        pools: s.n_pools,
        caches: state.cache.report(),
        upload_lists: state.upload_lists.stats(),
    });
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}
