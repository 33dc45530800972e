//! `/graph?cpu=&view=&class=&vendor=&pool=&label=&q=`: host classes and the directed "guests can
//! move this way" edges for a guest policy. A node-link drawing for small fleets, a sortable
//! class matrix (heatmap on a canvas plus a table) above [`AUTO_MATRIX`] classes.

use std::collections::HashSet;

use leptos::prelude::*;
use shared::api::ui::Graph;
use wasm_bindgen::JsCast;

use crate::fetch::get_json;
use crate::layout;
use crate::router::{Link, navigate, query, query_value, replace_query, use_location};

/// Above this many classes the matrix is shown unless the URL asks for the graph.
pub const AUTO_MATRIX: usize = 150;

/// A pool's colour: golden-angle hues, so neighbouring pool indexes differ.
pub fn pool_colour(pool: usize) -> String {
    format!("hsl({}, 60%, 52%)", (pool as f64 * 137.508) % 360.0)
}

/// The guest policy picker, shared by the graph and what-if pages. `cpu` is the API's value.
#[component]
pub fn PolicyPicker(cpu: RwSignal<String>) -> impl IntoView {
    let preset = move || {
        let c = cpu.get();
        if ["host-passthrough", "host-model", "baseline"].contains(&c.as_str()) {
            c
        } else {
            "named".to_owned()
        }
    };
    view! {
        <label>"guest cpu "
            <select id="policy" prop:value=preset on:change=move |ev| {
                let v = event_target_value(&ev);
                cpu.set(if v == "named" { "Skylake-Server-v4".to_owned() } else { v });
            }>
                <option value="host-passthrough">"host-passthrough"</option>
                <option value="host-model">"host-model"</option>
                <option value="baseline">"fleet baseline"</option>
                <option value="named">"a named model"</option>
            </select>
        </label>
        {move || (preset() == "named").then(|| view! {
            <label>" model "
                <input id="policy-model" type="text" prop:value=move || cpu.get()
                    on:change=move |ev| cpu.set(event_target_value(&ev)) />
            </label>
        })}
    }
}

/// Which classes pass the filters.
fn visible(g: &Graph, vendor: &str, pool: &str, label: &str, q: &str) -> Vec<bool> {
    let (lk, lv) = label.split_once('=').unwrap_or((label, ""));
    let q = q.to_lowercase();
    g.classes
        .iter()
        .enumerate()
        .map(|(i, c)| {
            (vendor.is_empty() || c.vendor == vendor)
                && (pool.is_empty() || pool.parse::<usize>().ok() == Some(c.pool))
                && (label.is_empty()
                    || g.class_labels.get(i).is_some_and(|ls| {
                        ls.get(lk)
                            .is_some_and(|vs| lv.is_empty() || vs.iter().any(|v| v == lv))
                    }))
                && (q.is_empty() || c.hosts.iter().any(|h| h.to_lowercase().contains(&q)))
        })
        .collect()
}

#[component]
pub fn GraphPage() -> impl IntoView {
    let location = use_location();
    let init = |k: &str| query_value(&location.search.get_untracked(), k).unwrap_or_default();
    let cpu = RwSignal::new({
        let c = init("cpu");
        if c.is_empty() {
            "host-passthrough".to_owned()
        } else {
            c
        }
    });
    let view_mode = RwSignal::new(init("view"));
    let class = RwSignal::new(init("class").parse::<usize>().ok());
    let vendor = RwSignal::new(init("vendor"));
    let pool = RwSignal::new(init("pool"));
    let label = RwSignal::new(init("label"));
    let search = RwSignal::new(init("q"));
    // The page state is the URL: share it and the same view opens.
    Effect::new(move |_| {
        let class = class.get().map(|c| c.to_string()).unwrap_or_default();
        let (c, v, ve, p, l, s) = (
            cpu.get(),
            view_mode.get(),
            vendor.get(),
            pool.get(),
            label.get(),
            search.get(),
        );
        let cpu = if c == "host-passthrough" {
            ""
        } else {
            c.as_str()
        };
        replace_query(&query(&[
            ("cpu", cpu),
            ("view", &v),
            ("class", &class),
            ("vendor", &ve),
            ("pool", &p),
            ("label", &l),
            ("q", &s),
        ]));
    });
    let graph = LocalResource::new(move || {
        let cpu = cpu.get();
        async move { get_json::<Graph>(&format!("/api/v1/graph{}", query(&[("cpu", &cpu)]))).await }
    });

    let body = move || match graph.get() {
        None => view! { <p class="loading">"Computing the class graph…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error">{format!("cannot load the graph: {e}")}</p> }.into_any()
        }
        Some(Ok(g)) => {
            let g = StoredValue::new(g);
            let n = g.with_value(|g| g.classes.len());
            let as_matrix = move || match view_mode.get().as_str() {
                "graph" => false,
                "matrix" => true,
                _ => n > AUTO_MATRIX,
            };
            let vendors = g.with_value(|g| {
                let mut v: Vec<String> = g.classes.iter().map(|c| c.vendor.clone()).collect();
                v.sort();
                v.dedup();
                v
            });
            let n_pools = g.with_value(|g| g.pools.len());
            let shown = Memo::new(move |_| {
                g.with_value(|g| {
                    visible(g, &vendor.get(), &pool.get(), &label.get(), &search.get())
                })
            });
            view! {
                <p class="count" id="graph-summary">
                    {g.with_value(|g| format!(
                        "{} hosts in {} classes, {} pools, {} edges",
                        g.n_hosts, n, n_pools, g.edges.len()
                    ))}
                </p>
                <div class="toolbar">
                    <label>"vendor "
                        <select id="filter-vendor" prop:value=move || vendor.get()
                            on:change=move |ev| vendor.set(event_target_value(&ev))>
                            <option value="">"all"</option>
                            {vendors.into_iter().map(|v| view! { <option value=v.clone()>{v.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>" pool "
                        <select id="filter-pool" prop:value=move || pool.get()
                            on:change=move |ev| pool.set(event_target_value(&ev))>
                            <option value="">"all"</option>
                            {(0..n_pools).map(|p| view! { <option value=p.to_string()>{format!("pool {p}")}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>" label "
                        <input id="filter-label" type="text" placeholder="zone=fra" prop:value=move || label.get()
                            on:change=move |ev| label.set(event_target_value(&ev)) />
                    </label>
                    <label>" host "
                        <input id="filter-host" type="search" placeholder="search a host" prop:value=move || search.get()
                            on:input=move |ev| search.set(event_target_value(&ev)) />
                    </label>
                    " "
                    <button id="toggle-view" on:click=move |_| {
                        view_mode.set(if as_matrix() { "graph".into() } else { "matrix".into() });
                    }>{move || if as_matrix() { "show the graph" } else { "show the matrix" }}</button>
                </div>
                {move || if as_matrix() {
                    view! { <Matrix g=g shown=shown class=class cpu=cpu/> }.into_any()
                } else {
                    view! { <Drawing g=g shown=shown class=class cpu=cpu/> }.into_any()
                }}
                {move || class.get().map(|c| view! { <ClassPanel g=g c=c cpu=cpu/> })}
            }
            .into_any()
        }
    };
    view! {
        <section id="graph">
            <h2>"Compatibility graph"</h2>
            <div class="toolbar"><PolicyPicker cpu=cpu/></div>
            {body}
        </section>
    }
}

fn pair_href(g: &Graph, a: usize, b: usize, cpu: &str) -> String {
    let rep = |i: usize| g.classes[i].hosts.first().cloned().unwrap_or_default();
    format!("/pair/{}/{}{}", rep(a), rep(b), query(&[("cpu", cpu)]))
}

/// The node-link drawing, pools as boxes, with pan and zoom.
#[component]
pub fn Drawing(
    g: StoredValue<Graph>,
    shown: Memo<Vec<bool>>,
    class: RwSignal<Option<usize>>,
    cpu: RwSignal<String>,
) -> impl IntoView {
    let lay = StoredValue::new(g.with_value(layout::of_graph));
    let (w, h) = lay.with_value(|l| (l.width.max(100.0), l.height.max(100.0)));
    // Pan/zoom: the centre of the view and the zoom factor.
    let zoom = RwSignal::new(1.0_f64);
    let centre = RwSignal::new((w / 2.0, h / 2.0));
    let view_box = move || {
        let z = zoom.get();
        let (cx, cy) = centre.get();
        let (vw, vh) = (w / z + 40.0, h / z + 40.0);
        format!("{} {} {} {}", cx - vw / 2.0, cy - vh / 2.0, vw, vh)
    };
    let pan = move |dx: f64, dy: f64| {
        let z = zoom.get_untracked();
        centre.update(|(x, y)| {
            *x += dx * w / z / 4.0;
            *y += dy * h / z / 4.0;
        });
    };
    let drag = StoredValue::new(None::<(i32, i32)>);
    let pools = lay.with_value(|l| {
        l.pools
            .iter()
            .enumerate()
            .map(|(p, b)| {
                view! {
                    <rect class="pool-box" x=b.x y=b.y width=b.w height=b.h rx="8"
                        fill=pool_colour(p) fill-opacity="0.10" stroke=pool_colour(p)>
                        <title>{format!("pool {p}")}</title>
                    </rect>
                    <text class="pool-name" x=b.x + 4.0 y=b.y + 11.0>{format!("pool {p}")}</text>
                }
            })
            .collect_view()
    });
    let edges = move || {
        let shown = shown.get();
        g.with_value(|g| {
            lay.with_value(|l| {
                g.edges
                    .iter()
                    .filter(|e| shown[e.from] && shown[e.to])
                    .map(|e| {
                        let (a, b) = (l.nodes[e.from], l.nodes[e.to]);
                        let d = ((b.x - a.x).powi(2) + (b.y - a.y).powi(2)).sqrt().max(1.0);
                        let (ux, uy) = ((b.x - a.x) / d, (b.y - a.y) / d);
                        let href = pair_href(g, e.from, e.to, &cpu.get_untracked());
                        let title = format!(
                            "guests can move from class {} to class {}: open the pair",
                            e.from, e.to
                        );
                        view! {
                            <line class="edge" x1=a.x + ux * a.r y1=a.y + uy * a.r
                                x2=b.x - ux * (b.r + 4.0) y2=b.y - uy * (b.r + 4.0)
                                marker-end="url(#arrow)"
                                on:click=move |_| navigate(&href)>
                                <title>{title}</title>
                            </line>
                        }
                    })
                    .collect_view()
            })
        })
    };
    let nodes = move || {
        let shown = shown.get();
        g.with_value(|g| {
            lay.with_value(|l| {
                g
                    .classes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let p = l.nodes[i];
                        let label = format!(
                            "class {i}: {} hosts, {}, pool {}{}",
                            c.hosts.len(),
                            c.vendor,
                            c.pool,
                            if c.self_compatible { "" } else { ", not even self-compatible" }
                        );
                        let open = move || class.set(Some(i));
                        let aria = label.clone();
                        view! {
                            <g class="node" class:dim=!shown[i] class:selected=move || class.get() == Some(i)
                                data-class=i.to_string() tabindex="0" role="button" aria-label=aria
                                on:click=move |_| open()
                                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                                    if ev.key() == "Enter" || ev.key() == " " { ev.prevent_default(); open(); }
                                }>
                                <circle cx=p.x cy=p.y r=p.r fill=pool_colour(c.pool)
                                    stroke-dasharray=if c.self_compatible { "" } else { "3 2" } />
                                <text x=p.x y=p.y + 4.0 text-anchor="middle">{i.to_string()}</text>
                                <title>{label}</title>
                            </g>
                        }
                    })
                    .collect_view()
            })
        })
    };
    view! {
        <div class="toolbar" role="group" aria-label="pan and zoom">
            <button id="zoom-in" title="zoom in" on:click=move |_| zoom.update(|z| *z *= 1.25)>"+"</button>
            <button id="zoom-out" title="zoom out" on:click=move |_| zoom.update(|z| *z /= 1.25)>"−"</button>
            <button title="pan left" on:click=move |_| pan(-1.0, 0.0)>"←"</button>
            <button title="pan right" on:click=move |_| pan(1.0, 0.0)>"→"</button>
            <button title="pan up" on:click=move |_| pan(0.0, -1.0)>"↑"</button>
            <button title="pan down" on:click=move |_| pan(0.0, 1.0)>"↓"</button>
            <button id="zoom-reset" on:click=move |_| { zoom.set(1.0); centre.set((w / 2.0, h / 2.0)); }>"reset"</button>
            <span class="hint">" wheel zooms, drag pans; a node opens its class, an edge the pair (dashed: hosts of the class cannot take each other's guests)"</span>
        </div>
        <svg id="graph-svg" class="graph" viewBox=view_box role="img" aria-label="class graph"
            on:wheel=move |ev: leptos::ev::WheelEvent| {
                ev.prevent_default();
                let f = if ev.delta_y() < 0.0 { 1.15 } else { 1.0 / 1.15 };
                zoom.update(|z| *z = (*z * f).clamp(0.2, 40.0));
            }
            on:pointerdown=move |ev: leptos::ev::PointerEvent| drag.set_value(Some((ev.client_x(), ev.client_y())))
            on:pointerup=move |_| drag.set_value(None)
            on:pointerleave=move |_| drag.set_value(None)
            on:pointermove=move |ev: leptos::ev::PointerEvent| {
                if let Some((x0, y0)) = drag.get_value() {
                    let (dx, dy) = (ev.client_x() - x0, ev.client_y() - y0);
                    if dx.abs() + dy.abs() > 2 {
                        let z = zoom.get_untracked();
                        centre.update(|(x, y)| { *x -= f64::from(dx) / z; *y -= f64::from(dy) / z; });
                        drag.set_value(Some((ev.client_x(), ev.client_y())));
                    }
                }
            }>
            <defs>
                <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse">
                    <path d="M 0 0 L 10 5 L 0 10 z" />
                </marker>
            </defs>
            {pools}
            {edges}
            {nodes}
        </svg>
    }
}

/// Columns the class matrix sorts by.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SortKey {
    Pool,
    Hosts,
    Out,
    In,
    Vendor,
}

/// The class matrix: a heatmap of every (from, to) pair on a canvas, and a sortable table.
#[component]
fn Matrix(
    g: StoredValue<Graph>,
    shown: Memo<Vec<bool>>,
    class: RwSignal<Option<usize>>,
    cpu: RwSignal<String>,
) -> impl IntoView {
    let sort = RwSignal::new(SortKey::Pool);
    let degrees = g.with_value(|g| {
        let n = g.classes.len();
        let (mut out, mut inn) = (vec![0usize; n], vec![0usize; n]);
        for e in &g.edges {
            out[e.from] += 1;
            inn[e.to] += 1;
        }
        (out, inn)
    });
    let degrees = StoredValue::new(degrees);
    let order = Memo::new(move |_| {
        let key = sort.get();
        let shown = shown.get();
        g.with_value(|g| {
            degrees.with_value(|(out, inn)| {
                let cs = &g.classes;
                let mut idx: Vec<usize> = (0..cs.len()).filter(|&i| shown[i]).collect();
                idx.sort_by(|&a, &b| {
                    let o = match key {
                        SortKey::Pool => cs[a].pool.cmp(&cs[b].pool),
                        SortKey::Hosts => cs[b].hosts.len().cmp(&cs[a].hosts.len()),
                        SortKey::Out => out[b].cmp(&out[a]),
                        SortKey::In => inn[b].cmp(&inn[a]),
                        SortKey::Vendor => cs[a].vendor.cmp(&cs[b].vendor),
                    };
                    o.then(a.cmp(&b))
                });
                idx
            })
        })
    });
    let edge_set = StoredValue::new(g.with_value(|g| {
        g.edges
            .iter()
            .map(|e| (e.from, e.to))
            .collect::<HashSet<_>>()
    }));
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    // Paint the heatmap: one pixel per pair, green where guests can move, red where they cannot,
    // the diagonal by self-compatibility.
    Effect::new(move |_| {
        let order = order.get();
        let Some(el) = canvas.get() else { return };
        let n = order.len().max(1);
        el.set_width(n as u32);
        el.set_height(n as u32);
        let Ok(Some(ctx)) = el.get_context("2d") else {
            return;
        };
        let Ok(ctx) = ctx.dyn_into::<web_sys::CanvasRenderingContext2d>() else {
            return;
        };
        let mut px = vec![0u8; n * n * 4];
        g.with_value(|g| {
            edge_set.with_value(|edges| {
                for (r, &a) in order.iter().enumerate() {
                    for (c, &b) in order.iter().enumerate() {
                        let ok = if a == b {
                            g.classes[a].self_compatible
                        } else {
                            edges.contains(&(a, b))
                        };
                        let i = (r * n + c) * 4;
                        let rgb = if ok { [46, 160, 67] } else { [228, 232, 236] };
                        px[i..i + 3].copy_from_slice(&rgb);
                        px[i + 3] = 255;
                    }
                }
            })
        });
        if let Ok(img) = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
            wasm_bindgen::Clamped(&px),
            n as u32,
            n as u32,
        ) {
            let _ = ctx.put_image_data(&img, 0.0, 0.0);
        }
    });
    let on_canvas = move |ev: leptos::ev::MouseEvent| {
        let Some(el) = canvas.get_untracked() else {
            return;
        };
        let rect = el.get_bounding_client_rect();
        let order = order.get_untracked();
        let n = order.len() as f64;
        let c = ((f64::from(ev.client_x()) - rect.left()) / rect.width() * n) as usize;
        let r = ((f64::from(ev.client_y()) - rect.top()) / rect.height() * n) as usize;
        if let (Some(&a), Some(&b)) = (order.get(r), order.get(c)) {
            if a == b {
                class.set(Some(a));
            } else {
                navigate(&g.with_value(|g| pair_href(g, a, b, &cpu.get_untracked())));
            }
        }
    };
    let sort_button = move |key: SortKey, name: &'static str| {
        view! {
            <button class="sort" aria-pressed=move || (sort.get() == key).to_string()
                on:click=move |_| sort.set(key)>{name}</button>
        }
    };
    const MAX_ROWS: usize = 300;
    let rows = move || {
        let order = order.get();
        g.with_value(|g| {
            degrees.with_value(|(out, inn)| {
                order
                    .iter()
                    .take(MAX_ROWS)
                    .map(|&i| {
                        let c = &g.classes[i];
                        view! {
                            <tr class="class-row" data-class=i.to_string()>
                                <td><button class="open-class" on:click=move |_| class.set(Some(i))>{format!("class {i}")}</button></td>
                                <td><span class="swatch" style=format!("background:{}", pool_colour(c.pool))></span>{c.pool}</td>
                                <td>{c.vendor.clone()}</td>
                                <td>{c.hosts.len()}</td>
                                <td>{out[i]}</td>
                                <td>{inn[i]}</td>
                                <td>{c.n_guest_features.map_or("unknown".to_owned(), |n| n.to_string())}</td>
                            </tr>
                        }
                    })
                    .collect_view()
            })
        })
    };
    view! {
        <div id="matrix" class="matrix">
            <div class="toolbar">"sort by "
                {sort_button(SortKey::Pool, "pool")}
                {sort_button(SortKey::Hosts, "hosts")}
                {sort_button(SortKey::Out, "can go to")}
                {sort_button(SortKey::In, "can come from")}
                {sort_button(SortKey::Vendor, "vendor")}
            </div>
            <p class="hint">"rows: from, columns: to; green: guests can move. Click a cell for the pair, the diagonal for the class."</p>
            <canvas id="heatmap" node_ref=canvas on:click=on_canvas aria-label="compatibility heatmap, rows from, columns to"></canvas>
            <p class="count">{move || {
                let n = order.get().len();
                if n > MAX_ROWS { format!("{n} classes shown, first {MAX_ROWS} in the table") } else { format!("{n} classes shown") }
            }}</p>
            <table id="class-table">
                <thead><tr><th>"class"</th><th>"pool"</th><th>"vendor"</th><th>"hosts"</th><th>"can go to"</th><th>"can come from"</th><th>"guest features"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}

/// One class: its hosts, where its guests can go and from where they come.
#[component]
fn ClassPanel(g: StoredValue<Graph>, c: usize, cpu: RwSignal<String>) -> impl IntoView {
    g.with_value(|g| {
        let Some(node) = g.classes.get(c) else {
            return view! { <p class="error">{format!("there is no class {c} for this guest policy: pick a class in the graph")}</p> }.into_any();
        };
        let cpu = cpu.get_untracked();
        let to: Vec<usize> = g.edges.iter().filter(|e| e.from == c).map(|e| e.to).collect();
        let from: Vec<usize> = g.edges.iter().filter(|e| e.to == c).map(|e| e.from).collect();
        let not_to: Vec<usize> = (0..g.classes.len()).filter(|i| *i != c && !to.contains(i)).collect();
        let links = |list: &[usize], out: bool| {
            list.iter()
                .take(40)
                .map(|&o| {
                    let href = if out { pair_href(g, c, o, &cpu) } else { pair_href(g, o, c, &cpu) };
                    let text = format!("class {o} (pool {})", g.classes[o].pool);
                    view! { <li><Link href=href>{text}</Link></li> }
                })
                .collect_view()
        };
        let labels = g.class_labels.get(c).map(|ls| {
            ls.iter().map(|(k, v)| format!("{k}={}", v.join("|"))).collect::<Vec<_>>().join(", ")
        }).unwrap_or_default();
        view! {
            <aside id="class-panel" aria-live="polite">
                <h3>{format!("class {c}")}</h3>
                <p><code>{node.class_id.clone()}</code>{format!(" · {} · pool {} · {}", node.vendor, node.pool, labels)}</p>
                <h4>{format!("{} hosts", node.hosts.len())}</h4>
                <ul class="hosts">{node.hosts.iter().map(|h| { let h = h.clone(); view! { <li><Link href=format!("/hosts/{h}")>{h}</Link></li> } }).collect_view()}</ul>
                <h4>{format!("guests can go to {} other classes", to.len())}</h4>
                <ul>{links(&to, true)}</ul>
                <h4>{format!("guests can come from {} other classes", from.len())}</h4>
                <ul>{links(&from, false)}</ul>
                <h4>{format!("guests cannot go to {} classes (open a pair for the reasons)", not_to.len())}</h4>
                <ul>{links(&not_to, true)}</ul>
            </aside>
        }
        .into_any()
    })
}
