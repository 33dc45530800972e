//! Transport and auth through the real `fleetcompat serve`, over real TLS (a self-signed
//! certificate made here with rcgen): scoped tokens upload and delete only their own hosts,
//! `/login` takes only the read token and sets a Secure session cookie, `--require-read-token`
//! closes reads on loopback, and a Host header naming another server is refused.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Server, free_port, server_binary, start_with};
use serde_json::{Value, json};

const ADMIN: &str = "auth-admin-token";
const READER: &str = "auth-read-token";

struct Tls {
    _dir: tempfile::TempDir,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    pem: String,
}

/// A self-signed certificate for 127.0.0.1 and localhost.
fn self_signed() -> Tls {
    let dir = tempfile::tempdir().expect("temp dir");
    let ck = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into(), "localhost".into()])
        .expect("self-signed certificate");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let pem = ck.cert.pem();
    std::fs::write(&cert, &pem).expect("write cert");
    std::fs::write(&key, ck.signing_key.serialize_pem()).expect("write key");
    Tls {
        _dir: dir,
        cert,
        key,
        pem,
    }
}

/// An HTTPS client trusting only `pem`, following no redirects.
fn tls_agent(pem: &str) -> ureq::Agent {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let certs: Vec<_> = ureq::tls::parse_pem(pem.as_bytes())
        .filter_map(|i| match i.expect("pem") {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .tls_config(
            TlsConfig::builder()
                .root_certs(RootCerts::new_with_certs(&certs))
                .build(),
        )
        .build()
        .new_agent()
}

/// `fleetcompat serve --tls-cert --tls-key` on a free port, waited for over HTTPS.
fn start_tls(db: &Path, tls: &Tls, extra: &[&str]) -> Server {
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let child = Command::new(server_binary())
        .arg("serve")
        .arg("--db")
        .arg(db)
        .args(["--listen", &addr, "--token", ADMIN])
        .arg("--tls-cert")
        .arg(&tls.cert)
        .arg("--tls-key")
        .arg(&tls.key)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fleetcompat serve");
    let url = format!("https://{addr}");
    let server = Server {
        child,
        url: url.clone(),
        addr,
    };
    let agent = tls_agent(&tls.pem);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !agent
        .get(&format!("{url}/api/v1/health"))
        .call()
        .is_ok_and(|r| r.status() == 200)
    {
        assert!(Instant::now() < deadline, "server did not start on {url}");
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

fn profile_json(host_id: &str, labels: &[(&str, &str)]) -> String {
    let mut p = backend::demo::demo_profiles("2026-12-01T00:00:00Z").expect("demo")[0].clone();
    p.host_id = host_id.to_owned();
    p.labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    serde_json::to_string(&p).expect("json")
}

/// Status and JSON body (or `{"text": body}` when it is not JSON).
fn answer(resp: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut resp = resp.expect("request");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    let v = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "text": text }));
    (status, v)
}

fn upload(agent: &ureq::Agent, url: &str, token: &str, body: &str) -> (u16, Value) {
    answer(
        agent
            .post(&format!("{url}/api/v1/hosts"))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.as_bytes()),
    )
}

fn create_token(agent: &ureq::Agent, url: &str, token: &str, body: &Value) -> (u16, Value) {
    answer(
        agent
            .post(&format!("{url}/api/v1/tokens"))
            .header("Authorization", &format!("Bearer {token}"))
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes()),
    )
}

fn message(v: &Value) -> String {
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn a_per_host_token_uploads_its_own_host_and_no_other_over_tls() {
    let tls = self_signed();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fleet.db");
    let server = start_tls(&db, &tls, &[]);
    let agent = tls_agent(&tls.pem);
    let url = &server.url;

    let (st, created) = create_token(
        &agent,
        url,
        ADMIN,
        &json!({"hosts": ["web-01"], "name": "web-01 collector"}),
    );
    assert_eq!(st, 201, "{created}");
    let secret = created["secret"].as_str().expect("secret").to_owned();
    let id = created["token"]["id"].as_str().expect("id").to_owned();

    // Its own host: stored. Another host: 403 naming the host and the scope.
    let (st, r) = upload(&agent, url, &secret, &profile_json("web-01", &[]));
    assert_eq!(st, 200, "{r}");
    assert_eq!(r["host_id"], "web-01");
    let (st, e) = upload(&agent, url, &secret, &profile_json("db-01", &[]));
    assert_eq!(st, 403, "{e}");
    let m = message(&e);
    assert!(m.contains("'db-01'") && m.contains("web-01"), "{m}");
    let (st, _) = upload(&agent, url, ADMIN, &profile_json("db-01", &[]));
    assert_eq!(st, 200, "the admin token writes any host");

    // Deleting: the same scope.
    let del = |token: &str, host: &str| {
        answer(
            agent
                .delete(&format!("{url}/api/v1/hosts/{host}"))
                .header("Authorization", &format!("Bearer {token}"))
                .call(),
        )
    };
    let (st, e) = del(&secret, "db-01");
    assert_eq!(st, 403, "{e}");

    // A label scope: hosts labelled cluster=c1, in the upload and as stored.
    let (st, c1) = create_token(&agent, url, ADMIN, &json!({"labels": {"cluster": "c1"}}));
    assert_eq!(st, 201, "{c1}");
    let c1 = c1["secret"].as_str().expect("secret").to_owned();
    let (st, r) = upload(
        &agent,
        url,
        &c1,
        &profile_json("c1-a", &[("cluster", "c1")]),
    );
    assert_eq!(st, 200, "{r}");
    let (st, e) = upload(
        &agent,
        url,
        &c1,
        &profile_json("c2-a", &[("cluster", "c2")]),
    );
    assert_eq!(st, 403, "{e}");
    assert!(message(&e).contains("cluster=c2"), "{e}");
    // db-01 is stored without the label: relabelling it in an upload does not make it ours.
    let (st, e) = upload(
        &agent,
        url,
        &c1,
        &profile_json("db-01", &[("cluster", "c1")]),
    );
    assert_eq!(st, 403, "{e}");

    // Scoped tokens manage no tokens; the admin token lists and revokes them.
    let (st, e) = create_token(&agent, url, &secret, &json!({"hosts": ["x"]}));
    assert_eq!(st, 403, "{e}");
    let (st, list) = answer(
        agent
            .get(&format!("{url}/api/v1/tokens"))
            .header("Authorization", &format!("Bearer {ADMIN}"))
            .call(),
    );
    assert_eq!(st, 200, "{list}");
    assert_eq!(list["tokens"].as_array().map(Vec::len), Some(2), "{list}");
    assert!(
        !list.to_string().contains(&secret),
        "the list shows no secret"
    );

    let (st, _) = del(&secret, "web-01");
    assert_eq!(st, 204, "a scoped token deletes its own host");
    let (st, _) = answer(
        agent
            .delete(&format!("{url}/api/v1/tokens/{id}"))
            .header("Authorization", &format!("Bearer {ADMIN}"))
            .call(),
    );
    assert_eq!(st, 204);
    let (st, e) = upload(&agent, url, &secret, &profile_json("web-01", &[]));
    assert_eq!(st, 401, "a revoked token writes nothing: {e}");

    // The database holds no token in clear (salted hashes only).
    drop(server);
    for file in ["fleet.db", "fleet.db-wal"] {
        let bytes = std::fs::read(dir.path().join(file)).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for t in [ADMIN, secret.as_str(), c1.as_str()] {
            assert!(!text.contains(t), "{file} holds a token in clear");
        }
    }
}

#[test]
fn login_takes_only_the_read_token_and_sets_a_secure_expiring_cookie() {
    let tls = self_signed();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_tls(
        &dir.path().join("fleet.db"),
        &tls,
        &[
            "--require-read-token",
            "--read-token",
            READER,
            "--session-hours",
            "2",
        ],
    );
    let agent = tls_agent(&tls.pem);
    let url = &server.url;
    let (_, scoped) = create_token(&agent, url, ADMIN, &json!({"hosts": ["web-01"]}));
    let scoped = scoped["secret"].as_str().expect("secret").to_owned();

    let (st, page) = answer(agent.get(&format!("{url}/login")).call());
    assert_eq!(st, 200);
    let html = page["text"].as_str().unwrap_or_default();
    assert!(
        html.contains("method=\"post\"") && html.contains("name=\"token\""),
        "{html}"
    );
    let (st, e) = answer(agent.get(&format!("{url}/login?token={READER}")).call());
    assert_eq!(st, 400, "no token in URLs: {e}");

    let login = |token: &str| {
        agent
            .post(&format!("{url}/login"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .send(format!("token={token}").as_bytes())
            .expect("login")
    };
    for write_token in [ADMIN, scoped.as_str()] {
        let (st, e) = answer(Ok(login(write_token)));
        assert_eq!(st, 403, "{e}");
        assert!(message(&e).contains("read token"), "{e}");
    }
    let (st, _) = answer(Ok(login("not-a-token")));
    assert_eq!(st, 401);

    let resp = login(READER);
    assert_eq!(resp.status().as_u16(), 303);
    let cookie = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_owned();
    for attr in ["HttpOnly", "SameSite=Strict", "Secure", "Max-Age=7200"] {
        assert!(cookie.contains(attr), "{attr} missing: {cookie}");
    }
    assert!(
        !cookie.contains(READER),
        "the cookie is a session, not the token"
    );
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let read = |cookie: &str| {
        answer(
            agent
                .get(&format!("{url}/api/v1/hosts"))
                .header("Cookie", cookie)
                .call(),
        )
        .0
    };
    assert_eq!(read(&pair), 200);
    // A browser opening the UI without a session is sent to the form first; with one, not.
    let page = |cookie: Option<&str>| {
        let mut req = agent
            .get(&format!("{url}/graph"))
            .header("Accept", "text/html");
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        let resp = req.call().expect("page");
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        (resp.status().as_u16(), location)
    };
    assert_eq!(page(None), (303, Some("/login".to_owned())));
    assert_ne!(page(Some(&pair)).0, 303);
    // Change the last character of the MAC (to another one: it may already be '0').
    let flipped = if pair.ends_with('0') { '1' } else { '0' };
    let forged = format!("{}{flipped}", &pair[..pair.len() - 1]);
    assert_eq!(read(&forged), 401, "a changed session is refused");

    let resp = agent
        .post(&format!("{url}/logout"))
        .send_empty()
        .expect("logout");
    assert_eq!(resp.status().as_u16(), 303);
    let cleared = resp
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[test]
fn require_read_token_closes_reads_on_loopback() {
    let dir = tempfile::tempdir().expect("temp dir");
    let open = start_with(&dir.path().join("open.db"), ADMIN, &[], None);
    let agent = common::agent();
    let (st, _) = answer(agent.get(&format!("{}/api/v1/hosts", open.url)).call());
    assert_eq!(st, 200, "loopback reads are open by default");

    let closed = start_with(
        &dir.path().join("closed.db"),
        ADMIN,
        &["--require-read-token", "--read-token", READER],
        None,
    );
    let hosts = format!("{}/api/v1/hosts", closed.url);
    let (st, e) = answer(agent.get(&hosts).call());
    assert_eq!(st, 401, "{e}");
    assert!(message(&e).contains("read token"), "{e}");
    let (st, _) = answer(
        agent
            .get(&hosts)
            .header("Authorization", &format!("Bearer {READER}"))
            .call(),
    );
    assert_eq!(st, 200);
}

/// The status line of a raw HTTP/1.1 request with this Host header.
fn status_with_host(addr: &str, host: &str) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        s,
        "GET /api/v1/hosts HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .expect("write");
    let mut head = [0u8; 64];
    let n = s.read(&mut head).expect("read");
    let line = String::from_utf8_lossy(&head[..n]);
    line.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[test]
fn a_host_header_naming_another_server_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_with(
        &dir.path().join("fleet.db"),
        ADMIN,
        &["--allowed-host", "fleet.example"],
        None,
    );
    let port = server.addr.rsplit(':').next().expect("port");
    // A rebound name: refused with 421 Misdirected Request.
    assert_eq!(
        status_with_host(&server.addr, &format!("evil.example:{port}")),
        421
    );
    assert_eq!(status_with_host(&server.addr, "127.0.0.2"), 421);
    for ok in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        "fleet.example".to_owned(),
    ] {
        assert_eq!(status_with_host(&server.addr, &ok), 200, "{ok}");
    }
}

/// `fleetcompat token create|list|revoke --db` on the database of a running server, as the
/// README shows it: the new token works at once, only for its host, and stops when revoked.
#[test]
fn token_commands_on_the_database_of_a_running_server() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fleet.db");
    let server = start_with(&db, ADMIN, &[], None);
    let token = |args: &[&str]| {
        let out = Command::new(server_binary())
            .arg("token")
            .args(args)
            .arg("--db")
            .arg(&db)
            .output()
            .expect("run fleetcompat token");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, secret, err) = token(&["create", "--host", "web-01"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        secret.starts_with("fcs_"),
        "stdout is the secret alone: {secret}"
    );
    assert!(err.contains("web-01"), "{err}");

    let agent = common::agent();
    let (st, r) = upload(&agent, &server.url, &secret, &profile_json("web-01", &[]));
    assert_eq!(st, 200, "{r}");
    let (st, e) = upload(&agent, &server.url, &secret, &profile_json("web-02", &[]));
    assert_eq!(st, 403, "{e}");

    let (code, list, err) = token(&["list", "--json"]);
    assert_eq!(code, Some(0), "{err}");
    let list: Value = serde_json::from_str(&list).expect("TokenList json");
    let id = list["tokens"][0]["id"].as_str().expect("id").to_owned();
    assert_eq!(list["tokens"][0]["hosts"], json!(["web-01"]));
    assert!(!list.to_string().contains(&secret));

    let (code, _, err) = token(&["revoke", &id]);
    assert_eq!(code, Some(0), "{err}");
    // Another process (this CLI) revoked it: the server reads tokens at most
    // `store::SETTING_MEMO_TTL` old, so it stops within that (README, Security).
    std::thread::sleep(store::SETTING_MEMO_TTL + std::time::Duration::from_millis(200));
    let (st, e) = upload(&agent, &server.url, &secret, &profile_json("web-01", &[]));
    assert_eq!(st, 401, "{e}");
    let (code, _, err) = token(&["revoke", &id]);
    assert_eq!(code, Some(2));
    assert!(err.contains("token list"), "{err}");
}

/// `fleetcompat token ... --server URL --ca cert.pem` goes through `/api/v1/tokens` over TLS with
/// the admin token; a scoped token cannot manage tokens there.
#[test]
fn token_commands_through_the_api_over_tls() {
    let tls = self_signed();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_tls(&dir.path().join("fleet.db"), &tls, &[]);
    let token = |admin: &str, args: &[&str]| {
        let out = Command::new(server_binary())
            .arg("token")
            .args(args)
            .args(["--server", &server.url, "--admin-token", admin])
            .arg("--ca")
            .arg(&tls.cert)
            .env_remove("FLEETCOMPAT_TOKEN")
            .output()
            .expect("run fleetcompat token");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, secret, err) = token(ADMIN, &["create", "--label", "cluster=c1"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(secret.starts_with("fcs_"), "{secret}");

    let agent = tls_agent(&tls.pem);
    let (st, r) = upload(
        &agent,
        &server.url,
        &secret,
        &profile_json("a", &[("cluster", "c1")]),
    );
    assert_eq!(st, 200, "{r}");

    let (code, _, err) = token(&secret, &["list"]);
    assert_eq!(code, Some(2), "a scoped token lists nothing");
    assert!(err.contains("403") && err.contains("admin token"), "{err}");

    let (code, list, err) = token(ADMIN, &["list"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(list.contains("hosts labelled cluster=c1"), "{list}");
    let id = list.split_whitespace().next().expect("an id").to_owned();
    let (code, _, err) = token(ADMIN, &["revoke", &id]);
    assert_eq!(code, Some(0), "{err}");
    let (st, _) = upload(
        &agent,
        &server.url,
        &secret,
        &profile_json("a", &[("cluster", "c1")]),
    );
    assert_eq!(st, 401);
}

/// A client that opens a TCP connection to the TLS server and never starts the handshake is
/// closed after the header timeout, so it cannot hold a connection slot.
#[test]
fn a_stalled_tls_handshake_is_closed_after_the_header_timeout() {
    let tls = self_signed();
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start_tls(
        &dir.path().join("fleet.db"),
        &tls,
        &["--header-timeout", "1"],
    );
    let mut stalled = TcpStream::connect(&server.addr).expect("connect");
    stalled
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let t = Instant::now();
    let mut buf = [0u8; 16];
    // The server closes: end of stream (0) or a reset.
    let n = stalled.read(&mut buf).unwrap_or(0);
    assert_eq!(
        n, 0,
        "the server sent something to a client that said nothing"
    );
    let waited = t.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(5),
        "closed after {waited:?}, expected about the 1 s header timeout"
    );
    // The server still serves others.
    let (st, _) = answer(
        tls_agent(&tls.pem)
            .get(&format!("{}/api/v1/health", server.url))
            .call(),
    );
    assert_eq!(st, 200);
}
