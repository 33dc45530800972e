//! Soak of the real server: `cargo xtask soak [--clients 1000] [--seconds 60]` builds this and the
//! release `fleetcompat`, then runs
//! `target/release/examples/soak --bin target/release/fleetcompat [--clients N] [--seconds S]
//! [--kill-at S] [--down-ms MS] [--think-ms MS] [--mix KIND=WEIGHT,...] [--keep]`.
//!
//! It starts `fleetcompat serve --demo` on 127.0.0.1 with a fresh SQLite database, runs N
//! concurrent clients (one keep-alive connection each, tasks on one tokio runtime) with mixed
//! reads and uploads for S seconds, kills the server with SIGKILL at `--kill-at` (default S/2),
//! restarts it after `--down-ms` on the same database and port, and keeps going. Then it checks
//! that every acknowledged upload is in its host's history, stops the server with SIGTERM and runs
//! SQLite's integrity check. A transport failure while the server is down is retried (as the
//! collector does) and is no error; any transport failure while it is up, any non-2xx status and
//! any wrong answer is. Exit status 1 on any error or lost upload.
//!
//! Loopback only: no request leaves the machine.

mod check;
mod http;
mod load;
mod report;
mod server;

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use load::{Plan, Restart};
use report::{Sampler, loadavg, mib};

struct Args {
    bin: PathBuf,
    clients: usize,
    seconds: u64,
    kill_at: Option<u64>,
    down: Duration,
    think: Duration,
    mix: Option<String>,
    keep: bool,
}

const USAGE: &str = "usage: soak [--bin PATH/fleetcompat] [--clients 1000] [--seconds 60] [--kill-at SECONDS] [--down-ms 1000] [--think-ms 0] [--mix KIND=WEIGHT,...] [--keep]";

fn args() -> Result<Args, String> {
    // Beside this example in target/<profile>/examples/ is target/<profile>/fleetcompat.
    let bin = std::env::current_exe()
        .ok()
        .and_then(|p| Some(p.parent()?.parent()?.join("fleetcompat")))
        .unwrap_or_else(|| PathBuf::from("fleetcompat"));
    let mut a = Args {
        bin,
        clients: 1000,
        seconds: 60,
        kill_at: None,
        down: Duration::from_millis(1000),
        think: Duration::ZERO,
        mix: None,
        keep: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--keep" {
            a.keep = true;
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} takes a whole number, not '{value}'\n{USAGE}"))
        };
        match flag.as_str() {
            "--bin" => a.bin = PathBuf::from(&value),
            "--clients" => a.clients = usize::try_from(number()?.max(1)).unwrap_or(1),
            "--seconds" => a.seconds = number()?.max(2),
            "--kill-at" => a.kill_at = Some(number()?),
            "--down-ms" => a.down = Duration::from_millis(number()?),
            "--think-ms" => a.think = Duration::from_millis(number()?),
            "--mix" => a.mix = Some(value),
            other => return Err(format!("unknown option '{other}'\n{USAGE}")),
        }
    }
    if a.kill_at.is_some_and(|k| k == 0 || k >= a.seconds) {
        return Err(format!(
            "--kill-at must fall inside the run (1 to {} s)",
            a.seconds - 1
        ));
    }
    Ok(a)
}

/// Raise this process's open-files limit, soft to hard, as the server does
/// (`backend::serve::raise_fd_limit`); the clients it leaves room for (`None`: no limit).
fn client_room() -> Option<usize> {
    backend::serve::raise_fd_limit()
        .map(|n| usize::try_from(n.saturating_sub(64)).unwrap_or(usize::MAX))
}

fn free_port() -> Result<SocketAddr, String> {
    let l = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| format!("cannot find a free port on 127.0.0.1: {e}"))?;
    l.local_addr()
        .map_err(|e| format!("cannot read the free port: {e}"))
}

fn token() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("soak-{nanos:x}-{}", std::process::id())
}

fn main() -> ExitCode {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(soak(&a)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            println!("\nsoak FAILED: see the errors above");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}

/// At `kill_at`: SIGKILL, `down` later the same server again; the clients learn both moments.
fn restart(
    plan: &Plan,
    spec: &server::Spec,
    first: server::Server,
    sampler_pid: &AtomicU32,
    start: Instant,
    kill_at: Instant,
    down: Duration,
) -> Result<server::Server, String> {
    std::thread::sleep(kill_at.saturating_duration_since(Instant::now()));
    let before_kill = server::proc_stats(first.pid).unwrap_or_default();
    let killed = Instant::now();
    let _ = plan.restart.killed.set(killed);
    sampler_pid.store(0, Ordering::SeqCst);
    first.kill9()?;
    println!(
        "\nkill -9 at {:.1} s (server VmRSS {}, {} descriptors then; gone {} ms later); restart in {} ms",
        killed.duration_since(start).as_secs_f64(),
        mib(before_kill.rss_kib),
        before_kill.fds,
        killed.elapsed().as_millis(),
        down.as_millis()
    );
    std::thread::sleep(down);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime for the restart: {e}"))?;
    let (second, took) = runtime.block_on(spec.start())?;
    let _ = plan.restart.up.set(Instant::now());
    sampler_pid.store(second.pid, Ordering::SeqCst);
    println!(
        "restarted: answering {:.2} s after the kill ({:.2} s of it the new process starting), pid {}",
        killed.elapsed().as_secs_f64(),
        took.as_secs_f64(),
        second.pid
    );
    Ok(second)
}

/// The whole soak; `Ok(false)` when it ran and found errors or losses.
#[expect(
    clippy::too_many_lines,
    reason = "one sequence of phases, printed as it goes"
)]
async fn soak(a: &Args) -> Result<bool, String> {
    let weights = load::parse_mix(a.mix.as_deref())?;
    let room = client_room();
    let dir = tempfile::Builder::new()
        .prefix("fleetcompat-soak-")
        .tempdir()
        .map_err(|e| format!("cannot create a temporary directory: {e}"))?;
    let spec = server::Spec {
        bin: a.bin.clone(),
        db: dir.path().join("soak.db"),
        addr: free_port()?,
        token: token(),
        log: dir.path().join("server.log"),
    };
    println!(
        "soak: {} clients for {} s against {} on http://{} (SQLite {}), load average {} at start",
        a.clients,
        a.seconds,
        spec.bin.display(),
        spec.addr,
        spec.db.display(),
        loadavg()
    );
    let (first, startup) = spec.start().await?;
    println!(
        "server up in {:.1} s (fresh database, demo fleet loaded), pid {}",
        startup.as_secs_f64(),
        first.pid
    );
    // The server's connection cap (serve.rs: its open-files limit less 128, which it raises to
    // the hard limit at start; or --max-connections) and this process's own descriptors.
    let mut clients = a.clients;
    match server::logged_connection_limit(&spec.log) {
        Some(cap) if cap < clients => {
            println!(
                "NOTE: the server admits {cap} connections at once (its open-files limit less 128); running {cap} clients instead of {clients}"
            );
            clients = cap;
        }
        Some(cap) => println!("the server admits {cap} connections at once"),
        None => println!("NOTE: the server did not log its connection limit"),
    }
    if let Some(room) = room.filter(|&r| r < clients) {
        println!(
            "NOTE: this process's open-files limit leaves room for {room} clients (raise it with ulimit -Hn); running {room} instead of {clients}"
        );
        clients = room;
    }

    let ids = check::demo_hosts(spec.addr).await?;
    let refs = check::references(spec.addr, &ids).await?;
    let templates = backend::demo::demo_profiles(&backend::now_rfc3339())
        .map_err(|e| format!("the demo fleet: {e}"))?
        .into_iter()
        .map(Arc::new)
        .collect();
    let before = server::proc_stats(first.pid).unwrap_or_default();
    println!(
        "{} demo hosts; {} reference verdicts and {} reference prechecks taken; server before the load: VmRSS {}, {} descriptors, {} threads",
        ids.len(),
        refs.compat.len(),
        refs.precheck.len(),
        mib(before.rss_kib),
        before.fds,
        before.threads
    );

    let mix: Vec<String> = load::KINDS
        .iter()
        .zip(&weights)
        .map(|(k, w)| format!("{}={w}", k.short()))
        .collect();
    println!("mix (relative weights): {}", mix.join(","));
    let sampler = Sampler::start(first.pid);
    let start = Instant::now();
    let end = start + Duration::from_secs(a.seconds);
    let kill_at = start + Duration::from_secs(a.kill_at.unwrap_or(a.seconds / 2));
    let plan = Arc::new(Plan {
        addr: spec.addr,
        token: spec.token.clone(),
        end,
        give_up: end + Duration::from_secs(30),
        think: a.think,
        weights,
        refs,
        templates,
        n_demo: ids.len(),
        max_hosts: ids.len() + clients,
        restart: Restart::default(),
        acked_hosts: AtomicUsize::new(0),
    });
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let p = Arc::clone(&plan);
        tasks.spawn(async move { load::client(&p, i).await });
    }

    // The kill in the middle, and the restart on the same database and port, from a thread of
    // its own: the clients' busy runtime would make its timer late.
    let controller = {
        let (plan, spec, pid) = (Arc::clone(&plan), spec.clone(), Arc::clone(&sampler.pid));
        let down = a.down;
        std::thread::spawn(move || restart(&plan, &spec, first, &pid, start, kill_at, down))
    };

    let mut results: Vec<load::ClientResult> = Vec::with_capacity(clients);
    let mut join_errors = 0;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(r) => results.push(r),
            Err(e) => {
                join_errors += 1;
                eprintln!("a client task failed: {e}");
            }
        }
    }
    let ran = start.elapsed();
    let load_end = loadavg();
    let second = match tokio::task::spawn_blocking(move || controller.join()).await {
        Ok(Ok(Ok(server))) => server,
        Ok(Ok(Err(e))) => return Err(e),
        _ => return Err("the thread that kills and restarts the server failed".into()),
    };
    // Let the server settle, then measure it idle.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = server::proc_stats(second.pid).unwrap_or_default();
    let peaks = sampler.finish();

    println!(
        "\n{} clients ran {:.1} s; load average {load_end} at the end\n",
        results.len(),
        ran.as_secs_f64()
    );
    let (_, errors) = report::kinds_table(&results, ran.as_secs_f64());
    let shown: Vec<&String> = results.iter().flat_map(|r| &r.errors).take(20).collect();
    if !shown.is_empty() {
        println!("\nfirst errors:");
        for e in shown {
            println!("  {e}");
        }
    }
    println!(
        "\nserver memory: VmRSS before {}, peak {} (VmHWM of the first process {}, of the restarted one {}), after {}",
        mib(before.rss_kib),
        mib(peaks.server_rss_kib),
        peaks
            .server_hwm_kib
            .first()
            .map_or_else(|| "-".into(), |&k| mib(k)),
        mib(after.hwm_kib),
        mib(after.rss_kib)
    );
    let timeline: Vec<String> = peaks
        .timeline
        .iter()
        .map(|&(at, kib)| format!("{at} s {}", mib(kib)))
        .collect();
    println!("server VmRSS every 5 s: {}", timeline.join(", "));
    println!(
        "server descriptors: before {}, peak {}, after {}; threads: before {}, peak {}, after {}",
        before.fds,
        peaks.server_fds,
        after.fds,
        before.threads,
        peaks.server_threads,
        after.threads
    );
    println!(
        "soak client process: peak VmRSS {}, {} threads, {} descriptors",
        mib(peaks.client.rss_kib),
        peaks.client.threads,
        peaks.client.fds
    );
    let server_cpu: f64 = peaks.server_cpu_s.iter().sum();
    println!(
        "CPU time during the run: server {server_cpu:.1} s (both processes), soak clients {:.1} s, of {:.0} s of {} cores",
        peaks.client.cpu_s,
        ran.as_secs_f64(),
        std::thread::available_parallelism().map_or(0, std::num::NonZero::get)
    );

    let d = check::durability(spec.addr, &results).await;
    println!(
        "\ndurability: {} uploads acknowledged ({} before the kill) for {} hosts; lost {}; other disagreements {}",
        d.acked,
        d.acked_before_kill,
        d.hosts,
        d.lost.len(),
        d.wrong.len()
    );
    for l in d.lost.iter().take(10) {
        println!("  lost: {l}");
    }
    for w in d.wrong.iter().take(10) {
        println!("  wrong: {w}");
    }
    let stopped = second.stop();
    match &stopped {
        Ok(status) => println!("server stopped by SIGTERM: {status}"),
        Err(e) => println!("server stop: {e}"),
    }
    let integrity = match backend::store::Store::open(&spec.db).await {
        Ok(store) => store
            .integrity_check()
            .await
            .unwrap_or_else(|e| format!("cannot run it: {e}")),
        Err(e) => format!("cannot open the database: {e}"),
    };
    println!("PRAGMA integrity_check: {integrity}");

    let ok = errors == 0
        && join_errors == 0
        && d.lost.is_empty()
        && d.wrong.is_empty()
        && integrity == "ok"
        && stopped
            .as_ref()
            .is_ok_and(std::process::ExitStatus::success);
    if ok && !a.keep {
        println!("\nsoak passed: 0 errors, 0 lost");
    } else {
        let kept = dir.keep();
        println!(
            "\nthe database and the server's log are kept in {}",
            kept.display()
        );
        if ok {
            println!("soak passed: 0 errors, 0 lost");
        }
    }
    Ok(ok)
}
