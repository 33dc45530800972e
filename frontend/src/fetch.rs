//! JSON over HTTP from the backend's API, with its error body turned into a message.

use gloo_net::http::Request;
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::ErrorBody;

/// GET a JSON document; errors are messages for the page.
pub async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    let resp = Request::get(url)
        .send()
        .await
        .map_err(|e| format!("cannot reach the fleetcompat server: {e}"))?;
    answer(url, resp).await
}

/// GET a JSON document that may not exist: `Ok(None)` when the server answers 404.
pub async fn get_json_or_missing<T: DeserializeOwned>(url: &str) -> Result<Option<T>, String> {
    let resp = Request::get(url)
        .send()
        .await
        .map_err(|e| format!("cannot reach the fleetcompat server: {e}"))?;
    if resp.status() == 404 {
        return Ok(None);
    }
    answer(url, resp).await.map(Some)
}

/// POST a JSON body and read a JSON answer; errors are messages for the page.
pub async fn post_json<B: Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, String> {
    let resp = Request::post(url)
        .json(body)
        .map_err(|e| format!("cannot encode the request to {url}: {e}"))?
        .send()
        .await
        .map_err(|e| format!("cannot reach the fleetcompat server: {e}"))?;
    answer(url, resp).await
}

async fn answer<T: DeserializeOwned>(
    url: &str,
    resp: gloo_net::http::Response,
) -> Result<T, String> {
    if resp.ok() {
        resp.json::<T>()
            .await
            .map_err(|e| format!("unexpected answer from {url}: {e}"))
    } else {
        let status = resp.status();
        match resp.json::<ErrorBody>().await {
            Ok(body) => Err(body.error.message),
            Err(_) => Err(format!(
                "the server could not answer {url} (HTTP status {status})"
            )),
        }
    }
}
