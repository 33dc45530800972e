//! `/api/v1/tokens`: scoped write tokens, managed with the admin token (the same as
//! `fleetcompat token create|list|revoke` on the database).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use shared::api::{TokenCreated, TokenList, TokenRequest};

use crate::error::ApiError;
use crate::extract::{AdminToken, ApiJson};
use crate::{AppState, auth, now_rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tokens", get(list).post(create))
        .route("/tokens/{id}", delete(revoke))
}

/// Scoped write tokens (admin token); secrets are never shown again.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens",
    responses((status = 200, body = TokenList), (status = 401, body = shared::api::ErrorBody),
              (status = 403, body = shared::api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    _: AdminToken,
) -> Result<Json<TokenList>, ApiError> {
    Ok(Json(TokenList {
        tokens: auth::list_scoped(&state.store).await?,
    }))
}

/// Create a scoped write token for hosts or labels (admin token); the answer holds its secret,
/// shown this once.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = TokenRequest,
    responses((status = 201, body = TokenCreated), (status = 400, body = shared::api::ErrorBody),
              (status = 401, body = shared::api::ErrorBody), (status = 403, body = shared::api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    _: AdminToken,
    ApiJson(req): ApiJson<TokenRequest>,
) -> Result<(StatusCode, Json<TokenCreated>), ApiError> {
    let created = auth::create_scoped(&state.store, &req, &now_rfc3339()).await?;
    tracing::info!(id = %created.token.id, name = %created.token.name, "scoped token created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// Revoke a scoped write token (admin token).
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = String, Path, description = "token id, from the list")),
    responses((status = 204, description = "revoked"), (status = 401, body = shared::api::ErrorBody),
              (status = 403, body = shared::api::ErrorBody), (status = 404, body = shared::api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    _: AdminToken,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if auth::revoke_scoped(&state.store, &id).await? {
        tracing::info!(%id, "scoped token revoked");
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!(
            "token '{id}' (see GET /api/v1/tokens for the ids)"
        )))
    }
}
