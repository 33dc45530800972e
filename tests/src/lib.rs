//! Workspace-level end-to-end tests live in `tests/`: they start the real `fleetcompat` server and
//! `fleetcompat-collector` binaries and drive the UI in headless Chromium.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where cargo put the workspace binaries: FLEETCOMPAT_BIN_DIR (set by `cargo xtask test`), else
/// the profile folder this test binary runs from (target/debug/deps/.. = target/debug).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLEETCOMPAT_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test binary lives in target/<profile>/deps")
        .to_path_buf()
}

pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build -p backend -p collector` first (cargo xtask test does)",
        path.display()
    );
    path
}

/// The newest modification time of `path` and every file below it.
fn newest_mtime(path: &std::path::Path) -> Option<std::time::SystemTime> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_dir() {
        return meta.modified().ok();
    }
    std::fs::read_dir(path)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| newest_mtime(&e.path()))
        .max()
}

/// [`binary`], refused when a source it is built from changed after it was built (cargo relinks a
/// binary whenever one of its crates changed): a stale binary would judge with an engine that is
/// no longer the one tested.
pub fn fresh_binary(name: &str) -> PathBuf {
    let path = binary(name);
    let built = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // `fleetcompat` is backend + store + shared; the collector is collector + store + shared.
    let sources: &[&str] = match name {
        "fleetcompat" => &[
            "shared/src",
            "shared/data",
            "store/src",
            "store/migrations",
            "backend/src",
        ],
        _ => &[
            "shared/src",
            "shared/data",
            "store/src",
            "store/migrations",
            "collector/src",
        ],
    };
    let newest = sources
        .iter()
        .filter_map(|d| newest_mtime(&root.join(d)))
        .max();
    if let (Some(built), Some(newest)) = (built, newest) {
        assert!(
            newest <= built,
            "{} is older than the sources it is built from: run `cargo build -p backend -p collector` first",
            path.display()
        );
    }
    path
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port on 127.0.0.1")
}

/// A child process in its own process group, killed (with its children) on drop.
pub struct Guarded(pub Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let pgid = self.0.id();
        let _ = Command::new("kill")
            .args(["-s", "KILL", "--", &format!("-{pgid}")])
            .status();
        let _ = self.0.wait();
    }
}

pub fn spawn_grouped(cmd: &mut Command) -> Guarded {
    Guarded(
        cmd.process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}")),
    )
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .new_agent()
}

/// A real `fleetcompat serve` on a free loopback port with a temporary database.
pub struct Server {
    pub url: String,
    pub token: String,
    pub db_dir: tempfile::TempDir,
    _process: Guarded,
}

impl Server {
    pub fn start(demo: bool) -> Self {
        let db_dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let token = format!("test-token-{port}");
        let mut cmd = Command::new(binary("fleetcompat"));
        cmd.arg("serve")
            .arg("--db")
            .arg(db_dir.path().join("fleet.db"))
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--token")
            .arg(&token)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if demo {
            cmd.arg("--demo");
        }
        let process = spawn_grouped(&mut cmd);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if agent()
                .get(&format!("{url}/api/v1/health"))
                .call()
                .is_ok_and(|r| r.status() == 200)
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "fleetcompat serve did not answer on {url} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            url,
            token,
            db_dir,
            _process: process,
        }
    }

    pub fn get_json(&self, path: &str) -> (u16, serde_json::Value) {
        let mut resp = agent()
            .get(&format!("{}{path}", self.url))
            .call()
            .expect("request to the test server");
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().expect("body");
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Run the real collector: probe this machine and post the profile here.
    pub fn collector_post(&self, host_id: &str) -> Output {
        Command::new(binary("fleetcompat-collector"))
            .args([
                "probe",
                "--quiet",
                "--host-id",
                host_id,
                "--label",
                "cluster=e2e",
                "--post",
            ])
            .arg(&self.url)
            .arg("--token")
            .arg(&self.token)
            .output()
            .expect("run fleetcompat-collector")
    }
}

/// Where browser tests save screenshots: FLEETCOMPAT_ARTIFACTS, else `test-artifacts/` at the
/// workspace root.
pub fn artifacts_dir() -> PathBuf {
    let dir = std::env::var_os("FLEETCOMPAT_ARTIFACTS").map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../test-artifacts")),
        PathBuf::from,
    );
    std::fs::create_dir_all(&dir).expect("create the artifacts folder");
    dir
}

/// chromedriver on a free port, driving Debian's headless Chromium.
pub struct ChromeDriver {
    pub url: String,
    _process: Guarded,
    _profile: tempfile::TempDir,
}

/// The Chromium flags for a closed network: no background fetches, no sandbox (root), no GPU.
pub fn chrome_args(profile: &std::path::Path) -> Vec<String> {
    vec![
        "--headless".into(),
        "--no-sandbox".into(),
        "--disable-gpu".into(),
        "--disable-quic".into(),
        "--no-first-run".into(),
        "--disable-background-networking".into(),
        "--disable-component-update".into(),
        "--disable-sync".into(),
        "--window-size=1400,1000".into(),
        format!("--user-data-dir={}", profile.display()),
    ]
}

impl ChromeDriver {
    pub fn start() -> (Self, Vec<String>) {
        let found = Command::new("sh")
            .args(["-c", "command -v chromedriver && command -v chromium"])
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "browser tests need Debian's chromium and chromium-driver: `cargo xtask test` installs them (apt-get install chromium chromium-driver)"
        );
        let port = free_port();
        let profile = tempfile::tempdir().expect("temp dir");
        let process = spawn_grouped(
            Command::new("chromedriver")
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        while agent()
            .get(&format!("{url}/status"))
            .call()
            .map_or(true, |r| r.status() != 200)
        {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start on {url}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let args = chrome_args(profile.path());
        (
            Self {
                url,
                _process: process,
                _profile: profile,
            },
            args,
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Real QEMU migrations (tests/tests/migrations.rs): two QEMU releases unpacked side by side by
// tests/qemu-setup.sh, a boot-sector guest, QMP over unix sockets.

/// Where tests/qemu-setup.sh unpacks the QEMU releases.
pub fn qemu_cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("FLEETCOMPAT_QEMU_CACHE") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME").map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".cache/fleetcompat-qemu")
}

/// One unpacked QEMU release (`7.2` or `10.0`).
#[derive(Clone, Debug)]
pub struct QemuRelease {
    pub name: String,
    pub root: PathBuf,
}

/// A release's own firmware folders (passed as `-L`) and module folder (`QEMU_MODULE_DIR`).
const FIRMWARE_DIRS: [&str; 3] = ["usr/share/qemu", "usr/share/seabios", "usr/lib/ipxe/qemu"];
const MODULE_DIR: &str = "usr/lib/x86_64-linux-gnu/qemu";

impl QemuRelease {
    pub fn binary(&self) -> PathBuf {
        self.root.join("usr/bin/qemu-system-x86_64")
    }

    /// A command for this release: its own firmware (-L) and module folders.
    pub fn command(&self) -> Command {
        let mut c = Command::new(self.binary());
        c.env("QEMU_MODULE_DIR", self.root.join(MODULE_DIR));
        for dir in FIRMWARE_DIRS {
            c.arg("-L").arg(self.root.join(dir));
        }
        c
    }

    /// An executable in `dir` that runs this release as an installed QEMU runs: with its own
    /// firmware and modules (what [`QemuRelease::command`] adds), so a collector given it as
    /// `--qemu PATH` probes exactly the QEMU the migrations start.
    pub fn wrapper(&self, dir: &std::path::Path) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(format!("qemu-system-x86_64-{}", self.name));
        let quote = |p: PathBuf| format!("'{}'", p.display().to_string().replace('\'', "'\\''"));
        let firmware: Vec<String> = FIRMWARE_DIRS
            .iter()
            .map(|d| format!("-L {}", quote(self.root.join(d))))
            .collect();
        let script = format!(
            "#!/bin/sh\nQEMU_MODULE_DIR={} exec {} {} \"$@\"\n",
            quote(self.root.join(MODULE_DIR)),
            quote(self.binary()),
            firmware.join(" ")
        );
        std::fs::write(&path, script).expect("write the qemu wrapper");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("make the qemu wrapper executable");
        path
    }
}

/// Run the real `fleetcompat-collector probe` for one QEMU only (`--qemu PATH
/// --no-qemu-discovery`), with a fresh QMP cache, writing `dir/<host_id>.json`; each `check_cpus`
/// model is passed as `--check-cpu`. Returns the profile's path and how long the probe took.
pub fn collector_probe(
    qemu: &std::path::Path,
    host_id: &str,
    check_cpus: &[&str],
    dir: &std::path::Path,
) -> (PathBuf, Duration) {
    let out = dir.join(format!("{host_id}.json"));
    let cache = dir.join(format!("{host_id}.cache"));
    let mut cmd = Command::new(fresh_binary("fleetcompat-collector"));
    cmd.args([
        "probe",
        "--quiet",
        "--no-qemu-discovery",
        "--host-id",
        host_id,
    ])
    .arg("--qemu")
    .arg(qemu)
    .arg("--cache-dir")
    .arg(&cache)
    .arg("--out")
    .arg(&out);
    for m in check_cpus {
        cmd.args(["--check-cpu", m]);
    }
    let started = Instant::now();
    let o = cmd.output().expect("run fleetcompat-collector probe");
    let took = started.elapsed();
    assert!(
        o.status.success(),
        "fleetcompat-collector probe --qemu {} failed ({}): {}",
        qemu.display(),
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    (out, took)
}

/// What `fleetcompat compare ... --json` answered: its exit code (0 compatible, 1 incompatible)
/// and the verdict JSON.
#[derive(Clone, Debug)]
pub struct CliVerdict {
    pub exit: i32,
    pub json: serde_json::Value,
}

impl CliVerdict {
    pub fn compatible(&self) -> bool {
        self.json["compatible"].as_bool() == Some(true)
    }

    /// `(rule, severity)` of every reason.
    pub fn reasons(&self) -> Vec<(String, String)> {
        self.json["reasons"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|r| {
                        (
                            r["rule"].as_str().unwrap_or("").to_owned(),
                            r["severity"].as_str().unwrap_or("").to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The rules of the reasons of one severity (`blocker`, `warning`, `info`).
    pub fn rules(&self, severity: &str) -> Vec<String> {
        self.reasons()
            .into_iter()
            .filter(|(_, s)| s == severity)
            .map(|(r, _)| r)
            .collect()
    }
}

/// Run the real `fleetcompat compare SRC DST --guest SRC_ARGS --dst-guest DST_ARGS --json`, the
/// two definitions written as QEMU command lines to `dir/<name>-src.cmdline` and `-dst.cmdline`.
/// Panics when it exits with anything but 0 or 1, or its exit code contradicts its JSON.
pub fn fleetcompat_compare(
    src: &std::path::Path,
    dst: &std::path::Path,
    src_args: &str,
    dst_args: &str,
    dir: &std::path::Path,
    name: &str,
) -> CliVerdict {
    let (g, d) = (
        dir.join(format!("{name}-src.cmdline")),
        dir.join(format!("{name}-dst.cmdline")),
    );
    std::fs::write(&g, src_args).expect("write the source definition");
    std::fs::write(&d, dst_args).expect("write the destination definition");
    let o = Command::new(fresh_binary("fleetcompat"))
        .arg("compare")
        .arg(src)
        .arg(dst)
        .arg("--guest")
        .arg(&g)
        .arg("--dst-guest")
        .arg(&d)
        .arg("--json")
        .output()
        .expect("run fleetcompat compare");
    let exit = o.status.code().unwrap_or(-1);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        exit == 0 || exit == 1,
        "{name}: fleetcompat compare exited {exit}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let json: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{name}: compare --json printed no json ({e}): {stdout}"));
    let v = CliVerdict { exit, json };
    assert_eq!(
        v.compatible(),
        exit == 0,
        "{name}: exit {exit} contradicts the verdict {stdout}"
    );
    v
}

/// The release unpacked under [`qemu_cache_dir`]; panics naming tests/qemu-setup.sh when absent.
pub fn qemu_release(name: &str) -> QemuRelease {
    let root = qemu_cache_dir().join(name);
    let r = QemuRelease {
        name: name.to_owned(),
        root,
    };
    assert!(
        r.root.join(".complete").exists() && r.binary().exists(),
        "QEMU {name} is not unpacked at {}: run tests/qemu-setup.sh (as root once, to add bookworm-backports) before the migration suite",
        r.root.display()
    );
    r
}

/// A 512-byte boot sector that loops forever (`jmp $`), then the 0x55AA signature.
pub fn boot_sector() -> Vec<u8> {
    let mut s = vec![0u8; 512];
    s[0] = 0xeb;
    s[1] = 0xfe;
    s[510] = 0x55;
    s[511] = 0xaa;
    s
}

/// A QMP connection over a unix socket.
pub struct Qmp {
    reader: std::io::BufReader<std::os::unix::net::UnixStream>,
    writer: std::os::unix::net::UnixStream,
}

impl Qmp {
    /// Connect, read the greeting, negotiate capabilities.
    pub fn connect(path: &std::path::Path) -> std::io::Result<Self> {
        let s = std::os::unix::net::UnixStream::connect(path)?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut q = Self {
            reader: std::io::BufReader::new(s.try_clone()?),
            writer: s,
        };
        q.read_message()?;
        q.execute("qmp_capabilities", serde_json::json!({}))
            .map_err(std::io::Error::other)?;
        Ok(q)
    }

    fn read_message(&mut self) -> std::io::Result<serde_json::Value> {
        use std::io::BufRead;
        let mut line = String::new();
        loop {
            line.clear();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "qmp closed",
                ));
            }
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                return Ok(v);
            }
        }
    }

    /// Run a command; `Err` holds QMP's error description (or the I/O error).
    pub fn execute(
        &mut self,
        cmd: &str,
        args: serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        use std::io::Write;
        let msg = serde_json::json!({"execute": cmd, "arguments": args});
        writeln!(self.writer, "{msg}").map_err(|e| format!("qmp write: {e}"))?;
        loop {
            let v = self.read_message().map_err(|e| format!("qmp read: {e}"))?;
            if let Some(r) = v.get("return") {
                return Ok(r.clone());
            }
            if let Some(e) = v.get("error") {
                return Err(e
                    .get("desc")
                    .and_then(serde_json::Value::as_str)
                    .unwrap_or("qmp error")
                    .to_owned());
            }
        }
    }
}

/// A running QEMU with its QMP socket and stderr file.
pub struct QemuVm {
    pub process: Guarded,
    pub qmp: Qmp,
    pub stderr: PathBuf,
}

impl QemuVm {
    /// Start `release` with `args` (plus -qmp, -display none); `Err` with QEMU's stderr when it
    /// exits before its QMP socket answers.
    pub fn start(
        release: &QemuRelease,
        args: &[String],
        dir: &std::path::Path,
        name: &str,
    ) -> Result<Self, String> {
        let sock = dir.join(format!("{name}.qmp"));
        let stderr = dir.join(format!("{name}.stderr"));
        let err_file =
            std::fs::File::create(&stderr).map_err(|e| format!("{}: {e}", stderr.display()))?;
        let mut cmd = release.command();
        cmd.args(args)
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", sock.display()))
            .args(["-display", "none"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err_file);
        let mut process = spawn_grouped(&mut cmd);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = process.0.try_wait() {
                return Err(format!(
                    "qemu {} exited ({status}) before answering QMP: {}",
                    release.name,
                    std::fs::read_to_string(&stderr).unwrap_or_default().trim()
                ));
            }
            if sock.exists()
                && let Ok(qmp) = Qmp::connect(&sock)
            {
                return Ok(Self {
                    process,
                    qmp,
                    stderr,
                });
            }
            if Instant::now() > deadline {
                return Err(format!("qemu {} did not answer QMP in 30 s", release.name));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// `query-status`'s `status`, or `None` when QEMU is gone.
    pub fn status(&mut self) -> Option<String> {
        self.qmp
            .execute("query-status", serde_json::json!({}))
            .ok()
            .and_then(|r| r.get("status").and_then(|s| s.as_str()).map(str::to_owned))
    }
}

/// What happened to a migration, judged on the destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MigrationOutcome {
    /// The destination runs the guest.
    Running,
    /// The source QEMU could not start the guest (e.g. `-cpu MODEL,enforce` with features KVM
    /// lacks): there is nothing to migrate.
    SourceDidNotStart(String),
    /// The destination QEMU could not even start with its definition.
    DestinationDidNotStart(String),
    /// The source refused to start the migration (e.g. a migration blocker).
    SourceRefused(String),
    /// The destination failed to load the state (it exits), whatever the source reported.
    LoadFailed(String),
}

impl MigrationOutcome {
    pub fn succeeded(&self) -> bool {
        *self == Self::Running
    }
}

/// Start the source (running) and the destination (`-incoming tcp:127.0.0.1:PORT`), migrate over
/// QMP and judge on the destination: success is the destination `running`; a destination that
/// exits or stays `inmigrate` after the source finished is a failure.
pub fn run_migration(
    src: (&QemuRelease, &[String]),
    dst: (&QemuRelease, &[String]),
    dir: &std::path::Path,
    name: &str,
) -> MigrationOutcome {
    let port = free_port();
    let mut s = match QemuVm::start(src.0, src.1, dir, &format!("{name}-src")) {
        Ok(vm) => vm,
        Err(e) => return MigrationOutcome::SourceDidNotStart(e),
    };
    let mut dst_args = dst.1.to_vec();
    dst_args.extend(["-incoming".into(), format!("tcp:127.0.0.1:{port}")]);
    let mut d = match QemuVm::start(dst.0, &dst_args, dir, &format!("{name}-dst")) {
        Ok(vm) => vm,
        Err(e) => return MigrationOutcome::DestinationDidNotStart(e),
    };
    if let Err(e) = s.qmp.execute(
        "migrate",
        serde_json::json!({"uri": format!("tcp:127.0.0.1:{port}")}),
    ) {
        return MigrationOutcome::SourceRefused(e);
    }
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut src_done_at: Option<Instant> = None;
    loop {
        if let Ok(Some(_)) = d.process.0.try_wait() {
            return MigrationOutcome::LoadFailed(d.stderr_text().trim().to_owned());
        }
        match d.status().as_deref() {
            Some("running") => return MigrationOutcome::Running,
            Some("inmigrate") | Some("paused") | Some("prelaunch") | None => {}
            Some(other) => {
                return MigrationOutcome::LoadFailed(format!(
                    "destination status {other}: {}",
                    d.stderr_text().trim()
                ));
            }
        }
        let src_status = s
            .qmp
            .execute("query-migrate", serde_json::json!({}))
            .ok()
            .and_then(|r| r.get("status").and_then(|x| x.as_str()).map(str::to_owned));
        if matches!(
            src_status.as_deref(),
            Some("completed" | "failed" | "cancelled")
        ) {
            let at = *src_done_at.get_or_insert_with(Instant::now);
            // The destination reports its load error after the source's "completed".
            if at.elapsed() > Duration::from_secs(10) {
                return MigrationOutcome::LoadFailed(format!(
                    "source {}, destination never ran: {}",
                    src_status.unwrap_or_default(),
                    d.stderr_text().trim()
                ));
            }
        }
        if Instant::now() > deadline {
            return MigrationOutcome::LoadFailed("no outcome within 60 s".into());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// cpr-transfer (QEMU >= 10.0) to a new QEMU process on this host: the new process blocks on its
/// cpr channel before it creates its monitor, so it is started first, the old one is told
/// `migrate-set-parameters mode=cpr-transfer` and `migrate` with a main and a cpr channel, then
/// the new one is judged (`running`, or it exits / never answers).
pub fn run_cpr_transfer(
    release: &QemuRelease,
    args: &[String],
    dir: &std::path::Path,
    name: &str,
) -> MigrationOutcome {
    let mut old = QemuVm::start(release, args, dir, &format!("{name}-old"))
        .unwrap_or_else(|e| panic!("{name}: the old QEMU must start: {e}"));
    let main = dir.join(format!("{name}-main.sock"));
    let cpr = dir.join(format!("{name}-cpr.sock"));
    let channel = |kind: &str, path: &std::path::Path| serde_json::json!({"channel-type": kind, "addr": {"transport": "socket", "type": "unix", "path": path}});
    if let Err(e) = old.qmp.execute(
        "migrate-set-parameters",
        serde_json::json!({"mode": "cpr-transfer"}),
    ) {
        return MigrationOutcome::SourceRefused(e);
    }
    let sock = dir.join(format!("{name}-new.qmp"));
    let stderr = dir.join(format!("{name}-new.stderr"));
    let mut cmd = release.command();
    cmd.args(args)
        .arg("-incoming")
        .arg(format!("unix:{}", main.display()))
        .arg("-incoming")
        .arg(channel("cpr", &cpr).to_string())
        .arg("-qmp")
        .arg(format!("unix:{},server=on,wait=off", sock.display()))
        .args(["-display", "none"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).expect("stderr file"));
    let mut new = spawn_grouped(&mut cmd);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cpr.exists() {
        if let Ok(Some(status)) = new.0.try_wait() {
            return MigrationOutcome::DestinationDidNotStart(format!(
                "{status}: {}",
                std::fs::read_to_string(&stderr).unwrap_or_default().trim()
            ));
        }
        if Instant::now() > deadline {
            return MigrationOutcome::DestinationDidNotStart("no cpr channel in 30 s".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // The socket file appears when the new QEMU binds it, a moment before it listens: a connect
    // in between is refused, so the migrate command is asked again for a short while.
    let mut tries = 0;
    while let Err(e) = old.qmp.execute(
        "migrate",
        serde_json::json!({"channels": [channel("main", &main), channel("cpr", &cpr)]}),
    ) {
        tries += 1;
        if !e.contains("Connection refused") || tries > 100 {
            return MigrationOutcome::SourceRefused(e);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(Some(_)) = new.0.try_wait() {
            return MigrationOutcome::LoadFailed(
                std::fs::read_to_string(&stderr)
                    .unwrap_or_default()
                    .trim()
                    .to_owned(),
            );
        }
        if sock.exists()
            && let Ok(mut q) = Qmp::connect(&sock)
        {
            loop {
                let status = q
                    .execute("query-status", serde_json::json!({}))
                    .ok()
                    .and_then(|r| r.get("status").and_then(|s| s.as_str()).map(str::to_owned));
                match status.as_deref() {
                    Some("running") => return MigrationOutcome::Running,
                    Some("inmigrate" | "paused" | "prelaunch") if Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    other => {
                        return MigrationOutcome::LoadFailed(format!(
                            "new QEMU status {other:?}: {}",
                            std::fs::read_to_string(&stderr).unwrap_or_default().trim()
                        ));
                    }
                }
            }
        }
        if Instant::now() > deadline {
            return MigrationOutcome::LoadFailed("the new QEMU never answered".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
