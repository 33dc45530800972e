//! Server-side charts, SVG through plotters (no system fonts needed).

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use plotters::prelude::*;
use shared::{FeatureSet, GuestConfig, Policy};

use super::guest::GuestQuery;
use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/charts/class-sizes.svg", get(class_sizes))
        .route("/charts/baseline-coverage.svg", get(coverage_curve))
        .route("/charts/feature-prevalence.svg", get(feature_prevalence))
        .route("/charts/pool-sizes.svg", get(pool_sizes))
}

fn svg(body: String) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "image/svg+xml")], body)
}

/// Hosts per class, largest first: how concentrated the fleet is.
#[utoipa::path(get, path = "/api/v1/charts/class-sizes.svg", tag = "charts",
    responses((status = 200, description = "SVG", content_type = "image/svg+xml", body = String)))]
pub async fn class_sizes(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let fleet = state.cache.fleet(&state.store).await?;
    let g = super::graph::fleet_graph(&state, &fleet, GuestConfig::default(), Policy::default())
        .await?;
    let mut sizes: Vec<u32> = g
        .classes
        .iter()
        .map(|c| u32::try_from(c.hosts.len()).unwrap_or(u32::MAX))
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    Ok(svg(
        render_bars(&sizes, "classes, largest first", "hosts").map_err(ApiError::Internal)?
    ))
}

/// Hosts per migration pool for a guest policy (`cpu=`), largest first.
#[utoipa::path(get, path = "/api/v1/charts/pool-sizes.svg", tag = "charts",
    params(("cpu" = Option<String>, Query, description = "guest cpu: host-passthrough (default), host-model, MODEL, baseline")),
    responses((status = 200, description = "SVG", content_type = "image/svg+xml", body = String)))]
pub async fn pool_sizes(
    State(state): State<AppState>,
    q: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let (_, g) = super::graph::graph_for(&state, &q).await?;
    let sizes: Vec<u32> = g
        .pools
        .iter()
        .map(|p| u32::try_from(p.n_hosts).unwrap_or(u32::MAX))
        .collect();
    Ok(svg(render_bars(
        &sizes,
        "migration pools, largest first",
        "hosts",
    )
    .map_err(ApiError::Internal)?))
}

/// Candidate models by hosts covered, most first: how much of the fleet each baseline keeps.
#[utoipa::path(get, path = "/api/v1/charts/baseline-coverage.svg", tag = "charts",
    responses((status = 200, description = "SVG", content_type = "image/svg+xml", body = String)))]
pub async fn coverage_curve(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let fleet = state.cache.fleet(&state.store).await?;
    let st = state.clone();
    let cov = state
        .engine
        .run(move |_| super::baseline::compute_coverage(&st, &fleet))
        .await?;
    let points: Vec<u32> = cov
        .models
        .iter()
        .map(|m| u32::try_from(m.n_hosts).unwrap_or(u32::MAX))
        .collect();
    let max = u32::try_from(cov.n_hosts).unwrap_or(u32::MAX);
    Ok(svg(render_curve(&points, max).map_err(ApiError::Internal)?))
}

/// For each guest-view feature, the share of hosts offering it, rarest first (features every
/// host has are left out: they never block).
#[utoipa::path(get, path = "/api/v1/charts/feature-prevalence.svg", tag = "charts",
    responses((status = 200, description = "SVG", content_type = "image/svg+xml", body = String)))]
pub async fn feature_prevalence(
    State(state): State<AppState>,
) -> Result<impl IntoResponse, ApiError> {
    let fleet = state.cache.fleet(&state.store).await?;
    let n = shared::catalog().len();
    let mut counts = vec![0u32; n];
    let mut any = FeatureSet::EMPTY;
    let mut with_view = 0u32;
    for p in &fleet.profiles {
        if let Some(k) = &p.kvm {
            with_view += 1;
            any = any.union(&k.guest_features);
            for id in k.guest_features.iter() {
                if let Some(c) = counts.get_mut(usize::from(id.0)) {
                    *c += 1;
                }
            }
        }
    }
    let mut shares: Vec<u32> = any
        .iter()
        .filter_map(|id| counts.get(usize::from(id.0)).copied())
        .filter(|&c| c < with_view)
        .map(|c| c * 100 / with_view.max(1))
        .collect();
    shares.sort_unstable();
    Ok(svg(render_bars(
        &shares,
        "features not on every host, rarest first",
        "% of hosts",
    )
    .map_err(ApiError::Internal)?))
}

/// A bar per item, height = its value.
pub fn render_bars(values: &[u32], x_desc: &str, y_desc: &str) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 240)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = u32::try_from(values.len()).unwrap_or(u32::MAX).max(1);
        let max = values.iter().copied().max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(24)
            .y_label_area_size(32)
            .build_cartesian_2d(0u32..n, 0u32..max + 1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(values.iter().enumerate().map(|(i, &v)| {
                let x = u32::try_from(i).unwrap_or(0);
                Rectangle::new([(x, 0), (x + 1, v)], RGBColor(0x2f, 0x6f, 0xb3).filled())
            }))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

/// Hosts covered by the i-th best candidate model, as a line against the fleet size.
pub fn render_curve(points: &[u32], n_hosts: u32) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 240)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = u32::try_from(points.len()).unwrap_or(u32::MAX).max(1);
        let max = n_hosts.max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(24)
            .y_label_area_size(40)
            .build_cartesian_2d(0u32..n, 0u32..max + 1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .x_desc("candidate models, most hosts covered first")
            .y_desc("hosts that can run it")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                points
                    .iter()
                    .enumerate()
                    .map(|(i, &v)| (u32::try_from(i).unwrap_or(0), v)),
                RGBColor(0x2f, 0x6f, 0xb3).stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                [(0, max), (n, max)],
                RGBColor(0xb3, 0x3f, 0x2f),
            ))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bars_render_as_svg_with_one_rect_per_class() {
        let svg = super::render_bars(&[16, 8, 3], "x", "y").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        // Background plus three bars at least.
        assert!(svg.matches("<rect").count() >= 4, "{svg}");
    }

    #[test]
    fn curve_renders_a_polyline() {
        let svg = super::render_curve(&[10, 8, 2], 12).unwrap();
        assert!(svg.contains("<polyline"), "{svg}");
    }
}
