//! The real `fleetcompat serve` for tests that need its socket: started on a free port of
//! 127.0.0.1, killed on drop.

#![allow(dead_code, reason = "each test file uses its own part")]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The demo fleet (the real CPU dumps of `backend::demo`) in an in-memory store, for tests that
/// send requests to `backend::app` in process.
pub async fn demo_state() -> backend::AppState {
    let store = backend::Store::in_memory().await.expect("in-memory store");
    for p in backend::demo::demo_profiles("2026-11-22T00:00:00Z").expect("demo fleet") {
        store
            .upsert(&p, "2026-11-22T00:00:00Z")
            .await
            .expect("upsert");
    }
    backend::AppState::new(store)
}

/// The server binary: FLEETCOMPAT_BIN_DIR (set by `cargo xtask test`), else the one cargo built
/// for this test.
pub fn server_binary() -> PathBuf {
    std::env::var_os("FLEETCOMPAT_BIN_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_fleetcompat")),
        |d| PathBuf::from(d).join("fleetcompat"),
    )
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .new_agent()
}

/// POST a JSON body (with a bearer token when given): the status and the answer's text, read up
/// to `limit` bytes.
pub fn post_json(
    url: &str,
    body: &serde_json::Value,
    token: Option<&str>,
    limit: u64,
) -> (u16, String) {
    let mut req = agent().post(url).header("Content-Type", "application/json");
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(body.to_string().as_bytes()).expect("post");
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_string()
        .unwrap_or_default();
    (status, text)
}

pub struct Server {
    pub child: Child,
    pub url: String,
    pub addr: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `fleetcompat serve` on `db` with `token` and `extra` arguments; `ulimit` (a shell `ulimit`
/// argument such as `-Sn 1024`) limits its open files first.
pub fn start_with(db: &Path, token: &str, extra: &[&str], ulimit: Option<&str>) -> Server {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut cmd = match ulimit {
        Some(limit) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit {limit} && exec \"$0\" \"$@\""))
                .arg(server_binary());
            c
        }
        None => Command::new(server_binary()),
    };
    let child = cmd
        .arg("serve")
        .arg("--db")
        .arg(db)
        .args(["--listen", &addr, "--token", token])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fleetcompat serve");
    let url = format!("http://{addr}");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !agent()
        .get(&format!("{url}/api/v1/health"))
        .call()
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "server did not start on {url}");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, url, addr }
}

pub fn start(db: &Path, token: &str) -> Server {
    start_with(db, token, &[], None)
}
