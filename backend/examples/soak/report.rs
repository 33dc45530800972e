//! The soak's figures: per request kind, the restart, memory and descriptors, durability.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::load::{ClientResult, KINDS, KindStats};
use crate::server::{ProcStats, proc_stats};

/// `p` (0..=1) of sorted latencies in µs, as milliseconds.
fn percentile_ms(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss,
        reason = "an index into a sorted list"
    )]
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i.min(sorted.len() - 1)]) / 1000.0
}

/// Sum the clients' figures per kind; print the table; the totals (answered, errors).
pub fn kinds_table(results: &[ClientResult], seconds: f64) -> (u64, u64) {
    let mut merged: Vec<KindStats> = KINDS.iter().map(|_| KindStats::default()).collect();
    for r in results {
        for (m, k) in merged.iter_mut().zip(&r.kinds) {
            m.ok += k.ok;
            m.errors += k.errors;
            m.retries += k.retries;
            m.waited += k.waited;
            m.max_wait = m.max_wait.max(k.max_wait);
            m.latency_us.extend_from_slice(&k.latency_us);
        }
    }
    println!(
        "| request | answered | errors | per s | p50 ms | p99 ms | max ms | answered after retrying across the restart (longest wait) |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut all = Vec::new();
    let (mut ok, mut errors, mut waited) = (0, 0, 0);
    for (kind, m) in KINDS.iter().zip(&mut merged) {
        m.latency_us.sort_unstable();
        #[expect(clippy::cast_precision_loss, reason = "a rate")]
        let rate = m.ok as f64 / seconds;
        println!(
            "| {} | {} | {} | {rate:.0} | {:.1} | {:.1} | {:.0} | {} ({:.1} s) |",
            kind.name(),
            m.ok,
            m.errors,
            percentile_ms(&m.latency_us, 0.5),
            percentile_ms(&m.latency_us, 0.99),
            percentile_ms(&m.latency_us, 1.0),
            m.waited,
            m.max_wait.as_secs_f64()
        );
        ok += m.ok;
        errors += m.errors;
        waited += m.waited;
        all.extend_from_slice(&m.latency_us);
    }
    all.sort_unstable();
    #[expect(clippy::cast_precision_loss, reason = "a rate")]
    let rate = ok as f64 / seconds;
    println!(
        "| **all** | {ok} | {errors} | {rate:.0} | {:.1} | {:.1} | {:.0} | {waited} |",
        percentile_ms(&all, 0.5),
        percentile_ms(&all, 0.99),
        percentile_ms(&all, 1.0),
    );
    let retries: u64 = merged.iter().map(|m| m.retries).sum();
    println!(
        "attempts that failed while the server was down and were retried: {retries} (not errors)"
    );
    (ok, errors)
}

/// Peaks of the server processes and of the soak's own process, sampled every 100 ms.
#[derive(Debug, Default)]
pub struct Peaks {
    /// VmHWM of each server process, at its last sample.
    pub server_hwm_kib: Vec<u64>,
    /// CPU seconds of each server process, at its last sample.
    pub server_cpu_s: Vec<f64>,
    pub server_rss_kib: u64,
    pub server_fds: u64,
    pub server_threads: u64,
    /// The server's VmRSS every 5 s: (seconds since the start, KiB); none while it is down.
    pub timeline: Vec<(u64, u64)>,
    pub client: ProcStats,
}

/// A thread sampling /proc for the server whose pid is in `pid` (0: none running).
pub struct Sampler {
    pub pid: Arc<AtomicU32>,
    pub peaks: Arc<Mutex<Peaks>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn start(pid: u32) -> Self {
        let (pid, peaks, stop) = (
            Arc::new(AtomicU32::new(pid)),
            Arc::new(Mutex::new(Peaks::default())),
            Arc::new(AtomicBool::new(false)),
        );
        let thread = {
            let (pid, peaks, stop) = (Arc::clone(&pid), Arc::clone(&peaks), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut last_pid = 0;
                let started = std::time::Instant::now();
                let mut next_mark = 0;
                while !stop.load(Ordering::SeqCst) {
                    let now = pid.load(Ordering::SeqCst);
                    let server = (now != 0).then(|| proc_stats(now)).flatten();
                    let client = proc_stats(std::process::id());
                    let mut p = peaks.lock().unwrap_or_else(PoisonError::into_inner);
                    if let Some(s) = server {
                        if now != last_pid {
                            p.server_hwm_kib.push(0);
                            p.server_cpu_s.push(0.0);
                            last_pid = now;
                        }
                        if let Some(h) = p.server_hwm_kib.last_mut() {
                            *h = (*h).max(s.hwm_kib);
                        }
                        if let Some(c) = p.server_cpu_s.last_mut() {
                            *c = s.cpu_s;
                        }
                        p.server_rss_kib = p.server_rss_kib.max(s.rss_kib);
                        let at = started.elapsed().as_secs();
                        if at >= next_mark {
                            p.timeline.push((at, s.rss_kib));
                            next_mark = at - at % 5 + 5;
                        }
                        p.server_fds = p.server_fds.max(s.fds);
                        p.server_threads = p.server_threads.max(s.threads);
                    }
                    if let Some(c) = client {
                        p.client.rss_kib = p.client.rss_kib.max(c.rss_kib);
                        p.client.hwm_kib = p.client.hwm_kib.max(c.hwm_kib);
                        p.client.fds = p.client.fds.max(c.fds);
                        p.client.threads = p.client.threads.max(c.threads);
                        p.client.cpu_s = c.cpu_s;
                    }
                    drop(p);
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        Self {
            pid,
            peaks,
            stop,
            thread: Some(thread),
        }
    }

    pub fn finish(mut self) -> Peaks {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        std::mem::take(&mut *self.peaks.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

pub fn mib(kib: u64) -> String {
    #[expect(clippy::cast_precision_loss, reason = "a size")]
    let m = kib as f64 / 1024.0;
    format!("{m:.0} MiB")
}

/// The load average of the machine (the soak shares it).
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| {
            let f: Vec<&str> = s.split_whitespace().take(3).collect();
            (f.len() == 3).then(|| f.join(" "))
        })
        .unwrap_or_else(|| "unknown".into())
}
