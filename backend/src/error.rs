//! The one error type of the HTTP API. 4xx name the problem; 5xx are logged and never leaked.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use shared::api::{ErrorBody, ErrorDetail};

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{what} not found")]
    NotFound { what: String },
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        details: Option<serde_json::Value>,
    },
    #[error("{0}")]
    Unauthorized(String),
    /// A known token that may not do this (a scoped token outside its scope, a write token at
    /// `/login`).
    #[error("{0}")]
    Forbidden(String),
    /// A Host header this server does not answer to (DNS rebinding): 421.
    #[error(
        "this server does not answer to host '{host}' (it answers to {allowed}): if that is one of its names, start it with --allowed-host {host}"
    )]
    MisdirectedHost { host: String, allowed: String },
    #[error("{method} is not allowed on the web UI's pages: use GET")]
    MethodNotAllowed { method: String },
    #[error(
        "request body is larger than {limit} bytes, the limit of this route: send a smaller one (one profile per upload)"
    )]
    PayloadTooLarge { limit: usize },
    #[error("the request body did not arrive within {seconds} s: send it whole, without pauses")]
    SlowBody { seconds: u64 },
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("the request took longer than {seconds} s and was abandoned: narrow it or retry")]
    Timeout { seconds: u64 },
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub fn not_found(what: impl Into<String>) -> Self {
        Self::NotFound { what: what.into() }
    }

    /// A JSON body serde refused: 400 naming what it found wrong.
    pub fn from_json_rejection(r: &axum::extract::rejection::JsonRejection) -> Self {
        Self::bad_request("invalid_body", our_words(&r.body_text()))
    }

    /// An input over one of the limits of `crate::limits`: 422 naming the input and the limit.
    pub fn too_many(what: &str, got: usize, limit: usize, advice: &str) -> Self {
        Self::unprocessable(
            "limit_exceeded",
            format!("{what}: {got}, more than the limit of {limit}: {advice}"),
        )
    }

    /// A rejected query string: 400 naming the parameter.
    pub fn from_query_rejection(r: &axum::extract::rejection::QueryRejection) -> Self {
        Self::bad_request("invalid_parameter", our_words(&r.body_text()))
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::MisdirectedHost { .. } => StatusCode::MISDIRECTED_REQUEST,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::SlowBody { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            Self::BadRequest { code, .. } => code,
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::MisdirectedHost { .. } => "misdirected_host",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::SlowBody { .. } => "request_timeout",
            Self::Unprocessable { code, .. } => code,
            Self::Timeout { .. } => "timeout",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // The upload's fault, said to its sender.
            StoreError::Invalid { .. } => Self::unprocessable("invalid_profile", e.to_string()),
            e => Self::Internal(e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        if let Self::Internal(detail) = &self {
            tracing::error!(%status, %detail, "request failed");
        }
        let details = match &self {
            Self::BadRequest { details, .. } => details.clone(),
            _ => None,
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_owned(),
                message: self.to_string(),
                details,
            },
        };
        (status, Json(body)).into_response()
    }
}

/// axum's rejection texts in the words of this API's other errors: lowercase, saying what to
/// send. Their prefixes are axum's own (axum-core `__define_rejection!` bodies in
/// axum/src/extract/rejection.rs: `JsonDataError`, `JsonSyntaxError`,
/// `MissingJsonContentType`, `FailedToDeserializeQueryString`); the detail after them (serde's,
/// naming the field and position) is kept.
fn our_words(text: &str) -> String {
    const PREFIXES: [(&str, &str); 4] = [
        (
            "Failed to deserialize the JSON body into the target type: ",
            "the body is JSON but not this request: ",
        ),
        (
            "Failed to parse the request body as JSON: ",
            "the body is not valid JSON: ",
        ),
        (
            "Expected request with `Content-Type: application/json`",
            "send the body as JSON, with the header 'Content-Type: application/json'",
        ),
        (
            "Failed to deserialize query string: ",
            "the query string does not fit this request: ",
        ),
    ];
    for (theirs, ours) in PREFIXES {
        if let Some(rest) = text.strip_prefix(theirs) {
            return format!("{ours}{rest}");
        }
    }
    let mut chars = text.chars();
    chars
        .next()
        .map_or_else(String::new, |c| c.to_lowercase().chain(chars).collect())
}
