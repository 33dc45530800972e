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
