//! The REST API under `/api/v1`. Each resource module owns its router.

pub mod baseline;
pub mod catalog;
pub mod charts;
pub mod clusters;
pub mod compat;
pub mod graph;
pub mod graph_view;
pub mod guest;
pub mod hosts;
pub mod openapi;
pub mod precheck;
pub mod stats;
pub mod tokens;
pub mod vms;
pub mod what_if;

use axum::Router;

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .merge(hosts::router())
        .merge(compat::router())
        .merge(precheck::router())
        .merge(graph::router())
        .merge(graph_view::router())
        .merge(baseline::router())
        .merge(clusters::router())
        .merge(catalog::router())
        .merge(stats::router())
        .merge(charts::router())
        .merge(vms::router())
        .merge(tokens::router())
        .merge(what_if::router())
        .merge(openapi::router())
}
