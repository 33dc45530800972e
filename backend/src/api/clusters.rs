//! `/api/v1/clusters`: a card per cluster (any label: cluster, zone, rack), as VMware EVC shows
//! them: the best named model every host runs, the next model up and the hosts that block it
//! (`shared::clusters`), computed on the engine's threads and cached per store generation.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use shared::api::{ClusterCard, ClusterList};
use shared::profile::HostProfile;

use crate::AppState;
use crate::cache::Fleet;
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
                .derived(&fleet, &format!("clusters:{label}"), || ClusterList {
                    clusters: cards(&st, &fleet, &label),
                    label: label.clone(),
                })
                .map_err(ApiError::Internal)
        })
        .await?;
    Ok(Json(answer))
}

/// Cluster cards kept per label and value while the cluster's members are the same profiles
/// (pointers, in order), forgotten after a generation that did not show them.
#[derive(Debug, Default)]
pub struct CardMemo {
    generation: u64,
    by_value: HashMap<(String, String), HeldCard>,
}

#[derive(Debug)]
struct HeldCard {
    members: Vec<Arc<HostProfile>>,
    card: ClusterCard,
    used: u64,
}

/// The card of every value of `label` in `fleet` (`shared::clusters::cluster_cards` under the
/// default policy): made again only for clusters whose members changed, with class ids and
/// model answers the cache keeps per class. Engine work.
pub fn cards(state: &AppState, fleet: &Fleet, label: &str) -> Vec<ClusterCard> {
    let mut by: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, p) in fleet.profiles.iter().enumerate() {
        if let Some(v) = p.labels.get(label) {
            by.entry(v.as_str()).or_default().push(i);
        }
    }
    let class_id = |h: &HostProfile| match fleet.position(&h.host_id) {
        Some(i) => state.cache.class_id(fleet, i).to_string(),
        None => shared::class::class_id(h),
    };
    let mut memo = state.cache.cards();
    let generation = fleet.generation;
    if generation > memo.generation {
        let keep = memo.generation;
        memo.by_value.retain(|_, held| held.used >= keep);
        memo.generation = generation;
    }
    let mut runs = state.cache.model_runs();
    let out = by
        .into_iter()
        .map(|(value, members)| {
            let key = (label.to_owned(), value.to_owned());
            if let Some(held) = memo.by_value.get_mut(&key)
                && held.members.len() == members.len()
                && held
                    .members
                    .iter()
                    .zip(&members)
                    .all(|(h, &i)| Arc::ptr_eq(h, &fleet.profiles[i]))
            {
                held.used = generation;
                return held.card.clone();
            }
            let members: Vec<Arc<HostProfile>> = members
                .iter()
                .map(|&i| Arc::clone(&fleet.profiles[i]))
                .collect();
            let hosts: Vec<&HostProfile> = members.iter().map(|p| &**p).collect();
            let card = shared::clusters::cluster_card_with(value, &hosts, &class_id, &mut runs);
            memo.by_value.insert(
                key,
                HeldCard {
                    members,
                    card: card.clone(),
                    used: generation,
                },
            );
            card
        })
        .collect();
    forget_gone_classes(state, fleet, &mut runs);
    out
}

/// Drop the kept model answers of classes no longer in `fleet` once they are most of what is
/// kept (the answers stay bounded by the classes live at once).
pub fn forget_gone_classes(
    state: &AppState,
    fleet: &Fleet,
    runs: &mut shared::clusters::ModelRuns,
) {
    const FEW: usize = 4096;
    if runs.len() <= FEW {
        return;
    }
    let mut numbers = std::collections::HashSet::new();
    let live: std::collections::HashSet<Arc<str>> = (0..fleet.profiles.len())
        .filter(|&i| numbers.insert(fleet.class_of[i]))
        .map(|i| state.cache.class_id(fleet, i))
        .collect();
    if runs.len() > 2 * live.len() {
        runs.retain(|id| live.contains(id));
    }
}
