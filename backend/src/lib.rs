//! fleetcompat's backend: stores host profiles, answers "can A go to B, and why not" through a
//! REST API, and serves the web UI.
//!
//! Architecture Invariant: the backend holds no compatibility logic; every verdict, class and
//! baseline comes from `shared`. It is the only crate that knows SQL (in `store`) and HTTP.

pub mod api;
pub mod auth;
pub mod demo;
pub mod error;
pub mod store;
pub mod ui;

use axum::Router;
use axum::extract::DefaultBodyLimit;

pub use store::Store;

/// Largest request body accepted (a profile with every CPU's raw CPUID is well under this).
pub const MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// Shared state of every handler.
#[derive(Clone, Debug)]
pub struct AppState {
    pub store: Store,
}

/// The whole HTTP application, apart from serving, so tests call it without a socket.
pub fn app(state: AppState) -> Router {
    Router::new()
        .nest("/api/v1", api::router())
        .fallback(ui::serve)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// Now, RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    shared::time::rfc3339(secs)
}
