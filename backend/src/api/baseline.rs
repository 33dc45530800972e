//! `/api/v1/baseline`, `/api/v1/baseline/coverage`, `/api/v1/masks`: the engine's baseline and
//! masking answers for hosts picked by id or label selector.

use std::collections::HashSet;

use axum::extract::State;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use shared::api::{
    BaselineAnswer, BaselineRequest, Coverage, CoverageEntry, HostLoss, MasksAnswer, MasksRequest,
};
use shared::models::ModelKind;
use shared::profile::HostProfile;
use shared::{GuestConfig, Policy};

use crate::AppState;
use crate::cache::Fleet;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::limits::{self, unique_hosts};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/baseline", post(baseline))
        .route("/baseline/coverage", get(coverage))
        .route("/masks", post(masks))
}

fn pick<'a>(fleet: &'a Fleet, ids: &[String]) -> Result<Vec<&'a HostProfile>, ApiError> {
    ids.iter()
        .map(|id| {
            fleet
                .get(id)
                .ok_or_else(|| ApiError::not_found(format!("host '{id}'")))
        })
        .collect()
}

/// The baseline CPU of hosts picked by id and/or label selector, with its exports.
#[utoipa::path(post, path = "/api/v1/baseline", tag = "baseline", request_body = BaselineRequest,
    responses((status = 200, body = BaselineAnswer), (status = 400, body = shared::api::ErrorBody),
              (status = 404, body = shared::api::ErrorBody), (status = 422, body = shared::api::ErrorBody)))]
pub async fn baseline(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<BaselineRequest>,
) -> Result<Response, ApiError> {
    let ids = unique_hosts("hosts", &req.hosts, limits::REQUEST_HOSTS)?;
    let fleet = state.cache.fleet(&state.store).await?;
    state
        .engine
        .answer(move |cancel| {
            let mut hosts = pick(&fleet, &ids)?;
            if let Some(sel) = &req.selector {
                let mut picked: HashSet<&str> = hosts.iter().map(|h| h.host_id.as_str()).collect();
                for p in &fleet.profiles {
                    let matches = sel.iter().all(|(k, v)| p.labels.get(k) == Some(v));
                    if matches && picked.insert(p.host_id.as_str()) {
                        hosts.push(p);
                    }
                }
            }
            if hosts.is_empty() {
                return Err(ApiError::bad_request(
                    "no_hosts",
                    "the baseline needs hosts: give 'hosts' (ids) or a 'selector' that matches some labels",
                ));
            }
            cancel.check()?;
            let b = if hosts.len() == 1 {
                shared::baseline::host_model(hosts[0], &req.options)
            } else {
                shared::baseline::baseline(&hosts, &req.options)
            }
            .map_err(|e| ApiError::unprocessable("no_baseline", e.to_string()))?;
            cancel.check()?;
            let lost_per_host = hosts
                .iter()
                .map(|h| HostLoss {
                    host: h.host_id.clone(),
                    lost: shared::baseline::features_lost(h, &b),
                })
                .collect();
            Ok(BaselineAnswer {
                baseline: b,
                lost_per_host,
            })
        })
        .await
}

/// For each named QEMU model, how many hosts can run it (most first).
#[utoipa::path(get, path = "/api/v1/baseline/coverage", tag = "baseline",
    responses((status = 200, body = Coverage)))]
pub async fn coverage(State(state): State<AppState>) -> Result<Json<Coverage>, ApiError> {
    let fleet = state.cache.fleet(&state.store).await?;
    let st = state.clone();
    Ok(Json(
        state
            .engine
            .run(move |_| compute_coverage(&st, &fleet))
            .await?,
    ))
}

/// Coverage of every versioned QEMU model, from the engine's verdict of each class's first host
/// against itself for a guest on the model; cached per generation.
pub fn compute_coverage(state: &AppState, fleet: &Fleet) -> Result<Coverage, ApiError> {
    state
        .cache
        .derived(fleet, "coverage", || {
            let graph = state
                .cache
                .graph(fleet, &GuestConfig::default(), &Policy::default());
            // Each class's answers are kept across generations (`Cache::model_runs`): after a
            // change only a new class asks the engine.
            let reps: Vec<(&str, &HostProfile, usize)> = graph
                .classes
                .iter()
                .filter_map(|c| {
                    c.hosts
                        .first()
                        .and_then(|h| fleet.get(h))
                        .map(|p| (c.class_id.as_str(), p, c.hosts.len()))
                })
                .collect();
            let mut runs = state.cache.model_runs();
            let mut models: Vec<CoverageEntry> = shared::models::models()
                .versioned()
                .filter(|m| m.kind == ModelKind::Qemu)
                .map(|m| {
                    let n_hosts = reps
                        .iter()
                        .filter(|(id, p, _)| runs.runs(id, p, m))
                        .map(|(_, _, n)| n)
                        .sum();
                    CoverageEntry {
                        model: m.name.clone(),
                        vendor: m.vendor.clone(),
                        n_hosts,
                    }
                })
                .collect();
            super::clusters::forget_gone_classes(state, fleet, &mut runs);
            drop(runs);
            models.sort_by(|a, b| {
                b.n_hosts
                    .cmp(&a.n_hosts)
                    .then_with(|| a.model.cmp(&b.model))
            });
            Coverage {
                n_hosts: fleet.profiles.len(),
                models,
            }
        })
        .map_err(ApiError::Internal)
}

/// Features to mask so that a pair (two hosts) or a pool (more) becomes compatible.
#[utoipa::path(post, path = "/api/v1/masks", tag = "baseline", request_body = MasksRequest,
    responses((status = 200, description = "kind: pair (shared::masks::PairMasks) or pool (shared::masks::PoolMasks); each host mask (shared::masks::HostMask) has disable, qemu_cpu (the -cpu argument) and libvirt (the <cpu> element)", body = shared::api::EngineObject), (status = 400, body = shared::api::ErrorBody),
              (status = 404, body = shared::api::ErrorBody), (status = 422, body = shared::api::ErrorBody)))]
pub async fn masks(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<MasksRequest>,
) -> Result<Response, ApiError> {
    let ids = unique_hosts("hosts", &req.hosts, limits::MASK_HOSTS)?;
    if ids.len() < 2 {
        return Err(ApiError::bad_request(
            "invalid_body",
            format!(
                "masks need at least two hosts in 'hosts' (a pair, or a pool; a repeated id counts once), got {}",
                ids.len()
            ),
        ));
    }
    let fleet = state.cache.fleet(&state.store).await?;
    state
        .engine
        .answer(move |_| {
            let hosts = pick(&fleet, &ids)?;
            let unprocessable =
                |e: shared::masks::MaskError| ApiError::unprocessable("no_masks", e.to_string());
            Ok(if let [src, dst] = hosts.as_slice() {
                MasksAnswer::Pair(Box::new(
                    shared::masks::pair_masks(src, dst, &req.policy).map_err(unprocessable)?,
                ))
            } else {
                MasksAnswer::Pool(Box::new(
                    shared::masks::pool_masks(&hosts, &req.policy).map_err(unprocessable)?,
                ))
            })
        })
        .await
}
