//! `/api/v1/hosts`: upload (collector), list, get one.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use axum::{Json, Router};
use shared::api::{HostList, HostSummary, UploadReceipt};
use shared::profile::{HostProfile, ProfileError};

use crate::error::ApiError;
use crate::{AppState, MAX_BODY_BYTES, now_rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hosts", get(list).post(upload))
        .route("/hosts/{host_id}", get(get_one))
}

async fn list(State(state): State<AppState>) -> Result<Json<HostList>, ApiError> {
    let hosts: Vec<HostSummary> = state
        .store
        .latest_profiles()
        .await?
        .iter()
        .map(|s| HostSummary::from_profile(&s.profile, s.n_versions))
        .collect();
    Ok(Json(HostList {
        n_hosts: hosts.len(),
        hosts,
    }))
}

async fn get_one(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
) -> Result<Json<HostProfile>, ApiError> {
    state
        .store
        .latest_profile(&host_id)
        .await?
        .map(|s| Json(s.profile))
        .ok_or_else(|| ApiError::NotFound {
            what: format!("host '{host_id}'"),
        })
}

fn profile_error(e: ProfileError) -> ApiError {
    let code = match e {
        ProfileError::SchemaVersion { .. } | ProfileError::MissingSchemaVersion => {
            "unsupported_schema_version"
        }
        _ => "invalid_profile",
    };
    ApiError::bad_request(code, e.to_string())
}

async fn upload(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<UploadReceipt>, ApiError> {
    crate::auth::require_write(&state.store, &headers).await?;
    let body = body.map_err(|rejection| {
        if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge {
                limit: MAX_BODY_BYTES,
            }
        } else {
            ApiError::bad_request("invalid_body", rejection.body_text())
        }
    })?;
    let text = std::str::from_utf8(&body)
        .map_err(|e| ApiError::bad_request("invalid_profile", format!("body is not utf-8: {e}")))?;
    let profile = HostProfile::from_json(text).map_err(profile_error)?;
    let upserted = state.store.upsert(&profile, &now_rfc3339()).await?;
    Ok(Json(UploadReceipt {
        host_id: profile.host_id,
        version: upserted.version,
        changed: upserted.changed,
    }))
}
