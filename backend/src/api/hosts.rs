//! `/api/v1/hosts`: upload (collector), list with filters, get one, delete, history and diff.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use shared::api::{
    HostList, HostSummary, MsrChange, ProcessorCount, ProfileDiff, UploadReceipt, ValueChange,
    VersionInfo, VersionList,
};
use shared::profile::{HostProfile, ProfileError};
use shared::{FeatureSet, GuestConfig, Policy};

use super::guest::GuestQuery;
use crate::cache::Fleet;
use crate::error::ApiError;
use crate::extract::{LimitedBody, WriteToken};
use crate::limits;
use crate::metrics::Ingest;
use crate::{AppState, now_rfc3339};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/hosts", get(list).post(upload))
        .route("/hosts/{host_id}", get(get_one).delete(delete))
        .route("/hosts/{host_id}/versions", get(versions))
        .route("/hosts/{host_id}/diff", get(diff))
        .route("/fleet.jsonl", get(fleet_file))
}

#[derive(Debug, Default, Deserialize)]
pub struct HostFilter {
    /// `key=value`, several separated by commas: hosts having all of them.
    label: Option<String>,
    /// Vendor string or part of it, any case (`intel`, `AuthenticAMD`).
    vendor: Option<String>,
    /// A class id.
    class: Option<String>,
    /// A named model the host can run.
    model: Option<String>,
    /// A pool index for the guest configuration of the query (`cpu=`...).
    pool: Option<usize>,
    /// Words to find, any case, in the host id, hostname, CPU brand or a label value.
    q: Option<String>,
    /// Matching hosts to skip (default 0).
    offset: Option<usize>,
    /// Hosts in the page (at most [`limits::HOST_PAGE`]); without it, every matching host.
    limit: Option<usize>,
}

/// Whether `p` matches every word of `words` (already lowercase) in its host id, hostname, CPU
/// brand or a label value.
fn matches_words(p: &HostProfile, words: &[String]) -> bool {
    words.iter().all(|w| {
        [&p.host_id, &p.hostname, &p.cpu.brand]
            .into_iter()
            .chain(p.labels.values())
            .any(|f| f.to_lowercase().contains(w.as_str()))
    })
}

/// Hosts per processor over `hosts`, most hosts first, then by vendor and brand.
fn processors<'a>(hosts: impl Iterator<Item = &'a HostProfile>) -> Vec<ProcessorCount> {
    let mut by: std::collections::BTreeMap<(&str, u32, u32, u32, &str), usize> =
        std::collections::BTreeMap::new();
    for p in hosts {
        let c = &p.cpu;
        *by.entry((&c.vendor, c.family, c.model, c.stepping, &c.brand))
            .or_default() += 1;
    }
    let mut out: Vec<ProcessorCount> = by
        .into_iter()
        .map(
            |((vendor, family, model, stepping, brand), n_hosts)| ProcessorCount {
                vendor: vendor.to_owned(),
                family,
                model,
                stepping,
                brand: brand.to_owned(),
                n_hosts,
            },
        )
        .collect();
    out.sort_by_key(|p| std::cmp::Reverse(p.n_hosts));
    out
}

/// Parse `k=v,k2=v2` into pairs, naming a malformed one.
pub fn parse_labels(s: &str) -> Result<Vec<(String, String)>, ApiError> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_parameter",
                        format!("label '{kv}' is not key=value, e.g. label=cluster=prod-a"),
                    )
                })
        })
        .collect()
}

/// Indexes of the hosts of `fleet` that can run `model`: a guest on the model can stay on the
/// host (the engine's verdict of the host's class against itself). Engine work: call it on the
/// engine's threads.
pub fn hosts_running_model(
    state: &AppState,
    fleet: &Fleet,
    model: &str,
) -> Result<Vec<usize>, ApiError> {
    shared::verdict::named_model_features(model, &[], &[])
        .map_err(|e| ApiError::bad_request("invalid_guest", e.to_string()))?;
    let graph = state
        .cache
        .graph(fleet, &GuestConfig::default(), &Policy::default());
    let mut out = Vec::new();
    for class in &graph.classes {
        let Some(rep) = class.hosts.first().and_then(|h| fleet.get(h)) else {
            continue;
        };
        if shared::verdict::can_run_model(rep, model, &Policy::default()) {
            out.extend(class.hosts.iter().filter_map(|h| fleet.position(h)));
        }
    }
    out.sort_unstable();
    Ok(out)
}

#[derive(Debug, Default, Deserialize)]
pub struct FleetFileQuery {
    /// `key=value`, several separated by commas: hosts having all of them.
    label: Option<String>,
}

/// The newest profile of every host as a fleet file: JSON Lines, one profile a line, ordered by
/// host id. `fleetcompat baseline|graph|export|targets fleet.jsonl` read it offline.
#[utoipa::path(get, path = "/api/v1/fleet.jsonl", tag = "hosts",
    params(("label" = Option<String>, Query, description = "key=value[,key=value]: hosts with all these labels")),
    responses((status = 200, description = "JSON Lines (application/x-ndjson): one host profile (shared::HostProfile) a line", content_type = "application/x-ndjson", body = String),
              (status = 400, body = shared::api::ErrorBody)))]
pub async fn fleet_file(
    State(state): State<AppState>,
    query: Result<Query<FleetFileQuery>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    let Query(q) = query.map_err(|e| ApiError::from_query_rejection(&e))?;
    let labels = q.label.as_deref().map(parse_labels).transpose()?;
    let fleet = state.cache.fleet(&state.store).await?;
    // Hundreds of megabytes for 100,000 hosts: never one buffer. A blocking thread writes blocks
    // of about `FLEET_FILE_BLOCK` bytes into a channel of a few, which the body sends as they
    // come (axum `Body::from_stream`); a client that stops reading stops the writer at the
    // channel's bound, and one that leaves ends it (the send fails).
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(4);
    tokio::task::spawn_blocking(move || {
        let mut out = Vec::with_capacity(limits::FLEET_FILE_BLOCK + 64 * 1024);
        for p in &fleet.profiles {
            let wanted = labels.as_ref().is_none_or(|ls| {
                ls.iter()
                    .all(|(k, v)| p.labels.get(k).is_some_and(|x| x == v))
            });
            if !wanted {
                continue;
            }
            if let Err(e) = serde_json::to_writer(&mut out, p.as_ref()) {
                // The status line is sent: cutting the body is how the client learns of it.
                tracing::error!(host = %p.host_id, error = %e, "writing the fleet file");
                let _ = tx.blocking_send(Err(std::io::Error::other("fleet file cut short")));
                return;
            }
            out.push(b'\n');
            if out.len() >= limits::FLEET_FILE_BLOCK {
                let block = std::mem::replace(
                    &mut out,
                    Vec::with_capacity(limits::FLEET_FILE_BLOCK + 64 * 1024),
                );
                if tx.blocking_send(Ok(block)).is_err() {
                    return;
                }
            }
        }
        if !out.is_empty() {
            let _ = tx.blocking_send(Ok(out));
        }
    });
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, "application/x-ndjson"),
            (
                axum::http::header::CONTENT_DISPOSITION,
                "attachment; filename=\"fleet.jsonl\"",
            ),
        ],
        axum::body::Body::from_stream(tokio_stream::wrappers::ReceiverStream::new(rx)),
    )
        .into_response())
}

/// Hosts, newest profile each, filtered, ordered by host id; a page of them with `limit=`.
#[utoipa::path(get, path = "/api/v1/hosts", tag = "hosts",
    params(
        ("label" = Option<String>, Query, description = "key=value[,key=value]: hosts with all these labels"),
        ("vendor" = Option<String>, Query, description = "vendor or part of it, any case"),
        ("class" = Option<String>, Query, description = "class id"),
        ("model" = Option<String>, Query, description = "a named model the host can run"),
        ("pool" = Option<usize>, Query, description = "pool index for the guest configuration given with cpu="),
        ("cpu" = Option<String>, Query, description = "guest cpu for the pool filter"),
        ("q" = Option<String>, Query, description = "words, any case, each found in the host id, hostname, CPU brand or a label value"),
        ("offset" = Option<usize>, Query, description = "matching hosts to skip (default 0)"),
        ("limit" = Option<usize>, Query, description = "hosts in the page, at most 10000 (default: every matching host)"),
    ),
    responses((status = 200, body = HostList), (status = 400, body = shared::api::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    filter: Result<Query<HostFilter>, QueryRejection>,
    guest_q: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<axum::response::Response, ApiError> {
    let Query(f) = filter.map_err(|e| ApiError::from_query_rejection(&e))?;
    let Query(gq) = guest_q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let labels = f.label.as_deref().map(parse_labels).transpose()?;
    let fleet = state.cache.fleet(&state.store).await?;
    let model_ok: Option<BTreeSet<usize>> = match f.model.clone() {
        Some(m) => {
            let (st, fl) = (state.clone(), Arc::clone(&fleet));
            Some(
                state
                    .engine
                    .run(move |_| hosts_running_model(&st, &fl, &m))
                    .await?
                    .into_iter()
                    .collect(),
            )
        }
        None => None,
    };
    let pool_hosts: Option<BTreeSet<String>> = match f.pool {
        Some(p) => {
            let (_, graph) = super::graph::graph_for(&state, &gq).await?;
            let pool = graph.pools.get(p).ok_or_else(|| {
                ApiError::not_found(format!(
                    "pool {p} (this policy has {} pools, numbered from 0)",
                    graph.pools.len()
                ))
            })?;
            Some(
                pool.classes
                    .iter()
                    .flat_map(|&c| graph.classes[c].hosts.iter().cloned())
                    .collect(),
            )
        }
        None => None,
    };
    let vendor = f.vendor.as_ref().map(|v| v.to_ascii_lowercase());
    let words: Vec<String> =
        f.q.as_deref()
            .unwrap_or_default()
            .split_whitespace()
            .map(str::to_lowercase)
            .collect();
    let offset = f.offset.unwrap_or(0);
    if let Some(limit) = f.limit
        && limit > limits::HOST_PAGE
    {
        return Err(ApiError::too_many(
            "limit= (hosts in one page)",
            limit,
            limits::HOST_PAGE,
            "page with offset=",
        ));
    }
    // Summaries carry each host's class id (the engine's key hash): engine work for a fleet.
    // Only the page's hosts are summarised, unless `class=` needs every host's id; ids come
    // from the cache, per class.
    let st = state.clone();
    state
        .engine
        .answer(move |cancel| {
            let matching: Vec<usize> = fleet
                .profiles
                .iter()
                .enumerate()
                .filter(|(_, p)| {
                    labels.as_ref().is_none_or(|ls| {
                        ls.iter()
                            .all(|(k, v)| p.labels.get(k).is_some_and(|x| x == v))
                    })
                })
                .filter(|(_, p)| {
                    vendor
                        .as_ref()
                        .is_none_or(|v| p.cpu.vendor.to_ascii_lowercase().contains(v.as_str()))
                })
                .filter(|(i, _)| model_ok.as_ref().is_none_or(|s| s.contains(i)))
                .filter(|(_, p)| {
                    pool_hosts
                        .as_ref()
                        .is_none_or(|s| s.contains(p.host_id.as_str()))
                })
                .filter(|(_, p)| matches_words(p, &words))
                .filter(|(i, _)| {
                    f.class
                        .as_ref()
                        .is_none_or(|c| *st.cache.class_id(&fleet, *i) == **c)
                })
                .map(|(i, _)| i)
                .collect();
            cancel.check()?;
            let processors = processors(matching.iter().map(|&i| &*fleet.profiles[i]));
            let limit = f.limit.unwrap_or(usize::MAX);
            let hosts: Vec<HostSummary> = matching
                .iter()
                .skip(offset)
                .take(limit)
                .map(|&i| {
                    let id = st.cache.class_id(&fleet, i).to_string();
                    HostSummary::with_class_id(&fleet.profiles[i], fleet.n_versions[i], id)
                })
                .collect();
            Ok(HostList {
                n_hosts: matching.len(),
                offset,
                hosts,
                processors,
            })
        })
        .await
}

/// The newest profile of a host.
#[utoipa::path(get, path = "/api/v1/hosts/{host_id}", tag = "hosts",
    params(("host_id" = String, Path, description = "host id")),
    responses((status = 200, description = "the host profile (shared::HostProfile)", body = shared::api::EngineObject),
              (status = 404, body = shared::api::ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
) -> Result<Json<HostProfile>, ApiError> {
    state
        .store
        .latest_profile(&host_id)
        .await?
        .map(|s| Json(s.profile))
        .ok_or_else(|| ApiError::not_found(format!("host '{host_id}'")))
}

/// Forget a host and its history (write token).
#[utoipa::path(delete, path = "/api/v1/hosts/{host_id}", tag = "hosts",
    params(("host_id" = String, Path, description = "host id")),
    responses((status = 204, description = "deleted"), (status = 401, body = shared::api::ErrorBody),
              (status = 404, body = shared::api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    WriteToken(writer): WriteToken,
    Path(host_id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if let crate::auth::Writer::Scoped(scope) = &writer {
        let stored = state.store.latest_profile(&host_id).await?;
        scope.allows(&host_id, None, stored.as_ref().map(|s| &s.profile.labels))?;
    }
    if state.store.delete_host(&host_id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found(format!("host '{host_id}'")))
    }
}

/// A host's history, oldest first.
#[utoipa::path(get, path = "/api/v1/hosts/{host_id}/versions", tag = "hosts",
    params(("host_id" = String, Path, description = "host id")),
    responses((status = 200, body = VersionList), (status = 404, body = shared::api::ErrorBody)))]
pub async fn versions(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
) -> Result<Json<VersionList>, ApiError> {
    let rows = state.store.versions(&host_id).await?;
    if rows.is_empty() {
        return Err(ApiError::not_found(format!("host '{host_id}'")));
    }
    Ok(Json(VersionList {
        host_id,
        versions: rows
            .into_iter()
            .map(|r| VersionInfo {
                version: u32::try_from(r.version).unwrap_or(0),
                received_at: r.received_at,
                collected_at: r.collected_at,
                class_id: r.class_id,
            })
            .collect(),
    }))
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    from: Option<u32>,
    to: Option<u32>,
}

fn change(a: Option<String>, b: Option<String>) -> Option<ValueChange> {
    (a != b).then_some(ValueChange { from: a, to: b })
}

fn qemu_versions(p: &HostProfile) -> Option<String> {
    let v: Vec<&str> = p.qemu.iter().map(|q| q.version.as_str()).collect();
    (!v.is_empty()).then(|| v.join(", "))
}

/// What changed between two versions of a host (default: the last two), and which targets the
/// change added or removed for the guest configuration of the query.
#[utoipa::path(get, path = "/api/v1/hosts/{host_id}/diff", tag = "hosts",
    params(("host_id" = String, Path, description = "host id"),
           ("from" = Option<u32>, Query, description = "older version (default: the one before `to`)"),
           ("to" = Option<u32>, Query, description = "newer version (default: the newest)"),
           ("cpu" = Option<String>, Query, description = "guest cpu the targets are judged for")),
    responses((status = 200, body = ProfileDiff), (status = 404, body = shared::api::ErrorBody)))]
pub async fn diff(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
    dq: Result<Query<DiffQuery>, QueryRejection>,
    gq: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<Json<ProfileDiff>, ApiError> {
    let Query(dq) = dq.map_err(|e| ApiError::from_query_rejection(&e))?;
    let Query(gq) = gq.map_err(|e| ApiError::from_query_rejection(&e))?;
    let newest = state
        .store
        .latest_profile(&host_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("host '{host_id}'")))?;
    let to_v = dq.to.unwrap_or(newest.version);
    let from_v = dq.from.unwrap_or(to_v.saturating_sub(1).max(1));
    let load = |v: u32| {
        let store = state.store.clone();
        let host_id = host_id.clone();
        async move {
            store
                .profile_version(&host_id, v)
                .await?
                .map(|s| s.profile)
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "version {v} of host '{host_id}' (it has {} versions)",
                        newest.n_versions
                    ))
                })
        }
    };
    let old = load(from_v).await?;
    let new = load(to_v).await?;
    let fleet = state.cache.fleet(&state.store).await?;
    let policy = gq.policy()?;
    let st = state.clone();
    state
        .engine
        .run(move |cancel| {
            let guest = gq.guest(Some(&fleet))?;
            let graph = st.cache.graph(&fleet, &guest, &policy);
            diff_of(
                &host_id, from_v, to_v, &old, &new, &fleet, &graph, guest, &policy, cancel,
            )
        })
        .await
        .map(Json)
}

/// What changed between two versions of a host, and its targets added and removed: engine work.
#[expect(clippy::too_many_arguments, reason = "the parts of one diff")]
fn diff_of(
    host_id: &str,
    from_v: u32,
    to_v: u32,
    old: &HostProfile,
    new: &HostProfile,
    fleet: &Fleet,
    graph: &shared::graph::CompatGraph,
    guest: GuestConfig,
    policy: &Policy,
    cancel: &crate::engine::Cancel,
) -> Result<ProfileDiff, ApiError> {
    let gv = |p: &HostProfile| {
        p.kvm
            .as_ref()
            .map(|k| k.guest_features)
            .unwrap_or(FeatureSet::EMPTY)
    };
    let msrs = |p: &HostProfile| -> BTreeSet<u32> {
        p.kvm
            .as_ref()
            .map(|k| k.msr_index_list.iter().copied().collect())
            .unwrap_or_default()
    };
    let fmsr = |p: &HostProfile| -> std::collections::BTreeMap<u32, u64> {
        p.kvm
            .as_ref()
            .map(|k| k.feature_msrs.iter().map(|m| (m.index, m.value)).collect())
            .unwrap_or_default()
    };
    let (mo, mn) = (msrs(old), msrs(new));
    let (fo, fnew) = (fmsr(old), fmsr(new));
    let feature_msrs_changed = fo
        .keys()
        .chain(fnew.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|i| fo.get(i) != fnew.get(i))
        .map(|&index| MsrChange {
            index,
            from: fo.get(&index).copied(),
            to: fnew.get(&index).copied(),
        })
        .collect();

    // Targets: the engine's verdict from each version to each class of the current fleet (judged
    // by the class's first host, as the graph does).
    let mut targets_added = Vec::new();
    let mut targets_removed = Vec::new();
    for class in &graph.classes {
        cancel.check()?;
        let Some(rep) = class.hosts.first().and_then(|h| fleet.get(h)) else {
            continue;
        };
        let before = shared::compare_with(old, rep, &guest, policy);
        let after = shared::compare_with(new, rep, &guest, policy);
        let others = class.hosts.iter().filter(|h| **h != host_id).cloned();
        match (before.compatible, after.compatible) {
            (false, true) => targets_added.extend(others),
            (true, false) => targets_removed.extend(others),
            _ => {}
        }
    }
    targets_added.sort();
    targets_removed.sort();
    Ok(ProfileDiff {
        host_id: host_id.to_owned(),
        from_version: from_v,
        to_version: to_v,
        guest_features_added: gv(new).difference(&gv(old)),
        guest_features_removed: gv(old).difference(&gv(new)),
        host_features_added: new.cpu.features.difference(&old.cpu.features),
        host_features_removed: old.cpu.features.difference(&new.cpu.features),
        msrs_added: mn.difference(&mo).copied().collect(),
        msrs_removed: mo.difference(&mn).copied().collect(),
        feature_msrs_changed,
        kernel: change(old.kernel_release.clone(), new.kernel_release.clone()),
        microcode: change(old.cpu.microcode.clone(), new.cpu.microcode.clone()),
        qemu: change(qemu_versions(old), qemu_versions(new)),
        class_id: change(
            Some(shared::class::class_id(old)),
            Some(shared::class::class_id(new)),
        ),
        guest,
        targets_added,
        targets_removed,
    })
}

fn profile_error(e: ProfileError) -> ApiError {
    let code = match e {
        ProfileError::SchemaVersion { .. } | ProfileError::MissingSchemaVersion => {
            "unsupported_schema_version"
        }
        _ => "invalid_profile",
    };
    ApiError::bad_request(code, e.to_string())
}

/// Store a host profile (collector; write token). A profile equal to the newest version adds
/// nothing.
#[utoipa::path(post, path = "/api/v1/hosts", tag = "hosts",
    request_body(content = shared::api::EngineObject, description = "a host profile (shared::HostProfile, schema_version 1)"),
    responses((status = 200, body = UploadReceipt), (status = 400, body = shared::api::ErrorBody),
              (status = 401, body = shared::api::ErrorBody), (status = 403, description = "a scoped token outside its scope", body = shared::api::ErrorBody),
              (status = 413, body = shared::api::ErrorBody)),
    security(("bearer" = [])))]
pub async fn upload(
    State(state): State<AppState>,
    // The token first: a request without it is refused before its body is read.
    WriteToken(writer): WriteToken,
    body: Result<LimitedBody<{ limits::PROFILE_BODY_BYTES }>, ApiError>,
) -> Result<Json<UploadReceipt>, ApiError> {
    let started = Instant::now();
    let result = match body {
        Ok(LimitedBody(body)) => store_upload(&state, &writer, body).await,
        Err(e) => Err(e),
    };
    let outcome = match &result {
        Ok(r) if r.changed => Ingest::Stored,
        Ok(_) => Ingest::Unchanged,
        Err(_) => Ingest::Rejected,
    };
    state.metrics.ingest(outcome, started.elapsed());
    result.map(Json)
}

async fn store_upload(
    state: &AppState,
    writer: &crate::auth::Writer,
    body: axum::body::Bytes,
) -> Result<UploadReceipt, ApiError> {
    let scoped = matches!(writer, crate::auth::Writer::Scoped(_));
    let received_at = now_rfc3339();
    let small = body.len() <= crate::extract::SMALL_BODY_BYTES;
    // Parsing, checking, serialising and hashing a profile: about 100 us of CPU for the usual
    // 10-16 KiB, done in place like any small JSON body (`extract::SMALL_BODY_BYTES`): handing
    // it to a blocking thread and back costs two thread wake-ups per upload (the server's CPU
    // per upload went from 275 to 239 us without them: BENCHMARKS.md, "Ingest at 100,000
    // hosts"). Larger profiles, up to megabytes, go to a blocking thread. The scope check below
    // needs the labels only. The QEMU lists most uploads repeat are decoded and written out once
    // (`shared::intern::memo`; only serde_json runs inside).
    let lists = Arc::clone(&state.upload_lists);
    let parse = move || {
        lists.within(|| {
            let text = std::str::from_utf8(&body).map_err(|e| {
                ApiError::bad_request("invalid_profile", format!("body is not utf-8: {e}"))
            })?;
            let profile = HostProfile::from_json(text).map_err(profile_error)?;
            if profile.labels.len() > limits::HOST_LABELS {
                return Err(ApiError::too_many(
                    "the profile's labels",
                    profile.labels.len(),
                    limits::HOST_LABELS,
                    "keep the labels that select hosts (cluster, rack, role)",
                ));
            }
            let labels = scoped.then(|| profile.labels.clone());
            Ok((crate::Store::prepare(profile, &received_at)?, labels))
        })
    };
    let (prepared, labels) = if small {
        parse()?
    } else {
        tokio::task::spawn_blocking(parse)
            .await
            .map_err(|e| ApiError::Internal(format!("parsing a profile: {e}")))??
    };
    if let crate::auth::Writer::Scoped(scope) = writer {
        // A label scope also needs the stored host's labels to match (no takeover by relabelling).
        let stored = if scope.0.hosts.is_empty() {
            state.store.latest_profile(prepared.host_id()).await?
        } else {
            None
        };
        scope.allows(
            prepared.host_id(),
            labels.as_ref(),
            stored.as_ref().map(|s| &s.profile.labels),
        )?;
    }
    let host_id = prepared.host_id().to_owned();
    let upserted = state.store.upsert_prepared(prepared).await?;
    Ok(UploadReceipt {
        host_id,
        version: upserted.version,
        changed: upserted.changed,
    })
}
