//! `/what-if`: placeholder replaced below.
use leptos::prelude::*;
#[component]
pub fn WhatIfPage() -> impl IntoView {
    view! { <section id="what-if"></section> }
}
