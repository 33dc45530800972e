//! `/api/v1/openapi.json`: the OpenAPI 3 document, generated from the handlers and DTOs.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::AppState;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(c) = openapi.components.as_mut() {
            c.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "fleetcompat", description = "Live-migration compatibility of a virtualization fleet. Engine answers (verdicts, graphs, baselines, masks, profiles) are documented in the shared crate and shown here as objects."),
    paths(
        super::hosts::list, super::hosts::upload, super::hosts::get_one, super::hosts::delete,
        super::hosts::versions, super::hosts::diff, super::hosts::fleet_file,
        super::compat::compat_get, super::compat::compat_post, super::precheck::precheck,
        super::graph::classes, super::graph::pools, super::graph::graph_get, super::graph::graph_post,
        super::graph_view::class_names, super::graph_view::graph_view, super::graph_view::host_class,
        super::baseline::baseline, super::baseline::coverage, super::baseline::masks,
        super::clusters::clusters,
        super::vms::list, super::vms::get_one, super::vms::drain,
        super::catalog::models, super::catalog::features,
        super::stats::stats, super::stats::metrics,
        super::charts::class_sizes, super::charts::coverage_curve,
        super::charts::feature_prevalence, super::charts::pool_sizes,
        super::tokens::list, super::tokens::create, super::tokens::revoke,
        super::what_if::what_if_graph, super::what_if::what_if_baseline,
    ),
    components(schemas(shared::api::ErrorBody, shared::api::ErrorDetail)),
    modifiers(&Bearer)
)]
pub struct ApiDoc;

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
