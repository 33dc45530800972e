//! Bad input through `app()` against a real SQLite file: each gets the right 4xx, a message
//! naming the problem, and the database is unchanged.

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use backend::{AppState, Store, app, demo};
use serde_json::Value;
use tower::ServiceExt;

const TOKEN: &str = "bad-input-token";

struct Fixture {
    state: AppState,
    _dir: tempfile::TempDir,
    good: String,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(&dir.path().join("fleet.db"))
        .await
        .expect("open");
    backend::auth::ensure_write_token(&store, Some(TOKEN))
        .await
        .expect("token");
    let profiles = demo::demo_profiles("2026-11-22T00:00:00Z").expect("demo");
    store
        .upsert(&profiles[0], "2026-11-22T00:00:00Z")
        .await
        .expect("seed");
    let mut p = profiles[1].clone();
    p.host_id = "new-host".into();
    Fixture {
        state: AppState::new(store),
        _dir: dir,
        good: serde_json::to_string(&p).expect("json"),
    }
}

async fn upload(f: &Fixture, body: Vec<u8>, token: Option<&str>) -> (StatusCode, String, String) {
    let mut req = Request::post("/api/v1/hosts").header(header::CONTENT_TYPE, "application/json");
    if let Some(t) = token {
        req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
    }
    let resp = app(f.state.clone())
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    (
        status,
        v["error"]["code"].as_str().unwrap_or_default().to_owned(),
        v["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// Upload the good profile with `field` set to `value`, with the token.
async fn upload_with(f: &Fixture, field: &str, value: Value) -> (StatusCode, String, String) {
    let mut v: Value = serde_json::from_str(&f.good).expect("json");
    v[field] = value;
    upload(f, v.to_string().into_bytes(), Some(TOKEN)).await
}

async fn unchanged(f: &Fixture) {
    assert_eq!(f.state.store.n_hosts().await.expect("n"), 1);
    assert_eq!(f.state.store.n_versions().await.expect("n"), 1);
    assert_eq!(f.state.store.integrity_check().await.expect("check"), "ok");
}

#[tokio::test]
async fn truncated_json_is_refused_naming_the_position() {
    let f = fixture().await;
    let body = f.good.as_bytes()[..f.good.len() / 2].to_vec();
    let (st, code, msg) = upload(&f, body, Some(TOKEN)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(code, "invalid_profile");
    assert!(
        msg.contains("not valid json") && msg.contains("line"),
        "{msg}"
    );
    unchanged(&f).await;
}

#[tokio::test]
async fn a_ten_mib_body_gets_413() {
    let f = fixture().await;
    let mut body = f.good.clone().into_bytes();
    body.resize(10 * 1024 * 1024, b' ');
    let (st, code, msg) = upload(&f, body, Some(TOKEN)).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(code, "payload_too_large");
    assert!(msg.contains("4194304 bytes"), "{msg}");
    unchanged(&f).await;
}

#[tokio::test]
async fn a_wrong_schema_version_names_the_field() {
    let f = fixture().await;
    let mut v: Value = serde_json::from_str(&f.good).expect("json");
    v["schema_version"] = Value::from(99);
    let (st, code, msg) = upload(&f, v.to_string().into_bytes(), Some(TOKEN)).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(code, "unsupported_schema_version");
    assert!(
        msg.contains("schema_version") || msg.contains("99"),
        "{msg}"
    );
    v.as_object_mut().expect("object").remove("schema_version");
    let (st, code, msg) = upload(&f, v.to_string().into_bytes(), Some(TOKEN)).await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::BAD_REQUEST, "unsupported_schema_version")
    );
    assert!(msg.contains("schema_version"), "{msg}");
    unchanged(&f).await;
}

#[tokio::test]
async fn a_missing_or_wrong_token_gets_401() {
    let f = fixture().await;
    let (st, code, msg) = upload(&f, f.good.clone().into_bytes(), None).await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::UNAUTHORIZED, "unauthorized")
    );
    assert!(msg.contains("bearer token"), "{msg}");
    let (st, _, msg) = upload(&f, f.good.clone().into_bytes(), Some("guess")).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(msg.contains("write token"), "{msg}");
    unchanged(&f).await;
    // The same body with the token is stored: the refusals above were about the token alone.
    let (st, _, _) = upload(&f, f.good.clone().into_bytes(), Some(TOKEN)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(f.state.store.n_hosts().await.expect("n"), 2);
}

#[tokio::test]
async fn an_sql_looking_host_id_is_refused_by_validation() {
    let f = fixture().await;
    let (st, code, msg) = upload_with(&f, "host_id", Value::from("x'; DROP TABLE hosts;--")).await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::BAD_REQUEST, "invalid_profile")
    );
    assert!(msg.contains("host_id"), "{msg}");
    unchanged(&f).await;
    // Reads with such an id are harmless too: a 404 naming it, tables intact.
    let resp = app(f.state.clone())
        .oneshot(
            Request::get("/api/v1/hosts/x'%3B%20DROP%20TABLE%20hosts%3B--")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    unchanged(&f).await;
}

#[tokio::test]
async fn invalid_json_bodies_of_reads_name_the_field() {
    let f = fixture().await;
    let resp = app(f.state.clone())
        .oneshot(
            Request::post("/api/v1/baseline")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    r#"{"hosts": ["a"], "options": {"qemu": "banana"}}"#,
                ))
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes);
    assert!(
        text.contains("options.qemu") || text.contains("qemu"),
        "{text}"
    );
    // In this API's words (lowercase, what to send), not the framework's.
    assert!(
        text.contains("\"the body is JSON but not this request: "),
        "{text}"
    );
    unchanged(&f).await;
}

#[tokio::test]
async fn all_dot_host_ids_are_refused() {
    let f = fixture().await;
    for id in [".", ".."] {
        let (st, code, msg) = upload_with(&f, "host_id", Value::from(id)).await;
        assert_eq!(
            (st, code.as_str()),
            (StatusCode::BAD_REQUEST, "invalid_profile"),
            "{id}: {msg}"
        );
        assert!(msg.contains("only dots"), "{msg}");
    }
    unchanged(&f).await;
}

#[tokio::test]
async fn more_labels_than_the_limit_get_422_naming_it() {
    let f = fixture().await;
    let labels: serde_json::Map<String, Value> = (0..100_000)
        .map(|i| (format!("k{i}"), Value::from("v")))
        .collect();
    let (st, code, msg) = upload_with(&f, "labels", Value::Object(labels)).await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "limit_exceeded")
    );
    assert!(msg.contains("labels") && msg.contains("64"), "{msg}");
    unchanged(&f).await;
}

/// A tokenless upload is refused before its body is polled at all.
#[tokio::test]
async fn a_tokenless_body_is_never_polled() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let f = fixture().await;
    let polled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&polled);
    let chunks = (0..64).map(move |_| {
        counter.fetch_add(1, Ordering::SeqCst);
        Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])
    });
    let body = Body::from_stream(futures_util::stream::iter(chunks));
    let resp = app(f.state.clone())
        .oneshot(
            Request::post("/api/v1/hosts")
                .header(header::CONTENT_TYPE, "application/json")
                .header(header::CONTENT_LENGTH, "4194304")
                .body(body)
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(polled.load(Ordering::SeqCst), 0, "the body was read");
    unchanged(&f).await;
}

#[tokio::test]
async fn wrong_methods_on_ui_paths_get_405() {
    let f = fixture().await;
    let resp = app(f.state.clone())
        .oneshot(
            Request::post("/graph")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        resp.headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok()),
        Some("GET, HEAD")
    );
}
