//! JSON over HTTP from the backend's API, with its error body turned into a message.
//!
//! The request itself is one non-generic function over the browser's `fetch` (web-sys); only
//! the JSON decoding is generic, so each answer type adds its decoder and nothing else to the
//! WASM (gloo-net did that part once per answer type).

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;

use leptos::prelude::{Get, LocalResource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::api::ErrorBody;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// An HTTP answer: its status and body text.
struct Answer {
    status: u16,
    text: String,
}

/// A JavaScript error's message (fetch rejects with a `TypeError` when the server is away).
fn message(e: &JsValue) -> String {
    e.dyn_ref::<web_sys::js_sys::Error>()
        .map(|e| String::from(e.message()))
        .or_else(|| e.as_string())
        .unwrap_or_else(|| "the browser gave no reason".to_owned())
}

/// Send a request (a JSON body for POST) and read the whole answer as text.
async fn send(method: &str, url: &str, json: Option<String>) -> Result<Answer, String> {
    let unreachable = |e: JsValue| format!("cannot reach the fleetcompat server: {}", message(&e));
    let init = web_sys::RequestInit::new();
    init.set_method(method);
    if let Some(body) = json {
        let headers = web_sys::Headers::new().map_err(unreachable)?;
        headers
            .set("content-type", "application/json")
            .map_err(unreachable)?;
        init.set_headers(&headers);
        init.set_body(&JsValue::from_str(&body));
    }
    let window = web_sys::window().ok_or("cannot reach the fleetcompat server: no window")?;
    let resp: web_sys::Response = JsFuture::from(window.fetch_with_str_and_init(url, &init))
        .await
        .map_err(unreachable)?
        .dyn_into()
        .map_err(unreachable)?;
    let text = JsFuture::from(resp.text().map_err(unreachable)?)
        .await
        .map_err(|e| format!("the answer from {url} was cut off: {}", message(&e)))?
        .as_string()
        .unwrap_or_default();
    Ok(Answer {
        status: resp.status(),
        text,
    })
}

/// The message of a failed answer: the API's error body, or the status.
fn failure(url: &str, a: &Answer) -> String {
    match serde_json::from_str::<ErrorBody>(&a.text) {
        Ok(body) => body.error.message,
        Err(_) => format!(
            "the server could not answer {url} (HTTP status {})",
            a.status
        ),
    }
}

fn decode<T: DeserializeOwned>(url: &str, a: &Answer) -> Result<T, String> {
    if (200..300).contains(&a.status) {
        serde_json::from_str(&a.text).map_err(|e| format!("unexpected answer from {url}: {e}"))
    } else {
        Err(failure(url, a))
    }
}

/// GET a JSON document; errors are messages for the page.
pub async fn get_json<T: DeserializeOwned>(url: &str) -> Result<T, String> {
    decode(url, &send("GET", url, None).await?)
}

/// GET a JSON document that may not exist: `Ok(None)` when the server answers 404.
pub async fn get_json_or_missing<T: DeserializeOwned>(url: &str) -> Result<Option<T>, String> {
    let a = send("GET", url, None).await?;
    if a.status == 404 {
        return Ok(None);
    }
    decode(url, &a).map(Some)
}

/// POST a JSON body and read a JSON answer; errors are messages for the page.
pub async fn post_json<B: Serialize, T: DeserializeOwned>(
    url: &str,
    body: &B,
) -> Result<T, String> {
    let json = serde_json::to_string(body)
        .map_err(|e| format!("cannot encode the request to {url}: {e}"))?;
    decode(url, &send("POST", url, Some(json)).await?)
}

/// What every [`Resource`] holds: its answer, type-erased.
type Erased = Rc<dyn Any>;

/// A resource's fetcher, type-erased.
type Fetch = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Erased>>>>;

/// The one instantiation of Leptos's resource machinery: each `LocalResource<T>` with its own `T`
/// and fetcher copied about 3 KB of `AsyncDerived` code into the WASM, 30 of them 90 KB.
fn erased_resource(fetch: Fetch) -> LocalResource<Erased> {
    LocalResource::new(fetch)
}

/// A `LocalResource<T>` for the pages (`Resource::new(|| get_json::<X>(url))`, `.get()`), over
/// one erased resource type, so that each answer type adds only its boxing and downcast.
pub struct Resource<T> {
    inner: LocalResource<Erased>,
    answer: PhantomData<fn() -> T>,
}

impl<T> Clone for Resource<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Resource<T> {}

impl<T: Clone + 'static> Resource<T> {
    pub fn new<Fut: Future<Output = T> + 'static>(fetch: impl Fn() -> Fut + 'static) -> Self {
        Self {
            inner: erased_resource(Box::new(move || {
                let fut = fetch();
                Box::pin(async move { Rc::new(fut.await) as Erased })
            })),
            answer: PhantomData,
        }
    }

    /// The answer once it is there (tracked, like `LocalResource::get`).
    pub fn get(&self) -> Option<T> {
        self.inner
            .get()
            .and_then(|a| a.downcast_ref::<T>().cloned())
    }
}
