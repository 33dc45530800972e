//! `/baseline`: placeholder replaced below.
use leptos::prelude::*;
#[component]
pub fn BaselinePage() -> impl IntoView {
    view! { <section id="baseline"></section> }
}
