//! What the soak holds the server to besides status codes: reference answers taken before the
//! load, and after it, every acknowledged upload still there.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use hyper::Method;
use hyper::body::Bytes;
use shared::api::{HostList, PrecheckAnswer, PrecheckRequest, VersionList};
use shared::profile::HostProfile;
use shared::verdict::Verdict;

use crate::http::{Conn, Request};
use crate::load::{ClientResult, References};

fn get(path: String) -> Request {
    Request {
        method: Method::GET,
        path,
        body: Bytes::new(),
        token: None,
    }
}

async fn ask<T: serde::de::DeserializeOwned>(conn: &mut Conn, req: &Request) -> Result<T, String> {
    let (status, body) = conn
        .send(req)
        .await
        .map_err(|e| format!("{} {}: {}", req.method, req.path, e.0))?;
    if status != 200 {
        return Err(format!(
            "{} {}: status {status}: {}",
            req.method,
            req.path,
            String::from_utf8_lossy(&body[..body.len().min(300)])
        ));
    }
    serde_json::from_slice(&body).map_err(|e| {
        format!(
            "{} {}: the answer does not parse: {e}",
            req.method, req.path
        )
    })
}

/// The host ids of the demo fleet the server loaded.
pub async fn demo_hosts(addr: SocketAddr) -> Result<Vec<String>, String> {
    let mut c = Conn::open(addr).await.map_err(|e| e.0)?;
    let list: HostList = ask(&mut c, &get("/api/v1/hosts".into())).await?;
    let ids: Vec<String> = list.hosts.into_iter().map(|h| h.host_id).collect();
    // Ids go into query strings unescaped.
    if let Some(odd) = ids.iter().find(|id| {
        !id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    }) {
        return Err(format!(
            "demo host id {odd:?} needs escaping in a URL; the soak expects plain ids"
        ));
    }
    if ids.len() < 2 {
        return Err(format!(
            "the demo fleet has {} hosts; the soak needs at least 2",
            ids.len()
        ));
    }
    Ok(ids)
}

/// Answers of the idle server to the questions the clients will repeat: verdicts between demo
/// hosts (host-passthrough and host-model) and prechecks of a QEMU command line and a libvirt
/// domain.
pub async fn references(addr: SocketAddr, ids: &[String]) -> Result<References, String> {
    let mut c = Conn::open(addr).await.map_err(|e| e.0)?;
    let n = ids.len();
    let mut refs = References::default();
    for i in 0..32 {
        let (a, b) = (&ids[(i * 37) % n], &ids[(i * 53 + 11) % n]);
        let cpu = if i % 2 == 0 {
            "host-passthrough"
        } else {
            "host-model"
        };
        let path = format!("/api/v1/compat?from={a}&to={b}&cpu={cpu}");
        let v: Verdict = ask(&mut c, &get(path.clone())).await?;
        refs.compat.push((path, v));
    }
    let guests = [
        "qemu-system-x86_64 -machine pc-q35-7.2 -accel kvm -cpu host -smp 2 -m 2048",
        "<domain type='kvm'><memory unit='MiB'>2048</memory><vcpu>2</vcpu><os><type machine='pc-q35-7.2'>hvm</type></os><cpu mode='host-model'/></domain>",
    ];
    for i in 0..8 {
        let body = PrecheckRequest {
            from: ids[(i * 29) % n].clone(),
            to: Some(ids[(i * 71 + 3) % n].clone()),
            guest: guests[i % 2].to_owned(),
            ..PrecheckRequest::default()
        };
        let body = Bytes::from(serde_json::to_vec(&body).map_err(|e| e.to_string())?);
        let req = Request {
            method: Method::POST,
            path: "/api/v1/precheck".into(),
            body: body.clone(),
            token: None,
        };
        let a: PrecheckAnswer = ask(&mut c, &req).await?;
        refs.precheck.push((body, a));
    }
    Ok(refs)
}

/// Every acknowledged upload, looked up after the run.
#[derive(Debug, Default)]
pub struct Durability {
    pub hosts: usize,
    pub acked: usize,
    pub acked_before_kill: usize,
    /// `host version`: acknowledged, not in the host's history.
    pub lost: Vec<String>,
    /// Other disagreements: a newest profile that is not the last upload, versions never
    /// acknowledged.
    pub wrong: Vec<String>,
}

/// Ask the server for each client host's versions and newest profile.
pub async fn durability(addr: SocketAddr, results: &[ClientResult]) -> Durability {
    let mut d = Durability::default();
    let work: Vec<_> = results
        .iter()
        .filter(|r| !r.acks.is_empty() || r.unanswered.is_some())
        .map(|r| {
            (
                r.host_id.clone(),
                r.acks
                    .iter()
                    .map(|a| (a.seq, a.version))
                    .collect::<Vec<_>>(),
                r.unanswered,
            )
        })
        .collect();
    d.hosts = work.len();
    d.acked = results.iter().map(|r| r.acks.len()).sum();
    d.acked_before_kill = results
        .iter()
        .flat_map(|r| &r.acks)
        .filter(|a| a.before_kill)
        .count();
    let workers = 16;
    let mut set = tokio::task::JoinSet::new();
    for w in 0..workers {
        let mine: Vec<_> = work.iter().skip(w).step_by(workers).cloned().collect();
        set.spawn(async move {
            let mut out = (Vec::new(), Vec::new());
            let mut conn = None;
            for (host, acks, unanswered) in mine {
                if let Err((lost, wrong)) =
                    check_host(addr, &mut conn, &host, &acks, unanswered).await
                {
                    out.0.extend(lost);
                    out.1.extend(wrong);
                }
            }
            out
        });
    }
    while let Some(joined) = set.join_next().await {
        match joined {
            Ok((lost, wrong)) => {
                d.lost.extend(lost);
                d.wrong.extend(wrong);
            }
            Err(e) => d.wrong.push(format!("a durability worker failed: {e}")),
        }
    }
    d.lost.sort();
    d.wrong.sort();
    d
}

type Findings = (Vec<String>, Vec<String>);

async fn check_host(
    addr: SocketAddr,
    conn: &mut Option<Conn>,
    host: &str,
    acks: &[(u32, u32)],
    unanswered: Option<u32>,
) -> Result<(), Findings> {
    let fail = |e: String| (Vec::new(), vec![e]);
    if conn.is_none() {
        *conn = Some(Conn::open(addr).await.map_err(|e| fail(e.0))?);
    }
    let Some(c) = conn.as_mut() else {
        return Err(fail("no connection".into()));
    };
    let versions: VersionList = ask(c, &get(format!("/api/v1/hosts/{host}/versions")))
        .await
        .map_err(fail)?;
    let stored: BTreeSet<u32> = versions.versions.iter().map(|v| v.version).collect();
    let lost: Vec<String> = acks
        .iter()
        .filter(|(_, v)| !stored.contains(v))
        .map(|(seq, v)| format!("{host} version {v} (upload {seq})"))
        .collect();
    let mut wrong = Vec::new();
    // Each upload was a change: versions are exactly 1..=n, n the last acknowledged, or one more
    // for an upload whose answer never came.
    let last = acks.last().map_or(0, |&(_, v)| v);
    let newest = stored.last().copied().unwrap_or(0);
    let newest_ok = newest == last || (unanswered.is_some() && newest == last + 1);
    if !newest_ok || stored.len() != usize::try_from(newest).unwrap_or(0) {
        wrong.push(format!(
            "{host}: versions {stored:?}, last acknowledged {last}, an unanswered upload: {}",
            unanswered.is_some()
        ));
    }
    if newest > 0 {
        let p: HostProfile = ask(c, &get(format!("/api/v1/hosts/{host}")))
            .await
            .map_err(fail)?;
        let seq = p.labels.get("soak-seq").and_then(|s| s.parse::<u32>().ok());
        let last_seq = acks.last().map(|&(s, _)| s);
        if seq != last_seq && seq != unanswered {
            wrong.push(format!(
                "{host}: newest profile is upload {seq:?}, the last acknowledged {last_seq:?}"
            ));
        }
    }
    if lost.is_empty() && wrong.is_empty() {
        Ok(())
    } else {
        Err((lost, wrong))
    }
}
