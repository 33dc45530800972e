//! The collector posts over HTTPS to the real `fleetcompat serve --tls-cert/--tls-key` with a
//! self-signed certificate (made here with rcgen): trusted with `--ca`, refused without it with
//! an error that names the certificate problem and the way out.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::BIN;

const TOKEN: &str = "https-test-token";

/// The backend binary of this workspace, built if needed (as in spool.rs).
fn backend_bin() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| {
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
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn agent(pem: &str) -> ureq::Agent {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let certs: Vec<_> = ureq::tls::parse_pem(pem.as_bytes())
        .filter_map(|i| match i.expect("pem") {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&certs))
                .build(),
        )
        .build()
        .new_agent()
}

#[test]
fn the_collector_posts_over_https_with_ca_and_names_the_certificate_problem_without() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).expect("certificate");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let pem = ck.cert.pem();
    std::fs::write(&cert, &pem).expect("cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("key");

    let port = free_port();
    let url = format!("https://127.0.0.1:{port}");
    let _server = Server(
        Command::new(backend_bin())
            .arg("serve")
            .arg("--db")
            .arg(dir.path().join("fleet.db"))
            .args(["--listen", &format!("127.0.0.1:{port}"), "--token", TOKEN])
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start fleetcompat serve"),
    );
    let client = agent(&pem);
    let t = Instant::now();
    while !client
        .get(&format!("{url}/api/v1/health"))
        .call()
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "no https server on {url}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    let probe = |host_id: &str, ca: Option<&Path>| {
        let mut c = Command::new(BIN);
        c.args(["probe", "--no-qemu", "--no-devices", "--quiet"])
            .args(["--host-id", host_id, "--post", &url, "--token", TOKEN])
            .arg("--spool")
            .arg(dir.path().join(format!("spool-{host_id}")))
            .args(["--retries", "1"]);
        if let Some(ca) = ca {
            c.arg("--ca").arg(ca);
        }
        c.output().expect("run the collector")
    };

    // Without --ca: the self-signed certificate is not trusted; the error says so and what to do.
    let out = probe("https-untrusted", None);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "posted to an untrusted certificate: {err}"
    );
    assert!(err.contains("certificate"), "{err}");
    assert!(
        err.contains("UnknownIssuer"),
        "rustls's reason is shown: {err}"
    );
    assert!(err.contains("--ca"), "{err}");

    // With --ca: sent, and stored.
    let out = probe("https-trusted", Some(&cert));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(err.contains("sent profile of https-trusted"), "{err}");
    let resp = client
        .get(&format!("{url}/api/v1/hosts/https-trusted"))
        .call()
        .expect("get");
    assert_eq!(resp.status().as_u16(), 200);

    // A --ca file that is not a certificate is refused before anything is sent.
    let out = probe("https-badca", Some(&key));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("--ca") && err.contains("private key"), "{err}");
}
