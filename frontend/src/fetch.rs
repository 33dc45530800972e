//! JSON over HTTP from the backend's API, with its error body turned into a message.

use gloo_net::http::Request;
use serde::de::DeserializeOwned;
use shared::api::ErrorBody;

/// GET a JSON document; errors are messages for the page.
pub async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    let resp = Request::get(url)
        .send()
        .await
        .map_err(|e| format!("cannot reach the fleetcompat server: {e}"))?;
    if resp.ok() {
        resp.json::<T>()
            .await
            .map_err(|e| format!("unexpected answer from {url}: {e}"))
    } else {
        let status = resp.status();
        match resp.json::<ErrorBody>().await {
            Ok(body) => Err(format!("{} ({status})", body.error.message)),
            Err(_) => Err(format!("{url} answered {status}")),
        }
    }
}
