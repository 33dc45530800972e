//! fleetcompat's backend: stores host profiles, answers "can A go to B, and why not" through a
//! REST API, and serves the web UI.
//!
//! Architecture Invariant: the backend holds no compatibility logic; every verdict, class and
//! baseline comes from `shared`. It is the only crate that knows SQL (in `store`) and HTTP.
//! Engine work never runs on async workers: it goes through `AppState::engine`.

pub mod api;
pub mod auth;
pub mod cache;
pub mod demo;
pub mod engine;
pub mod error;
pub mod extract;
pub mod fleetgen;
pub mod limits;
pub mod lru;
pub mod metrics;
pub mod serve;
/// The store crate, re-exported so `crate::store::…` reads as before.
pub use ::store;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

pub use store::Store;

use crate::error::ApiError;

/// Largest request body of any route (each route has its own limit in `limits`).
pub const MAX_BODY_BYTES: usize = limits::PROFILE_BODY_BYTES;

/// Requests taking longer than this are answered 503 and abandoned.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
    pub cache: Arc<cache::Cache>,
    pub metrics: Arc<metrics::Metrics>,
    /// Reads need a token (the read or the write token): set when listening beyond loopback.
    pub reads_need_token: bool,
    /// Timeouts and engine threads.
    pub limits: limits::Limits,
    /// Where engine work runs (never on the async workers).
    pub engine: Arc<engine::Engine>,
}

impl AppState {
    /// State with open reads (a server on loopback, tests).
    pub fn new(store: Store) -> Self {
        let limits = limits::Limits::default();
        Self {
            store,
            cache: Arc::default(),
            metrics: Arc::default(),
            reads_need_token: false,
            engine: engine::Engine::for_limits(&limits),
            limits,
        }
    }

    /// Other timeouts or engine threads (tests shorten them).
    #[must_use]
    pub fn with_limits(self, limits: limits::Limits) -> Self {
        Self {
            engine: engine::Engine::for_limits(&limits),
            limits,
            ..self
        }
    }

    /// Require the read (or write) token on every API read.
    #[must_use]
    pub fn with_read_token_required(mut self, required: bool) -> Self {
        self.reads_need_token = required;
        self
    }
}

/// The whole HTTP application, apart from serving, so tests call it without a socket.
pub fn app(state: AppState) -> Router {
    let guarded = Router::new()
        .nest("/api/v1", api::router())
        .route("/metrics", get(api::stats::metrics))
        .layer(middleware::from_fn_with_state(state.clone(), read_guard));
    Router::new()
        .route("/api/v1/health", get(|| async { "ok" }))
        .route("/login", get(login))
        .merge(guarded)
        .fallback(ui::serve)
        .layer(middleware::from_fn(timeout))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

#[derive(serde::Deserialize)]
struct LoginQuery {
    token: Option<String>,
}

/// `GET /login?token=T`: a browser trades the read (or write) token for an HttpOnly cookie, so
/// the web UI works on a server that listens beyond loopback.
async fn login(
    State(state): State<AppState>,
    query: Result<axum::extract::Query<LoginQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, error::ApiError> {
    let token = query
        .ok()
        .and_then(|q| q.0.token)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            error::ApiError::bad_request(
                "missing_parameter",
                "login needs the read token: open /login?token=TOKEN",
            )
        })?;
    if !auth::is_read_token(&state.store, &token).await? {
        return Err(error::ApiError::Unauthorized(
            "that is not this server's read token (nor its write token)".into(),
        ));
    }
    let cookie = format!(
        "{}={token}; HttpOnly; SameSite=Strict; Path=/",
        auth::READ_COOKIE
    );
    Ok((
        axum::http::StatusCode::SEE_OTHER,
        [
            (axum::http::header::SET_COOKIE, cookie),
            (axum::http::header::LOCATION, "/".to_owned()),
        ],
    )
        .into_response())
}

async fn read_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.reads_need_token
        && let Err(e) = auth::require_read(&state.store, req.headers()).await
    {
        return e.into_response();
    }
    next.run(req).await
}

async fn timeout(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(r) => r,
        Err(_) => ApiError::Timeout {
            seconds: REQUEST_TIMEOUT.as_secs(),
        }
        .into_response(),
    }
}

/// Now, RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    shared::time::rfc3339(secs)
}
