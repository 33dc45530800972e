//! fleetcompat's web UI: Leptos, client-side, compiled to wasm32 and served by the backend.
//! DTOs come from `shared`; nothing here redeclares them. One page component per route.

mod components;
mod drain;
mod fetch;
pub mod layout;
mod pages;
mod picker;
pub mod router;
mod sort;

use leptos::prelude::*;
use router::{Link, Page};
use wasm_bindgen::prelude::wasm_bindgen;

/// Entry point, called by index.html's `init()`.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(App);
}

#[component]
fn App() -> impl IntoView {
    let location = router::provide_location();
    // A memo: a new query on the same route (a list's next page) keeps the page mounted.
    let current = Memo::new(move |_| location.page.get());
    let page = move || {
        match current.get() {
        Page::Fleet => view! { <pages::fleet::FleetPage/> }.into_any(),
        Page::Graph => view! { <pages::graph::GraphPage/> }.into_any(),
        Page::Baseline => view! { <pages::baseline::BaselinePage/> }.into_any(),
        Page::WhatIf => view! { <pages::whatif::WhatIfPage/> }.into_any(),
        Page::Precheck => view! { <pages::precheck::PrecheckPage/> }.into_any(),
        Page::Clusters => view! { <pages::clusters::ClustersPage/> }.into_any(),
        Page::Host(id) => view! { <pages::host::HostPage id=id/> }.into_any(),
        Page::Vms => view! { <pages::vms::VmsPage/> }.into_any(),
        Page::Vm(vm_ref) => view! { <pages::vm::VmPage vm_ref=vm_ref/> }.into_any(),
        Page::Pair { from, to } => view! { <pages::pair::PairPage from=from to=to/> }.into_any(),
        Page::NotFound(path) => view! {
            <section><p class="error">{format!("there is no page at {path}: go back to the fleet")}</p><p><Link href="/">"the fleet"</Link></p></section>
        }
        .into_any(),
    }
    };
    view! {
        <header>
            <h1><Link href="/">"fleetcompat"</Link></h1>
            <p class="tagline">"Can this VM go there, and if not, why?"</p>
            <nav>
                <Link href="/">"Fleet"</Link>" "
                <Link href="/clusters">"Clusters"</Link>" "
                <Link href="/vms">"VMs"</Link>" "
                <Link href="/graph">"Graph"</Link>" "
                <Link href="/precheck">"Precheck a VM"</Link>" "
                <Link href="/baseline">"Baseline"</Link>" "
                <Link href="/what-if">"What-if"</Link>
            </nav>
        </header>
        <main>{page}</main>
    }
}
