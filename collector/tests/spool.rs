//! Delivery that loses nothing: the real `fleetcompat serve` is killed mid-run; the profile stays
//! in the spool and lands later, once.

mod common;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::*;

/// The backend binary of this workspace, built if needed.
fn backend_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            // target/debug/deps/spool-xxxx -> target
            std::env::current_exe()
                .ok()?
                .parent()?
                .parent()?
                .parent()
                .map(Path::to_path_buf)
        })
        .expect("cannot locate the target folder");
    let bin = target.join("debug/fleetcompat");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "backend", "--bin", "fleetcompat"])
        .env("CARGO_TARGET_DIR", &target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cannot run cargo to build the backend");
    assert!(status.success(), "building fleetcompat failed");
    assert!(bin.is_file(), "{} missing after the build", bin.display());
    bin
}

struct Server(Child);
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn health(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = String::new();
    let _ = s.read_to_string(&mut buf);
    buf.starts_with("HTTP/1.1 200")
}

fn serve(bin: &Path, db: &Path, port: u16) -> Server {
    let child = Command::new(bin)
        .args([
            "serve",
            "--db",
            db.to_str().expect("utf-8"),
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args(["--token", "spool-test-token"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fleetcompat serve");
    let server = Server(child);
    let t = Instant::now();
    while !health(port) {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "backend did not come up on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn spool_files(spool: &Path) -> usize {
    std::fs::read_dir(spool)
        .map(|r| {
            r.filter_map(Result::ok)
                .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                .count()
        })
        .unwrap_or(0)
}

fn collector(url: &str, spool: &Path, run: &str, retries: &str) -> Command {
    collector_with(url, spool, run, retries, "spool-test-token")
}

fn collector_with(url: &str, spool: &Path, run: &str, retries: &str, token: &str) -> Command {
    let mut c = Command::new(BIN);
    c.args([
        "probe",
        "--no-qemu",
        "--no-devices",
        "--quiet",
        "--host-id",
        "spool-test",
    ])
    .args([
        "--label",
        &format!("run={run}"),
        "--post",
        url,
        "--token",
        token,
    ])
    .args([
        "--spool",
        spool.to_str().expect("utf-8"),
        "--retries",
        retries,
        "--retry-delay-ms",
        "200",
    ]);
    c
}

/// The stored versions of the test host: (n_versions, labels of the newest), read from the DB.
fn stored(db: &Path) -> (u32, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = store::Store::open(db).await.expect("open db");
        let p = store
            .latest_profile("spool-test")
            .await
            .expect("query")
            .expect("host stored");
        (
            p.n_versions,
            p.profile.labels.get("run").cloned().unwrap_or_default(),
        )
    })
}

#[test]
fn backend_killed_mid_run_loses_nothing_and_each_profile_lands_once() {
    let bin = backend_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("fleet.db");
    let spool = dir.path().join("spool");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");

    // 1. Backend up: the profile goes straight through, nothing stays in the spool.
    let server = serve(&bin, &db, port);
    let out = collector(&url, &spool, "1", "2").output().expect("run 1");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(spool_files(&spool), 0);

    // 2. Backend killed: the run fails loudly and keeps the profile in the spool.
    drop(server);
    let out = collector(&url, &spool, "2", "2").output().expect("run 2");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("kept in the spool"), "{err}");
    assert_eq!(spool_files(&spool), 1);

    // 3. A run starts while the backend is down; the backend comes back during its retries.
    let run3 = collector(&url, &spool, "3", "8")
        .stderr(Stdio::piped())
        .spawn()
        .expect("run 3");
    std::thread::sleep(Duration::from_millis(700));
    let server = serve(&bin, &db, port);
    let out = run3.wait_with_output().expect("run 3 output");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("sending 1 profile(s) spooled by earlier runs"),
        "{err}"
    );
    assert!(err.contains("retrying"), "{err}");
    assert_eq!(spool_files(&spool), 0, "spool emptied");
    drop(server);

    // Every run's profile landed exactly once, in order: 1, 2 (from the spool), 3.
    assert_eq!(stored(&db), (3, "3".to_owned()));

    // 4. Nothing is re-sent: another run adds only itself.
    let server = serve(&bin, &db, port);
    let out = collector(&url, &spool, "4", "1").output().expect("run 4");
    assert!(out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("spooled by earlier runs"));
    drop(server);
    assert_eq!(stored(&db), (4, "4".to_owned()));
}

#[test]
fn db_output_uses_the_backend_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("fleet.db");
    // Several runs: CPUID and KVM answers must not depend on the CPU the probe ran on.
    for _ in 0..4 {
        run_ok(&[
            "probe",
            "--no-qemu",
            "--no-devices",
            "--quiet",
            "--host-id",
            "spool-test",
            "--db",
            db.to_str().expect("utf-8"),
        ]);
    }
    // Same content twice (only the collection time differs): one version.
    assert_eq!(stored(&db).0, 1);
}

#[test]
fn a_wrong_token_keeps_the_profile_without_retrying() {
    let bin = backend_bin();
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("fleet.db");
    let spool = dir.path().join("spool");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _server = serve(&bin, &db, port);
    let out = collector_with(&url, &spool, "1", "5", "not-the-token")
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("(401)") && err.contains("kept in the spool"),
        "{err}"
    );
    assert!(
        !err.contains("retrying"),
        "a refused token is not retried: {err}"
    );
    assert_eq!(spool_files(&spool), 1);
    // With the right token the next run sends it (and its own profile).
    let out = collector(&url, &spool, "2", "1").output().expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(spool_files(&spool), 0);
}
