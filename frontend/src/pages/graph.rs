//! `/graph?cpu=&view=&class=&vendor=&pool=&label=&q=`: host classes and the directed "guests can
//! move this way" edges for a guest policy. A node-link drawing for small fleets, a sortable
//! class matrix (heatmap on a canvas plus a table) above [`AUTO_MATRIX`] classes.

use leptos::prelude::*;
use shared::api::graph_view::{Adjacency, GraphView};
use wasm_bindgen::JsCast;

use crate::fetch::{Resource, get_json};
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

/// Which classes pass the filters. The search reads class names and ids and the hosts the view
/// lists per class (its first ones), ASCII letters in any case (Unicode case tables cost the WASM
/// more than host and CPU names need).
fn visible(g: &GraphView, vendor: &str, pool: &str, label: &str, q: &str) -> Vec<bool> {
    let (lk, lv) = label.split_once('=').unwrap_or((label, ""));
    let q = q.to_ascii_lowercase();
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
                && (q.is_empty()
                    || c.hosts.iter().any(|h| h.to_ascii_lowercase().contains(&q))
                    || g.class_name(i).to_ascii_lowercase().contains(&q)
                    || c.class_id.contains(&q))
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
    let class = RwSignal::new(Some(init("class")).filter(|c| !c.is_empty()));
    let vendor = RwSignal::new(init("vendor"));
    let pool = RwSignal::new(init("pool"));
    let label = RwSignal::new(init("label"));
    let search = RwSignal::new(init("q"));
    // The page state is the URL: share it and the same view opens.
    Effect::new(move |_| {
        let class = class.get().unwrap_or_default();
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
    let graph = Resource::new(move || {
        let cpu = cpu.get();
        async move {
            get_json::<GraphView>(&format!("/api/v1/graph/view{}", query(&[("cpu", &cpu)]))).await
        }
    });

    let body = move || match graph.get() {
        None => view! { <p class="loading">"Computing the class graph…"</p> }.into_any(),
        Some(Err(e)) => {
            view! { <p class="error">{format!("cannot load the graph: {e}")}</p> }.into_any()
        }
        Some(Ok(g)) => {
            let adj = StoredValue::new(g.adjacency());
            let g = StoredValue::new(g);
            let n = g.with_value(|g| g.classes.len());
            let as_matrix = move || match view_mode.get().as_str() {
                "graph" => false,
                "matrix" => true,
                _ => n > AUTO_MATRIX,
            };
            let vendors = g.with_value(|g| {
                let mut v: Vec<String> = g.classes.iter().map(|c| c.vendor.clone()).collect();
                crate::sort::sort(&mut v);
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
                        "{} hosts in {} classes and {} pools; guests can move along {} class pairs",
                        g.n_hosts, n, n_pools, g.n_edges
                    ))}
                </p>
                <div class="toolbar">
                    <label>"vendor "
                        <select id="filter-vendor" prop:value=move || vendor.get()
                            on:change=move |ev| vendor.set(event_target_value(&ev))>
                            <option value="">"all"</option>
                            {vendors.into_iter().map(|v| view! { <option value=v.clone()>{shared::naming::vendor_name(&v).to_owned()}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>" pool "
                        <select id="filter-pool" prop:value=move || pool.get()
                            on:change=move |ev| pool.set(event_target_value(&ev))>
                            <option value="">"all"</option>
                            {(0..n_pools).map(|p| view! { <option value=p.to_string()>{g.with_value(|g| g.pool_name(p))}</option> }).collect_view()}
                        </select>
                    </label>
                    <label>" label "
                        <input id="filter-label" type="text" placeholder="zone=fra" prop:value=move || label.get()
                            on:change=move |ev| label.set(event_target_value(&ev)) />
                    </label>
                    <label>" search "
                        <input id="filter-host" type="search" placeholder="a host or class name" prop:value=move || search.get()
                            on:input=move |ev| search.set(event_target_value(&ev)) />
                    </label>
                    " "
                    <button id="toggle-view" on:click=move |_| {
                        view_mode.set(if as_matrix() { "graph".into() } else { "matrix".into() });
                    }>{move || if as_matrix() { "show the graph" } else { "show the matrix" }}</button>
                </div>
                {move || if as_matrix() {
                    view! { <Matrix g=g adj=adj shown=shown class=class cpu=cpu/> }.into_any()
                } else {
                    view! { <Drawing g=g adj=adj shown=shown class=class cpu=cpu/> }.into_any()
                }}
                {move || class.get().map(|id| view! { <ClassPanel g=g adj=adj id=id class=class cpu=cpu/> })}
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

fn pair_href(g: &GraphView, a: usize, b: usize, cpu: &str) -> String {
    let rep = |i: usize| g.classes[i].hosts.first().cloned().unwrap_or_default();
    format!("/pair/{}/{}{}", rep(a), rep(b), query(&[("cpu", cpu)]))
}

/// At most this many characters of a card line (the card is [`layout::CARD_W`] wide).
const CARD_CHARS: usize = 40;

fn clip(s: &str) -> String {
    if s.chars().count() > CARD_CHARS {
        let mut t: String = s.chars().take(CARD_CHARS - 1).collect();
        t.push('…');
        t
    } else {
        s.to_owned()
    }
}

/// The node-link drawing of the transitive reduction: one card per class, left to right from
/// older to newer processors, one lane per vendor. A click on a card selects its class: its
/// edges are highlighted, the others fade, and the class panel opens.
#[component]
pub fn Drawing(
    g: StoredValue<GraphView>,
    adj: StoredValue<Vec<Adjacency>>,
    shown: Memo<Vec<bool>>,
    class: RwSignal<Option<String>>,
    cpu: RwSignal<String>,
) -> impl IntoView {
    let lay = StoredValue::new(g.with_value(|g| adj.with_value(|a| layout::of_graph(g, a))));
    let (w, h) = lay.with_value(|l| (l.width.max(100.0) + 20.0, l.height.max(60.0) + 20.0));
    // Fit the window's width, but never so small that labels become unreadable.
    let fit = window()
        .inner_width()
        .ok()
        .and_then(|v| v.as_f64())
        .map_or(1.0, |iw| ((iw - 90.0) / w).clamp(0.8, 1.0));
    let zoom = RwSignal::new(fit);
    let scroller = NodeRef::<leptos::html::Div>::new();
    // Bring a selected card to the left of the view: the class panel covers the right side.
    let reveal = move |x: f64, y: f64| {
        if let Some(el) = scroller.get_untracked() {
            let z = zoom.get_untracked();
            el.set_scroll_left(((x + 10.0) * z - 30.0).max(0.0) as i32);
            el.set_scroll_top(((y + 10.0) * z - 60.0).max(0.0) as i32);
        }
    };
    let selected = move || {
        class
            .get()
            .and_then(|id| g.with_value(|g| g.classes.iter().position(|c| c.class_id == id)))
    };
    let lanes = lay.with_value(|l| {
        l.lanes
            .iter()
            .map(|ln| {
                view! {
                    <rect class="lane" x="-10" y=ln.y width=w height=ln.h + 6.0 rx="6"/>
                    <text class="lane-name" x="0" y=ln.y + 15.0>{format!("{} processors", shared::naming::vendor_name(&ln.vendor))}</text>
                }
            })
            .collect_view()
    });
    let pools = g.with_value(|g| {
        lay.with_value(|l| {
            l.pools
                .iter()
                .enumerate()
                .filter(|(p, _)| g.pools.get(*p).is_some_and(|p| p.classes.len() > 1))
                .map(|(p, b)| {
                    let name = format!("pool {}", g.pool_name(p));
                    view! {
                        <rect class="pool-box" x=b.x y=b.y width=b.w height=b.h rx="8"
                            fill=pool_colour(p) fill-opacity="0.10" stroke=pool_colour(p)>
                            <title>{format!("{name}: every guest can go to every host inside")}</title>
                        </rect>
                        <text class="pool-name" x=b.x + 4.0 y=b.y - 2.0>{clip(&name)}</text>
                    }
                })
                .collect_view()
        })
    });
    let edges = move || {
        let shown = shown.get();
        let sel = selected();
        g.with_value(|g| {
            lay.with_value(|l| {
                l.edges
                    .iter()
                    .filter(|(a, b)| shown[*a] && shown[*b])
                    .map(|&(from, to)| {
                        let ((x1, y1), (x2, y2)) =
                            (l.nodes[from].out_port(), l.nodes[to].in_port());
                        let dx = ((x2 - x1) / 2.0).max(30.0);
                        let d = format!(
                            "M {x1} {y1} C {} {y1}, {} {y2}, {} {y2}",
                            x1 + dx,
                            x2 - dx,
                            x2 - 3.0
                        );
                        let href = pair_href(g, from, to, &cpu.get_untracked());
                        let title = format!(
                            "guests can move from {} to {}: open the pair",
                            g.class_name(from),
                            g.class_name(to)
                        );
                        let (is_out, is_in) = (sel == Some(from), sel == Some(to));
                        view! {
                            <path class="edge" class:out=is_out class:in=is_in
                                class:faded=sel.is_some() && !is_out && !is_in
                                data-from=from.to_string() data-to=to.to_string()
                                d=d marker-end="url(#arrow)" fill="none"
                                on:click=move |_| navigate(&href)>
                                <title>{title}</title>
                            </path>
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
                g.classes
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let p = l.nodes[i];
                        let name = g.class_name(i);
                        let (l1, l2) = layout::card_lines(&name);
                        let label = format!(
                            "{name}, in the pool {}{}",
                            g.pool_name(c.pool),
                            if c.self_compatible { "" } else { "; its hosts cannot take each other's guests" }
                        );
                        let id = c.class_id.clone();
                        let id2 = id.clone();
                        let open = move || {
                            class.set(Some(id.clone()));
                            reveal(p.x, p.y);
                        };
                        let open2 = open.clone();
                        let aria = label.clone();
                        view! {
                            <g class="node" class:dim=!shown[i] class:selected=move || class.get().as_deref() == Some(id2.as_str())
                                data-class=i.to_string() data-class-id=c.class_id.clone() tabindex="0" role="button" aria-label=aria
                                on:click=move |_| open()
                                on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                                    if ev.key() == "Enter" || ev.key() == " " { ev.prevent_default(); open2(); }
                                }>
                                <rect class="card" x=p.x y=p.y width=layout::CARD_W height=layout::CARD_H rx="5"
                                    stroke-dasharray=if c.self_compatible { "" } else { "4 3" } />
                                <rect x=p.x y=p.y width="6" height=layout::CARD_H fill=pool_colour(c.pool) />
                                <text class="l1" x=p.x + 12.0 y=p.y + 16.0>{clip(&l1)}</text>
                                <text class="l2" x=p.x + 12.0 y=p.y + 31.0>{clip(&l2)}</text>
                                <title>{label}</title>
                            </g>
                        }
                    })
                    .collect_view()
            })
        })
    };
    view! {
        <div class="toolbar" role="group" aria-label="zoom">
            <button id="zoom-in" title="zoom in" on:click=move |_| zoom.update(|z| *z = (*z * 1.25).min(3.0))>"+"</button>
            <button id="zoom-out" title="zoom out" on:click=move |_| zoom.update(|z| *z = (*z / 1.25).max(0.2))>"−"</button>
            <button id="zoom-reset" on:click=move |_| zoom.set(fit)>"fit"</button>
            <span class="hint">" Arrows: guests can move that way (only direct steps are drawn: a guest can also follow several arrows). A card opens its class, an arrow the pair. Dashed card: its hosts cannot take each other's guests."</span>
        </div>
        <div class="graph-scroll" node_ref=scroller>
            <svg id="graph-svg" class="graph" viewBox=format!("-10 -10 {w} {h}")
                width=move || w * zoom.get() height=move || h * zoom.get()
                role="img" aria-label="class graph">
                <defs>
                    <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
                        <path d="M 0 0 L 10 5 L 0 10 z" />
                    </marker>
                </defs>
                {lanes}
                {pools}
                {edges}
                {nodes}
            </svg>
        </div>
    }
}

/// Columns the class matrix sorts by.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SortKey {
    /// Vendor, then fewer guest features first: older processors first.
    Generation,
    Pool,
    Hosts,
    Out,
    In,
    Name,
}

/// Room for the row and column names around the heatmap, in canvas pixels.
const AXIS: usize = 230;

/// The class matrix: a heatmap of every (from, to) pair on a canvas with class names on both
/// axes, and a sortable table.
#[component]
fn Matrix(
    g: StoredValue<GraphView>,
    adj: StoredValue<Vec<Adjacency>>,
    shown: Memo<Vec<bool>>,
    class: RwSignal<Option<String>>,
    cpu: RwSignal<String>,
) -> impl IntoView {
    let sort = RwSignal::new(SortKey::Generation);
    let degrees = adj.with_value(|rows| {
        let out: Vec<usize> = rows.iter().map(Adjacency::len).collect();
        let mut inn = vec![0usize; rows.len()];
        for to in rows.iter().flat_map(Adjacency::iter) {
            if let Some(d) = inn.get_mut(to) {
                *d += 1;
            }
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
                crate::sort::sort_by(&mut idx, |&a, &b| {
                    let o = match key {
                        SortKey::Generation => cs[a]
                            .vendor
                            .cmp(&cs[b].vendor)
                            .then(cs[a].n_guest_features.cmp(&cs[b].n_guest_features)),
                        SortKey::Pool => cs[a].pool.cmp(&cs[b].pool),
                        SortKey::Hosts => cs[b].n_hosts.cmp(&cs[a].n_hosts),
                        SortKey::Out => out[b].cmp(&out[a]),
                        SortKey::In => inn[b].cmp(&inn[a]),
                        SortKey::Name => g.class_name(a).cmp(&g.class_name(b)),
                    };
                    o.then(a.cmp(&b))
                });
                idx
            })
        })
    });
    let canvas = NodeRef::<leptos::html::Canvas>::new();
    // The cell size: the heatmap is about 900 canvas pixels wide, a cell at least one.
    let cell = move |n: usize| (900 / n.max(1)).clamp(1, 18);
    // Paint the heatmap: one cell per pair, green where guests can move, grey where they cannot,
    // the diagonal by self-compatibility; names along both axes (every k-th when cells are small).
    Effect::new(move |_| {
        let order = order.get();
        let Some(el) = canvas.get() else { return };
        let n = order.len().max(1);
        let cs = cell(n);
        let side = AXIS + n * cs;
        el.set_width(side as u32);
        el.set_height(side as u32);
        let Ok(Some(ctx)) = el.get_context("2d") else {
            return;
        };
        let Ok(ctx) = ctx.dyn_into::<web_sys::CanvasRenderingContext2d>() else {
            return;
        };
        let m = n * cs;
        // One pixel row per matrix row, copied `cs` times (a white grid line first when cells
        // are big enough to show one): 3,000 classes paint 9 million cells this way.
        let mut px = vec![0u8; m * m * 4];
        let mut line = vec![0u8; m * 4];
        let grid = cs >= 6;
        g.with_value(|g| {
            adj.with_value(|rows| {
                for (r, &a) in order.iter().enumerate() {
                    let row = rows.get(a);
                    for (c, &b) in order.iter().enumerate() {
                        let ok = if a == b {
                            g.classes[a].self_compatible
                        } else {
                            row.is_some_and(|row| row.contains(b))
                        };
                        let rgba = if ok {
                            [46, 160, 67, 255]
                        } else {
                            [228, 232, 236, 255]
                        };
                        for x in c * cs..(c + 1) * cs {
                            let white = grid && x % cs == 0;
                            line[x * 4..x * 4 + 4].copy_from_slice(if white {
                                &[255; 4]
                            } else {
                                &rgba
                            });
                        }
                    }
                    for y in r * cs..(r + 1) * cs {
                        let dst = &mut px[y * m * 4..(y + 1) * m * 4];
                        if grid && y % cs == 0 {
                            dst.fill(255);
                        } else {
                            dst.copy_from_slice(&line);
                        }
                    }
                }
            })
        });
        if let Ok(img) = web_sys::ImageData::new_with_u8_clamped_array_and_sh(
            wasm_bindgen::Clamped(&px),
            m as u32,
            m as u32,
        ) {
            let _ = ctx.put_image_data(&img, AXIS as f64, AXIS as f64);
        }
        // Axis names: every k-th class so that names are at least 12 pixels apart.
        let step = 12_usize.div_ceil(cs);
        ctx.set_font("11px system-ui, sans-serif");
        ctx.set_fill_style_str("#1d2430");
        let short = |i: usize| {
            let name = g.with_value(|g| g.class_name(i));
            let t: String = name.chars().take(31).collect();
            if t.len() < name.len() {
                format!("{t}…")
            } else {
                t
            }
        };
        ctx.set_text_align("right");
        for (r, &a) in order.iter().enumerate().step_by(step) {
            let y = (AXIS + r * cs) as f64 + cs as f64 / 2.0 + 4.0;
            let _ = ctx.fill_text(&short(a), AXIS as f64 - 6.0, y);
        }
        ctx.save();
        ctx.rotate(-std::f64::consts::FRAC_PI_2).ok();
        ctx.set_text_align("left");
        for (c, &b) in order.iter().enumerate().step_by(step) {
            let x = (AXIS + c * cs) as f64 + cs as f64 / 2.0 + 4.0;
            let _ = ctx.fill_text(&short(b), -(AXIS as f64) + 6.0, x);
        }
        ctx.restore();
        ctx.set_font("bold 12px system-ui, sans-serif");
        ctx.set_text_align("left");
        let _ = ctx.fill_text("rows: guests from", 4.0, 14.0);
        let _ = ctx.fill_text("columns: to", 4.0, 30.0);
    });
    let on_canvas = move |ev: leptos::ev::MouseEvent| {
        let Some(el) = canvas.get_untracked() else {
            return;
        };
        let rect = el.get_bounding_client_rect();
        let order = order.get_untracked();
        let cs = cell(order.len()) as f64;
        let scale = f64::from(el.width()) / rect.width().max(1.0);
        let x = (f64::from(ev.client_x()) - rect.left()) * scale - AXIS as f64;
        let y = (f64::from(ev.client_y()) - rect.top()) * scale - AXIS as f64;
        if x < 0.0 || y < 0.0 {
            return;
        }
        let (c, r) = ((x / cs) as usize, (y / cs) as usize);
        if let (Some(&a), Some(&b)) = (order.get(r), order.get(c)) {
            if a == b {
                class.set(Some(g.with_value(|g| g.classes[a].class_id.clone())));
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
                        let id = c.class_id.clone();
                        view! {
                            <tr class="class-row" data-class=i.to_string()>
                                <td><button class="open-class link" on:click=move |_| class.set(Some(id.clone()))>{g.class_name(i)}</button></td>
                                <td><span class="swatch" style=format!("background:{}", pool_colour(c.pool))></span>{g.pool_name(c.pool)}</td>
                                <td>{shared::naming::vendor_name(&c.vendor).to_owned()}</td>
                                <td>{c.n_hosts}</td>
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
                {sort_button(SortKey::Generation, "generation (vendor, then fewer features)")}
                {sort_button(SortKey::Name, "name")}
                {sort_button(SortKey::Pool, "pool")}
                {sort_button(SortKey::Hosts, "hosts")}
                {sort_button(SortKey::Out, "can go to")}
                {sort_button(SortKey::In, "can come from")}
            </div>
            <p class="hint">"Rows: the class guests come from; columns: where they go; green: guests can move. Click a cell for the pair, the diagonal for the class."</p>
            <canvas id="heatmap" node_ref=canvas on:click=on_canvas aria-label="compatibility heatmap: rows are the classes guests come from, columns where they go"></canvas>
            <p class="count">{move || {
                let n = order.get().len();
                if n > MAX_ROWS { format!("{n} classes shown, first {MAX_ROWS} in the table") } else { format!("{n} classes shown") }
            }}</p>
            <div class="table-scroll">
            <table id="class-table">
                <thead><tr><th>"class"</th><th>"pool (best common model)"</th><th>"vendor"</th><th>"hosts"</th><th>"can go to"</th><th>"can come from"</th><th>"guest features"</th></tr></thead>
                <tbody>{rows}</tbody>
            </table>
            </div>
        </div>
    }
}

/// One class, in a panel at the window's right edge: its hosts, where its guests can go and
/// from where they come.
#[component]
fn ClassPanel(
    g: StoredValue<GraphView>,
    adj: StoredValue<Vec<Adjacency>>,
    id: String,
    class: RwSignal<Option<String>>,
    cpu: RwSignal<String>,
) -> impl IntoView {
    g.with_value(|g| {
        let Some(c) = g.classes.iter().position(|c| c.class_id == id) else {
            return view! {
                <aside id="class-panel" class="side-panel" aria-live="polite">
                    <button class="close" on:click=move |_| class.set(None)>"close"</button>
                    <p class="error">{format!("No class has the id {id} for this guest CPU: pick a class in the graph.")}</p>
                </aside>
            }.into_any();
        };
        let node = &g.classes[c];
        let cpu = cpu.get_untracked();
        let (to, from): (Vec<usize>, Vec<usize>) = adj.with_value(|rows| {
            (
                rows.get(c).map(|r| r.iter().collect()).unwrap_or_default(),
                (0..rows.len()).filter(|&o| o != c && rows[o].contains(c)).collect(),
            )
        });
        let not_to: Vec<usize> = adj.with_value(|rows| {
            (0..g.classes.len())
                .filter(|&i| i != c && !rows.get(c).is_some_and(|r| r.contains(i)))
                .collect()
        });
        let links = |list: &[usize], out: bool| {
            list.iter()
                .take(40)
                .map(|&o| {
                    let href = if out { pair_href(g, c, o, &cpu) } else { pair_href(g, o, c, &cpu) };
                    let name = g.class_name(o);
                    view! { <li><Link href=href>{name}</Link></li> }
                })
                .collect_view()
        };
        let labels = g.class_labels.get(c).map(|ls| {
            ls.iter().map(|(k, v)| format!("{k}={}", v.join(", "))).collect::<Vec<_>>().join("; ")
        }).unwrap_or_default();
        view! {
            <aside id="class-panel" class="side-panel" aria-live="polite">
                <button class="close" aria-label="close the class panel" on:click=move |_| class.set(None)>"close"</button>
                <h3>{g.class_name(c)}</h3>
                <p>"class id "<code>{node.class_id.clone()}</code></p>
                <p>{format!("{} processors; in the pool {}", shared::naming::vendor_name(&node.vendor), g.pool_name(node.pool))}</p>
                {(!labels.is_empty()).then(|| view! { <p>{format!("labels: {labels}")}</p> })}
                {(!node.self_compatible).then(|| view! { <p class="error">"Its hosts cannot take each other's guests."</p> })}
                <h4>{format!("{} hosts", node.n_hosts)}</h4>
                <ul class="hosts">{node.hosts.iter().map(|h| { let h = h.clone(); view! { <li><Link href=format!("/hosts/{h}")>{h}</Link></li> } }).collect_view()}</ul>
                {(node.n_hosts > node.hosts.len()).then(|| view! {
                    <p class="more-hosts"><Link href=format!("/{}", query(&[("class", &node.class_id)]))>{format!("all {} hosts of the class", node.n_hosts)}</Link></p>
                })}
                <h4 class="out">{match to.len() {
                    0 => "No other class can take its guests".to_owned(),
                    n => format!("Its guests can go to {n} other classes"),
                }}</h4>
                <ul>{links(&to, true)}</ul>
                <h4 class="in">{match from.len() {
                    0 => "It takes guests from no other class".to_owned(),
                    n => format!("It takes guests from {n} other classes"),
                }}</h4>
                <ul>{links(&from, false)}</ul>
                {(!not_to.is_empty()).then(|| view! {
                    <h4>{format!("Guests cannot go to {} classes (open one for the reasons)", not_to.len())}</h4>
                    <ul>{links(&not_to, true)}</ul>
                })}
            </aside>
        }
        .into_any()
    })
}
