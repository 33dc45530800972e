//! Load benchmark of the backend on loopback: ingest of 10,000 synthetic hosts (the demo fleet's
//! real profiles, perturbed), then pair verdicts at a fixed rate.
//!
//! `cargo run --release -p backend --example loadgen -- [--hosts 10000] [--connections 32]
//! [--rate 2000] [--seconds 10]`
//!
//! The server is `backend::app` on a temporary SQLite file, served by its own 2-thread runtime on
//! 127.0.0.1; the client is a minimal HTTP/1.1 keep-alive client on another runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use backend::{AppState, Store, app, demo};

const TOKEN: &str = "loadgen-token";

struct Args {
    hosts: usize,
    connections: usize,
    rate: u64,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args {
        hosts: 10_000,
        connections: 32,
        rate: 2000,
        seconds: 10,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    for pair in argv.chunks(2) {
        let v = pair.get(1).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        match pair[0].as_str() {
            "--hosts" => a.hosts = usize::try_from(v).unwrap_or(a.hosts),
            "--connections" => a.connections = usize::try_from(v).unwrap_or(a.connections).max(1),
            "--rate" => a.rate = v.max(1),
            "--seconds" => a.seconds = v.max(1),
            other => {
                eprintln!("unknown option {other}: use --hosts --connections --rate --seconds");
                std::process::exit(2);
            }
        }
    }
    a
}
#[path = "common/conn.rs"]
mod conn;
use conn::Conn;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index"
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn report(name: &str, mut lat: Vec<Duration>, errors: usize, wall: Duration) {
    lat.sort_unstable();
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    let rate = lat.len() as f64 / wall.as_secs_f64();
    println!(
        "{name}: {} ok, {errors} errors in {:.2} s = {rate:.0}/s; latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        wall.as_secs_f64(),
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}

/// `n` synthetic profiles: the demo fleet's real profiles round-robin, each with its own id and
/// labels, a few with a feature taken away (as microcode or BIOS settings do) so classes vary.
fn synthetic(n: usize) -> Vec<Vec<u8>> {
    let base = demo::demo_profiles("2026-11-22T00:00:00Z").expect("demo fleet");
    (0..n)
        .map(|i| {
            let mut p = base[i % base.len()].clone();
            p.host_id = format!("bench-{i:05}");
            p.hostname = format!("{}.bench.invalid", p.host_id);
            p.labels
                .insert("rack".into(), format!("bench-r{:03}", i / 40));
            if i % 10 == 0
                && let Some(k) = p.kvm.as_mut()
            {
                let picked = k.guest_features.iter().nth(i / 10 % 40);
                if let Some(id) = picked {
                    k.guest_features.remove(id);
                }
            }
            serde_json::to_vec(&p).expect("json")
        })
        .collect()
}

type Outcome = (Vec<Duration>, usize, Duration);

/// Upload every body once over `connections` connections, as fast as they go.
async fn ingest(
    addr: std::net::SocketAddr,
    bodies: Arc<Vec<Vec<u8>>>,
    connections: usize,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections.max(1))
        .map(|_| {
            let (bodies, next) = (Arc::clone(&bodies), Arc::clone(&next));
            tokio::spawn(async move {
                let mut c = Conn::open(addr).await.expect("connect");
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(body) = bodies.get(i) else { break };
                    let t = Instant::now();
                    match c.request("POST", "/api/v1/hosts", body).await {
                        Ok(200) => lat.push(t.elapsed()),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.expect("task");
        lat.extend(l);
        errors += e;
    }
    (lat, errors, started.elapsed())
}

/// Pair verdicts between pseudo-random hosts at `rate` per second for `seconds`.
async fn verdicts(
    addr: std::net::SocketAddr,
    hosts: usize,
    connections: usize,
    rate: u64,
    seconds: u64,
) -> Outcome {
    let connections = connections.max(1);
    #[expect(clippy::cast_precision_loss, reason = "a pace")]
    let per_conn = Duration::from_secs_f64(connections as f64 / rate as f64);
    let total = rate * seconds / connections as u64;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let mut conn = Conn::open(addr).await.expect("connect");
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                #[expect(clippy::cast_precision_loss, reason = "a phase")]
                let offset = per_conn.mul_f64(c as f64 / connections as f64);
                let t0 = tokio::time::Instant::now() + offset;
                for k in 0..total {
                    #[expect(clippy::cast_precision_loss, reason = "a schedule")]
                    let due = t0 + per_conn.mul_f64(k as f64);
                    tokio::time::sleep_until(due).await;
                    let k = usize::try_from(k).unwrap_or(0);
                    let (s, d) = ((c * 7919 + k * 31) % hosts, (c * 104_729 + k * 17) % hosts);
                    let path = format!("/api/v1/compat?from=bench-{s:05}&to=bench-{d:05}");
                    // Latency from the send (tokio's timer has 1 ms granularity, so the
                    // schedule only paces the rate).
                    let sent = Instant::now();
                    match conn.request("GET", &path, b"").await {
                        Ok(200) => lat.push(sent.elapsed()),
                        _ => errors += 1,
                    }
                }
                (lat, errors)
            })
        })
        .collect();
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.expect("task");
        lat.extend(l);
        errors += e;
    }
    (lat, errors, started.elapsed())
}

fn main() {
    let a = args();
    let dir = tempfile::tempdir().expect("temp dir");
    let server_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("server runtime");
    let (addr, store) = server_rt.block_on(async {
        let store = Store::open(&dir.path().join("bench.db")).await.expect("db");
        backend::auth::ensure_write_token(&store, Some(TOKEN))
            .await
            .expect("token");
        let l = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = l.local_addr().expect("addr");
        let app = app(AppState::new(store.clone()));
        tokio::spawn(async move { axum::serve(l, app).await });
        (addr, store)
    });
    let bodies = synthetic(a.hosts);
    #[expect(clippy::cast_precision_loss, reason = "a size")]
    let avg_kib =
        bodies.iter().map(Vec::len).sum::<usize>() as f64 / bodies.len().max(1) as f64 / 1024.0;
    println!(
        "loadgen: {} hosts (profiles of {avg_kib:.1} KiB on average), {} connections, server on {addr}",
        a.hosts, a.connections
    );
    let client_rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");

    // 1. Ingest: all connections upload as fast as they can.
    let bodies = Arc::new(bodies);
    let (lat, errors, wall) = client_rt.block_on(ingest(addr, Arc::clone(&bodies), a.connections));
    report("ingest", lat, errors, wall);
    let n_hosts = server_rt.block_on(store.n_hosts()).expect("count");
    println!("stored hosts: {n_hosts}");

    // Warm-up: the first read after the ingest loads the fleet cache (once per process; later
    // writes refresh only what changed).
    client_rt.block_on(async {
        let mut c = Conn::open(addr).await.expect("connect");
        let t = Instant::now();
        let s = c.request("GET", "/api/v1/stats", b"").await.unwrap_or(0);
        println!(
            "warm-up GET /api/v1/stats: {s} in {:.0} ms",
            t.elapsed().as_secs_f64() * 1e3
        );
    });

    // 2. Pair verdicts at a fixed total rate, spread over the connections.
    let (lat, errors, wall) =
        client_rt.block_on(verdicts(addr, a.hosts, a.connections, a.rate, a.seconds));
    report(&format!("compat at {}/s", a.rate), lat, errors, wall);

    // 2b. The same verdict load while every host uploads a changed profile (a new version each):
    // verdicts then read the database until the fleet cache catches up.
    let changed: Vec<Vec<u8>> = bodies
        .iter()
        .map(|b| {
            let mut v: serde_json::Value = serde_json::from_slice(b).expect("json");
            v["labels"]["zone"] = serde_json::Value::from("bench-moved");
            serde_json::to_vec(&v).expect("json")
        })
        .collect();
    let ((il, ie, iw), (vl, ve, vw)) = client_rt.block_on(async {
        tokio::join!(
            ingest(addr, Arc::new(changed), a.connections / 2),
            verdicts(addr, a.hosts, a.connections / 2, a.rate, a.seconds)
        )
    });
    report("re-ingest under verdict load", il, ie, iw);
    report(
        &format!("compat at {}/s under re-ingest", a.rate),
        vl,
        ve,
        vw,
    );

    // 3. Fleet-wide reads once the fleet is loaded (first call builds the cache).
    client_rt.block_on(async {
        let mut c = Conn::open(addr).await.expect("connect");
        for path in [
            "/api/v1/classes",
            "/api/v1/classes",
            "/api/v1/baseline/coverage",
            "/api/v1/stats",
        ] {
            let t = Instant::now();
            let s = c.request("GET", path, b"").await.unwrap_or(0);
            println!(
                "GET {path}: {s} in {:.1} ms",
                t.elapsed().as_secs_f64() * 1e3
            );
        }
    });
}
