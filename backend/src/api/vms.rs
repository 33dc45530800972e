//! The fleet's VMs, as the collector reads them into each host's profile (`guests`), and "can I
//! drain this host?": `GET /api/v1/vms`, `GET /api/v1/vms/{id}` (id `HOST:VM`, VM = the domain
//! UUID, `pid-N`, or the name) and `GET /api/v1/hosts/{host_id}/drain`. Plans come from
//! `shared::drain` on the engine's threads.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use shared::Policy;
use shared::api::drain::{DrainPlan, VmDetail, VmList, split_vm_ref};
use shared::drain::DrainFleet;

use super::guest::GuestQuery;
use crate::AppState;
use crate::error::ApiError;
use crate::limits;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/vms", get(list))
        .route("/vms/{vm_ref}", get(get_one))
        .route("/hosts/{host_id}/drain", get(drain))
}

#[derive(Clone, Debug, Default, Deserialize)]
pub struct VmFilter {
    host: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// The policy of a drain: `stack=`, `allow_vendor_change=`, `tsc_khz=`, `tsc_tolerance_ppm=`,
/// `src_qemu=`, `dst_qemu=`. Each VM's CPU comes from its own definition, so `cpu=`, `enable=`,
/// `disable=` and `migratable=` are refused rather than ignored.
fn drain_policy(q: &GuestQuery) -> Result<Policy, ApiError> {
    for (name, given) in [
        ("cpu", q.cpu.is_some()),
        ("enable", q.enable.is_some()),
        ("disable", q.disable.is_some()),
        ("migratable", q.migratable.is_some()),
    ] {
        if given {
            return Err(ApiError::bad_request(
                "invalid_parameter",
                format!(
                    "{name}= does not apply here: each VM is judged with the CPU of its own definition; leave it out"
                ),
            ));
        }
    }
    q.policy()
}

/// Every VM of the fleet, by host then VM id, a page at a time.
#[utoipa::path(get, path = "/api/v1/vms", tag = "vms",
    params(
        ("host" = Option<String>, Query, description = "only this host's VMs"),
        ("offset" = Option<usize>, Query, description = "VMs to skip (default 0)"),
        ("limit" = Option<usize>, Query, description = "VMs in the page: default 1000, at most 10000"),
    ),
    responses((status = 200, body = VmList), (status = 400, body = shared::api::ErrorBody),
              (status = 404, body = shared::api::ErrorBody)))]
pub async fn list(
    State(state): State<AppState>,
    q: Result<Query<VmFilter>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(f) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let limit = f.limit.unwrap_or(limits::VM_PAGE_DEFAULT);
    if limit > limits::VM_PAGE {
        return Err(ApiError::too_many(
            "limit= (VMs in one page)",
            limit,
            limits::VM_PAGE,
            "page with offset=",
        ));
    }
    let offset = f.offset.unwrap_or(0);
    let fleet = state.cache.fleet(&state.store).await?;
    if let Some(h) = &f.host
        && fleet.get(h).is_none()
    {
        return Err(ApiError::not_found(format!("host '{h}'")));
    }
    state
        .engine
        .answer(move |cancel| {
            let mut vms = Vec::new();
            let (mut total, mut with_guests) = (0usize, 0usize);
            for p in &fleet.profiles {
                if f.host.as_ref().is_some_and(|h| *h != p.host_id) {
                    continue;
                }
                cancel.check()?;
                let Some(g) = &p.guests else { continue };
                with_guests += 1;
                for vm in &g.vms {
                    if total >= offset && vms.len() < limit {
                        vms.push(shared::drain::summary(&p.host_id, vm));
                    }
                    total += 1;
                }
            }
            Ok(VmList {
                total,
                n_hosts_with_guests: with_guests,
                offset,
                limit,
                vms,
            })
        })
        .await
}

/// One VM with the hosts and classes it can go to now, or why it cannot move.
#[utoipa::path(get, path = "/api/v1/vms/{vm_ref}", tag = "vms",
    params(
        ("vm_ref" = String, Path, description = "HOST:VM, VM being the domain UUID, pid-N of a bare QEMU process, or the VM's name (percent-encoded where needed)"),
        ("stack" = Option<String>, Query, description = "qemu or libvirt: who starts the destination (default: libvirt for domain XML, qemu for command lines)"),
        ("allow_vendor_change" = Option<bool>, Query, description = "allow a vendor change for named models"),
    ),
    responses((status = 200, body = VmDetail), (status = 400, body = shared::api::ErrorBody),
              (status = 404, body = shared::api::ErrorBody)))]
pub async fn get_one(
    State(state): State<AppState>,
    Path(vm_ref): Path<String>,
    q: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let policy = drain_policy(&q)?;
    let (host, vm) = split_vm_ref(&vm_ref).ok_or_else(|| {
        ApiError::bad_request(
            "invalid_vm_id",
            format!(
                "'{vm_ref}' is no VM id: write HOST:VM, VM being the domain UUID, pid-N or the VM's name (GET /api/v1/vms lists them as ref)"
            ),
        )
    })?;
    let (host, vm) = (host.to_owned(), vm.to_owned());
    let fleet = state.cache.fleet(&state.store).await?;
    if fleet.get(&host).is_none() {
        return Err(ApiError::not_found(format!("host '{host}'")));
    }
    let fl = Arc::clone(&fleet);
    state
        .engine
        .answer(move |cancel| -> Result<VmDetail, ApiError> {
            let mut df = drain_fleet(&fl, &policy);
            cancel.check()?;
            let h = df
                .host_index(&host)
                .ok_or_else(|| ApiError::not_found(format!("host '{host}'")))?;
            df.vm_detail(h, &vm).ok_or_else(|| {
                ApiError::not_found(format!(
                    "VM '{vm}' on host '{host}' (its profile lists no VM with that id or name; GET /api/v1/vms?host={host} lists them)"
                ))
            })
        })
        .await
}

/// The drain plan of a host: every VM with where it can go, stuck ones first with their
/// blockers and the smallest change found to their definition, and a first-fit placement.
#[utoipa::path(get, path = "/api/v1/hosts/{host_id}/drain", tag = "vms",
    params(
        ("host_id" = String, Path, description = "host id"),
        ("stack" = Option<String>, Query, description = "qemu or libvirt: who starts the destination (default: libvirt for domain XML, qemu for command lines)"),
        ("allow_vendor_change" = Option<bool>, Query, description = "allow a vendor change for named models"),
        ("tsc_tolerance_ppm" = Option<u32>, Query, description = "TSC frequency difference accepted without scaling"),
    ),
    responses((status = 200, body = DrainPlan), (status = 400, body = shared::api::ErrorBody),
              (status = 404, body = shared::api::ErrorBody), (status = 503, body = shared::api::ErrorBody)))]
pub async fn drain(
    State(state): State<AppState>,
    Path(host_id): Path<String>,
    q: Result<Query<GuestQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::from_query_rejection(&e))?;
    let policy = drain_policy(&q)?;
    let fleet = state.cache.fleet(&state.store).await?;
    if fleet.get(&host_id).is_none() {
        return Err(ApiError::not_found(format!("host '{host_id}'")));
    }
    state
        .engine
        .answer(move |cancel| -> Result<DrainPlan, ApiError> {
            let mut df = drain_fleet(&fleet, &policy);
            cancel.check()?;
            let h = df
                .host_index(&host_id)
                .ok_or_else(|| ApiError::not_found(format!("host '{host_id}'")))?;
            Ok(df.plan(h))
        })
        .await
}

/// The fleet prepared for drain plans: its profiles by reference, its classes as the cache
/// numbered them (no profile copied, no class key computed again).
fn drain_fleet<'a>(
    fleet: &'a crate::cache::Fleet,
    policy: &shared::Policy,
) -> DrainFleet<'a, Arc<shared::profile::HostProfile>> {
    DrainFleet::with_classes(
        &fleet.profiles,
        shared::graph::Classes::from_numbers(&fleet.class_of),
        policy,
    )
}
