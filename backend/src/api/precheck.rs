//! `POST /api/v1/precheck`: "can this VM go to that host?", asked before any migration. The VM is
//! its own definition (libvirt domain XML or QEMU command line, parsed by `shared::guest`);
//! without `to`, every other host of the fleet is judged.

use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::routing::post;
use axum::{Json, Router};
use shared::api::{PrecheckAnswer, PrecheckRequest};
use shared::guest::parse_guest;
use shared::profile::HostProfile;
use shared::{GuestConfig, Policy, Verdict};

use super::compat::resolve;
use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new().route("/precheck", post(precheck))
}

fn judge(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    dst_guest: Option<&GuestConfig>,
    policy: &Policy,
) -> Verdict {
    match dst_guest {
        Some(d) => shared::verdict::compare_definitions(src, dst, guest, d, policy),
        None => shared::compare_with(src, dst, guest, policy),
    }
}

/// Verdicts for a VM definition from its host to one host or to every other host.
#[utoipa::path(post, path = "/api/v1/precheck", tag = "compat",
    request_body = PrecheckRequest,
    responses((status = 200, description = "a verdict per destination, compatible ones first", body = PrecheckAnswer),
              (status = 400, body = shared::api::ErrorBody), (status = 404, body = shared::api::ErrorBody)))]
pub async fn precheck(
    State(state): State<AppState>,
    body: Result<Json<PrecheckRequest>, JsonRejection>,
) -> Result<Json<PrecheckAnswer>, ApiError> {
    let Json(req) = body.map_err(|e| ApiError::from_json_rejection(&e))?;
    let (guest_format, guest) = parse_guest(&req.guest)
        .map_err(|e| ApiError::bad_request("invalid_guest", format!("guest: {e}")))?;
    let dst_guest = req
        .dst_guest
        .as_deref()
        .map(parse_guest)
        .transpose()
        .map_err(|e| ApiError::bad_request("invalid_guest", format!("dst_guest: {e}")))?
        .map(|(_, g)| g);
    let policy = req.policy.unwrap_or_default();
    let src = resolve(&state, &req.from).await?;
    let mut verdicts = match &req.to {
        Some(to) => {
            let dst = resolve(&state, to).await?;
            vec![judge(&src, &dst, &guest, dst_guest.as_ref(), &policy)]
        }
        None => {
            let fleet = state.cache.fleet(&state.store).await?;
            fleet
                .profiles
                .iter()
                .filter(|p| p.host_id != src.host_id)
                .map(|dst| judge(&src, dst, &guest, dst_guest.as_ref(), &policy))
                .collect()
        }
    };
    verdicts.sort_by(|a, b| b.compatible.cmp(&a.compatible).then(a.to.cmp(&b.to)));
    Ok(Json(PrecheckAnswer {
        guest_format,
        n_targets: verdicts.len(),
        n_compatible: verdicts.iter().filter(|v| v.compatible).count(),
        verdicts,
    }))
}
