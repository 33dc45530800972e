//! How long the store takes to hand over a fleet (BENCHMARKS.md, "Scale"): every newest profile
//! through `Store::for_each_latest`, then `latest_versions` and `changes_since(0)`, on a database
//! a scale run filled (a SQLite file or a `postgres://` URL).
//!
//! `cargo run --release -p store --example first_load -- DB`

use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Some(db) = std::env::args().nth(1) else {
        return Err("give the database: a SQLite file or a postgres:// URL".into());
    };
    let store = store::Store::open(&db).await?;
    let t = Instant::now();
    let mut hosts = 0usize;
    let mut bytes_hint = 0usize; // uses each profile, so none is dropped unread
    let generation = store
        .for_each_latest(|lv, p| {
            hosts += 1;
            bytes_hint += lv.host_id.len() + p.cpu.vendor.len();
        })
        .await?;
    let load = t.elapsed();
    let t = Instant::now();
    let versions = store.latest_versions().await?;
    let lv = t.elapsed();
    let t = Instant::now();
    let changes = store.changes_since(0).await?;
    let cs = t.elapsed();
    let t = Instant::now();
    let none = store.changes_since(generation).await?;
    let cs_none = t.elapsed();
    let load_avg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{hosts} hosts ({bytes_hint} check) at generation {generation}: for_each_latest {:.2} s; \
         latest_versions {} in {:.0} ms; changes_since(0) {} in {:.0} ms; \
         changes_since(now) {} in {:.1} ms; load average {}",
        load.as_secs_f64(),
        versions.len(),
        lv.as_secs_f64() * 1e3,
        changes.changed.len(),
        cs.as_secs_f64() * 1e3,
        none.changed.len(),
        cs_none.as_secs_f64() * 1e3,
        load_avg.trim()
    );
    Ok(())
}
