//! Where a decoded profile's memory goes, at 100,000 `backend::fleetgen` hosts (issue 12): each
//! host made, written as JSON and decoded again (as the store gives profiles to the fleet cache),
//! then held as the cache holds it (`Arc<HostProfile>`), with and without
//! `shared::intern::ProfileInterner`.
//!
//! `cargo build --release -p backend --example fleet_memory &&
//!  target/release/examples/fleet_memory [--hosts 100000] [--seed 1]`
//!
//! It runs itself once per mode (`--mode plain`, `--mode interned`), so each mode's resident
//! memory is its own, and prints per profile: the JSON, the resident memory the held profiles
//! added (`VmRSS` of /proc/self/status after minus before; the process's peak `VmHWM` beside it),
//! and the heap by part of the profile, counted by walking the profiles (capacities, each shared
//! list once; "chunks" adds glibc malloc's 8-byte header and 16-byte rounding, 32 bytes at least).

use std::collections::{BTreeMap, HashSet};
use std::mem::size_of;
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Instant;

use backend::fleetgen::FleetGen;
use shared::intern::{ProfileInterner, SharedList};
use shared::profile::{HostProfile, QemuInstall};

struct Args {
    hosts: usize,
    seed: u64,
    mode: Option<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        hosts: 100_000,
        seed: 1,
        mode: None,
    };
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value"))?
            .clone();
        let number = || {
            value
                .parse::<u64>()
                .map_err(|_| format!("{flag} takes a number, not '{value}'"))
        };
        match flag.as_str() {
            "--hosts" => a.hosts = usize::try_from(number()?).map_err(|e| e.to_string())?,
            "--seed" => a.seed = number()?,
            "--mode" if value == "plain" || value == "interned" => a.mode = Some(value),
            "--mode" => return Err(format!("--mode is plain or interned, not '{value}'")),
            other => {
                return Err(format!("unknown argument {other}: use --hosts N, --seed N"));
            }
        }
    }
    Ok(a)
}

/// A `kB` line of /proc/self/status, in bytes.
fn status_bytes(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Heap bytes and allocations by part of a profile.
#[derive(Default)]
struct Heap {
    parts: BTreeMap<&'static str, Part>,
    /// Shared lists already counted (by address).
    seen: HashSet<usize>,
}

#[derive(Default, Clone, Copy)]
struct Part {
    bytes: u64,
    chunks: u64,
    allocations: u64,
}

impl Heap {
    fn alloc(&mut self, part: &'static str, bytes: usize) {
        if bytes == 0 {
            return;
        }
        let bytes = bytes as u64;
        let e = self.parts.entry(part).or_default();
        e.bytes += bytes;
        e.chunks += (bytes + 8).div_ceil(16).max(2) * 16;
        e.allocations += 1;
    }

    fn string(&mut self, part: &'static str, s: &str) {
        self.alloc(part, s.len());
    }

    fn strings<'a>(&mut self, part: &'static str, s: impl IntoIterator<Item = &'a String>) {
        for s in s {
            self.alloc(part, s.capacity());
        }
    }

    fn vec<T>(&mut self, part: &'static str, v: &Vec<T>) {
        self.alloc(part, v.capacity() * size_of::<T>());
    }

    /// A shared list: counted the first time it is seen; whether it was.
    fn shared<T>(&mut self, part: &'static str, a: &SharedList<T>) -> bool {
        if !self
            .seen
            .insert(Arc::as_ptr(a.as_arc()).cast::<()>() as usize)
        {
            return false;
        }
        // The two reference counts, then the elements.
        self.alloc(part, 16 + a.len() * size_of::<T>());
        true
    }

    /// A B-tree map: nodes of 11 entries (std's `B` = 6), a parent pointer and two `u16`s each;
    /// internal nodes' child pointers left out (maps here have a few entries).
    fn btree<K, V>(&mut self, part: &'static str, m: &BTreeMap<K, V>) {
        let nodes = m.len().div_ceil(11);
        for _ in 0..nodes {
            self.alloc(part, 11 * (size_of::<K>() + size_of::<V>()) + 16);
        }
    }

    fn profile(&mut self, p: &HostProfile) {
        // The `Arc<HostProfile>` the cache holds: two counts and the struct.
        self.alloc("profile struct", 16 + size_of::<HostProfile>());
        for s in [&p.host_id, &p.hostname, &p.collected_at] {
            self.string("host id, name, time", s);
        }
        self.string("origin", &p.origin.tool);
        self.string("origin", &p.origin.detail);
        self.btree("labels", &p.labels);
        self.strings("labels", p.labels.keys().chain(p.labels.values()));
        let c = &p.cpu;
        self.string("cpu strings", &c.vendor);
        self.string("cpu strings", &c.brand);
        self.strings("cpu strings", c.microcode.iter());
        self.vec("cpu.raw_cpuid", &c.raw_cpuid);
        self.vec("cpu.raw_msrs", &c.raw_msrs);
        if let Some(k) = &p.kvm {
            self.vec("kvm.supported_cpuid", &k.supported_cpuid);
            self.vec("kvm msr lists", &k.msr_index_list);
            self.vec("kvm msr lists", &k.feature_msrs);
            self.vec("kvm.emulated_cpuid", &k.emulated_cpuid);
            self.btree("kvm.capabilities", &k.capabilities);
            self.strings("kvm.capabilities", k.capabilities.keys());
        }
        self.strings("kernel, libvirt", p.kernel_release.iter());
        self.strings("kernel, libvirt", p.libvirt_version.iter());
        self.vec("gaps", &p.gaps);
        for g in &p.gaps {
            self.string("gaps", &g.what);
            self.string("gaps", &g.reason);
        }
        self.vec("cpu_variants", &p.cpu_variants);
        for v in &p.cpu_variants {
            self.vec("cpu_variants", &v.cpus);
            self.vec("cpu_variants", &v.cpuid);
            self.strings("cpu_variants", v.core_type.iter());
        }
        self.btree("vulnerabilities", &p.vulnerabilities);
        self.strings(
            "vulnerabilities",
            p.vulnerabilities.keys().chain(p.vulnerabilities.values()),
        );
        self.btree("arm_id_registers", &p.arm_id_registers);
        self.strings("arm_id_registers", p.arm_id_registers.keys());
        self.vec("devices", &p.devices.pci);
        self.vec("devices", &p.devices.vfio_variant_drivers);
        self.btree("devices", &p.devices.device_versions);
        self.vec("qemu installs", &p.qemu);
        for q in &p.qemu {
            self.qemu(q);
        }
    }

    fn qemu(&mut self, q: &QemuInstall) {
        for s in [&q.path, &q.sha256, &q.version, &q.package, &q.accel] {
            self.string("qemu installs", s);
        }
        self.btree("qemu installs", &q.cpu_start_checks);
        if self.shared("qemu.machines", &q.machines) {
            for m in q.machines.iter() {
                self.string("qemu.machines", &m.name);
                self.strings("qemu.machines", m.alias.iter());
            }
        }
        if self.shared("qemu.cpu_models", &q.cpu_models) {
            for m in q.cpu_models.iter() {
                self.string("qemu.cpu_models", &m.name);
                self.strings("qemu.cpu_models", m.alias_of.iter());
                self.vec("qemu.cpu_models", &m.unavailable_features);
                self.strings("qemu.cpu_models", m.unavailable_features.iter());
            }
        }
    }
}

/// One mode in this process: print `key value` lines for the parent.
fn run(a: &Args, interned: bool) -> Result<(), String> {
    let g = FleetGen::new(a.seed).map_err(|e| format!("the demo fleet does not load: {e}"))?;
    let before = status_bytes("VmRSS");
    let mut interner = ProfileInterner::new();
    let mut held: Vec<Arc<HostProfile>> = Vec::with_capacity(a.hosts);
    let (mut json_bytes, mut decode_ns) = (0u128, 0u128);
    for i in 0..a.hosts {
        let json = serde_json::to_string(&g.host(i)).map_err(|e| e.to_string())?;
        json_bytes += json.len() as u128;
        let start = Instant::now();
        // As store/src/read.rs `decode` does.
        let mut p: HostProfile =
            serde_json::from_str(&json).map_err(|e| format!("host {i} does not decode: {e}"))?;
        if interned {
            interner.intern(&mut p);
        }
        decode_ns += start.elapsed().as_nanos();
        held.push(Arc::new(p));
    }
    let after = status_bytes("VmRSS");
    let hwm = status_bytes("VmHWM");
    let n = a.hosts.max(1) as u128;
    println!("json_bytes {}", json_bytes / n);
    println!("decode_us {:.1}", decode_ns as f64 / n as f64 / 1000.0);
    println!("rss_bytes {}", u128::from(after.saturating_sub(before)) / n);
    println!("rss_total_mib {}", after / (1 << 20));
    println!("hwm_mib {}", hwm / (1 << 20));
    let mut heap = Heap::default();
    for p in &held {
        heap.profile(p);
    }
    // The `Vec<Arc<HostProfile>>` of the cache: one pointer each.
    heap.alloc("profile struct", held.capacity() * size_of::<usize>());
    for (name, part) in &heap.parts {
        println!(
            "part {}|{}|{}|{:.2}",
            name,
            u128::from(part.bytes) / n,
            u128::from(part.chunks) / n,
            part.allocations as f64 / n as f64
        );
    }
    let s = interner.stats();
    println!(
        "lists {} machine lists, {} CPU model lists",
        s.machine_lists, s.cpu_model_lists
    );
    let classes = shared::graph::group(&held).members.len();
    println!("classes {classes}");
    Ok(())
}

/// A mode's `key value` lines.
fn child(a: &Args, mode: &str) -> Result<Vec<(String, String)>, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let out = Command::new(exe)
        .args([
            "--hosts",
            &a.hosts.to_string(),
            "--seed",
            &a.seed.to_string(),
        ])
        .args(["--mode", mode])
        .output()
        .map_err(|e| format!("cannot run the {mode} mode: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "the {mode} mode failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect())
}

fn report(a: &Args) -> Result<(), String> {
    let modes = [child(a, "plain")?, child(a, "interned")?];
    let get = |m: &[(String, String)], key: &str| {
        m.iter()
            .find(|(k, _)| k == key)
            .map_or_else(String::new, |(_, v)| v.clone())
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{} fleetgen hosts (seed {}), {} classes; load average {}",
        a.hosts,
        a.seed,
        get(&modes[0], "classes"),
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("{:<34} {:>14} {:>14}", "per profile", "plain", "interned");
    for (label, key) in [
        ("JSON (bytes)", "json_bytes"),
        ("decode (+ intern) (us)", "decode_us"),
        ("resident, VmRSS delta (bytes)", "rss_bytes"),
    ] {
        println!(
            "{label:<34} {:>14} {:>14}",
            get(&modes[0], key),
            get(&modes[1], key)
        );
    }
    println!("{:<34} {:>14} {:>14}", "whole process", "plain", "interned");
    for (label, key) in [
        ("VmRSS at the end (MiB)", "rss_total_mib"),
        ("VmHWM (MiB)", "hwm_mib"),
    ] {
        println!(
            "{label:<34} {:>14} {:>14}",
            get(&modes[0], key),
            get(&modes[1], key)
        );
    }
    println!("interned: {}", get(&modes[1], "lists"));
    println!(
        "{:<22} {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7}",
        "heap by part", "bytes", "chunks", "allocs", "bytes", "chunks", "allocs"
    );
    let parts = |m: &[(String, String)]| -> BTreeMap<String, Vec<String>> {
        m.iter()
            .filter(|(k, _)| k == "part")
            .filter_map(|(_, v)| {
                let f: Vec<String> = v.split('|').map(str::to_owned).collect();
                Some((f.first()?.clone(), f.get(1..)?.to_vec()))
            })
            .collect()
    };
    let (plain, interned) = (parts(&modes[0]), parts(&modes[1]));
    let mut totals = [[0f64; 3]; 2];
    let empty = vec![String::new(); 3];
    for (name, p) in &plain {
        let i = interned.get(name).unwrap_or(&empty);
        for (t, row) in totals.iter_mut().zip([p, i]) {
            for (t, v) in t.iter_mut().zip(row) {
                *t += v.parse::<f64>().unwrap_or(0.0);
            }
        }
        println!(
            "{name:<22} {:>9} {:>9} {:>7} | {:>9} {:>9} {:>7}",
            p[0], p[1], p[2], i[0], i[1], i[2]
        );
    }
    println!(
        "{:<22} {:>9} {:>9} {:>7.1} | {:>9} {:>9} {:>7.1}",
        "total", totals[0][0], totals[0][1], totals[0][2], totals[1][0], totals[1][1], totals[1][2]
    );
    Ok(())
}

fn main() -> ExitCode {
    let result = args().and_then(|a| match a.mode.as_deref() {
        Some(mode) => run(&a, mode == "interned"),
        None => report(&a),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fleet_memory: {e}");
            ExitCode::FAILURE
        }
    }
}
