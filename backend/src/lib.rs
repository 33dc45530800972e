//! fleetcompat's backend: stores host profiles, answers "can A go to B, and why not" through a
//! REST API, and serves the web UI.
//!
//! Architecture Invariant: the backend holds no compatibility logic; every verdict, class and
//! baseline comes from `shared`. It is the only crate that knows SQL (in `store`) and HTTP.
//! Engine work never runs on async workers: it goes through `AppState::engine`.
//!
//! Architecture Invariant: the fleet refresh never runs in a request's future: `cache::Cache`
//! runs it in a task of its own that requests wait for, so a request cut by [`REQUEST_TIMEOUT`]
//! or by its client leaves the refresh running for the next one.

pub mod allowed_hosts;
pub mod api;
pub mod auth;
pub mod cache;
pub mod demo;
pub mod engine;
pub mod error;
pub mod extract;
pub mod fleetgen;
pub mod limits;
pub mod login;
pub mod lru;
pub mod metrics;
pub mod serve;
pub mod tls;
/// The store crate, re-exported so `crate::store::…` reads as before.
pub use ::store;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

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
    /// Reads need a token (the read or the admin token, or a `/login` session): set when
    /// listening beyond loopback or with `--require-read-token`.
    pub reads_need_token: bool,
    /// The `Host` names requests may carry (`None`: any).
    pub allowed_hosts: Option<Arc<allowed_hosts::AllowedHosts>>,
    /// The session cookie gets `Secure` (served over TLS, here or at a proxy).
    pub cookie_secure: bool,
    /// How long a `/login` session lasts.
    pub session_max_age: Duration,
    /// Timeouts and engine threads.
    pub limits: limits::Limits,
    /// Where engine work runs (never on the async workers).
    pub engine: Arc<engine::Engine>,
    /// The QEMU lists uploads repeat, decoded once (`shared::intern::memo`).
    pub upload_lists: Arc<shared::intern::memo::ListMemo>,
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
            allowed_hosts: None,
            cookie_secure: false,
            session_max_age: DEFAULT_SESSION,
            engine: engine::Engine::for_limits(&limits),
            limits,
            upload_lists: shared::intern::memo::ListMemo::new(),
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

    /// Refuse requests whose `Host` is not one of these (421).
    #[must_use]
    pub fn with_allowed_hosts(mut self, hosts: Option<allowed_hosts::AllowedHosts>) -> Self {
        self.allowed_hosts = hosts.map(Arc::new);
        self
    }

    /// `/login` sessions: `Secure` cookies (TLS) and their lifetime.
    #[must_use]
    pub fn with_sessions(mut self, secure: bool, max_age: Duration) -> Self {
        self.cookie_secure = secure;
        self.session_max_age = max_age;
        self
    }
}

/// A `/login` session lasts this long unless `serve --session-hours` says otherwise.
pub const DEFAULT_SESSION: Duration = Duration::from_secs(12 * 3600);

/// The whole HTTP application, apart from serving, so tests call it without a socket.
pub fn app(state: AppState) -> Router {
    let guarded = Router::new()
        .nest("/api/v1", api::router())
        .route("/metrics", get(api::stats::metrics))
        .layer(middleware::from_fn_with_state(state.clone(), read_guard));
    Router::new()
        .route("/api/v1/health", get(|| async { "ok" }))
        .route("/login", get(login::page).post(login::login))
        .route("/logout", post(login::logout))
        .merge(guarded)
        .fallback(ui_page)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            allowed_hosts::guard,
        ))
        .layer(middleware::from_fn(timeout))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn read_guard(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if state.reads_need_token
        && let Err(e) = auth::require_read(&state.store, req.headers()).await
    {
        return e.into_response();
    }
    next.run(req).await
}

/// The web UI's pages. When reads need a token, a browser navigating without a session is sent
/// to `/login` first: the page would show nothing but 401s. Scripts and assets are served as is.
async fn ui_page(
    State(state): State<AppState>,
    method: axum::http::Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
) -> Response {
    let navigation = method == axum::http::Method::GET
        && headers
            .get(axum::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
    if state.reads_need_token
        && navigation
        && auth::require_read(&state.store, &headers).await.is_err()
    {
        return (
            axum::http::StatusCode::SEE_OTHER,
            [(axum::http::header::LOCATION, "/login")],
        )
            .into_response();
    }
    ui::serve(method, uri).await
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
