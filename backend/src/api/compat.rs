//! `/api/v1/compat?from=A&to=B[&cpu=host-passthrough|host-model]`: a directional verdict.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use shared::{GuestConfig, GuestCpu, Verdict};

use crate::AppState;
use crate::error::ApiError;

pub fn router() -> Router<AppState> {
    Router::new().route("/compat", get(compat))
}

#[derive(Deserialize)]
struct CompatQuery {
    from: Option<String>,
    to: Option<String>,
    cpu: Option<String>,
}

async fn compat(
    State(state): State<AppState>,
    Query(q): Query<CompatQuery>,
) -> Result<Json<Verdict>, ApiError> {
    let (Some(from), Some(to)) = (q.from, q.to) else {
        return Err(ApiError::bad_request(
            "missing_parameter",
            "compat needs both 'from' and 'to' host ids, e.g. /api/v1/compat?from=a&to=b",
        ));
    };
    let cpu = match q.cpu.as_deref() {
        None | Some("host-passthrough") => GuestCpu::HostPassthrough,
        Some("host-model") => GuestCpu::HostModel,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!(
                    "cpu='{other}' is not a guest cpu mode: use host-passthrough or host-model"
                ),
            ));
        }
    };
    let load = |id: String| {
        let store = state.store.clone();
        async move {
            store.latest_profile(&id).await?.ok_or(ApiError::NotFound {
                what: format!("host '{id}'"),
            })
        }
    };
    let src = load(from).await?;
    let dst = load(to).await?;
    Ok(Json(shared::compare(
        &src.profile,
        &dst.profile,
        &GuestConfig {
            cpu,
            ..GuestConfig::default()
        },
    )))
}
