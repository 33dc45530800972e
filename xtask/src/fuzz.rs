//! `cargo xtask fuzz [TARGET] [--seconds N] [--jobs J] [--merge]`: the fuzz targets of the
//! `fuzz` crate under libFuzzer, on the stable toolchain.
//!
//! Why libFuzzer and how on stable: libfuzzer-sys builds LLVM's libFuzzer from its bundled C++
//! source with the system C++ compiler (nothing is downloaded at run time), and rustc's stable
//! codegen flags `-C passes=sancov-module` and `-C llvm-args=-sanitizer-coverage-*` give it
//! the coverage and comparison feedback cargo-fuzz uses. Only the sanitizers
//! (`-Z sanitizer=address`) need nightly, and the parsers are safe Rust. The instrumented build
//! goes to its own target folder (`$CARGO_TARGET_DIR/fuzz`) and is built for the host triple
//! explicitly, so build scripts and proc macros are not instrumented and the ordinary build is
//! left alone.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Instant;

use crate::{Result, cargo, done, ensure_apt, root, run, step, target_dir};

/// The coverage feedback cargo-fuzz gives libFuzzer (rust-fuzz/cargo-fuzz src/project.rs
/// `cargo`), without its nightly-only sanitizer flag.
const RUSTFLAGS: &[&str] = &[
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg",
    "fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
];

/// One input taking longer than this is reported (as a `timeout-*` file): the server gives a
/// whole request 20 s (backend/src/limits.rs).
const INPUT_TIMEOUT_S: u64 = 10;
/// Memory of one fuzzing process, MB.
const RSS_LIMIT_MB: u64 = 2048;

struct Options {
    targets: Vec<String>,
    seconds: u64,
    jobs: usize,
    merge: bool,
    allow_install: bool,
}

fn parse_args(args: &[String], names: &[String]) -> Result<Options> {
    let mut o = Options {
        targets: Vec::new(),
        seconds: 60,
        jobs: 1,
        merge: false,
        allow_install: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |what: &str| -> Result<u64> {
            it.next()
                .and_then(|v| v.parse().ok())
                .filter(|&n| n > 0)
                .ok_or_else(|| format!("{what} needs a positive whole number"))
        };
        match a.as_str() {
            "--seconds" => o.seconds = number("--seconds")?,
            "--jobs" => {
                o.jobs = usize::try_from(number("--jobs")?).map_err(|e| format!("--jobs: {e}"))?;
            }
            "--merge" => o.merge = true,
            "--no-install" => o.allow_install = false,
            t if names.iter().any(|n| n == t) => o.targets.push(t.to_owned()),
            other => {
                return Err(format!(
                    "unknown fuzz target or option '{other}': targets are {}",
                    names.join(", ")
                ));
            }
        }
    }
    if o.targets.is_empty() {
        o.targets = names.to_vec();
    }
    Ok(o)
}

/// The target names, from the fuzz crate's own list (`fuzz/src/lib.rs`, `TARGETS`): each has a
/// seed folder `fuzz/corpus/<name>`, which tests/regression.rs holds to that list.
fn target_names() -> Result<Vec<String>> {
    let dir = root().join("fuzz/corpus");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

fn host_triple() -> Result<String> {
    let out = Command::new(std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into()))
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| "rustc -vV names no host triple".to_owned())
}

fn build(fuzz_dir: &Path, triple: &str) -> Result<PathBuf> {
    let t = step("building the fuzz targets (libFuzzer, coverage-instrumented, release)");
    let mut flags = std::env::var("RUSTFLAGS").unwrap_or_default();
    for f in RUSTFLAGS {
        flags.push(' ');
        flags.push_str(f);
    }
    run(cargo()
        .args([
            "build",
            "--release",
            "-p",
            "fuzz",
            "--features",
            "libfuzzer",
        ])
        .args(["--bin", "fleetcompat-fuzz", "--target", triple])
        .env("CARGO_TARGET_DIR", fuzz_dir)
        .env("RUSTFLAGS", flags.trim()))?;
    done(t);
    Ok(fuzz_dir.join(triple).join("release/fleetcompat-fuzz"))
}

/// What libFuzzer said at the end of a run (`-print_final_stats=1` and its last status line).
#[derive(Default)]
struct Stats {
    execs: u64,
    execs_per_s: u64,
    cov: u64,
    features: u64,
    corpus: u64,
    peak_rss_mb: u64,
}

fn stats(log: &str) -> Stats {
    let mut s = Stats::default();
    let stat = |name: &str| {
        log.lines()
            .rev()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    s.execs = stat("stat::number_of_executed_units:");
    s.execs_per_s = stat("stat::average_exec_per_sec:");
    s.peak_rss_mb = stat("stat::peak_rss_mb:");
    // "#123456 DONE cov: 4321 ft: 9876 corp: 321/1234Kb ..." (or the last "pulse"/"NEW" line).
    if let Some(line) = log.lines().rev().find(|l| l.contains(" cov: ")) {
        let after = |key: &str| {
            line.split_whitespace()
                .skip_while(|w| *w != key)
                .nth(1)
                .and_then(|v| v.split('/').next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        s.cov = after("cov:");
        s.features = after("ft:");
        s.corpus = after("corp:");
    }
    s
}

fn count_files(dir: &Path) -> usize {
    std::fs::read_dir(dir).map_or(0, |d| d.filter_map(|e| e.ok()).count())
}

/// Runs one target; returns the summary line, or an error naming the crash files.
fn fuzz_one(bin: &Path, fuzz_dir: &Path, name: &str, o: &Options) -> Result<String> {
    let seeds = root().join("fuzz/corpus").join(name);
    let crashes = root().join("fuzz/crashes").join(name);
    let work = fuzz_dir.join("corpus").join(name);
    let logs = fuzz_dir.join("logs");
    for d in [&crashes, &work, &logs] {
        std::fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    let before = count_files(&crashes);
    let log_path = logs.join(format!("{name}.log"));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("cannot create {}: {e}", log_path.display()))?;
    let started = Instant::now();
    let status = Command::new(bin)
        .env("FLEETCOMPAT_FUZZ_TARGET", name)
        .arg(&work)
        .arg(&seeds)
        .arg(format!("-max_total_time={}", o.seconds))
        .arg(format!("-timeout={INPUT_TIMEOUT_S}"))
        .arg(format!("-rss_limit_mb={RSS_LIMIT_MB}"))
        .arg(format!("-artifact_prefix={}/", crashes.display()))
        .arg("-print_final_stats=1")
        .stdout(Stdio::null())
        .stderr(log)
        .status()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let secs = started.elapsed().as_secs();
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let s = stats(&text);
    let found = count_files(&crashes).saturating_sub(before);
    let line = format!(
        "{name:<13} {secs:>6} s {:>11} execs {:>7}/s  cov {:>5}  ft {:>6}  corpus {:>5}  rss {:>5} MB  crashes {found}",
        s.execs, s.execs_per_s, s.cov, s.features, s.corpus, s.peak_rss_mb
    );
    if !status.success() || found > 0 {
        return Err(format!(
            "{line}\n  {name} failed ({status}): inputs in {}, log {}",
            crashes.display(),
            log_path.display()
        ));
    }
    if o.merge {
        // Add to the committed seeds the fewest inputs that reach code they do not (edges
        // only: without hit counts and comparison values, so the corpus stays small enough
        // for the regression test to replay in a debug build).
        run(Command::new(bin)
            .env("FLEETCOMPAT_FUZZ_TARGET", name)
            .args(["-set_cover_merge=1", "-use_counters=0", "-use_cmp=0"])
            .arg("-use_value_profile=0")
            .arg(&seeds)
            .arg(&work)
            .stdout(Stdio::null())
            .stderr(Stdio::null()))?;
    }
    Ok(line)
}

pub fn cmd_fuzz(args: &[String]) -> Result<()> {
    let names = target_names()?;
    let o = parse_args(args, &names)?;
    // libfuzzer-sys compiles libFuzzer (C++).
    ensure_apt(&[("c++", "g++")], o.allow_install)?;
    let fuzz_dir = target_dir().join("fuzz");
    let bin = build(&fuzz_dir, &host_triple()?)?;
    let t = step(&format!(
        "fuzzing {} target(s), {} s each, {} at a time (logs in {})",
        o.targets.len(),
        o.seconds,
        o.jobs,
        fuzz_dir.join("logs").display()
    ));
    let queue = Mutex::new(o.targets.iter());
    let results = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..o.jobs.max(1) {
            s.spawn(|| {
                loop {
                    let next = queue.lock().ok().and_then(|mut q| q.next().cloned());
                    let Some(name) = next else { break };
                    let r = fuzz_one(&bin, &fuzz_dir, &name, &o);
                    match &r {
                        Ok(line) | Err(line) => eprintln!("    {line}"),
                    }
                    if let Ok(mut all) = results.lock() {
                        all.push(r);
                    }
                }
            });
        }
    });
    done(t);
    let failed: Vec<String> = results
        .into_inner()
        .map_err(|_| "a fuzzing thread panicked".to_owned())?
        .into_iter()
        .filter_map(|r| r.err())
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzzing found crashes: fix them, keep the inputs in fuzz/crashes/ (cargo test -p fuzz replays them)\n{}",
            failed.join("\n")
        ))
    }
}
