//! `POST /api/v1/precheck`: "can this VM go to that host?", asked before any migration. The VM is
//! its own definition (libvirt domain XML or QEMU command line, parsed by `shared::guest`);
//! without `to`, every other host of the fleet is judged, or one host per class (`by_class`);
//! each verdict with every reason, or a brief of its blockers (`detail: "blockers"`), so a
//! host-passthrough guest against the ~3,000 classes of 100,000 hosts answers in about 1 MB.

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use shared::api::{PrecheckAnswer, PrecheckDetail, PrecheckRequest, TargetVerdict};
use shared::guest::parse_guest;
use shared::profile::HostProfile;
use shared::{GuestConfig, Policy, Verdict};

use std::collections::HashMap;

use super::compat::resolve;
use super::guest::validate;
use crate::AppState;
use crate::cache::Fleet;
use crate::error::ApiError;
use crate::extract::ApiJson;
use crate::limits;

pub fn router() -> Router<AppState> {
    Router::new().route("/precheck", post(precheck))
}

fn judge(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    dst_guest: Option<&GuestConfig>,
    policy: &Policy,
) -> Verdict {
    match dst_guest {
        Some(d) => shared::verdict::compare_definitions(src, dst, guest, d, policy),
        None => shared::compare_with(src, dst, guest, policy),
    }
}

/// Verdicts for a VM definition from its host to one host or to every other host. The guest as
/// read is in the answer once; each verdict holds its reasons, or with `detail: "blockers"` a
/// brief of them; the answer is refused (422) beyond `limits::ANSWER_BYTES`.
#[utoipa::path(post, path = "/api/v1/precheck", tag = "compat",
    request_body = PrecheckRequest,
    responses((status = 200, description = "a verdict per destination, compatible ones first", body = PrecheckAnswer),
              (status = 400, body = shared::api::ErrorBody), (status = 404, body = shared::api::ErrorBody),
              (status = 408, body = shared::api::ErrorBody), (status = 413, body = shared::api::ErrorBody),
              (status = 422, body = shared::api::ErrorBody)))]
pub async fn precheck(
    State(state): State<AppState>,
    ApiJson(req): ApiJson<PrecheckRequest, { limits::GUEST_BODY_BYTES }>,
) -> Result<Response, ApiError> {
    let src = resolve(&state, &req.from).await?;
    let dst = match &req.to {
        Some(to) => Some(resolve(&state, to).await?),
        None => None,
    };
    let fleet = match dst {
        Some(_) => None,
        None => Some(state.cache.fleet(&state.store).await?),
    };
    let body = state
        .engine
        .run(move |cancel| {
            let (guest_format, guest) = parse_guest(&req.guest)
                .map_err(|e| ApiError::bad_request("invalid_guest", format!("guest: {e}")))?;
            validate(&guest)?;
            let dst_guest = req
                .dst_guest
                .as_deref()
                .map(parse_guest)
                .transpose()
                .map_err(|e| ApiError::bad_request("invalid_guest", format!("dst_guest: {e}")))?
                .map(|(_, g)| g);
            if let Some(d) = &dst_guest {
                validate(d)?;
            }
            let policy = req.policy.unwrap_or_default();
            let detail = req.detail;
            let one = |dst: &HostProfile| -> TargetVerdict {
                let v = judge(&src, dst, &guest, dst_guest.as_ref(), &policy);
                match detail {
                    PrecheckDetail::Full => v.into(),
                    PrecheckDetail::Blockers => TargetVerdict::briefly(v),
                }
            };
            let too_large = || answer_too_large(req.to.is_some(), req.by_class, detail);
            let mut verdicts = Vec::new();
            // Reasons' (or briefs') size, counted as they come, so a huge answer stops early.
            let mut size = 0usize;
            // Each destination, and the hosts its verdict stands for (`None`: itself only).
            let targets: Vec<(&HostProfile, Option<usize>)> = match (&dst, &fleet) {
                (Some(d), _) => vec![(&**d, None)],
                (None, Some(f)) if req.by_class => class_targets(f, &src.host_id)
                    .into_iter()
                    .map(|(i, n)| (&*f.profiles[i], Some(n)))
                    .collect(),
                (None, Some(f)) => f
                    .profiles
                    .iter()
                    .filter(|p| p.host_id != src.host_id)
                    .map(|p| (&**p, None))
                    .collect(),
                (None, None) => Vec::new(),
            };
            for (dst, n_hosts) in targets {
                cancel.check()?;
                let mut v = one(dst);
                v.n_hosts = n_hosts;
                size += match (&v.reasons, &v.brief) {
                    (Some(r), _) => serde_json::to_vec(r).map_or(0, |b| b.len()),
                    (None, Some(b)) => serde_json::to_vec(b).map_or(0, |b| b.len()),
                    (None, None) => 0,
                };
                if size > limits::ANSWER_BYTES {
                    return Err(too_large());
                }
                verdicts.push(v);
            }
            verdicts.sort_by(|a, b| b.compatible.cmp(&a.compatible).then(a.to.cmp(&b.to)));
            let hosts = |v: &TargetVerdict| v.n_hosts.unwrap_or(1);
            let answer = PrecheckAnswer {
                guest_format,
                guest,
                n_targets: verdicts.iter().map(hosts).sum(),
                n_compatible: verdicts.iter().filter(|v| v.compatible).map(hosts).sum(),
                verdicts,
            };
            let body = serde_json::to_vec(&answer)
                .map_err(|e| ApiError::Internal(format!("writing a precheck answer: {e}")))?;
            if body.len() > limits::ANSWER_BYTES {
                return Err(too_large());
            }
            Ok(body)
        })
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// One destination per class of `fleet`: the position of its first host other than `from`,
/// and how many of its hosts are not `from` (classes of `from` alone left out). Hosts of a
/// class are equal in every fact a rule reads (`shared::class`), as the graph judges them.
fn class_targets(fleet: &Fleet, from: &str) -> Vec<(usize, usize)> {
    let mut at: HashMap<u32, usize> = HashMap::new();
    let mut out: Vec<(usize, usize)> = Vec::new();
    for (i, p) in fleet.profiles.iter().enumerate() {
        if p.host_id == from {
            continue;
        }
        match at.get(&fleet.class_of[i]) {
            Some(&k) => out[k].1 += 1,
            None => {
                at.insert(fleet.class_of[i], out.len());
                out.push((i, 1));
            }
        }
    }
    out
}

/// 422 for an answer over `limits::ANSWER_BYTES`, naming the smaller question to ask instead.
fn answer_too_large(to: bool, by_class: bool, detail: PrecheckDetail) -> ApiError {
    let instead = match (to, by_class, detail) {
        (false, false, _) => {
            "give 'by_class': true and 'detail': \"blockers\" (one brief per class), or 'to' (one destination)"
        }
        (false, true, PrecheckDetail::Full) => {
            "give 'detail': \"blockers\" (a brief per class; then 'to' for one class's reasons)"
        }
        (false, true, PrecheckDetail::Blockers) => "give 'to' (one destination)",
        (true, _, _) => "give a guest with fewer devices",
    };
    ApiError::unprocessable(
        "limit_exceeded",
        format!(
            "the precheck answer would be larger than the limit of {} bytes: {instead}",
            limits::ANSWER_BYTES
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn too_large_answers_name_the_smaller_question() {
        let text = |to, by_class, detail| answer_too_large(to, by_class, detail).to_string();
        assert!(text(false, false, PrecheckDetail::Full).contains("'by_class': true"));
        assert!(text(false, true, PrecheckDetail::Full).contains("\"blockers\""));
        assert!(text(false, true, PrecheckDetail::Blockers).contains("give 'to'"));
        assert!(text(true, false, PrecheckDetail::Full).contains("fewer devices"));
    }
}
