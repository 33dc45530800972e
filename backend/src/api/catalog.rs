//! `/api/v1/models` and `/api/v1/features`: the engine's reference data.

use axum::routing::get;
use axum::{Json, Router};
use shared::api::{FeatureInfo, ModelInfo};

use crate::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/models", get(models))
        .route("/features", get(features))
}

/// Every named QEMU model (and x86-64 level) the engine knows, with its features.
#[utoipa::path(get, path = "/api/v1/models", tag = "catalog",
    responses((status = 200, body = Vec<ModelInfo>)))]
pub async fn models() -> Json<Vec<ModelInfo>> {
    Json(
        shared::models::models()
            .all()
            .iter()
            .map(ModelInfo::from_model)
            .collect(),
    )
}

/// Every CPUID/MSR feature of the catalog, with QEMU/libvirt/Linux names and migratability.
#[utoipa::path(get, path = "/api/v1/features", tag = "catalog",
    responses((status = 200, body = Vec<FeatureInfo>)))]
pub async fn features() -> Json<Vec<FeatureInfo>> {
    Json(
        shared::catalog()
            .features()
            .iter()
            .map(FeatureInfo::from_feature)
            .collect(),
    )
}
