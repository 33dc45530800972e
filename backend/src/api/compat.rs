//! `/api/v1/compat`: a directional verdict between hosts or classes, for a guest configuration.
//! `GET ?from=A&to=B[&cpu=..&enable=..&disable=..]` or `POST` a [`CompatRequest`].

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use shared::api::CompatRequest;
use shared::profile::HostProfile;
use shared::{GuestConfig, Policy, Verdict};

use super::guest::{GuestQuery, validate};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiJson;

pub fn router() -> Router<AppState> {
    Router::new().route("/compat", get(compat_get).post(compat_post))
}

#[derive(Deserialize)]
pub struct Ends {
    from: Option<String>,
    to: Option<String>,
}

/// A verdict between two hosts or classes.
#[utoipa::path(get, path = "/api/v1/compat", tag = "compat",
    params(
        ("from" = String, Query, description = "source host id or class id"),
        ("to" = String, Query, description = "destination host id or class id"),
        ("cpu" = Option<String>, Query, description = "host-passthrough (default), host-model, a QEMU model name, or baseline"),
        ("enable" = Option<String>, Query, description = "comma-separated features turned on (named model)"),
        ("disable" = Option<String>, Query, description = "comma-separated features turned off"),
        ("allow_vendor_change" = Option<bool>, Query, description = "allow a vendor change for named models"),
        ("tsc_khz" = Option<u64>, Query, description = "the guest's fixed TSC frequency"),
        ("migratable" = Option<bool>, Query, description = "host-passthrough: false is QEMU's migratable=off, the guest then sees invtsc too (default true, as QEMU)"),
    ),
    responses((status = 200, description = "the verdict with every reason (shared::Verdict)", body = shared::api::EngineObject),
              (status = 400, body = shared::api::ErrorBody), (status = 404, body = shared::api::ErrorBody)))]
pub async fn compat_get(
    State(state): State<AppState>,
    ends: Result<Query<Ends>, QueryRejection>,
    q: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<Json<Verdict>, ApiError> {
    let Query(ends) = ends.map_err(|e| ApiError::from_query_rejection(&e))?;
    let Query(q) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let (Some(from), Some(to)) = (ends.from, ends.to) else {
        return Err(ApiError::bad_request(
            "missing_parameter",
            "compat needs both 'from' and 'to' (host ids or class ids), e.g. /api/v1/compat?from=a&to=b",
        ));
    };
    let policy = q.policy()?;
    let guest = if q.cpu.as_deref() == Some("baseline") {
        let fleet = state.cache.fleet(&state.store).await?;
        state.engine.run(move |_| q.guest(Some(&fleet))).await?
    } else {
        q.guest(None)?
    };
    verdict(&state, &from, &to, guest, policy).await
}

/// A verdict for a guest configuration given as JSON.
#[utoipa::path(post, path = "/api/v1/compat", tag = "compat",
    request_body = CompatRequest,
    responses((status = 200, description = "the verdict (shared::Verdict)", body = shared::api::EngineObject),
              (status = 400, body = shared::api::ErrorBody), (status = 404, body = shared::api::ErrorBody)))]
pub async fn compat_post(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<CompatRequest>,
) -> Result<Json<Verdict>, ApiError> {
    validate(&req.guest)?;
    verdict(
        &state,
        &req.from,
        &req.to,
        req.guest,
        req.policy.unwrap_or_default(),
    )
    .await
}

/// A host by id, or else the first host of a class by class id.
pub(crate) async fn resolve(state: &AppState, id: &str) -> Result<Arc<HostProfile>, ApiError> {
    // The in-memory fleet when it is current (a verdict needs no database round trip), else the
    // database.
    if let Some(fleet) = state.cache.current(&state.store)
        && let Some(i) = fleet.position(id)
    {
        return Ok(Arc::clone(&fleet.profiles[i]));
    }
    if let Some(s) = state.store.latest_profile(id).await? {
        return Ok(Arc::new(s.profile));
    }
    let fleet = state.cache.fleet(&state.store).await?;
    let (id, st) = (id.to_owned(), state.clone());
    state
        .engine
        .run(move |_| {
            st.cache
                .host_of_class(&fleet, &id)
                .map(|i| Arc::clone(&fleet.profiles[i]))
                .ok_or_else(|| ApiError::not_found(format!("host or class '{id}'")))
        })
        .await
}

async fn verdict(
    state: &AppState,
    from: &str,
    to: &str,
    guest: GuestConfig,
    policy: Policy,
) -> Result<Json<Verdict>, ApiError> {
    let src = resolve(state, from).await?;
    let dst = resolve(state, to).await?;
    // QEMU releases the caller did not set come from the two profiles (the engine's default).
    let v = state
        .engine
        .run(move |_| Ok(shared::compare_with(&src, &dst, &guest, &policy)))
        .await?;
    Ok(Json(v))
}
