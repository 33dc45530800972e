//! fleetcompat's web UI: Leptos, client-side, compiled to wasm32 and served by the backend.
//! DTOs come from `shared`; nothing here redeclares them.

mod app;
mod fetch;

use wasm_bindgen::prelude::wasm_bindgen;

/// Entry point, called by index.html's `init()`.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(app::App);
}
