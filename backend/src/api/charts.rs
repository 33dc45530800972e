//! Server-side charts, SVG through plotters (no system fonts needed).

use std::collections::BTreeMap;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use plotters::prelude::*;

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new().route("/charts/class-sizes.svg", get(class_sizes))
}

/// Hosts per class, largest first: how concentrated the fleet is.
async fn class_sizes(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let mut counts: BTreeMap<String, u32> = BTreeMap::new();
    for s in state.store.latest_profiles().await? {
        *counts
            .entry(shared::class::class_id(&s.profile))
            .or_default() += 1;
    }
    let mut sizes: Vec<u32> = counts.into_values().collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    let svg = render_bars(&sizes).map_err(ApiError::Internal)?;
    Ok(([(header::CONTENT_TYPE, "image/svg+xml")], svg))
}

/// A bar per class, height = hosts in it.
pub fn render_bars(sizes: &[u32]) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (640, 240)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = u32::try_from(sizes.len()).unwrap_or(u32::MAX).max(1);
        let max = sizes.iter().copied().max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(10)
            .x_label_area_size(24)
            .y_label_area_size(32)
            .build_cartesian_2d(0u32..n, 0u32..max + 1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("classes, largest first")
            .y_desc("hosts")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(sizes.iter().enumerate().map(|(i, &v)| {
                let x = u32::try_from(i).unwrap_or(0);
                Rectangle::new([(x, 0), (x + 1, v)], RGBColor(0x2f, 0x6f, 0xb3).filled())
            }))
            .map_err(|e| e.to_string())?;
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    #[test]
    fn bars_render_as_svg_with_one_rect_per_class() {
        let svg = super::render_bars(&[16, 8, 3]).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        // Background plus three bars at least.
        assert!(svg.matches("<rect").count() >= 4, "{svg}");
    }
}
