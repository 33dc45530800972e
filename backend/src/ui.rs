//! Serves the web UI (assets/web: index.html, CSS, the built WASM in pkg/). Release builds embed
//! the files; debug builds read them from disk, so a rebuilt frontend shows without a rebuild here.

use axum::http::{Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../assets/web/"]
struct Web;

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "wasm" => "application/wasm",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "json" => "application/json",
        "ico" => "image/x-icon",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// Static files; any other path is a client-side route and gets index.html. Only GET and HEAD.
pub async fn serve(method: Method, uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") {
        return crate::error::ApiError::NotFound {
            what: format!("api route '/{path}'"),
        }
        .into_response();
    }
    if method != Method::GET && method != Method::HEAD {
        let mut refused = crate::error::ApiError::MethodNotAllowed {
            method: method.to_string(),
        }
        .into_response();
        refused.headers_mut().insert(
            header::ALLOW,
            axum::http::HeaderValue::from_static("GET, HEAD"),
        );
        return refused;
    }
    if let Some(file) = Web::get(path).filter(|_| !path.is_empty()) {
        return ([(header::CONTENT_TYPE, content_type(path))], file.data).into_response();
    }
    match Web::get("index.html") {
        Some(index) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            index.data,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            "the web UI is not built: run `cargo xtask run` (it builds the frontend first)",
        )
            .into_response(),
    }
}

/// Whether the built frontend is present (the server warns at start when it is not).
pub fn frontend_built() -> bool {
    Web::get("pkg/frontend.js").is_some() && Web::get("pkg/frontend_bg.wasm").is_some()
}
