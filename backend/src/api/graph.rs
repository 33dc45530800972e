//! `/api/v1/classes`, `/api/v1/pools`, `/api/v1/graph`: the engine's compatibility graph of the
//! fleet for a guest policy, cached per store generation.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::{Json, Router};
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
    edges: Arc<[u8]>,
    class_labels: Vec<Labels>,
    class_names: Vec<String>,
    pool_names: Vec<String>,
}

impl Answer {
    /// `GraphAnswer`'s JSON: `CompatGraph`'s fields in its order, then its own, the edges as
    /// they were written.
    fn write(&self) -> Result<Vec<u8>, serde_json::Error> {
        fn field<T: serde::Serialize + ?Sized>(
            out: &mut Vec<u8>,
            name: &str,
            value: &T,
        ) -> Result<(), serde_json::Error> {
            out.push(if out.is_empty() { b'{' } else { b',' });
            serde_json::to_writer(&mut *out, name)?;
            out.push(b':');
            serde_json::to_writer(out, value)
        }
        let g = &*self.graph;
        let mut out = Vec::with_capacity(self.edges.len() + 64 * g.n_hosts + 4096);
        field(&mut out, "guest", &g.guest)?;
        field(&mut out, "policy", &g.policy)?;
        field(&mut out, "n_hosts", &g.n_hosts)?;
        field(&mut out, "classes", &g.classes)?;
        out.extend_from_slice(b",\"edges\":");
        out.extend_from_slice(&self.edges);
        field(&mut out, "pools", &g.pools)?;
        field(&mut out, "class_labels", &self.class_labels)?;
        field(&mut out, "class_names", &self.class_names)?;
        field(&mut out, "pool_names", &self.pool_names)?;
        out.push(b'}');
        Ok(out)
    }
}

/// Edges as `ClassEdge`'s serde JSON (`[{"from":0,"to":1},...]`), written without the serde
/// machinery: a million edges in milliseconds rather than a tenth of a second.
fn edges_json(edges: &[ClassEdge]) -> Vec<u8> {
    const EACH: &[u8] = b"{\"from\":,\"to\":},";
    let mut out = Vec::with_capacity(edges.len() * (EACH.len() + 10) + 2);
    let mut n = itoa::Buffer::new();
    out.push(b'[');
    for (k, e) in edges.iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.extend_from_slice(b"{\"from\":");
        out.extend_from_slice(n.format(e.from).as_bytes());
        out.extend_from_slice(b",\"to\":");
        out.extend_from_slice(n.format(e.to).as_bytes());
        out.push(b'}');
    }
    out.push(b']');
    out
}

/// The answer to a graph request, written on the engine's thread.
fn answer(state: &AppState, fleet: &Fleet, g: Arc<CompatGraph>) -> Result<Vec<u8>, ApiError> {
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
    state
        .engine
        .answer_written(move |_| answer(&st, &fleet, g))
        .await
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
        return state
            .engine
            .answer_written(move |_| answer(&st, &f, g))
            .await;
    };
    state
        .engine
        .answer_written(move |cancel| {
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
        .await
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
        assert!(
            Arc::ptr_eq(&edges, &again),
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
        let ours = String::from_utf8(ours.write().expect("json")).expect("utf-8");
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
