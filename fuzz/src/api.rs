//! The API's JSON bodies: deserialised into the request DTOs (`shared::api`), then given to the
//! engine entry the route calls, as the route does (backend/src/api/precheck.rs `precheck`,
//! backend/src/api/baseline.rs `baseline` and `masks`), against the fleet of [`crate::fleet`].
//! Host ids the fleet lacks end a request (404), as `resolve` and `pick` end it.

use std::collections::HashSet;

use shared::api::{BaselineRequest, MasksRequest, PrecheckRequest, TargetVerdict};
use shared::baseline::{baseline as baseline_of, features_lost, host_model};
use shared::guest::parse_guest;
use shared::profile::HostProfile;

use crate::engine;
use crate::fleet::{fleet, host};
use crate::guest::accepted;

/// Ids in input order, repeats dropped (backend/src/limits.rs `unique_hosts`); the fleet has
/// four hosts, so the routes' bounds (10,000 and 1,000 ids) are never what ends a request here.
fn unique(ids: &[String]) -> Vec<&str> {
    let mut seen = HashSet::new();
    ids.iter()
        .map(String::as_str)
        .filter(|id| seen.insert(*id))
        .collect()
}

fn pick(ids: &[&str]) -> Option<Vec<&'static HostProfile>> {
    ids.iter().map(|id| host(id)).collect()
}

pub fn precheck(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<PrecheckRequest>(data) else {
        return;
    };
    let Some(src) = host(&req.from) else {
        return;
    };
    let dst = match &req.to {
        Some(to) => match host(to) {
            Some(d) => Some(d),
            None => return,
        },
        None => None,
    };
    let Ok((_, guest)) = parse_guest(&req.guest) else {
        return;
    };
    if !accepted(&guest) {
        return;
    }
    let dst_guest = match req.dst_guest.as_deref().map(parse_guest) {
        Some(Ok((_, d))) if accepted(&d) => Some(d),
        Some(_) => return,
        None => None,
    };
    let policy = req.policy.unwrap_or_default();
    let targets: Vec<&HostProfile> = match dst {
        Some(d) => vec![d],
        None => fleet()
            .iter()
            .filter(|p| p.host_id != src.host_id)
            .collect(),
    };
    for dst in targets {
        let v = match &dst_guest {
            Some(d) => shared::verdict::compare_definitions(src, dst, &guest, d, &policy),
            None => shared::compare_with(src, dst, &guest, &policy),
        };
        engine::check_verdict(&v);
        let answer = TargetVerdict::from(v);
        let _ = serde_json::to_vec(&answer);
    }
}

pub fn baseline(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<BaselineRequest>(data) else {
        return;
    };
    let ids = unique(&req.hosts);
    let Some(mut hosts) = pick(&ids) else {
        return;
    };
    if let Some(sel) = &req.selector {
        let mut picked: HashSet<&str> = hosts.iter().map(|h| h.host_id.as_str()).collect();
        for p in fleet() {
            let matches = sel.iter().all(|(k, v)| p.labels.get(k) == Some(v));
            if matches && picked.insert(p.host_id.as_str()) {
                hosts.push(p);
            }
        }
    }
    let b = match hosts.as_slice() {
        [] => return,
        [one] => host_model(one, &req.options),
        many => baseline_of(many, &req.options),
    };
    if let Ok(b) = b {
        for h in &hosts {
            let _ = features_lost(h, &b);
        }
        let _ = serde_json::to_vec(&b);
    }
}

pub fn masks(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<MasksRequest>(data) else {
        return;
    };
    let ids = unique(&req.hosts);
    if ids.len() < 2 {
        return;
    }
    let Some(hosts) = pick(&ids) else {
        return;
    };
    if let [src, dst] = hosts.as_slice() {
        if let Ok(m) = shared::masks::pair_masks(src, dst, &req.policy) {
            let _ = serde_json::to_vec(&m);
        }
    } else if let Ok(m) = shared::masks::pool_masks(&hosts, &req.policy) {
        let _ = serde_json::to_vec(&m);
    }
}
