//! `POST /api/v1/what-if/graph` and `POST /api/v1/what-if/baseline`: the web UI's what-if page
//! at 100,000 hosts (`shared::api::what_if`). The request names the hosts retired; the graph of
//! the hosts kept comes back as the graph page's view (`GraphView`: first hosts per class,
//! edges as adjacency rows), the baseline as its model and `-cpu` line. With nothing retired
//! both read the caches of the whole fleet (`graph::fleet_graph`, the derived cache).

use std::collections::HashSet;

use axum::Router;
use axum::extract::State;
use axum::response::Response;
use axum::routing::post;
use shared::api::graph_view::GraphView;
use shared::api::what_if::{WhatIfBaseline, WhatIfRequest};
use shared::profile::HostProfile;
use shared::verdict::GuestCpu;
use shared::{GuestConfig, Policy};

use super::graph::fleet_graph;
use super::graph_view::view_of;
use super::guest::validate;
use crate::AppState;
use crate::cache::Fleet;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::limits::{self, unique_hosts};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/what-if/graph", post(what_if_graph))
        .route("/what-if/baseline", post(what_if_baseline))
}

/// The guest of a change: `host-passthrough`, less the features masked.
fn guest(mask: &[String]) -> GuestConfig {
    let cpu = if mask.is_empty() {
        GuestCpu::HostPassthrough
    } else {
        GuestCpu::HostPassthroughMasked {
            disable: mask.to_vec(),
        }
    };
    GuestConfig {
        cpu,
        ..GuestConfig::default()
    }
}

/// The hosts kept once `req.retire` leaves: the retired ids must each be a host of the fleet
/// (unknown ones are a 404: a typo would otherwise retire nothing and say so nowhere), and at
/// least one host must stay.
fn kept<'a>(fleet: &'a Fleet, req: &WhatIfRequest) -> Result<Vec<&'a HostProfile>, ApiError> {
    let ids = unique_hosts("retire", &req.retire, limits::REQUEST_HOSTS)?;
    if let Some(id) = ids.iter().find(|id| fleet.get(id).is_none()) {
        return Err(ApiError::not_found(format!("host '{id}' (in retire)")));
    }
    let retired: HashSet<String> = ids.into_iter().collect();
    let kept: Vec<&HostProfile> = fleet
        .profiles
        .iter()
        .map(|p| &**p)
        .filter(|p| !retired.contains(&p.host_id))
        .collect();
    if kept.is_empty() {
        return Err(ApiError::bad_request(
            "no_hosts",
            "every host is retired: keep at least one (fewer ids in 'retire')",
        ));
    }
    Ok(kept)
}

/// The class graph of the hosts kept, for guests with the features masked, as a graph view.
#[utoipa::path(post, path = "/api/v1/what-if/graph", tag = "graph", request_body = WhatIfRequest,
    responses((status = 200, body = GraphView), (status = 400, body = shared::api::ErrorBody),
              (status = 404, body = shared::api::ErrorBody)))]
pub async fn what_if_graph(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<WhatIfRequest>,
) -> Result<Response, ApiError> {
    let guest = guest(&req.mask);
    validate(&guest)?;
    let fleet = state.cache.fleet(&state.store).await?;
    let st = state.clone();
    if req.retire.is_empty() {
        // The whole fleet: its cached graph for this guest.
        let g = fleet_graph(&state, &fleet, guest, Policy::default()).await?;
        return state
            .engine
            .answer(move |_| Ok(view_of(&st, &fleet, &g)))
            .await;
    }
    state
        .engine
        .answer(move |cancel| {
            let kept = kept(&fleet, &req)?;
            cancel.check()?;
            let g = shared::graph::build(&kept, &guest, &Policy::default());
            cancel.check()?;
            Ok(view_of(&st, &fleet, &g))
        })
        .await
}

/// The baseline of the hosts kept (`mask` is not read): its model and `-cpu` line.
#[utoipa::path(post, path = "/api/v1/what-if/baseline", tag = "baseline", request_body = WhatIfRequest,
    responses((status = 200, body = WhatIfBaseline), (status = 400, body = shared::api::ErrorBody),
              (status = 404, body = shared::api::ErrorBody), (status = 422, body = shared::api::ErrorBody)))]
pub async fn what_if_baseline(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<WhatIfRequest>,
) -> Result<Response, ApiError> {
    let fleet = state.cache.fleet(&state.store).await?;
    let st = state.clone();
    state
        .engine
        .answer(move |cancel| {
            let kept = kept(&fleet, &req)?;
            cancel.check()?;
            let compute = || -> Result<WhatIfBaseline, String> {
                let b = if kept.len() == 1 {
                    shared::baseline::host_model(kept[0], &Default::default())
                } else {
                    shared::baseline::baseline(&kept, &Default::default())
                }
                .map_err(|e| e.to_string())?;
                Ok(WhatIfBaseline {
                    n_hosts: kept.len(),
                    model: b.model,
                    qemu: b.exports.qemu,
                })
            };
            // The whole fleet's is kept per store generation: the page asks it on every visit.
            let b = if req.retire.is_empty() {
                st.cache
                    .derived(&fleet, "what-if-baseline", compute)
                    .map_err(|e| ApiError::Internal(format!("the cached fleet baseline: {e}")))?
            } else {
                compute()
            };
            b.map_err(|e| ApiError::unprocessable("no_baseline", e))
        })
        .await
}
