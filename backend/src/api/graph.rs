//! `/api/v1/classes`, `/api/v1/pools`, `/api/v1/graph`: the engine's compatibility graph of the
//! fleet for a guest policy, cached per store generation.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use hyper::body::{Body as HttpBody, Frame, SizeHint};
use shared::api::{ClassList, ClassSummary, GraphAnswer, GraphRequest, PoolList, PoolSummary};
use shared::graph::{ClassEdge, CompatGraph};
use shared::naming::Labels;
use shared::profile::HostProfile;
use shared::{GuestConfig, Policy};

use super::guest::{GuestQuery, validate};
use crate::AppState;
use crate::cache::Fleet;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::limits::{self, unique_hosts};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/classes", get(classes))
        .route("/pools", get(pools))
        .route("/graph", get(graph_get).post(graph_post))
}

/// The fleet and its graph for the guest configuration of a query (built on the engine's
/// threads, with `cpu=baseline`'s baseline).
pub async fn graph_for(
    state: &AppState,
    q: &GuestQuery,
) -> Result<(Arc<Fleet>, Arc<CompatGraph>), ApiError> {
    let fleet = state.cache.fleet(&state.store).await?;
    let policy = q.policy()?;
    let (q, st, f) = (q.clone(), state.clone(), Arc::clone(&fleet));
    let graph = state
        .engine
        .run(move |_| {
            let guest = q.guest(Some(&f))?;
            Ok(st.cache.graph(&f, &guest, &policy))
        })
        .await?;
    Ok((fleet, graph))
}

/// The graph of the whole fleet for a guest configuration and policy, cached per generation and
/// built on the engine's threads.
pub async fn fleet_graph(
    state: &AppState,
    fleet: &Arc<Fleet>,
    guest: GuestConfig,
    policy: Policy,
) -> Result<Arc<CompatGraph>, ApiError> {
    let (st, f) = (state.clone(), Arc::clone(fleet));
    state
        .engine
        .run(move |_| Ok(st.cache.graph(&f, &guest, &policy)))
        .await
}

/// The labels of each class of `g` when `g` is a graph of the whole `fleet` (its classes are the
/// fleet's, kept per class in the cache), else `None`.
fn fleet_labels(
    state: &AppState,
    fleet: &Fleet,
    g: &CompatGraph,
) -> Option<Arc<crate::cache::ClassLabels>> {
    if g.n_hosts != fleet.profiles.len() {
        return None;
    }
    let labels = state.cache.class_labels(fleet);
    let fits = labels.classes.len() == g.classes.len()
        && g.classes.iter().zip(&labels.first).all(|(c, &i)| {
            c.hosts.first().map(String::as_str) == Some(fleet.profiles[i].host_id.as_str())
        });
    fits.then_some(labels)
}

/// Names of the classes and pools of `g` (cached per store generation and graph; each class's
/// and pool's name kept between generations while what it is made of did not change).
pub fn names_of(state: &AppState, fleet: &Fleet, g: &CompatGraph) -> shared::naming::Names {
    let Some(labels) = fleet_labels(state, fleet, g) else {
        return shared::naming::fleet_names(g, |h| fleet.get(h));
    };
    let compute = || {
        let classes = labels.names.iter().map(|n| n.to_string()).collect();
        let pools = state.cache.pool_names(fleet, &labels, g);
        let n = shared::naming::unique_names(g, classes, pools);
        (n.classes, n.pools)
    };
    let key = format!(
        "names:{}",
        serde_json::to_string(&(&g.guest, &g.policy, g.n_hosts)).unwrap_or_default()
    );
    let started = std::time::Instant::now();
    let (classes, pools) = state
        .cache
        .derived(fleet, &key, compute)
        .unwrap_or_else(|_| compute());
    tracing::debug!(
        generation = fleet.generation,
        ms = started.elapsed().as_secs_f64() * 1e3,
        "names"
    );
    shared::naming::Names { classes, pools }
}

/// [`names_of`] on the engine's threads (naming a pool fits a model).
async fn names_off_runtime(
    state: &AppState,
    fleet: &Arc<Fleet>,
    g: &Arc<CompatGraph>,
) -> Result<shared::naming::Names, ApiError> {
    let (st, f, g) = (state.clone(), Arc::clone(fleet), Arc::clone(g));
    state.engine.run(move |_| Ok(names_of(&st, &f, &g))).await
}

/// The labels of each class of `g` (kept per class in the cache when `g` is a graph of the
/// whole fleet). Engine work: call it on the engine's threads.
pub fn class_labels(state: &AppState, fleet: &Fleet, g: &CompatGraph) -> Vec<Labels> {
    match fleet_labels(state, fleet, g) {
        Some(labels) => labels.classes.iter().map(|l| (**l).clone()).collect(),
        None => g
            .classes
            .iter()
            .map(|c| shared::naming::labels_of_hosts(c.hosts.iter().filter_map(|h| fleet.get(h))))
            .collect(),
    }
}

pub const GUEST_PARAMS_DOC: &str = "cpu=host-passthrough (default) | host-model | MODEL | baseline, enable=, disable=, allow_vendor_change=, tsc_khz=, src_qemu=, dst_qemu=";

/// Host classes for a guest policy.
#[utoipa::path(get, path = "/api/v1/classes", tag = "graph",
    params(("cpu" = Option<String>, Query, description = "host-passthrough (default), host-model, a QEMU model, or baseline")),
    responses((status = 200, body = ClassList), (status = 400, body = shared::api::ErrorBody)))]
pub async fn classes(
    State(state): State<AppState>,
    q: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<Json<ClassList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let (fleet, g) = graph_for(&state, &q).await?;
    let names = names_off_runtime(&state, &fleet, &g).await?;
    let labels = {
        let (st, f, g) = (state.clone(), Arc::clone(&fleet), Arc::clone(&g));
        state
            .engine
            .run(move |_| Ok(class_labels(&st, &f, &g)))
            .await?
    };
    let mut labels = labels.into_iter();
    Ok(Json(ClassList {
        guest: g.guest.clone(),
        n_hosts: g.n_hosts,
        classes: g
            .classes
            .iter()
            .enumerate()
            .map(|(index, c)| ClassSummary {
                index,
                class_id: c.class_id.clone(),
                name: names.classes.get(index).cloned().unwrap_or_default(),
                vendor: c.vendor.clone(),
                n_hosts: c.hosts.len(),
                hosts: c.hosts.clone(),
                labels: labels.next().unwrap_or_default(),
                n_guest_features: c.n_guest_features,
                self_compatible: c.self_compatible,
                pool: c.pool,
            })
            .collect(),
    }))
}

/// Migration pools for a guest policy, largest first.
#[utoipa::path(get, path = "/api/v1/pools", tag = "graph",
    params(("cpu" = Option<String>, Query, description = "host-passthrough (default), host-model, a QEMU model, or baseline")),
    responses((status = 200, body = PoolList), (status = 400, body = shared::api::ErrorBody)))]
pub async fn pools(
    State(state): State<AppState>,
    q: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<Json<PoolList>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let (fleet, g) = graph_for(&state, &q).await?;
    let names = names_off_runtime(&state, &fleet, &g).await?;
    Ok(Json(PoolList {
        guest: g.guest.clone(),
        n_hosts: g.n_hosts,
        pools: g
            .pools
            .iter()
            .enumerate()
            .map(|(index, p)| PoolSummary {
                index,
                name: names.pools.get(index).cloned().unwrap_or_default(),
                n_hosts: p.n_hosts,
                classes: p
                    .classes
                    .iter()
                    .map(|&c| g.classes[c].class_id.clone())
                    .collect(),
                internally_compatible: p.internally_compatible,
                drains_to: p.drains_to.clone(),
            })
            .collect(),
    }))
}

/// [`GraphAnswer`] as it is written, holding the graph without copying it (100,000 host ids)
/// and its edges as the JSON the cache keeps of them ([`crate::cache::Cache::edges_json`]).
struct Answer {
    graph: Arc<CompatGraph>,
    edges: Bytes,
    class_labels: Vec<Labels>,
    class_names: Vec<String>,
    pool_names: Vec<String>,
}

/// An answer written in parts: what comes before the edges, the edges' JSON as the cache keeps
/// it, what comes after. Sent as they are ([`Chunks`]): the edges (25 MB at 100,000 hosts in
/// 3,000 classes) are not copied into a buffer of their own per request, whose fresh pages
/// were most of a `GET /api/v1/graph` under load (perf, BENCHMARKS.md).
struct Written {
    head: Vec<u8>,
    edges: Bytes,
    tail: Vec<u8>,
}

impl Answer {
    /// `GraphAnswer`'s JSON: `CompatGraph`'s fields in its order, then its own, the edges as
    /// they were written.
    fn write(self) -> Result<Written, serde_json::Error> {
        fn field<T: serde::Serialize + ?Sized>(
            out: &mut Vec<u8>,
            first: bool,
            name: &str,
            value: &T,
        ) -> Result<(), serde_json::Error> {
            out.push(if first { b'{' } else { b',' });
            serde_json::to_writer(&mut *out, name)?;
            out.push(b':');
            serde_json::to_writer(out, value)
        }
        let g = &*self.graph;
        let mut head = Vec::with_capacity(64 * g.n_hosts + 4096);
        field(&mut head, true, "guest", &g.guest)?;
        field(&mut head, false, "policy", &g.policy)?;
        field(&mut head, false, "n_hosts", &g.n_hosts)?;
        field(&mut head, false, "classes", &g.classes)?;
        head.extend_from_slice(b",\"edges\":");
        let mut tail = Vec::with_capacity(64 * g.classes.len() + 4096);
        field(&mut tail, false, "pools", &g.pools)?;
        field(&mut tail, false, "class_labels", &self.class_labels)?;
        field(&mut tail, false, "class_names", &self.class_names)?;
        field(&mut tail, false, "pool_names", &self.pool_names)?;
        tail.push(b'}');
        Ok(Written {
            head,
            edges: self.edges,
            tail,
        })
    }
}

impl Written {
    #[cfg(test)]
    fn concat(&self) -> Vec<u8> {
        [&self.head[..], &self.edges[..], &self.tail[..]].concat()
    }
}

impl IntoResponse for Written {
    fn into_response(self) -> Response {
        let chunks = [Bytes::from(self.head), self.edges, Bytes::from(self.tail)];
        (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            axum::body::Body::new(Chunks::new(chunks)),
        )
            .into_response()
    }
}

/// A response body sent as the chunks it was written in, its length known (`Content-Length`).
struct Chunks {
    chunks: std::collections::VecDeque<Bytes>,
    left: u64,
}

impl Chunks {
    fn new(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        let chunks: std::collections::VecDeque<Bytes> =
            chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let left = chunks.iter().map(|c| c.len() as u64).sum();
        Self { chunks, left }
    }
}

impl HttpBody for Chunks {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = self.get_mut();
        let next = this.chunks.pop_front().map(|c| {
            this.left = this.left.saturating_sub(c.len() as u64);
            Ok(Frame::data(c))
        });
        std::task::Poll::Ready(next)
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.left)
    }
}

/// Edges as `ClassEdge`'s serde JSON (`[{"from":0,"to":1},...]`), written without the serde
/// machinery (a million edges, 25 MB): each row's `{"from":A,"to":` and each destination's
/// `B},` made once, then copied as fixed-size words into a buffer sized before it is written
/// (a copy of a few bytes of unknown length is a `memcpy` call: most of the time before).
fn edges_json(edges: &[ClassEdge]) -> Vec<u8> {
    /// Room for `{"from":` (8), a number (at most 20 digits) and `,"to":` (6).
    const HEAD: usize = 40;
    /// Room for a number below `TABLE`, `}` and `,`.
    const TAIL: usize = 8;
    const TABLE: usize = 100_000;
    let mut n = itoa::Buffer::new();
    // Each destination's `B},` as a word, for the numbers a graph has (class numbers).
    let top = edges.iter().map(|e| e.to).max().unwrap_or(0);
    let tails: Vec<([u8; TAIL], usize)> = (0..=top.min(TABLE - 1))
        .map(|t| {
            let mut w = [0u8; TAIL];
            let digits = n.format(t).as_bytes();
            w[..digits.len()].copy_from_slice(digits);
            w[digits.len()] = b'}';
            w[digits.len() + 1] = b',';
            (w, digits.len() + 2)
        })
        .collect();
    let head_of = |from: usize, n: &mut itoa::Buffer| {
        let mut w = [0u8; HEAD];
        let mut len = 0;
        for part in [
            &b"{\"from\":"[..],
            n.format(from).as_bytes(),
            &b",\"to\":"[..],
        ] {
            w[len..len + part.len()].copy_from_slice(part);
            len += part.len();
        }
        (w, len)
    };
    // The exact length: every edge's head and tail (the last `,` becomes `]`), and `[`.
    let mut len = 1;
    let mut current = None;
    let mut head_len = 0;
    for e in edges {
        if current != Some(e.from) {
            current = Some(e.from);
            head_len = head_of(e.from, &mut n).1;
        }
        len += head_len
            + tails
                .get(e.to)
                .map_or_else(|| n.format(e.to).len() + 2, |t| t.1);
    }
    let len = len.max(2);
    // Written in words: the slack after `len` takes the last word's overhang.
    let mut out = vec![0u8; len + HEAD + TAIL];
    out[0] = b'[';
    let mut at = 1;
    let mut current = None;
    let mut head = ([0u8; HEAD], 0);
    for e in edges {
        if current != Some(e.from) {
            current = Some(e.from);
            head = head_of(e.from, &mut n);
        }
        out[at..at + HEAD].copy_from_slice(&head.0);
        at += head.1;
        match tails.get(e.to) {
            Some((w, l)) => {
                out[at..at + TAIL].copy_from_slice(w);
                at += l;
            }
            None => {
                let digits = n.format(e.to).as_bytes();
                out[at..at + digits.len()].copy_from_slice(digits);
                at += digits.len();
                out[at] = b'}';
                out[at + 1] = b',';
                at += 2;
            }
        }
    }
    // `[` alone gets its `]`; otherwise the last `,` is the `]`.
    if edges.is_empty() {
        at += 1;
    }
    out[at - 1] = b']';
    out.truncate(at);
    out
}

/// The answer to a graph request, written on the engine's thread.
fn answer(state: &AppState, fleet: &Fleet, g: Arc<CompatGraph>) -> Result<Written, ApiError> {
    let names = names_of(state, fleet, &g);
    let edges = state.cache.edges_json(&g.edges, edges_json);
    Answer {
        class_labels: class_labels(state, fleet, &g),
        class_names: names.classes,
        pool_names: names.pools,
        edges,
        graph: g,
    }
    .write()
    .map_err(|e| ApiError::Internal(format!("writing a graph: {e}")))
}

/// The class graph: nodes (classes with hosts and labels), directed edges, pools.
#[utoipa::path(get, path = "/api/v1/graph", tag = "graph",
    params(("cpu" = Option<String>, Query, description = "host-passthrough (default), host-model, a QEMU model, or baseline")),
    responses((status = 200, body = GraphAnswer), (status = 400, body = shared::api::ErrorBody)))]
pub async fn graph_get(
    State(state): State<AppState>,
    q: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let (fleet, g) = graph_for(&state, &q).await?;
    let st = state.clone();
    let written = state.engine.run(move |_| answer(&st, &fleet, g)).await?;
    Ok(written.into_response())
}

/// The class graph for a guest configuration and policy given as JSON, of all hosts or some.
#[utoipa::path(post, path = "/api/v1/graph", tag = "graph", request_body = GraphRequest,
    responses((status = 200, body = GraphAnswer), (status = 400, body = shared::api::ErrorBody),
              (status = 404, body = shared::api::ErrorBody)))]
pub async fn graph_post(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<GraphRequest>,
) -> Result<Response, ApiError> {
    validate(&req.guest)?;
    let ids = req
        .hosts
        .as_deref()
        .map(|ids| unique_hosts("hosts", ids, limits::REQUEST_HOSTS))
        .transpose()?;
    let fleet = state.cache.fleet(&state.store).await?;
    let f = Arc::clone(&fleet);
    let st = state.clone();
    let Some(ids) = ids else {
        let g = fleet_graph(&state, &fleet, req.guest, req.policy).await?;
        let written = state.engine.run(move |_| answer(&st, &f, g)).await?;
        return Ok(written.into_response());
    };
    let written = state
        .engine
        .run(move |cancel| {
            let picked: Vec<&HostProfile> = ids
                .iter()
                .map(|id| {
                    f.get(id)
                        .ok_or_else(|| ApiError::not_found(format!("host '{id}'")))
                })
                .collect::<Result<_, _>>()?;
            cancel.check()?;
            let g = shared::graph::build(&picked, &req.guest, &req.policy);
            cancel.check()?;
            answer(&st, &f, Arc::new(g))
        })
        .await?;
    Ok(written.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The answer written from the shared graph is exactly `GraphAnswer`'s JSON.
    #[test]
    fn the_answer_is_graph_answer_json() {
        let hosts = crate::demo::demo_profiles("2026-12-06T00:00:00Z").expect("demo fleet");
        let g = Arc::new(shared::graph::build(
            &hosts,
            &GuestConfig::default(),
            &Policy::default(),
        ));
        let labels: Vec<Labels> = g
            .classes
            .iter()
            .map(|c| {
                shared::naming::labels_of_hosts(
                    hosts.iter().filter(|h| c.hosts.contains(&h.host_id)),
                )
            })
            .collect();
        let names = shared::naming::fleet_names(&g, |id| hosts.iter().find(|h| h.host_id == id));
        // The edges' JSON is written once per edge list, and another list gets its own.
        let cache = crate::cache::Cache::default();
        let edges = cache.edges_json(&g.edges, edges_json);
        let again = cache.edges_json(&g.edges, |_| Vec::new());
        // The same buffer, not an equal one (the second writer writes nothing).
        assert!(
            edges.as_ptr() == again.as_ptr() && edges.len() == again.len() && !edges.is_empty(),
            "the same list's JSON written twice"
        );
        let other: shared::intern::SharedList<ClassEdge> = vec![
            ClassEdge { from: 0, to: 1 },
            ClassEdge {
                from: 12_345,
                to: usize::MAX,
            },
        ]
        .into();
        assert_eq!(
            *cache.edges_json(&other, edges_json),
            *serde_json::to_vec(&*other).expect("json")
        );
        let ours = Answer {
            graph: Arc::clone(&g),
            edges,
            class_labels: labels.clone(),
            class_names: names.classes.clone(),
            pool_names: names.pools.clone(),
        };
        let theirs = GraphAnswer {
            graph: (*g).clone(),
            class_labels: labels,
            class_names: names.classes,
            pool_names: names.pools,
        };
        let written = ours.write().expect("json");
        let whole = written.concat();
        // The response sends the parts as they are, its length known (`Content-Length`).
        let response = written.into_response();
        assert_eq!(
            HttpBody::size_hint(response.body()).exact(),
            Some(whole.len() as u64)
        );
        let sent = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(axum::body::to_bytes(response.into_body(), usize::MAX))
            .expect("body");
        assert_eq!(sent, whole);
        let ours = String::from_utf8(whole).expect("utf-8");
        assert_eq!(ours, serde_json::to_string(&theirs).expect("json"));
        assert!(ours.contains("\"class_labels\"") && ours.contains("\"pools\""));
        assert!(
            g.edges.len() > 2,
            "the demo fleet has edges: {}",
            g.edges.len()
        );
        let back: GraphAnswer = serde_json::from_str(&ours).expect("reads back");
        assert_eq!(back.graph, *g);
    }
}
