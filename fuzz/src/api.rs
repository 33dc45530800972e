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

/// `POST /api/v1/compat` bodies (backend/src/api/compat.rs `compat_post`): the guest checked as
/// the route checks it, then the verdict between the two hosts.
pub fn compat(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<shared::api::CompatRequest>(data) else {
        return;
    };
    if !accepted(&req.guest) {
        return;
    }
    let (Some(src), Some(dst)) = (host(&req.from), host(&req.to)) else {
        return;
    };
    let v = shared::compare_with(src, dst, &req.guest, &req.policy.unwrap_or_default());
    engine::check_verdict(&v);
    let _ = serde_json::to_vec(&v);
}

/// `POST /api/v1/graph` bodies (backend/src/api/graph.rs `graph_post`): the class graph of the
/// hosts named (repeats dropped, as `unique_hosts` drops them) or of the whole fleet, and its
/// names; then what every graph must be: each host in one class, edges and pools between the
/// classes there are.
pub fn graph(data: &[u8]) {
    let Ok(req) = serde_json::from_slice::<shared::api::GraphRequest>(data) else {
        return;
    };
    if !accepted(&req.guest) {
        return;
    }
    let hosts: Vec<&HostProfile> = match &req.hosts {
        Some(ids) => match pick(&unique(ids)) {
            Some(h) => h,
            None => return,
        },
        None => fleet().iter().collect(),
    };
    let g = shared::graph::build(&hosts, &req.guest, &req.policy);
    assert_eq!(g.n_hosts, hosts.len(), "the graph counts its hosts");
    let in_classes: usize = g.classes.iter().map(|c| c.hosts.len()).sum();
    assert_eq!(in_classes, hosts.len(), "each host in one class");
    let n = g.classes.len();
    for e in g.edges.iter() {
        assert!(e.from < n && e.to < n, "an edge between classes there are");
    }
    let mut pooled = vec![0usize; n];
    for p in &g.pools {
        for &c in &p.classes {
            assert!(c < n, "a pool of classes there are");
            pooled[c] += 1;
        }
        assert!(p.drains_to.iter().all(|&d| d < g.pools.len()));
    }
    assert!(pooled.iter().all(|&k| k == 1), "each class in one pool");
    let names = shared::naming::fleet_names(&g, host);
    assert_eq!(names.classes.len(), n, "a name per class");
    assert_eq!(names.pools.len(), g.pools.len(), "a name per pool");
    let _ = serde_json::to_vec(&g);
}
