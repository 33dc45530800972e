//! The graph and pools of a large fleet after one change (issue 12: <= 100 ms), against the real
//! `fleetcompat serve` over loopback: the fleet of `backend::fleetgen` is stored once in a
//! SQLite file (reused by later runs), the server loads it, then each round one host uploads a
//! new profile (a label moved, or another host's hardware: its class changes, and a class may
//! appear or vanish) and `GET /api/v1/pools`, `GET /api/v1/graph` and `GET /api/v1/classes` are
//! timed, the pools or the graph first (the first waits for the refresh and the update).
//! Rounds from the 13th on (`--rounds 20`) make a class no host had, then let it vanish: a host
//! takes a microcode level that turns one more feature off (a class of its own), and the round
//! after it goes back to its rack's profile.
//!
//! `cargo build --release -p backend --bin fleetcompat --example graph_change &&
//!  target/release/examples/graph_change [--hosts 100000] [--rounds 12] [--db PATH]`
//! (`GRAPH_CHANGE_SERVER_LOG=backend=debug` shows the server's own timings of each step).

use std::time::{Duration, Instant};

use backend::Store;
use backend::fleetgen::FleetGen;

const TOKEN: &str = "graph-change-bench-token";

#[path = "common/proc.rs"]
mod proc;
#[path = "common/server.rs"]
#[expect(dead_code, reason = "graph_change does not measure memory")]
mod server;
use proc::loadavg;
use server::Server;

/// Upload a profile with the admin token: the status, 0 when no answer came.
fn upload(server: &Server, p: &shared::profile::HostProfile) -> u16 {
    let body = serde_json::to_vec(p).expect("json");
    ureq::post(&server.url("/api/v1/hosts"))
        .header("Authorization", &format!("Bearer {}", server.token()))
        .header("Content-Type", "application/json")
        .send(&body[..])
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Turn off the `k`-th (modulo their count) of the features KVM offers on `p`, as a microcode
/// update does: from what the CPU reports, what KVM offers and what each QEMU's host model has.
fn drop_one(p: &mut shared::profile::HostProfile, k: usize) {
    let Some(kvm) = p.kvm.as_mut() else {
        return;
    };
    let ids: Vec<_> = kvm.guest_features.iter().collect();
    let Some(&id) = ids.get(k % ids.len().max(1)) else {
        return;
    };
    kvm.guest_features.remove(id);
    p.cpu.features.remove(id);
    for q in &mut p.qemu {
        if let Some(m) = q.host_model.as_mut() {
            m.remove(id);
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn main() {
    let mut hosts = 100_000usize;
    let mut rounds = 12usize;
    let mut db: Option<String> = None;
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value = it.next().cloned().unwrap_or_default();
        match flag.as_str() {
            "--hosts" => hosts = value.parse().unwrap_or(hosts),
            "--rounds" => rounds = value.parse().unwrap_or(rounds),
            "--db" => db = Some(value),
            other => {
                eprintln!("unknown option {other}: use --hosts N, --rounds N, --db PATH");
                std::process::exit(2);
            }
        }
    }
    let exe = std::env::current_exe().expect("own path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/release");
    let bin = dir.join("fleetcompat");
    let db = db.unwrap_or_else(|| {
        dir.join(format!("graph-change-{hosts}.db"))
            .display()
            .to_string()
    });
    let fleetgen = FleetGen::new(1).expect("fleet generator");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    // The fleet, stored once.
    rt.block_on(async {
        let store = Store::open(&db).await.expect("database");
        let have = store.n_hosts().await.expect("count");
        let have = usize::try_from(have).unwrap_or(0);
        if have < hosts {
            let t = Instant::now();
            for i in have..hosts {
                store
                    .upsert(&fleetgen.host(i), "2026-12-06T00:00:00Z")
                    .await
                    .expect("upsert");
            }
            println!(
                "stored {} hosts in {:.0} s",
                hosts - have,
                t.elapsed().as_secs_f64()
            );
        }
    });
    let server = Server::start(
        &bin,
        &db,
        TOKEN,
        &std::env::var("GRAPH_CHANGE_SERVER_LOG").unwrap_or_else(|_| "warn".into()),
    );
    println!(
        "{hosts} hosts, server {} (load average {})",
        bin.display(),
        loadavg()
    );
    let (s, n, t) = server.get("/api/v1/pools");
    println!(
        "first GET /api/v1/pools (the fleet loads): {s}, {n} bytes in {:.0} ms",
        ms(t)
    );
    let (s, n, t) = server.get("/api/v1/graph");
    println!("first GET /api/v1/graph: {s}, {n} bytes in {:.0} ms", ms(t));
    let (mut pools_first, mut graphs_first, mut graphs_after) =
        (Vec::new(), Vec::new(), Vec::new());
    // Changes no earlier run made (an equal profile makes no version, hence no change).
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as usize);
    let mut new_class: Option<usize> = None;
    for round in 0..rounds {
        let i = (run + round * 7_919 + 13) % hosts;
        let mut p = fleetgen.host(i);
        let what = if round >= 12 && round % 2 == 0 {
            // A microcode level no host had: one more of the host's features off.
            drop_one(&mut p, run + round);
            new_class = Some(i);
            "a new class"
        } else if round >= 12 {
            // The host of the new class goes back to its rack's profile: the class vanishes.
            if let Some(back) = new_class.take() {
                p = fleetgen.host(back);
            }
            p.labels
                .insert("rack".into(), format!("back-{run}-{round}"));
            "the new class vanishes"
        } else if round % 2 == 0 {
            p.labels
                .insert("rack".into(), format!("moved-{run}-{round}"));
            "a label moved"
        } else {
            // Another host's hardware: the host changes class (maybe to a new one).
            let mut other = fleetgen.host(hosts + (run % 10_000) * 31 + round);
            other.host_id = p.host_id.clone();
            p = other;
            "new hardware"
        };
        let up = upload(&server, &p);
        // Every other pair of rounds asks for the graph first: then it is the graph that waits
        // for the refresh and the update, and the pools are named from it.
        let graph_first = (round / 2) % 2 == 1;
        let ((ps, pn, pt), (gs, gn, gt)) = if graph_first {
            let g = server.get("/api/v1/graph");
            (server.get("/api/v1/pools"), g)
        } else {
            let p = server.get("/api/v1/pools");
            (p, server.get("/api/v1/graph"))
        };
        let (cs, _, ct) = server.get("/api/v1/classes");
        println!(
            "change {round} ({what}, upload {up}, {} first): pools {ps} {pn} B in {:.1} ms, graph {gs} {gn} B in {:.1} ms, classes {cs} in {:.1} ms (load average {})",
            if graph_first { "graph" } else { "pools" },
            ms(pt),
            ms(gt),
            ms(ct),
            loadavg()
        );
        if graph_first {
            graphs_first.push(gt);
        } else {
            pools_first.push(pt);
            graphs_after.push(gt);
        }
    }
    let summary = |v: &mut Vec<Duration>| {
        v.sort_unstable();
        match (v.get(v.len() / 2), v.last()) {
            (Some(m), Some(x)) => format!("median {:.1} ms max {:.1} ms", ms(*m), ms(*x)),
            _ => "no rounds".to_owned(),
        }
    };
    println!(
        "after a change (target <= 100 ms): pools first {}; graph first {}; graph after the pools {}",
        summary(&mut pools_first),
        summary(&mut graphs_first),
        summary(&mut graphs_after)
    );
}
