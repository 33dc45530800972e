//! `/api/v1/clusters`: a card per cluster (any label: cluster, zone, rack), as VMware EVC shows
//! them: the best named model every host runs, the next model up and the hosts that block it
//! (`shared::clusters`), computed on the engine's threads and cached per store generation.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use shared::Policy;
use shared::api::ClusterList;
use shared::profile::HostProfile;

use crate::AppState;
use crate::error::ApiError;
use crate::limits;

pub fn router() -> Router<AppState> {
    Router::new().route("/clusters", get(clusters))
}

#[derive(Debug, Default, Deserialize)]
pub struct ClustersQuery {
    /// The label whose values make the clusters (default `cluster`).
    label: Option<String>,
}

/// A card per value of a label: the best named QEMU model every host runs, the next model up
/// and exactly the hosts that cannot run it, each with the features it lacks.
#[utoipa::path(get, path = "/api/v1/clusters", tag = "baseline",
    params(("label" = Option<String>, Query, description = "the label whose values are the clusters (default: cluster); hosts without it are left out")),
    responses((status = 200, body = ClusterList), (status = 400, body = shared::api::ErrorBody)))]
pub async fn clusters(
    State(state): State<AppState>,
    q: Result<Query<ClustersQuery>, QueryRejection>,
) -> Result<Json<ClusterList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let label = q
        .label
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "cluster".to_owned());
    if label.len() > limits::LABEL_KEY_BYTES {
        return Err(ApiError::too_many(
            "bytes in the label name",
            label.len(),
            limits::LABEL_KEY_BYTES,
            "name a shorter label",
        ));
    }
    let fleet = state.cache.fleet(&state.store).await?;
    // Only labels some host has are worth computing and caching.
    if !fleet.profiles.iter().any(|p| p.labels.contains_key(&label)) {
        return Ok(Json(ClusterList {
            label,
            clusters: Vec::new(),
        }));
    }
    let st = state.clone();
    let answer = state
        .engine
        .run(move |_| {
            st.cache
                .derived(&fleet, &format!("clusters:{label}"), || {
                    let hosts: Vec<&HostProfile> =
                        fleet.profiles.iter().map(|p| p.as_ref()).collect();
                    ClusterList {
                        clusters: shared::clusters::cluster_cards(
                            &hosts,
                            &label,
                            &Policy::default(),
                        ),
                        label: label.clone(),
                    }
                })
                .map_err(ApiError::Internal)
        })
        .await?;
    Ok(Json(answer))
}
