//! The 100,000-host benchmark (BENCHMARKS.md, "Scale"): the real `fleetcompat serve` binary on
//! each database in turn, driven over loopback by the fleet of `backend::fleetgen` (the demo's
//! real processors with drift, about 3,000 classes).
//!
//! `cargo build --release -p backend --bin fleetcompat --example scale &&
//!  target/release/examples/scale [--hosts 100000] [--connections 64] [--rate 2000]
//!  [--seconds 10] [--postgres postgres://...] [--no-postgres] [--no-sqlite] [--ingest-only]
//!  [--sqlite-dir DIR]`
//! (or `cargo xtask bench --scale`; `SCALE_SERVER_LOG=backend=debug` passes a log filter to the
//! server, whose log goes to standard error)
//!
//! SQLite and PostgreSQL side by side in one run: a new SQLite file, then a PostgreSQL database,
//! an empty one given with `--postgres`, else a throwaway cluster the example starts itself
//! (`store::testing::PgCluster`: Debian's `postgresql`, unix socket, default `fsync=on`).
//!
//! Per database: ingest every host as fast as the connections go (rate, p50/p99; 64 uploads in
//! flight by default: a fleet of 100,000 hosts uploads from many collectors at once, and the
//! earlier runs' 32 is `--connections 32`); the first read (the fleet cache loads); pair verdicts
//! at a fixed rate (p50/p99/max); the first `GET /api/v1/pools` (the graph built and named the
//! first time); five times a change (one host uploads a new profile) followed by
//! `GET /api/v1/pools` (the fleet cache refreshes, the graph and names follow), `GET /api/v1/graph` and
//! `GET /api/v1/classes`; the fleet file streamed; the server's peak resident memory (`VmHWM`
//! of its `/proc/PID/status`) and its cache counters from `/metrics`. Each run notes the load
//! average (`/proc/loadavg`) at its start and end, and the CPU time the ingest cost per upload in
//! the server, in the example's own client and, on its own cluster, in PostgreSQL (all from
//! `/proc`, so comparable between runs on a shared machine where the rates are not); the end
//! prints a table for BENCHMARKS.md. `--ingest-only` stops each database's run after its ingest.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use backend::fleetgen::FleetGen;

const TOKEN: &str = "scale-bench-token";

struct Args {
    hosts: usize,
    connections: usize,
    rate: u64,
    seconds: u64,
    postgres: Option<String>,
    /// Start a throwaway PostgreSQL cluster when no `--postgres` is given.
    own_postgres: bool,
    sqlite: bool,
    /// Stop after the ingest (quick loops on the ingest path).
    ingest_only: bool,
    /// Where the SQLite file goes and stays (else a temporary folder, removed).
    sqlite_dir: Option<String>,
}

fn args() -> Args {
    let mut a = Args {
        hosts: 100_000,
        connections: 64,
        rate: 2000,
        seconds: 10,
        postgres: None,
        own_postgres: true,
        sqlite: true,
        ingest_only: false,
        sqlite_dir: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        if flag == "--no-sqlite" {
            a.sqlite = false;
            continue;
        }
        if flag == "--no-postgres" {
            a.own_postgres = false;
            continue;
        }
        if flag == "--ingest-only" {
            a.ingest_only = true;
            continue;
        }
        let value = it.next().cloned().unwrap_or_default();
        let n = value.parse::<u64>().unwrap_or(0);
        match flag.as_str() {
            "--hosts" => a.hosts = usize::try_from(n).unwrap_or(a.hosts).max(2),
            "--connections" => a.connections = usize::try_from(n).unwrap_or(64).max(1),
            "--rate" => a.rate = n.max(1),
            "--seconds" => a.seconds = n.max(1),
            "--postgres" => a.postgres = Some(value),
            "--sqlite-dir" => a.sqlite_dir = Some(value),
            other => {
                eprintln!(
                    "unknown option {other}: use --hosts --connections --rate --seconds --postgres URL --no-postgres --no-sqlite --ingest-only --sqlite-dir DIR"
                );
                std::process::exit(2);
            }
        }
    }
    a
}
#[path = "common/conn.rs"]
mod conn;
use conn::Conn;
#[path = "common/proc.rs"]
mod proc;
#[path = "common/server.rs"]
#[expect(dead_code, reason = "scale sends its token on its own connections")]
mod server;
use proc::loadavg;
use server::Server;

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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Rate (per second), p50, p99 and max (ms) and errors of a load phase.
#[derive(Clone, Copy, Default)]
struct Load {
    rate: f64,
    p50: f64,
    p99: f64,
    max: f64,
    errors: usize,
}

fn report(db: &str, name: &str, mut lat: Vec<Duration>, errors: usize, wall: Duration) -> Load {
    lat.sort_unstable();
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    let rate = lat.len() as f64 / wall.as_secs_f64();
    let load = Load {
        rate,
        p50: ms(percentile(&lat, 0.5)),
        p99: ms(percentile(&lat, 0.99)),
        max: ms(lat.last().copied().unwrap_or_default()),
        errors,
    };
    println!(
        "[{db}] {name}: {} ok, {errors} errors in {:.2} s = {rate:.0}/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lat.len(),
        wall.as_secs_f64(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
    );
    load
}

/// What one database's run measured, for the table at the end.
#[derive(Default)]
struct Summary {
    db: String,
    load_start: String,
    load_end: String,
    ingest: Load,
    connections: usize,
    /// CPU time of the ingest per upload (us): server, client, database (`None`: not measured).
    ingest_cpu_us: (f64, f64, Option<f64>),
    /// Status (0: no answer) and time of the first read.
    first_read: (u16, f64),
    /// Status and time of the first `GET /api/v1/pools` (the graph built and named once).
    first_pools: (u16, f64),
    compat: Load,
    /// (median, max) in ms.
    pools_after_change: (f64, f64),
    graph_after_change: (f64, f64),
    fleet_file_ms: f64,
    hwm_mib: u64,
    classes: String,
}

fn median_max(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort_unstable();
    match (v.get(v.len() / 2), v.last()) {
        (Some(m), Some(x)) => (ms(*m), ms(*x)),
        _ => (0.0, 0.0),
    }
}

/// The table for BENCHMARKS.md, one column per database.
fn table(runs: &[Summary]) {
    let row = |name: &str, target: &str, cell: &dyn Fn(&Summary) -> String| {
        let cells: Vec<String> = runs.iter().map(cell).collect();
        println!("| {name} | {} | {target} |", cells.join(" | "));
    };
    let dbs: Vec<&str> = runs.iter().map(|r| r.db.as_str()).collect();
    println!("\n| measure | {} | target |", dbs.join(" | "));
    println!("|---|{}---|", "---|".repeat(runs.len()));
    row("load average (1/5/15 min), start -> end", "-", &|r| {
        format!("{} -> {}", r.load_start, r.load_end)
    });
    row("ingest", ">= 5,000/s, p99 <= 50 ms", &|r| {
        format!(
            "{:.0}/s, p50 {:.1} ms, p99 {:.1} ms ({} errors), {} connections",
            r.ingest.rate, r.ingest.p50, r.ingest.p99, r.ingest.errors, r.connections
        )
    });
    row("CPU per upload: server, client, database (us)", "-", &|r| {
        let (server, client, db) = r.ingest_cpu_us;
        let db = db.map_or_else(|| "-".to_owned(), |d| format!("{d:.0}"));
        format!("{server:.0}, {client:.0}, {db}")
    });
    row(
        "first read after the ingest (fleet cache loads)",
        "-",
        &|r| match r.first_read {
            (200, t) => format!("{:.1} s", t / 1e3),
            (0, t) => format!("no answer after {:.1} s", t / 1e3),
            (s, t) => format!("{s} after {:.1} s", t / 1e3),
        },
    );
    row(
        "first `GET /api/v1/pools` (graph built and named once)",
        "-",
        &|r| format!("{} in {:.1} ms", r.first_pools.0, r.first_pools.1),
    );
    row("pair verdicts", "p99 <= 2 ms at 2,000/s", &|r| {
        format!(
            "{:.0}/s, p50 {:.2}, p99 {:.2}, max {:.1} ms ({} errors)",
            r.compat.rate, r.compat.p50, r.compat.p99, r.compat.max, r.compat.errors
        )
    });
    row(
        "a change, then `GET /api/v1/pools` (median, max)",
        "<= 100 ms",
        &|r| {
            format!(
                "{:.1} ms, {:.1} ms",
                r.pools_after_change.0, r.pools_after_change.1
            )
        },
    );
    row(
        "then `GET /api/v1/graph` (median, max)",
        "<= 100 ms",
        &|r| {
            format!(
                "{:.1} ms, {:.1} ms",
                r.graph_after_change.0, r.graph_after_change.1
            )
        },
    );
    row("`GET /api/v1/fleet.jsonl` (streamed)", "-", &|r| {
        format!("{:.1} s", r.fleet_file_ms / 1e3)
    });
    row("server peak memory (VmHWM)", "<= 2,048 MiB", &|r| {
        format!("{} MiB", r.hwm_mib)
    });
    row("classes, pools (`/metrics`)", "-", &|r| r.classes.clone());
}

type Outcome = (Vec<Duration>, usize, Duration);

async fn ingest(
    addr: std::net::SocketAddr,
    bodies: Arc<Vec<Vec<u8>>>,
    connections: usize,
) -> Outcome {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (bodies, next) = (Arc::clone(&bodies), Arc::clone(&next));
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                let Ok(mut c) = Conn::open(addr).await else {
                    return (lat, 1);
                };
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
    join(tasks, started).await
}

async fn join(
    tasks: Vec<tokio::task::JoinHandle<(Vec<Duration>, usize)>>,
    started: Instant,
) -> Outcome {
    let (mut lat, mut errors) = (Vec::new(), 0);
    for t in tasks {
        match t.await {
            Ok((l, e)) => {
                lat.extend(l);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    (lat, errors, started.elapsed())
}

async fn verdicts(
    addr: std::net::SocketAddr,
    hosts: usize,
    connections: usize,
    rate: u64,
    seconds: u64,
) -> Outcome {
    #[expect(clippy::cast_precision_loss, reason = "a pace")]
    let per_conn = Duration::from_secs_f64(connections as f64 / rate as f64);
    let total = rate * seconds / connections as u64;
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let (mut lat, mut errors) = (Vec::new(), 0usize);
                let Ok(mut conn) = Conn::open(addr).await else {
                    return (lat, 1);
                };
                #[expect(clippy::cast_precision_loss, reason = "a phase")]
                let t0 =
                    tokio::time::Instant::now() + per_conn.mul_f64(c as f64 / connections as f64);
                for k in 0..total {
                    #[expect(clippy::cast_precision_loss, reason = "a schedule")]
                    tokio::time::sleep_until(t0 + per_conn.mul_f64(k as f64)).await;
                    let k = usize::try_from(k).unwrap_or(0);
                    let (s, d) = ((c * 7919 + k * 31) % hosts, (c * 104_729 + k * 17) % hosts);
                    let path = format!("/api/v1/compat?from=host-{s:06}&to=host-{d:06}");
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
    join(tasks, started).await
}

/// CPU seconds of a PostgreSQL cluster so far: its postmaster (with the children it has reaped)
/// and its live children, found by their parent id in `/proc` (`None` without `postmaster.pid`).
fn postgres_cpu_seconds(data_dir: &std::path::Path) -> Option<f64> {
    // The first line of postmaster.pid is the postmaster's PID (PostgreSQL's
    // src/include/utils/pidfile.h, LOCK_FILE_LINE_PID).
    let pid: u32 = std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()?
        .lines()
        .next()?
        .trim()
        .parse()
        .ok()?;
    let mut total = server::cpu_seconds(pid);
    for entry in std::fs::read_dir("/proc").ok()?.filter_map(Result::ok) {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if parent == Some(pid) {
            total += server::cpu_seconds(child);
        }
    }
    Some(total)
}

/// This process's CPU seconds so far (the client's share of a phase).
fn own_cpu_seconds() -> f64 {
    server::cpu_seconds(std::process::id())
}

fn run(
    a: &Args,
    bin: &std::path::Path,
    db_name: &str,
    db: &str,
    pg_data: Option<&std::path::Path>,
    bodies: &Arc<Vec<Vec<u8>>>,
) -> Summary {
    let mut sum = Summary {
        db: db_name.to_owned(),
        load_start: loadavg(),
        connections: a.connections,
        ..Summary::default()
    };
    // `SCALE_SERVER_LOG=backend=debug` shows the server's own timings (the cache's loads).
    let log = std::env::var("SCALE_SERVER_LOG").unwrap_or_else(|_| "warn".into());
    let server = Server::start(bin, db, TOKEN, &log);
    println!("[{db_name}] server {} on {}", bin.display(), server.addr);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime");

    let switches_before = server.context_switches();
    let cpu_before = (
        server.cpu_seconds(),
        own_cpu_seconds(),
        pg_data.and_then(postgres_cpu_seconds),
    );
    let (lat, errors, wall) = rt.block_on(ingest(server.addr, Arc::clone(bodies), a.connections));
    let uploads = lat.len().max(1);
    sum.ingest = report(db_name, "ingest", lat, errors, wall);
    #[expect(clippy::cast_precision_loss, reason = "a mean")]
    let per_upload = |before: f64, after: f64| (after - before) * 1e6 / uploads as f64;
    sum.ingest_cpu_us = (
        per_upload(cpu_before.0, server.cpu_seconds()),
        per_upload(cpu_before.1, own_cpu_seconds()),
        cpu_before
            .2
            .zip(pg_data.and_then(postgres_cpu_seconds))
            .map(|(b, a)| per_upload(b, a)),
    );
    #[expect(clippy::cast_precision_loss, reason = "a mean")]
    let switches =
        server.context_switches().saturating_sub(switches_before) as f64 / uploads as f64;
    let (server_us, client_us, db_us) = sum.ingest_cpu_us;
    println!(
        "[{db_name}] ingest CPU per upload: server {server_us:.0} us, client {client_us:.0} us, database {}; server context switches per upload {switches:.1}",
        db_us.map_or_else(|| "not measured".to_owned(), |d| format!("{d:.0} us"))
    );
    let (rss, hwm) = server.memory();
    println!("[{db_name}] after ingest: server RSS {rss} MiB, peak {hwm} MiB");
    if a.ingest_only {
        // (`/metrics` loads the fleet: a full run reads it at the end, after the first read.)
        if let Ok(mut r) = ureq::get(&server.url("/metrics")).call()
            && let Ok(text) = r.body_mut().read_to_string()
        {
            for l in text
                .lines()
                .filter(|l| l.starts_with("fleetcompat_upload_list"))
            {
                println!("[{db_name}] after ingest: /metrics {l}");
            }
        }
        sum.hwm_mib = hwm;
        sum.load_end = loadavg();
        return sum;
    }

    let (s, _, t) = server.get("/api/v1/stats");
    println!(
        "[{db_name}] first GET /api/v1/stats (fleet cache loads, graph built): {s} in {:.0} ms",
        ms(t)
    );
    sum.first_read = (s, ms(t));
    let (s, n, t) = server.get("/api/v1/stats");
    println!(
        "[{db_name}] GET /api/v1/stats again: {s}, {n} bytes in {:.1} ms",
        ms(t)
    );

    let (lat, errors, wall) = rt.block_on(verdicts(
        server.addr,
        a.hosts,
        a.connections,
        a.rate,
        a.seconds,
    ));
    sum.compat = report(
        db_name,
        &format!("compat at {}/s", a.rate),
        lat,
        errors,
        wall,
    );

    // The graph and names built the first time, apart from the changes after it.
    let (s, _, t) = server.get("/api/v1/pools");
    println!(
        "[{db_name}] first GET /api/v1/pools (the graph built and named the first time): {s} in {:.1} ms",
        ms(t)
    );
    sum.first_pools = (s, ms(t));

    // A change, then the graph and pools of every host: five times.
    let mut after_change = Vec::new();
    let mut graph_after_change = Vec::new();
    for round in 0..5 {
        let i = (round * 7_919 + 13) % bodies.len();
        let mut v: serde_json::Value = serde_json::from_slice(&bodies[i]).expect("json");
        v["labels"]["rack"] = serde_json::Value::from(format!("moved-{round}"));
        let body = serde_json::to_vec(&v).expect("json");
        let s = ureq::post(&server.url("/api/v1/hosts"))
            .header("Authorization", &format!("Bearer {TOKEN}"))
            .header("Content-Type", "application/json")
            .send(&body[..])
            .map(|r| r.status().as_u16())
            .unwrap_or(0);
        let (ps, pn, pt) = server.get("/api/v1/pools");
        let (gs, gn, gt) = server.get("/api/v1/graph");
        let (cs, cn, ct) = server.get("/api/v1/classes");
        println!(
            "[{db_name}] change {round} (upload {s}): GET /api/v1/pools {ps} ({pn} bytes) in {:.1} ms, GET /api/v1/graph {gs} ({gn} bytes) in {:.1} ms, then GET /api/v1/classes {cs} ({cn} bytes) in {:.1} ms",
            ms(pt),
            ms(gt),
            ms(ct)
        );
        after_change.push(pt);
        graph_after_change.push(gt);
    }
    sum.pools_after_change = median_max(after_change);
    sum.graph_after_change = median_max(graph_after_change);
    println!(
        "[{db_name}] after a change: pools median {:.1} ms, max {:.1} ms; graph median {:.1} ms, max {:.1} ms",
        sum.pools_after_change.0,
        sum.pools_after_change.1,
        sum.graph_after_change.0,
        sum.graph_after_change.1
    );
    for path in ["/api/v1/baseline/coverage", "/api/v1/baseline/coverage"] {
        let (s, n, t) = server.get(path);
        println!("[{db_name}] GET {path}: {s}, {n} bytes in {:.0} ms", ms(t));
    }
    let before = server.memory();
    let (s, n, t) = server.get("/api/v1/fleet.jsonl");
    let after = server.memory();
    println!(
        "[{db_name}] GET /api/v1/fleet.jsonl: {s}, {:.0} MiB in {:.0} ms; server RSS {} -> {} MiB",
        n as f64 / 1048576.0,
        ms(t),
        before.0,
        after.0
    );
    sum.fleet_file_ms = ms(t);
    if let Ok(mut r) = ureq::get(&server.url("/metrics")).call()
        && let Ok(text) = r.body_mut().read_to_string()
    {
        let metric = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
                .unwrap_or("?")
                .to_owned()
        };
        sum.classes = format!(
            "{}, {}",
            metric("fleetcompat_classes"),
            metric("fleetcompat_pools")
        );
        for l in text.lines().filter(|l| {
            l.starts_with("fleetcompat_cache")
                || l.starts_with("fleetcompat_upload_list")
                || l.starts_with("process_resident")
                || l.starts_with("fleetcompat_classes")
                || l.starts_with("fleetcompat_pools")
                || l.starts_with("fleetcompat_hosts")
        }) {
            println!("[{db_name}] /metrics {l}");
        }
    }
    let (rss, hwm) = server.memory();
    println!("[{db_name}] end: server RSS {rss} MiB, peak (VmHWM) {hwm} MiB (target <= 2048)");
    sum.hwm_mib = hwm;
    sum.load_end = loadavg();
    sum
}

fn main() {
    let a = args();
    let bin = std::env::var_os("FLEETCOMPAT_BIN").map_or_else(
        || {
            let exe = std::env::current_exe().expect("own path");
            exe.parent()
                .and_then(std::path::Path::parent)
                .map(|d| d.join("fleetcompat"))
                .expect("target dir")
        },
        std::path::PathBuf::from,
    );
    let t = Instant::now();
    let g = FleetGen::new(1).expect("demo fleet");
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = a.hosts.div_ceil(threads);
    let bodies: Vec<Vec<u8>> = std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads)
            .map(|k| {
                let g = &g;
                s.spawn(move || {
                    (k * chunk..((k + 1) * chunk).min(a.hosts))
                        .map(|i| serde_json::to_vec(&g.host(i)).expect("json"))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().expect("generator thread"))
            .collect()
    });
    let total: usize = bodies.iter().map(Vec::len).sum();
    println!(
        "scale: {} hosts generated in {:.1} s ({:.0} MiB of JSON, {:.1} KiB each); {} connections, verdicts at {}/s for {} s",
        bodies.len(),
        t.elapsed().as_secs_f64(),
        total as f64 / 1048576.0,
        total as f64 / bodies.len() as f64 / 1024.0,
        a.connections,
        a.rate,
        a.seconds
    );
    let bodies = Arc::new(bodies);
    let mut runs = Vec::new();
    if a.sqlite {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = a.sqlite_dir.as_ref().map_or_else(
            || dir.path().join("scale.db"),
            |d| std::path::Path::new(d).join("scale.db"),
        );
        runs.push(run(
            &a,
            &bin,
            "SQLite",
            &path.to_string_lossy(),
            None,
            &bodies,
        ));
    }
    match &a.postgres {
        Some(url) => runs.push(run(&a, &bin, "PostgreSQL", url, None, &bodies)),
        None if a.own_postgres => {
            // A throwaway cluster on this machine (it shares the cores with the server and the
            // client, as SQLite does), stopped and removed at the end.
            let cluster = store::testing::PgCluster::start()
                .unwrap_or_else(|e| panic!("cannot start PostgreSQL for the benchmark: {e}"));
            let url = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(cluster.fresh_database())
                .unwrap_or_else(|e| panic!("cannot create the benchmark's database: {e}"));
            println!("[postgres] a throwaway cluster: {url}");
            let data = cluster.socket_dir().join("data");
            runs.push(run(&a, &bin, "PostgreSQL", &url, Some(&data), &bodies));
        }
        None => println!("[postgres] not run (--no-postgres)"),
    }
    table(&runs);
}
