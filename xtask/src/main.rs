//! Build orchestration for fleetcompat, reached as `cargo xtask`:
//!
//! - `cargo xtask run`: install what is missing, build frontend and backend, probe this machine,
//!   and serve the UI and API on a demo fleet in an embedded SQLite database.
//! - `cargo xtask test`: install what the tests need and run every test.
//! - `cargo xtask build-frontend`: only the WASM UI, into assets/web/pkg.
//! - `cargo xtask soak`: 1,000 clients against the release server with a kill -9 (soak.rs).
//! - `cargo xtask fuzz`: the fuzz targets of `fuzz/` under libFuzzer (`fuzz.rs`).
//!
//! Honours CARGO_TARGET_DIR and CARGO. wasm-bindgen runs as a library pinned to the exact version
//! the frontend uses, so generator and crate cannot drift.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

mod fuzz;
mod soak;

const USAGE: &str = "\
usage: cargo xtask <command> [options]

commands:
  run              build everything, probe this host, serve UI + API on http://127.0.0.1:8080
      --listen ADDR    address to serve on (env FLEETCOMPAT_LISTEN; default 127.0.0.1:8080)
      --db PATH|URL    SQLite database file or postgres:// URL (env FLEETCOMPAT_DB;
                       default data/fleetcompat.db)
      --release        build optimised binaries (slower build, faster server)
      --no-demo        do not load the demo fleet into an empty database
      --no-probe       do not add this machine's own profile
  test             install test tools (apt: chromium, chromium-driver, qemu-system-x86, cpuid,
                   gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, libvirt-daemon-system,
                   libvirt-daemon-driver-qemu, libvirt-clients, postgresql, make (the server's
                   allocator, jemalloc, builds with it); rustup: rustfmt, clippy;
                   QEMU 7.2 and 10.0 unpacked side by side by tests/qemu-setup.sh), build the UI,
                   and run every test: fmt, clippy, unit, integration, wasm32, browser, real
                   migrations
      --no-install     never call apt-get; fail if a tool is missing
  build-frontend   build the WASM UI into assets/web/pkg
  bench            the benchmarks of BENCHMARKS.md: engine (criterion), baseline against virsh
                   (apt: libvirt-clients), backend load on loopback (10,000 hosts), and the
                   scale run: 100,000 generated hosts through the release `fleetcompat serve`
                   on SQLite and on PostgreSQL side by side (apt: postgresql; a throwaway
                   cluster, or the empty database FLEETCOMPAT_BENCH_POSTGRES names), ending
                   with a table for BENCHMARKS.md
      --scale          the scale run only
      --ui             only the dashboard at 100,000 hosts: every page with the fleet in it
                       (fleet, graph, pair, precheck, baseline, what-if, clusters) timed in
                       headless Chromium (apt: chromium, chromium-driver) against the release
                       server on a kept SQLite file of fleetgen hosts (filled on the first run)
  soak             release server on 127.0.0.1 with the demo fleet: concurrent clients with mixed
                   reads and uploads, kill -9 and restart in the middle, every acknowledged
                   upload checked after; exits non-zero on any error or loss
      --clients N      concurrent clients (default 1000)
      --seconds S      duration (default 60; the kill at S/2, --kill-at S to move it)
      --mix K=W,...    request mix (health, hosts, compat, graph, pools, precheck, fleet, upload)
  fuzz [TARGET...] every parser, N seconds per target, crashes kept in fuzz/crashes/TARGET:
                   libFuzzer (libfuzzer-sys, apt: g++) with rustc's stable coverage flags
                   (coverage-guided, no nightly, no download at run time; no sanitizers, which
                   need nightly); why and the figures in BENCHMARKS.md, Fuzzing
      --seconds N      seconds per target (default 60)
      --jobs J         targets fuzzed at once (default 1)
      --merge          add inputs that reach new coverage to fuzz/corpus/TARGET
      --no-install     never call apt-get
";

type Result<T> = std::result::Result<T, String>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}

fn cargo() -> Command {
    let mut c = Command::new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")));
    c.current_dir(root());
    c
}

fn step(what: &str) -> Instant {
    eprintln!("\n==> {what}");
    Instant::now()
}

fn done(started: Instant) {
    eprintln!("    done in {:.1} s", started.elapsed().as_secs_f64());
}

/// Run a command; a failure names the command.
fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    let status = cmd
        .status()
        .map_err(|e| format!("cannot start {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed ({status})"))
    }
}

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Whether a package is there: a tool on PATH, or (an absolute path) a file it installs.
fn present(what: &str) -> bool {
    if what.starts_with('/') {
        Path::new(what).exists()
    } else {
        have(what)
    }
}

/// Install the Debian packages that are missing: (tool on PATH or file it installs, package).
fn ensure_apt(tools: &[(&str, &str)], allow_install: bool) -> Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(what, _)| !present(what))
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !allow_install {
        return Err(format!(
            "missing tools: install the Debian packages: {list}"
        ));
    }
    let t = step(&format!("installing Debian packages: {list}"));
    let sudo: &[&str] = if is_root() { &[] } else { &["sudo"] };
    let apt = |args: &[&str]| {
        let mut c = Command::new(sudo.first().copied().unwrap_or("apt-get"));
        if !sudo.is_empty() {
            c.arg("apt-get");
        }
        // Wait for another apt (unattended upgrades, a parallel install) instead of failing.
        c.args(["-o", "DPkg::Lock::Timeout=300"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    let mut install_args = vec!["install", "-y", "--no-install-recommends"];
    install_args.extend(missing.iter().copied());
    // The image's apt cleanup can make the first attempt fail: update and retry once.
    let first = run(&mut apt(&["update", "-q"])).and_then(|()| run(&mut apt(&install_args)));
    if first.is_err() {
        run(&mut apt(&["update", "-q"]))?;
        run(&mut apt(&install_args)).map_err(|e| {
            format!("{e}: install {list} yourself, or run `cargo xtask test --no-install`")
        })?;
    }
    done(t);
    Ok(())
}

/// The server's allocator, jemalloc (the backend's default feature `jemalloc`), is built by its
/// own `configure` and `make`. The commands that install tools (`test`, `bench`) install `make`;
/// the others build the server without the feature when it is missing, and say so.
const MAKE: (&str, &str) = ("make", "make");

/// `cargo build` arguments that select the server's allocator: none (jemalloc) when `make` is
/// there, else `--no-default-features` (glibc's malloc), with a note.
fn server_features() -> &'static [&'static str] {
    if have("make") {
        return &[];
    }
    eprintln!(
        "note: `make` is not installed, so the server is built with glibc's malloc instead of \
         jemalloc (10-30% more CPU per upload, BENCHMARKS.md); `apt-get install make` and \
         build again for jemalloc"
    );
    &["--no-default-features"]
}

/// Build the release `fleetcompat` server, and `example` of the backend beside it.
fn build_release_server(example: Option<&str>) -> Result<()> {
    let mut build = cargo();
    build.args([
        "build",
        "--release",
        "-p",
        "backend",
        "--bin",
        "fleetcompat",
    ]);
    if let Some(example) = example {
        build.args(["--example", example]);
    }
    run(build.args(server_features()))
}

fn ensure_target(triple: &str) -> Result<()> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map_err(|e| format!("cannot run rustup ({e}): install rustup, or add the {triple} target to your toolchain"))?;
    if String::from_utf8_lossy(&out.stdout).contains(triple) {
        return Ok(());
    }
    let t = step(&format!("adding the {triple} target (rustup)"));
    run(Command::new("rustup").args(["target", "add", triple]))?;
    done(t);
    Ok(())
}

/// A rustup component (`rustfmt`, `clippy`): rustup's minimal profile leaves them out.
fn ensure_component(name: &str) -> Result<()> {
    let out = Command::new("rustup")
        .args(["component", "list", "--installed"])
        .output()
        .map_err(|e| {
            format!("cannot run rustup ({e}): install rustup, or add {name} to your toolchain")
        })?;
    if String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.starts_with(&format!("{name}-")) || l == name)
    {
        return Ok(());
    }
    let t = step(&format!("adding the {name} component (rustup)"));
    run(Command::new("rustup").args(["component", "add", name]))?;
    done(t);
    Ok(())
}

fn ensure_wasm_target() -> Result<()> {
    ensure_target("wasm32-unknown-unknown")
}

/// Issue 6's budget for the UI's WASM: `frontend_bg.wasm` compressed with `gzip -9`, in bytes.
/// `cargo xtask test` fails above it (BENCHMARKS.md, "WASM size", has the history).
const WASM_GZIP_BUDGET: usize = 400_000;

/// The size of `path` compressed with Debian's `gzip -9` (how BENCHMARKS.md measures it).
fn gzip_size(path: &Path) -> Result<usize> {
    let out = Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()
        .map_err(|e| {
            format!(
                "cannot run gzip on {}: {e} (apt-get install gzip)",
                path.display()
            )
        })?;
    if !out.status.success() {
        return Err(format!("gzip -9 {} failed: {}", path.display(), out.status));
    }
    Ok(out.stdout.len())
}

/// Fail when the built UI's WASM is over [`WASM_GZIP_BUDGET`].
fn check_wasm_budget() -> Result<()> {
    let wasm = root().join("assets/web/pkg/frontend_bg.wasm");
    let gz = gzip_size(&wasm)?;
    if gz > WASM_GZIP_BUDGET {
        return Err(format!(
            "{} is {gz} bytes with gzip -9, over the budget of {WASM_GZIP_BUDGET} (issue 6) by {}: \
             find what grew with `twiggy top` on target/wasm32-unknown-unknown/wasm-release/frontend.wasm \
             and cut it before adding to the UI",
            wasm.display(),
            gz - WASM_GZIP_BUDGET
        ));
    }
    eprintln!(
        "    the UI's WASM is {gz} bytes with gzip -9: within the budget of {WASM_GZIP_BUDGET} ({} to spare)",
        WASM_GZIP_BUDGET - gz
    );
    Ok(())
}

fn build_frontend() -> Result<()> {
    ensure_wasm_target()?;
    let t = step("building the web UI (frontend, wasm32, profile wasm-release)");
    run(cargo().args([
        "build",
        "-p",
        "frontend",
        "--target",
        "wasm32-unknown-unknown",
        "--profile",
        "wasm-release",
    ]))?;
    let wasm = target_dir().join("wasm32-unknown-unknown/wasm-release/frontend.wasm");
    let out_dir = root().join("assets/web/pkg");
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)
        .map_err(|e| format!("wasm-bindgen: {e}"))?
        .omit_default_module_path(false)
        .typescript(false)
        // The name section alone was 1.2 MB of the UI; stripping it in rustc instead hides the
        // target features wasm-bindgen needs.
        .remove_name_section(true)
        .remove_producers_section(true)
        .generate(&out_dir)
        .map_err(|e| format!("wasm-bindgen on {}: {e}", wasm.display()))?;
    let built = out_dir.join("frontend_bg.wasm");
    let size = std::fs::metadata(&built).map_or(0, |m| m.len());
    let gz = gzip_size(&built).map_or_else(|e| e, |n| format!("{n} bytes"));
    eprintln!(
        "    wrote {} ({size} bytes wasm, {gz} with gzip -9; budget {WASM_GZIP_BUDGET})",
        out_dir.display()
    );
    done(t);
    Ok(())
}

struct RunArgs {
    listen: String,
    db: PathBuf,
    release: bool,
    demo: bool,
    probe: bool,
}

fn parse_run(args: &[String]) -> Result<RunArgs> {
    let mut r = RunArgs {
        listen: env::var("FLEETCOMPAT_LISTEN").unwrap_or_else(|_| "127.0.0.1:8080".into()),
        db: env::var_os("FLEETCOMPAT_DB")
            .map_or_else(|| root().join("data/fleetcompat.db"), PathBuf::from),
        release: false,
        demo: true,
        probe: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--listen" => {
                r.listen = it
                    .next()
                    .ok_or("--listen needs an address, e.g. 127.0.0.1:8080")?
                    .clone();
            }
            "--db" => {
                r.db = PathBuf::from(
                    it.next()
                        .ok_or("--db needs a file path or a postgres:// URL")?,
                )
            }
            "--release" => r.release = true,
            "--no-demo" => r.demo = false,
            "--no-probe" => r.probe = false,
            other => return Err(format!("unknown option '{other}' for run\n\n{USAGE}")),
        }
    }
    Ok(r)
}

fn cmd_run(args: &[String]) -> Result<()> {
    let r = parse_run(args)?;
    build_frontend()?;
    let t = step("building the backend and the collector");
    let profile: &[&str] = if r.release { &["--release"] } else { &[] };
    // Apart: `--no-default-features` (no `make`, no jemalloc) would also drop the collector's.
    run(cargo()
        .args(["build", "-p", "backend"])
        .args(server_features())
        .args(profile))?;
    run(cargo().args(["build", "-p", "collector"]).args(profile))?;
    done(t);
    let bin = target_dir().join(if r.release { "release" } else { "debug" });
    let is_url = r.db.to_str().is_some_and(|d| d.contains("://"));
    if let Some(dir) =
        r.db.parent()
            .filter(|d| !is_url && !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut serve = Command::new(bin.join("fleetcompat"));
    serve
        .arg("serve")
        .arg("--db")
        .arg(&r.db)
        .arg("--listen")
        .arg(&r.listen);
    if r.demo {
        serve.arg("--demo");
    }
    if r.probe {
        let t = step("probing this machine (fleetcompat-collector probe)");
        let profile = r.db.with_file_name("this-host.json");
        match run(Command::new(bin.join("fleetcompat-collector"))
            .args(["probe", "--label", "cluster=local", "--out"])
            .arg(&profile))
        {
            Ok(()) => {
                serve.arg("--load").arg(&profile);
            }
            Err(e) => eprintln!("warning: this machine's profile is not added: {e}"),
        }
        done(t);
    }
    step(&format!(
        "serving on http://{} (Ctrl-C stops; database {})",
        r.listen,
        r.db.display()
    ));
    run(&mut serve)
}

fn cmd_test(args: &[String]) -> Result<()> {
    let mut allow_install = true;
    for a in args {
        match a.as_str() {
            "--no-install" => allow_install = false,
            other => return Err(format!("unknown option '{other}' for test\n\n{USAGE}")),
        }
    }
    let started = Instant::now();
    ensure_apt(
        &[
            ("chromium", "chromium"),
            ("chromedriver", "chromium-driver"),
            ("qemu-system-x86_64", "qemu-system-x86"),
            ("cpuid", "cpuid"),
            ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
            // The aarch64 check compiles SQLite's C code: it needs arm64's C library headers,
            // which the cross compiler installed without recommends does not bring.
            (
                "/usr/aarch64-linux-gnu/include/bits/libc-header-start.h",
                "libc6-dev-arm64-cross",
            ),
            // The libvirt export test starts a private libvirtd with the QEMU driver and asks
            // it with virsh hypervisor-cpu-compare (tests/tests/exports.rs).
            ("/usr/sbin/libvirtd", "libvirt-daemon-system"),
            // Its QEMU driver (a dependency of libvirt-daemon in Debian 12, named here because
            // the export and guests tests define and start KVM domains through it).
            (
                "/usr/lib/x86_64-linux-gnu/libvirt/connection-driver/libvirt_driver_qemu.so",
                "libvirt-daemon-driver-qemu",
            ),
            ("virsh", "libvirt-clients"),
            ("unshare", "util-linux"),
            // The store's tests, the replica and durability tests start throwaway PostgreSQL
            // clusters (initdb, pg_ctl of /usr/lib/postgresql/N/bin; store/src/testing.rs).
            ("/usr/share/doc/postgresql/copyright", "postgresql"),
            // jemalloc's build, the server's allocator (backend feature `jemalloc`).
            MAKE,
        ],
        allow_install,
    )?;
    ensure_component("rustfmt")?;
    ensure_component("clippy")?;
    if allow_install {
        let t = step("unpacking QEMU 7.2 and 10.0 side by side for the migration suite");
        if !is_root() {
            // Adding the bookworm-backports apt source needs root; the unpacking does not.
            run(Command::new("sudo")
                .arg("sh")
                .arg(root().join("tests/qemu-setup.sh"))
                .arg("--apt-source"))?;
        }
        run(Command::new("sh")
            .arg(root().join("tests/qemu-setup.sh"))
            .current_dir(root()))
        .map_err(|e| {
            format!("{e}: the real-migration suite needs both QEMU releases (tests/qemu-setup.sh)")
        })?;
        done(t);
    }
    let t = step("checking formatting (cargo fmt --check)");
    run(cargo().args(["fmt", "--all", "--", "--check"]))
        .map_err(|e| format!("{e}: run `cargo fmt --all`"))?;
    done(t);
    build_frontend()?;
    let t = step("checking the UI's WASM against its size budget (gzip -9)");
    check_wasm_budget()?;
    done(t);
    let t = step("building shared for wasm32 (the engine must stay pure)");
    run(cargo().args([
        "build",
        "-p",
        "shared",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    done(t);
    let t = step("checking the collector for aarch64 (it reads the arm64 ID registers there)");
    ensure_target("aarch64-unknown-linux-gnu")?;
    run(cargo()
        .args([
            "check",
            "-p",
            "collector",
            "--target",
            "aarch64-unknown-linux-gnu",
        ])
        // SQLite's C code (the collector's --db output) needs Debian's cross compiler and
        // libc6-dev-arm64-cross (installed above).
        .env("CC_aarch64_unknown_linux_gnu", "aarch64-linux-gnu-gcc"))?;
    done(t);
    let t = step("clippy (warnings are errors)");
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    done(t);
    let t = step("building the binaries the end-to-end tests start");
    run(cargo().args(["build", "-p", "backend", "-p", "collector"]))?;
    done(t);
    let t = step("running every test (cargo test)");
    run(cargo()
        .args(["test"])
        .env("FLEETCOMPAT_BIN_DIR", target_dir().join("debug")))?;
    done(t);
    // The frontend is not a default member (native builds never need it), so `cargo test` above
    // leaves out its native unit tests: layout, router, selectors, requests.
    let t = step("the web UI's native unit tests (cargo test -p frontend)");
    run(cargo().args(["test", "-p", "frontend"]))?;
    done(t);
    eprintln!(
        "\nall checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn cmd_bench(args: &[String]) -> Result<()> {
    let mut allow_install = true;
    let mut only_scale = false;
    let mut ui = false;
    for a in args {
        match a.as_str() {
            "--no-install" => allow_install = false,
            "--scale" => only_scale = true,
            "--ui" => ui = true,
            other => return Err(format!("unknown option '{other}' for bench\n\n{USAGE}")),
        }
    }
    if ui {
        return bench_ui(allow_install);
    }
    // The scale run starts a throwaway PostgreSQL cluster (store/src/testing.rs) unless
    // FLEETCOMPAT_BENCH_POSTGRES names a database.
    ensure_apt(
        &[("/usr/share/doc/postgresql/copyright", "postgresql"), MAKE],
        allow_install,
    )?;
    if !only_scale {
        ensure_apt(&[("virsh", "libvirt-clients")], allow_install)?;
        let t = step("engine: one pair, graphs of 10,000 hosts, baseline (criterion)");
        run(cargo().args(["bench", "-p", "shared", "--bench", "engine"]))?;
        done(t);
        let t = step("baseline of 10,000 hosts against virsh cpu-baseline");
        run(cargo().args(["bench", "-p", "backend", "--bench", "virsh_baseline"]))?;
        done(t);
        let t = step("backend on loopback: ingest rate and pair-verdict latency under load");
        run(cargo().args(["run", "--release", "-p", "backend", "--example", "loadgen"]))?;
        done(t);
    }
    let t = step("scale: 100,000 hosts through the release server, SQLite and PostgreSQL");
    // The example starts the `fleetcompat` binary beside it (target/release): built first.
    build_release_server(None)?;
    let mut scale = cargo();
    scale.args(["run", "--release", "-p", "backend", "--example", "scale"]);
    if let Some(url) = std::env::var_os("FLEETCOMPAT_BENCH_POSTGRES") {
        scale.arg("--").arg("--postgres").arg(url);
    }
    run(&mut scale)?;
    done(t);
    eprintln!("\nrecord the numbers in BENCHMARKS.md with the machine and the date");
    Ok(())
}

/// `bench --ui`: the fleet and graph pages at 100,000 hosts in headless Chromium
/// (`backend/examples/ui_scale.rs`).
fn bench_ui(allow_install: bool) -> Result<()> {
    ensure_apt(
        &[
            ("chromium", "chromium"),
            ("chromedriver", "chromium-driver"),
            MAKE,
        ],
        allow_install,
    )?;
    // The release server embeds assets/web: the UI first.
    build_frontend()?;
    let t =
        step("the dashboard at 100,000 hosts: release server, fleetgen fleet, headless Chromium");
    build_release_server(Some("ui_scale"))?;
    run(&mut Command::new(
        target_dir().join("release/examples/ui_scale"),
    ))?;
    done(t);
    eprintln!("\nrecord the numbers in BENCHMARKS.md with the machine, the date and the load");
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => cmd_run(&args[1..]),
        Some("test") => cmd_test(&args[1..]),
        Some("build-frontend") => build_frontend(),
        Some("bench") => cmd_bench(&args[1..]),
        Some("soak") => soak::cmd_soak(&args[1..]),
        Some("fuzz") => fuzz::cmd_fuzz(&args[1..]),
        Some("-h" | "--help" | "help") | None => {
            eprint!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown command '{other}'\n\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
