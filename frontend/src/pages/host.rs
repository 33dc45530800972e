//! `/hosts/:id`: one host's newest profile by layer: identity, its VMs and whether it can be
//! drained, KVM guest view, QEMU, gaps.

use leptos::prelude::*;
use shared::api::VersionList;
use shared::api::drain::DrainPlan;
use shared::api::graph_view::{GraphView, HostClass};
use shared::api::ui::{HostProfile, ProfileDiff};

use crate::drain::DrainPlanView;
use crate::fetch::{Resource, get_json, get_json_or_missing};
use crate::router::{Link, query};

/// KVM, QEMU (versions, machine types, CPU models) and devices of a profile.
fn layers(p: &HostProfile) -> impl IntoView + use<> {
    let kvm = p.kvm.as_ref().map(|k| {
        format!(
            "API {}, {} guest features ({}), {} migratable MSRs, {} feature MSRs",
            k.api_version
                .map_or("unknown".to_owned(), |v| v.to_string()),
            k.guest_features.len(),
            k.guest_features_source.describe(),
            k.msr_index_list.len(),
            k.feature_msrs.len()
        )
    });
    let qemu = p
        .qemu
        .iter()
        .map(|q| {
            let machines = q
                .machines
                .iter()
                .map(|m| {
                    let mut n = m.name.clone();
                    if let Some(a) = &m.alias {
                        n.push_str(&format!(" ({a})"));
                    }
                    if m.is_default {
                        n.push_str(" default");
                    }
                    if m.deprecated {
                        n.push_str(" deprecated");
                    }
                    n
                })
                .collect::<Vec<_>>()
                .join(", ");
            let usable = q.cpu_models.iter().filter(|m| m.usable).count();
            view! {
                <li class="qemu">
                    <strong>{format!("QEMU {} {}", q.version, q.package)}</strong>
                    {format!(" at {} ({}); {usable} of {} CPU models usable", q.path, q.accel, q.cpu_models.len())}
                    <details><summary>{format!("{} machine types", q.machines.len())}</summary><p class="features">{machines}</p></details>
                </li>
            }
        })
        .collect_view();
    let devices = p
        .devices
        .pci
        .iter()
        .map(|d| {
            view! {
                <tr>
                    <td><code>{d.address.clone()}</code></td>
                    <td>{format!("{:04x}:{:04x}", d.vendor, d.device)}</td>
                    <td>{format!("{:06x}", d.class)}</td>
                    <td>{d.driver.clone().unwrap_or_default()}</td>
                    <td>{d.iommu_group.map(|g| g.to_string()).unwrap_or_default()}</td>
                </tr>
            }
        })
        .collect_view();
    let n_pci = p.devices.pci.len();
    view! {
        <h3>"KVM"</h3>
        <p id="kvm">{kvm.unwrap_or_else(|| "no KVM guest view was collected for this host".to_owned())}</p>
        <h3>"QEMU"</h3>
        {if p.qemu.is_empty() {
            view! { <p id="qemu">"no QEMU binary was probed on this host"</p> }.into_any()
        } else {
            view! { <ul id="qemu">{qemu}</ul> }.into_any()
        }}
        <h3>"Devices"</h3>
        {if n_pci == 0 {
            view! { <p id="devices">"no PCI devices were collected for this host"</p> }.into_any()
        } else {
            view! {
                <table id="devices"><thead><tr><th>"address"</th><th>"vendor:device"</th><th>"class"</th><th>"driver"</th><th>"IOMMU group"</th></tr></thead>
                <tbody>{devices}</tbody></table>
            }.into_any()
        }}
    }
}

/// The host's class and pool, where its guests can go and from where guests can come: its class
/// id (`/api/v1/hosts/{id}/class`) looked up in the graph view (never the whole graph: at 100,000
/// hosts that is every host id and every edge).
#[component]
fn Membership(id: String) -> impl IntoView {
    let url = format!("/api/v1/hosts/{id}/class");
    let graph = Resource::new(move || {
        let url = url.clone();
        async move {
            let class = get_json_or_missing::<HostClass>(&url).await?;
            let g = get_json::<GraphView>("/api/v1/graph/view").await?;
            Ok::<_, String>((class, g))
        }
    });
    move || match graph.get() {
        None => view! { <p class="loading">"Computing the class graph…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error">{format!("cannot load the class graph: {e}")}</p> }.into_any()
        }
        Some(Ok((class, g))) => {
            let Some(c) =
                class.and_then(|h| g.classes.iter().position(|c| c.class_id == h.class_id))
            else {
                return view! { <p class="error">"The graph does not include this host yet: it was probably uploaded a moment ago. Open this page again to see its class."</p> }.into_any();
            };
            let node = &g.classes[c];
            let hosts_of = |list: Vec<usize>, out: bool| {
                list.into_iter()
                    .map(|o| {
                        let other = &g.classes[o];
                        let rep = other.hosts.first().cloned().unwrap_or_default();
                        let href = if out {
                            format!("/pair/{id}/{rep}")
                        } else {
                            format!("/pair/{rep}/{id}")
                        };
                        let text = format!("{} (e.g. {rep})", g.class_name(o));
                        view! { <li><Link href=href>{text}</Link></li> }
                    })
                    .collect_view()
            };
            let rows = g.adjacency();
            let to: Vec<usize> = rows.get(c).map(|r| r.iter().collect()).unwrap_or_default();
            let from: Vec<usize> = (0..rows.len())
                .filter(|&o| o != c && rows[o].contains(c))
                .collect();
            let (n_to, n_from) = (to.len(), from.len());
            let pool = node.pool;
            let (class_name, pool_name) = (g.class_name(c), g.pool_name(pool));
            let class_id = node.class_id.clone();
            let self_compatible = node.self_compatible;
            let pool_hosts = g.pools.get(pool).map_or(0, |p| p.n_hosts);
            view! {
                <p id="membership">
                    "class "<Link href=format!("/graph{}", query(&[("view", "graph"), ("class", &class_id)]))>{class_name}</Link>
                    " (id "<code>{class_id.clone()}</code>
                    {if self_compatible { ")" } else { "; its hosts cannot take each other's guests)" }}
                    " in the pool "
                    <Link href=format!("/graph{}", query(&[("view", "graph"), ("pool", &pool.to_string())]))>{pool_name}</Link>
                    {format!(" ({pool_hosts} hosts) for host-passthrough guests")}
                </p>
                <div class="two-columns">
                    <div><h4>{format!("its guests can also go to {n_to} classes")}</h4><ul id="goes-to">{hosts_of(to, true)}</ul></div>
                    <div><h4>{format!("guests can come from {n_from} classes")}</h4><ul id="comes-from">{hosts_of(from, false)}</ul></div>
                </div>
            }
            .into_any()
        }
    }
}

/// The host's VMs and its drain plan (`GET /api/v1/hosts/{id}/drain`).
#[component]
fn Drain(id: String) -> impl IntoView {
    let plan = Resource::new(move || {
        let url = format!("/api/v1/hosts/{id}/drain");
        async move { get_json::<DrainPlan>(&url).await }
    });
    move || match plan.get() {
        None => view! { <p class="loading">"Judging where each VM could go…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error">{format!("cannot make the drain plan: {e}")}</p> }.into_any()
        }
        Some(Ok(p)) => view! { <DrainPlanView plan=p/> }.into_any(),
    }
}

/// The versions of the profile and the diff between two of them.
#[component]
fn History(id: String) -> impl IntoView {
    let id = StoredValue::new(id);
    let versions = Resource::new(move || {
        let id = id.get_value();
        async move { get_json::<VersionList>(&format!("/api/v1/hosts/{id}/versions")).await }
    });
    let pick = RwSignal::new(None::<(u32, u32)>);
    let diff = Resource::new(move || {
        let id = id.get_value();
        let p = pick.get();
        async move {
            let (a, b) = p?;
            Some(get_json::<ProfileDiff>(&format!("/api/v1/hosts/{id}/diff?from={a}&to={b}")).await)
        }
    });
    let diff_view = move || match diff.get().flatten() {
        None => pick
            .get()
            .map(|_| view! { <p class="loading">"Comparing the versions…"</p> }.into_any()),
        Some(Err(e)) => Some(
            view! { <p class="error">{format!("cannot compare the versions: {e}")}</p> }.into_any(),
        ),
        Some(Ok(d)) => {
            let change = |what: &str, c: &Option<shared::api::ValueChange>| {
                c.as_ref().map(|c| {
                    format!(
                        "{what}: {} → {}",
                        c.from.clone().unwrap_or_default(),
                        c.to.clone().unwrap_or_default()
                    )
                })
            };
            let lines: Vec<String> = [
                Some(format!(
                    "guest features added: {}",
                    d.guest_features_added.join(" ")
                )),
                Some(format!(
                    "guest features removed: {}",
                    d.guest_features_removed.join(" ")
                )),
                Some(format!(
                    "host features added: {}",
                    d.host_features_added.join(" ")
                )),
                Some(format!(
                    "host features removed: {}",
                    d.host_features_removed.join(" ")
                )),
                change("kernel", &d.kernel),
                change("microcode", &d.microcode),
                change("QEMU", &d.qemu),
                change("class", &d.class_id),
                (!d.targets_added.is_empty())
                    .then(|| format!("guests can now go to: {}", d.targets_added.join(", "))),
                (!d.targets_removed.is_empty()).then(|| {
                    format!(
                        "guests can no longer go to: {}",
                        d.targets_removed.join(", ")
                    )
                }),
            ]
            .into_iter()
            .flatten()
            .collect();
            Some(view! {
                <h4>{format!("version {} → {}", d.from_version, d.to_version)}</h4>
                <ul id="diff">{lines.into_iter().map(|l| view! { <li>{l}</li> }).collect_view()}</ul>
            }.into_any())
        }
    };
    move || match versions.get() {
        None => view! { <p class="loading">"Loading the history…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error">{format!("cannot load the history: {e}")}</p> }.into_any()
        }
        Some(Ok(v)) => {
            let n = v.versions.len();
            let rows = v.versions.iter().enumerate().map(|(i, ver)| {
                let prev = i.checked_sub(1).map(|j| v.versions[j].version);
                let this = ver.version;
                view! {
                    <tr>
                        <td>{ver.version}</td><td>{ver.collected_at.clone()}</td><td>{ver.received_at.clone()}</td>
                        <td><code>{ver.class_id.clone()}</code></td>
                        <td>{prev.map(|p| view! { <button on:click=move |_| pick.set(Some((p, this)))>{format!("diff with {p}")}</button> })}</td>
                    </tr>
                }
            }).collect_view();
            view! {
                <p>{format!("{n} version(s)")}</p>
                <table id="versions"><thead><tr><th>"version"</th><th>"collected"</th><th>"received"</th><th>"class"</th><th></th></tr></thead><tbody>{rows}</tbody></table>
                {diff_view}
            }
            .into_any()
        }
    }
}

/// "Xeon Gold 6148, Intel Skylake-SP (family 6, model 85, stepping 4)".
fn cpu_line(c: &shared::api::ui::CpuInfo) -> String {
    use shared::naming::{generation, short_brand, vendor_name};
    let brand = short_brand(&c.brand);
    let generation = generation(&c.vendor, c.family, c.model, c.stepping).unwrap_or("");
    format!(
        "{}, {} {generation} (family {}, model {}, stepping {})",
        if brand.is_empty() {
            "no brand string"
        } else {
            &brand
        },
        vendor_name(&c.vendor),
        c.family,
        c.model,
        c.stepping
    )
}

#[component]
pub fn HostPage(id: String) -> impl IntoView {
    let host_id = id.clone();
    let id = move || id.clone();
    let profile = Resource::new(move || {
        let id = id();
        async move { get_json_or_missing::<HostProfile>(&format!("/api/v1/hosts/{id}")).await }
    });
    let missing_id = host_id.clone();
    let (filter, set_filter) = signal(String::new());

    let body = move || {
        match profile.get() {
        None => view! { <p class="loading">"Loading the profile…"</p> }.into_any(),
        Some(Err(e)) => view! { <p class="error">{format!("cannot load the host: {e}")}</p> }.into_any(),
        Some(Ok(None)) => view! {
            <h2 id="host-title">"Unknown host"</h2>
            <p class="error">{format!("There is no host named {missing_id} in this fleet: it was never uploaded, or it was deleted.")}</p>
            <p><Link href="/">"See every host in the fleet list"</Link></p>
        }
        .into_any(),
        Some(Ok(Some(p))) => {
            let labels = p
                .labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            let guest = p
                .kvm
                .as_ref()
                .map(|k| k.guest_features.clone())
                .unwrap_or_default();
            // Both lists are in catalog order, so the difference keeps it.
            let host_only: Vec<String> = p
                .cpu
                .features
                .iter()
                .filter(|f| !guest.contains(f))
                .cloned()
                .collect();
            let n_msrs = p.kvm.as_ref().map_or(0, |k| k.msr_index_list.len());
            let source = p.kvm.as_ref().map_or("none".to_owned(), |k| {
                k.guest_features_source.describe().to_owned()
            });
            let features = move |names: Vec<String>| {
                move || {
                    let needle = filter.get().to_ascii_lowercase();
                    names
                        .iter()
                        .filter(|n| {
                            needle.is_empty()
                                || n.contains(&needle)
                                || shared::naming::feature_label(n).0.contains(&needle)
                        })
                        .map(|n| shared::naming::feature_label(n))
                        .map(|(shown, note)| view! { <code class="feature" title=note>{shown}</code>" " })
                        .collect_view()
                }
            };
            view! {
                <h2 id="host-title">{p.host_id.clone()}</h2>
                <table class="facts">
                    <tr><th>"hostname"</th><td>{p.hostname.clone()}</td></tr>
                    <tr><th>"cpu"</th><td>{cpu_line(&p.cpu)}</td></tr>
                    <tr><th>"labels"</th><td>{labels}</td></tr>
                    <tr><th>"kernel"</th><td>{p.kernel_release.clone().unwrap_or_else(|| "unknown".into())}</td></tr>
                    <tr><th>"microcode"</th><td>{p.cpu.microcode.clone().unwrap_or_else(|| "unknown".into())}</td></tr>
                    <tr><th>"TSC"</th><td>{p.cpu.tsc_khz.map_or("unknown".to_owned(), |k| format!("{k} kHz"))}</td></tr>
                    <tr><th>"guest view"</th><td>{format!("{} features ({source}); KVM migrates {n_msrs} MSRs", guest.len())}</td></tr>
                    <tr><th>"collected"</th><td>{format!("{} ({}: {})", p.collected_at, p.origin.kind.name(), p.origin.tool)}</td></tr>
                </table>
                {(!p.gaps.is_empty()).then(|| view! {
                    <h3>"What could not be read"</h3>
                    <ul class="gaps">{p.gaps.iter().map(|g| view! { <li><strong>{g.what.clone()}</strong>": "{g.reason.clone()}</li> }).collect_view()}</ul>
                })}
                <div id="host-drain"><h3>"VMs: can this host be drained?"</h3><Drain id=p.host_id.clone()/></div>
                <h3>"CPU features"</h3>
                <input id="feature-filter" type="search" placeholder="search features" aria-label="search features"
                    on:input=move |ev| set_filter.set(event_target_value(&ev)) />
                <h4>"offered to guests (KVM)"</h4>
                <p class="features" id="guest-features">{features(guest)}</p>
                <h4>"on the host only (raw CPUID, not offered to guests)"</h4>
                <p class="features">{features(host_only)}</p>
                {layers(&p)}
                <div id="host-graph"><h3>"Class, pool and migration targets"</h3><Membership id=p.host_id.clone()/></div>
                <div id="history"><h3>"History"</h3><History id=p.host_id.clone()/></div>
            }
            .into_any()
        }
    }
    };
    view! {
        <section id="host">{body}</section>
    }
}
