//! Counters for `/metrics` (Prometheus text exposition, written by hand).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the ingest latency histogram, seconds.
const BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0];

#[derive(Debug, Default)]
pub struct Metrics {
    ingest_stored: AtomicU64,
    ingest_unchanged: AtomicU64,
    ingest_rejected: AtomicU64,
    ingest_buckets: [AtomicU64; BUCKETS.len()],
    ingest_count: AtomicU64,
    ingest_micros_sum: AtomicU64,
}

/// Outcome of one upload.
#[derive(Debug, Clone, Copy)]
pub enum Ingest {
    Stored,
    Unchanged,
    Rejected,
}

/// Fleet gauges, read at scrape time.
#[derive(Debug, Clone, Copy)]
pub struct Gauges {
    pub hosts: usize,
    pub versions: u64,
    pub classes: usize,
    pub pools: usize,
    /// The bounded caches of derived answers.
    pub caches: crate::cache::CacheReport,
    /// The QEMU lists uploads repeat (`shared::intern::memo`).
    pub upload_lists: shared::intern::memo::MemoStats,
}

/// The resident set of this process in bytes: the `VmRSS:` line of `/proc/self/status`, in kB
/// (Linux `fs/proc/task_mmu.c`, `task_mem`); `None` where there is no procfs.
fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    let kb: u64 = line.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kb * 1024)
}

impl Metrics {
    pub fn ingest(&self, outcome: Ingest, took: Duration) {
        match outcome {
            Ingest::Stored => &self.ingest_stored,
            Ingest::Unchanged => &self.ingest_unchanged,
            Ingest::Rejected => &self.ingest_rejected,
        }
        .fetch_add(1, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        for (b, le) in self.ingest_buckets.iter().zip(BUCKETS) {
            if secs <= le {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.ingest_count.fetch_add(1, Ordering::Relaxed);
        self.ingest_micros_sum.fetch_add(
            u64::try_from(took.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    /// The text exposition format, version 0.0.4.
    pub fn render(&self, g: Gauges) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        let n = |x: usize| u64::try_from(x).unwrap_or(u64::MAX);
        gauge(&mut out, "fleetcompat_hosts", "Hosts stored.", n(g.hosts));
        gauge(
            &mut out,
            "fleetcompat_profile_versions",
            "Profile versions stored.",
            g.versions,
        );
        gauge(
            &mut out,
            "fleetcompat_classes",
            "Host classes (host-passthrough guests).",
            n(g.classes),
        );
        gauge(
            &mut out,
            "fleetcompat_pools",
            "Migration pools (host-passthrough guests).",
            n(g.pools),
        );
        if let Some(rss) = resident_bytes() {
            gauge(
                &mut out,
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
                rss,
            );
        }
        let lists = g.upload_lists;
        let _ = writeln!(
            out,
            "# HELP fleetcompat_upload_list_hits_total QEMU machine and CPU model lists of uploads found decoded already.\n# TYPE fleetcompat_upload_list_hits_total counter\nfleetcompat_upload_list_hits_total {}",
            lists.hits
        );
        let _ = writeln!(
            out,
            "# HELP fleetcompat_upload_list_misses_total QEMU machine and CPU model lists of uploads decoded (and kept for the next).\n# TYPE fleetcompat_upload_list_misses_total counter\nfleetcompat_upload_list_misses_total {}",
            lists.misses
        );
        gauge(
            &mut out,
            "fleetcompat_upload_lists",
            &format!(
                "QEMU lists of uploads kept decoded now (at most {} of each kind).",
                shared::intern::memo::MAX_LISTS
            ),
            n(lists.held),
        );
        let _ = writeln!(
            out,
            "# HELP fleetcompat_fleet_refreshes_total Fleet cache refreshes started (each runs to its end in a task of its own, whatever becomes of the request that started it).\n# TYPE fleetcompat_fleet_refreshes_total counter\nfleetcompat_fleet_refreshes_total {}",
            g.caches.refreshes
        );
        let caches = [("graphs", g.caches.graphs), ("derived", g.caches.derived)];
        for (name, help, value) in [
            (
                "fleetcompat_cache_hits_total",
                "Answers found in a bounded cache.",
                (|s: &crate::lru::CacheStats| s.hits) as fn(&crate::lru::CacheStats) -> u64,
            ),
            (
                "fleetcompat_cache_misses_total",
                "Answers computed because a bounded cache lacked them.",
                |s| s.misses,
            ),
            (
                "fleetcompat_cache_evictions_total",
                "Answers dropped to keep a cache within its bounds (limits.rs).",
                |s| s.evictions,
            ),
            (
                "fleetcompat_cache_entries",
                "Answers held in a bounded cache now.",
                |s| s.entries,
            ),
            (
                "fleetcompat_cache_bytes",
                "Estimated bytes held in a bounded cache now.",
                |s| s.bytes,
            ),
        ] {
            let kind = if name.ends_with("_total") {
                "counter"
            } else {
                "gauge"
            };
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (cache, stats) in &caches {
                let _ = writeln!(out, "{name}{{cache=\"{cache}\"}} {}", value(stats));
            }
        }
        let _ = writeln!(
            out,
            "# HELP fleetcompat_ingest_total Profile uploads by result.\n# TYPE fleetcompat_ingest_total counter"
        );
        for (label, c) in [
            ("stored", &self.ingest_stored),
            ("unchanged", &self.ingest_unchanged),
            ("rejected", &self.ingest_rejected),
        ] {
            let _ = writeln!(
                out,
                "fleetcompat_ingest_total{{result=\"{label}\"}} {}",
                c.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP fleetcompat_ingest_seconds Time to validate and store one upload.\n# TYPE fleetcompat_ingest_seconds histogram"
        );
        for (b, le) in self.ingest_buckets.iter().zip(BUCKETS) {
            let _ = writeln!(
                out,
                "fleetcompat_ingest_seconds_bucket{{le=\"{le}\"}} {}",
                b.load(Ordering::Relaxed)
            );
        }
        let count = self.ingest_count.load(Ordering::Relaxed);
        #[expect(clippy::cast_precision_loss, reason = "a metric")]
        let sum = self.ingest_micros_sum.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(
            out,
            "fleetcompat_ingest_seconds_bucket{{le=\"+Inf\"}} {count}\nfleetcompat_ingest_seconds_sum {sum}\nfleetcompat_ingest_seconds_count {count}"
        );
        out
    }
}
