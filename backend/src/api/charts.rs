//! Server-side charts, SVG through plotters (no system fonts needed). Labels are sized for the
//! width the overview shows them at (about 640 px); every bar and point carries an SVG `<title>`,
//! which a browser shows on hover (the page embeds the SVG as a document, not an image), so the
//! charts are interactive without WASM.

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

/// Chart size in pixels and the fonts of its labels: readable at 1:1, the size shown.
const SIZE: (u32, u32) = (640, 280);
const FONT: &str = "sans-serif";
/// plotters' SVG backend writes text at about 0.81 of the size asked: 17 and 18 come out as
/// 13.7 and 14.5 px.
const LABEL_PX: u32 = 17;
const DESC_PX: u32 = 18;
/// The step labels and notes written here directly.
const NOTE_PX: u32 = 14;
const BLUE: RGBColor = RGBColor(0x2f, 0x6f, 0xb3);
const RED: RGBColor = RGBColor(0xb3, 0x3f, 0x2f);

/// `text` safe inside an SVG element or attribute.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Adds `overlay` (SVG elements) on top of a rendered chart.
fn with_overlay(mut svg: String, overlay: &str) -> String {
    match svg.rfind("</svg>") {
        Some(at) => svg.insert_str(at, overlay),
        None => svg.push_str(overlay),
    }
    svg
}

/// "Skylake-Server-v4: 120 of 194 hosts (61%)".
fn share(what: &str, n: u32, of: u32) -> String {
    let pct = u64::from(n) * 100 / u64::from(of.max(1));
    format!("{what}: {n} of {of} hosts ({pct}%)")
}

/// Hosts per class, largest first: how concentrated the fleet is.
#[utoipa::path(get, path = "/api/v1/charts/class-sizes.svg", tag = "charts",
    responses((status = 200, description = "SVG", content_type = "image/svg+xml", body = String)))]
pub async fn class_sizes(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let fleet = state.cache.fleet(&state.store).await?;
    let g = super::graph::fleet_graph(&state, &fleet, GuestConfig::default(), Policy::default())
        .await?;
    let (st, f, gr) = (state.clone(), fleet.clone(), g.clone());
    let names = state
        .engine
        .run(move |_| Ok(super::graph::names_of(&st, &f, &gr)))
        .await?;
    let n_hosts = u32::try_from(fleet.profiles.len()).unwrap_or(u32::MAX);
    let mut bars: Vec<(u32, String)> = g
        .classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let n = u32::try_from(c.hosts.len()).unwrap_or(u32::MAX);
            let name = names.classes.get(i).cloned().unwrap_or_default();
            (n, share(&name, n, n_hosts))
        })
        .collect();
    bars.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let x_desc = format!("{} classes, largest first", bars.len());
    Ok(svg(
        render_bars(&bars, &x_desc, "hosts").map_err(ApiError::Internal)?
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
    let (fleet, g) = super::graph::graph_for(&state, &q).await?;
    let (st, f, gr) = (state.clone(), fleet.clone(), g.clone());
    let names = state
        .engine
        .run(move |_| Ok(super::graph::names_of(&st, &f, &gr)))
        .await?;
    let n_hosts = u32::try_from(g.n_hosts).unwrap_or(u32::MAX);
    let mut bars: Vec<(u32, String)> = g
        .pools
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let n = u32::try_from(p.n_hosts).unwrap_or(u32::MAX);
            let name = names.pools.get(i).cloned().unwrap_or_default();
            (n, share(&name, n, n_hosts))
        })
        .collect();
    bars.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let x_desc = format!("{} migration pools, largest first", bars.len());
    Ok(svg(
        render_bars(&bars, &x_desc, "hosts").map_err(ApiError::Internal)?
    ))
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
    // At each count, the model with the most features first: it names the step.
    let features = |name: &str| {
        shared::models::models()
            .get(name)
            .map_or(0, |m| m.features.len())
    };
    let mut points: Vec<(String, u32)> = cov
        .models
        .iter()
        .filter(|m| m.n_hosts > 0)
        .map(|m| {
            (
                m.model.clone(),
                u32::try_from(m.n_hosts).unwrap_or(u32::MAX),
            )
        })
        .collect();
    points.sort_by(|a, b| {
        b.1.cmp(&a.1)
            .then_with(|| features(&b.0).cmp(&features(&a.0)))
            .then_with(|| a.0.cmp(&b.0))
    });
    let none = cov.models.len() - points.len();
    let max = u32::try_from(cov.n_hosts).unwrap_or(u32::MAX);
    Ok(svg(
        render_curve(&points, max, none).map_err(ApiError::Internal)?
    ))
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
    let catalog = shared::catalog();
    let mut shares: Vec<(u32, String)> = any
        .iter()
        .filter_map(|id| Some((id, counts.get(usize::from(id.0)).copied()?)))
        .filter(|&(_, c)| c < with_view)
        .map(|(id, c)| {
            let name = catalog.try_get(id).map_or("?", |f| f.name.as_str());
            (c * 100 / with_view.max(1), share(name, c, with_view))
        })
        .collect();
    shares.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
    let x_desc = format!("{} features not on every host, rarest first", shares.len());
    Ok(svg(
        render_bars(&shares, &x_desc, "% of hosts").map_err(ApiError::Internal)?
    ))
}

/// A bar per item, height = its value, with its title (shown on hover) over the whole column.
pub fn render_bars(bars: &[(u32, String)], x_desc: &str, y_desc: &str) -> Result<String, String> {
    let mut svg = String::new();
    let mut overlay = String::from("<g class=\"hover\">");
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = u32::try_from(bars.len()).unwrap_or(u32::MAX).max(1);
        let max = bars.iter().map(|b| b.0).max().unwrap_or(1).max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0u32..n, 0u32..max + max / 10 + 1)
            .map_err(|e| e.to_string())?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            // Bars are named by their titles (on hover), not by numbers under the axis.
            .x_labels(1)
            .x_label_formatter(&|_| String::new())
            .y_labels(6)
            .light_line_style(TRANSPARENT)
            .label_style((FONT, LABEL_PX))
            .axis_desc_style((FONT, DESC_PX))
            .x_desc(x_desc)
            .y_desc(y_desc)
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(bars.iter().enumerate().map(|(i, &(v, _))| {
                let x = u32::try_from(i).unwrap_or(0);
                Rectangle::new([(x, 0), (x + 1, v)], BLUE.filled())
            }))
            .map_err(|e| e.to_string())?;
        let top = max + max / 10 + 1;
        for (i, (_, title)) in bars.iter().enumerate() {
            let x = u32::try_from(i).unwrap_or(0);
            let (x0, y0) = chart.backend_coord(&(x, top));
            let (x1, y1) = chart.backend_coord(&(x + 1, 0));
            overlay.push_str(&format!(
                "<rect class=\"bar\" x=\"{x0}\" y=\"{y0}\" width=\"{}\" height=\"{}\" fill=\"#000\" fill-opacity=\"0\"><title>{}</title></rect>",
                (x1 - x0).max(1),
                (y1 - y0).max(1),
                escape(title)
            ));
        }
        root.present().map_err(|e| e.to_string())?;
    }
    overlay.push_str("</g>");
    Ok(with_overlay(svg, &overlay))
}

/// The coverage curve: hosts that can run each model, most first, with the model named at its
/// steps (where the count drops) as far as labels do not collide, and a title per point.
/// `points` are the models run by at least one host; `none` models run on no host.
pub fn render_curve(points: &[(String, u32)], n_hosts: u32, none: usize) -> Result<String, String> {
    let mut svg = String::new();
    let mut overlay = String::from("<g class=\"hover\">");
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let n = u32::try_from(points.len()).unwrap_or(u32::MAX).max(1);
        let max = n_hosts.max(1);
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(0u32..n, 0u32..max + max / 8 + 1)
            .map_err(|e| e.to_string())?;
        let x_desc = if none > 0 {
            format!(
                "{} models, most hosts first ({none} more run on no host)",
                points.len()
            )
        } else {
            format!("{} models, most hosts first", points.len())
        };
        chart
            .configure_mesh()
            .x_labels(6)
            .y_labels(6)
            .light_line_style(TRANSPARENT)
            .label_style((FONT, LABEL_PX))
            .axis_desc_style((FONT, DESC_PX))
            .x_desc(x_desc)
            .y_desc("hosts that run it")
            .draw()
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new(
                points
                    .iter()
                    .enumerate()
                    .map(|(i, (_, v))| (u32::try_from(i).unwrap_or(0), *v)),
                BLUE.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(LineSeries::new([(0, max), (n, max)], RED))
            .map_err(|e| e.to_string())?;
        chart
            .draw_series(std::iter::once(Text::new(
                format!("all {n_hosts} hosts"),
                (n, max),
                (FONT, LABEL_PX).into_font().color(&RED).pos(
                    plotters::style::text_anchor::Pos::new(
                        plotters::style::text_anchor::HPos::Right,
                        plotters::style::text_anchor::VPos::Bottom,
                    ),
                ),
            )))
            .map_err(|e| e.to_string())?;
        // The steps: the first model at each count, named where its label fits.
        let (width, _) = SIZE;
        // The curve and the fleet line as pixels every 3 px: no label may cover them.
        let pixels: Vec<(i32, i32)> = points
            .iter()
            .enumerate()
            .map(|(i, (_, v))| chart.backend_coord(&(u32::try_from(i).unwrap_or(0), *v)))
            .collect();
        let mut segments: Vec<((i32, i32), (i32, i32))> =
            pixels.windows(2).map(|w| (w[0], w[1])).collect();
        if let Some(&p) = pixels.first() {
            segments.push((p, p));
        }
        segments.push((
            chart.backend_coord(&(0, max)),
            chart.backend_coord(&(n, max)),
        ));
        let mut curve: Vec<(i32, i32)> = Vec::new();
        for ((x0, y0), (x1, y1)) in segments {
            let steps = ((x1 - x0).abs().max((y1 - y0).abs()) / 3).max(1);
            for k in 0..=steps {
                curve.push((x0 + (x1 - x0) * k / steps, y0 + (y1 - y0) * k / steps));
            }
        }
        let bottom = chart.backend_coord(&(0, 0)).1;
        let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
        let mut labels = Vec::new();
        for (i, (model, v)) in points.iter().enumerate() {
            if i > 0 && points[i - 1].1 == *v {
                continue;
            }
            let x = u32::try_from(i).unwrap_or(0);
            let (px, py) = chart.backend_coord(&(x, *v));
            let text = format!("{model} ({v})");
            let w = i32::try_from(text.len()).unwrap_or(40) * 7;
            let h = i32::try_from(NOTE_PX).unwrap_or(14) + 2;
            // Above the step to its right, else to its left, else below it.
            let right = (px + 4, py - h - 2, px + 4 + w, py - 2);
            let left = (px - 4 - w, py - h - 2, px - 4, py - 2);
            let below = (px + 6, py + 4, px + 6 + w, py + h + 4);
            let below_left = (px - 6 - w, py + 4, px - 6, py + h + 4);
            let fits = |r: &(i32, i32, i32, i32)| {
                r.0 >= 0
                    && r.2 <= i32::try_from(width).unwrap_or(640)
                    && r.1 >= 0
                    && r.3 <= bottom
                    && placed
                        .iter()
                        .all(|p| r.2 < p.0 || r.0 > p.2 || r.3 < p.1 || r.1 > p.3)
                    && curve
                        .iter()
                        .all(|&(x, y)| x < r.0 - 1 || x > r.2 + 1 || y < r.1 - 1 || y > r.3 + 1)
            };
            let spot = [right, left, below, below_left]
                .into_iter()
                .find(|r| fits(r));
            if let Some(r) = spot {
                placed.push(r);
                labels.push((r, text));
            }
            overlay.push_str(&format!(
                "<circle class=\"step\" cx=\"{px}\" cy=\"{py}\" r=\"4\" fill=\"#2f6fb3\"><title>{}</title></circle>",
                escape(&share(model, *v, n_hosts))
            ));
        }
        for (r, text) in labels {
            overlay.push_str(&format!(
                "<text class=\"step-label\" x=\"{}\" y=\"{}\" font-family=\"{FONT}\" font-size=\"{NOTE_PX}\" fill=\"#1d3f66\">{}</text>",
                r.0,
                r.3 - 3,
                escape(&text)
            ));
        }
        // Every other point: a title on hover, invisible.
        for (i, (model, v)) in points.iter().enumerate() {
            if i == 0 || points[i - 1].1 != *v {
                continue;
            }
            let x = u32::try_from(i).unwrap_or(0);
            let (px, py) = chart.backend_coord(&(x, *v));
            overlay.push_str(&format!(
                "<circle class=\"point\" cx=\"{px}\" cy=\"{py}\" r=\"4\" fill=\"#000\" fill-opacity=\"0\"><title>{}</title></circle>",
                escape(&share(model, *v, n_hosts))
            ));
        }
        root.present().map_err(|e| e.to_string())?;
    }
    overlay.push_str("</g>");
    Ok(with_overlay(svg, &overlay))
}

#[cfg(test)]
mod tests {
    #[test]
    fn bars_render_as_svg_with_one_rect_and_title_per_bar() {
        let bars = [
            (16, "Xeon Gold 6148 · 16 hosts".to_owned()),
            (8, "a <b> & c".to_owned()),
            (3, "x".to_owned()),
        ];
        let svg = super::render_bars(&bars, "x", "y").unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..40.min(svg.len())]);
        // Background plus three bars plus three hover columns at least.
        assert!(svg.matches("<rect").count() >= 7, "{svg}");
        assert_eq!(svg.matches("<title>").count(), 3, "{svg}");
        assert!(svg.contains("<title>a &lt;b&gt; &amp; c</title>"), "{svg}");
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn curve_names_models_at_its_steps() {
        let points: Vec<(String, u32)> = [
            ("Nehalem-v1", 190),
            ("Westmere-v1", 190),
            ("SandyBridge-v1", 150),
            ("Haswell-v1", 120),
            ("Skylake-Server-v1", 60),
        ]
        .iter()
        .map(|(m, n)| ((*m).to_owned(), *n))
        .collect();
        let svg = super::render_curve(&points, 194, 40).unwrap();
        assert!(svg.contains("<polyline"), "{svg}");
        // A title for every point; a label at every step that fits (all of them here).
        assert_eq!(svg.matches("<title>").count(), 5, "{svg}");
        assert!(
            svg.contains("<title>Haswell-v1: 120 of 194 hosts (61%)</title>"),
            "{svg}"
        );
        for step in [
            "Nehalem-v1 (190)",
            "SandyBridge-v1 (150)",
            "Haswell-v1 (120)",
            "Skylake-Server-v1 (60)",
        ] {
            assert!(svg.contains(&format!(">{step}</text>")), "{step}: {svg}");
        }
        assert!(!svg.contains(">Westmere-v1 (190)</text>"));
        assert!(svg.contains("40 more run on no host"));
    }
}
