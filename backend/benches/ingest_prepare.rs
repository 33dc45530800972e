//! The server's CPU per upload before the database: a profile's body parsed
//! (`HostProfile::from_json`) and made ready for the writer (`store::Store::prepare`: class id,
//! the stored JSON, its SHA-256), as `POST /api/v1/hosts` does on the async worker
//! (`backend/src/api/hosts.rs`, `store_upload`). 2,000 hosts of `backend::fleetgen` (the demo's
//! real processors with drift), serialised as the collector sends them.
//!
//! Run: `cargo bench -p backend --bench ingest_prepare` (release); prints the median of 7 runs
//! in microseconds per upload, parse and prepare apart. BENCHMARKS.md, "Ingest: CPU per upload".

use std::time::Instant;

use backend::fleetgen::FleetGen;
use shared::profile::HostProfile;

const N_HOSTS: usize = 2_000;
const RUNS: usize = 7;

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

fn main() -> std::process::ExitCode {
    let fleet = match FleetGen::new(7) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("ingest_prepare: the fleet generator failed: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let bodies: Vec<String> = (0..N_HOSTS)
        .filter_map(|i| serde_json::to_string(&fleet.host(i)).ok())
        .collect();
    let bytes: usize = bodies.iter().map(String::len).sum();
    // `INGEST_PREPARE_BODY=FILE`: the first body written there, to see what an upload holds.
    if let (Ok(path), Some(body)) = (std::env::var("INGEST_PREPARE_BODY"), bodies.first())
        && let Err(e) = std::fs::write(&path, body)
    {
        eprintln!("ingest_prepare: writing {path}: {e}");
    }
    let (mut parse, mut prepare) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        let t = Instant::now();
        let profiles: Vec<HostProfile> = bodies
            .iter()
            .filter_map(|b| HostProfile::from_json(b).ok())
            .collect();
        parse.push(t.elapsed().as_secs_f64() * 1e6 / N_HOSTS as f64);
        let t = Instant::now();
        let ready = profiles
            .into_iter()
            .filter_map(|p| store::Store::prepare(p, "2026-12-06T00:00:00Z").ok())
            .count();
        prepare.push(t.elapsed().as_secs_f64() * 1e6 / N_HOSTS as f64);
        if ready != bodies.len() {
            eprintln!(
                "ingest_prepare: {} of {} profiles prepared",
                ready,
                bodies.len()
            );
            return std::process::ExitCode::FAILURE;
        }
    }
    println!(
        "ingest_prepare: {} profiles, {:.1} KiB each: parse {:.1} us, prepare {:.1} us per upload (median of {RUNS})",
        bodies.len(),
        bytes as f64 / bodies.len() as f64 / 1024.0,
        median(parse),
        median(prepare)
    );
    std::process::ExitCode::SUCCESS
}
