//! The REST API under `/api/v1`. Each resource module owns its router.

pub mod charts;
pub mod compat;
pub mod hosts;

use axum::Router;
use axum::routing::get;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(|| async { "ok" }))
        .merge(hosts::router())
        .merge(compat::router())
        .merge(charts::router())
}
