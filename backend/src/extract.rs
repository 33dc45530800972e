//! Request bodies and the write and admin tokens, as extractors: every request error is mapped here, once.
//!
//! A body is refused with 413 before a byte of it is read when its `Content-Length` is over the
//! route's limit, and with 408 when it does not arrive whole within `Limits::body_timeout`. The
//! write token is a parts extractor, so it is checked before any body extractor reads.

use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::CONTENT_LENGTH;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::AppState;
use crate::error::ApiError;

/// Bodies up to this are parsed in place; larger ones on a blocking thread.
pub(crate) const SMALL_BODY_BYTES: usize = 16 * 1024;

/// The whole body, at most `LIMIT` bytes, read within the body timeout.
#[derive(Debug)]
pub struct LimitedBody<const LIMIT: usize>(pub Bytes);

/// A JSON body of at most `LIMIT` bytes (by default `limits::QUERY_BODY_BYTES`).
#[derive(Debug)]
pub struct ApiJson<T, const LIMIT: usize = { crate::limits::QUERY_BODY_BYTES }>(pub T);

/// The request carried one of this server's write tokens (`Authorization: Bearer`): the admin
/// token or a scoped one, whose scope the handler checks against the host it writes.
#[derive(Debug)]
pub struct WriteToken(pub crate::auth::Writer);

/// The request carried the admin token (token management).
#[derive(Debug)]
pub struct AdminToken;

async fn read_body(state: &AppState, body: Body, limit: usize) -> Result<Bytes, ApiError> {
    let timeout = state.limits.body_timeout;
    match tokio::time::timeout(timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ApiError::SlowBody {
            seconds: timeout.as_secs().max(1),
        }),
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            if too_large {
                Err(ApiError::PayloadTooLarge { limit })
            } else {
                Err(ApiError::bad_request(
                    "invalid_body",
                    format!("the request body could not be read: {e}"),
                ))
            }
        }
    }
}

impl<const LIMIT: usize> FromRequest<AppState> for LimitedBody<LIMIT> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > LIMIT as u64) {
            return Err(ApiError::PayloadTooLarge { limit: LIMIT });
        }
        read_body(state, req.into_body(), LIMIT).await.map(Self)
    }
}

impl<T, const LIMIT: usize> FromRequest<AppState> for ApiJson<T, LIMIT>
where
    T: DeserializeOwned + Send + 'static,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let LimitedBody(bytes) = LimitedBody::<LIMIT>::from_request(req, state).await?;
        let small = bytes.len() <= SMALL_BODY_BYTES;
        let parse = move || {
            Json::<T>::from_bytes(&bytes)
                .map(|Json(v)| Self(v))
                .map_err(|e| ApiError::from_json_rejection(&e))
        };
        if small {
            return parse();
        }
        // Parsing a body of up to a megabyte is CPU work: not on the async workers.
        tokio::task::spawn_blocking(parse)
            .await
            .map_err(|e| ApiError::Internal(format!("parsing a request body: {e}")))?
    }
}

impl FromRequestParts<AppState> for WriteToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        crate::auth::require_write(&state.store, &parts.headers)
            .await
            .map(Self)
    }
}

impl FromRequestParts<AppState> for AdminToken {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        match crate::auth::require_write(&state.store, &parts.headers).await? {
            crate::auth::Writer::Admin => Ok(Self),
            crate::auth::Writer::Scoped(scope) => Err(ApiError::Forbidden(format!(
                "{scope}; managing tokens needs the admin token (the write token `fleetcompat serve` printed on first run)"
            ))),
        }
    }
}
