//! Hardening through the real server: huge inputs are refused (413/422) while `/api/v1/health`
//! keeps answering, idle sockets do not lock new clients out, a tokenless or oversized upload is
//! refused before its body is read, and a slow body gets 408.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Server, agent, start_with};
use serde_json::{Value, json};

const TOKEN: &str = "hardening-token";

/// One test at a time: they measure latencies and CPU time, which tests beside them would skew.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn alone() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn demo_server(extra: &[&str], ulimit: Option<&str>) -> (tempfile::TempDir, Server) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut args = vec!["--demo"];
    args.extend_from_slice(extra);
    let server = start_with(&dir.path().join("fleet.db"), TOKEN, &args, ulimit);
    (dir, server)
}

/// POST a JSON body; the status and the error code (if any). A body over a megabyte is announced
/// by its Content-Length only: the server refuses it before reading (and a client still writing
/// would see a broken pipe).
fn post(url: &str, path: &str, body: &str) -> (u16, String) {
    if body.len() > 1024 * 1024 {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let addr = url.trim_start_matches("http://");
        let line = raw_status(addr, &head, b"", Duration::from_secs(10));
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        return (status, line);
    }
    let mut resp = agent()
        .post(&format!("{url}{path}"))
        .header("Content-Type", "application/json")
        .send(body.as_bytes())
        .expect("post");
    let status = resp.status().as_u16();
    let v: Value = serde_json::from_str(&resp.body_mut().read_to_string().unwrap_or_default())
        .unwrap_or_default();
    (status, v["error"]["code"].as_str().unwrap_or("").to_owned())
}

fn host_ids(url: &str) -> Vec<String> {
    let mut resp = agent()
        .get(&format!("{url}/api/v1/hosts"))
        .call()
        .expect("hosts");
    let v: Value =
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    v["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h["host_id"].as_str().map(str::to_owned))
        .collect()
}

/// A libvirt domain with `n` PCI host devices (6,000 made a 762 KB request and a 405 MB answer).
fn domain_with_hostdevs(n: usize) -> String {
    let mut xml = String::from(
        "<domain type='kvm'><memory unit='MiB'>2048</memory><vcpu>2</vcpu><os><type machine='pc-q35-7.2'>hvm</type></os><cpu mode='host-passthrough'/><devices>",
    );
    for i in 0..n {
        xml.push_str(&format!(
            "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x{:02x}' slot='0x{:02x}' function='0x{}'/></source></hostdev>",
            i / 256 % 256,
            i / 8 % 32,
            i % 8
        ));
    }
    xml.push_str("</devices></domain>");
    xml
}

#[test]
fn huge_inputs_get_413_or_422_and_health_answers_meanwhile() {
    let _alone = alone();
    let (_dir, server) = demo_server(&[], None);
    let url = server.url.clone();
    let hosts = host_ids(&url);
    let from = hosts[0].clone();
    let distinct: Vec<String> = (0..20_000).map(|i| format!("h{i}")).collect();
    let duplicates: Vec<&String> = (0..14_000).map(|i| &hosts[i % 2]).collect();
    let many = json!({ "hosts": distinct }).to_string();
    let big = format!("{{\"hosts\": [\"{}\"]}}", "x".repeat(2 * 1024 * 1024));
    let xml = domain_with_hostdevs(6_000);
    assert!(xml.len() > 700_000, "{}", xml.len());
    let cases: Vec<(&str, String, &[u16])> = vec![
        ("/api/v1/masks", many.clone(), &[422]),
        ("/api/v1/baseline", many.clone(), &[422]),
        ("/api/v1/graph", many, &[422]),
        ("/api/v1/masks", big.clone(), &[413]),
        ("/api/v1/baseline", big.clone(), &[413]),
        ("/api/v1/precheck", big, &[413]),
        (
            "/api/v1/precheck",
            json!({ "from": from, "guest": xml }).to_string(),
            &[422],
        ),
        // Duplicates are dropped: a pair of hosts named 14,000 times is one pair (it took 35 s).
        (
            "/api/v1/masks",
            json!({ "hosts": duplicates }).to_string(),
            &[200],
        ),
        // Valid heavy work beside it: the whole fleet.
        (
            "/api/v1/masks",
            json!({ "hosts": hosts }).to_string(),
            &[200, 422],
        ),
        (
            "/api/v1/precheck",
            json!({ "from": from, "guest": "qemu-system-x86_64 -machine pc-q35-7.2 -accel kvm -cpu host -smp 2 -m 2048" }).to_string(),
            &[200],
        ),
    ];
    let cases = Arc::new(cases);
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|c| {
            let (cases, stop, url) = (Arc::clone(&cases), Arc::clone(&stop), url.clone());
            std::thread::spawn(move || {
                // The load's own clients yield to the health checks they are measured against.
                let _ = rustix::process::setpriority_process(None, 10);
                let mut n = 0usize;
                let started = Instant::now();
                while !stop.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(30) {
                    let (path, body, expected) = &cases[(n + c) % cases.len()];
                    let t = Instant::now();
                    let (status, code) = post(&url, path, body);
                    assert!(
                        expected.contains(&status),
                        "{path} answered {status} ({code}), expected {expected:?}"
                    );
                    assert!(
                        t.elapsed() < Duration::from_secs(10),
                        "{path} took {:?}",
                        t.elapsed()
                    );
                    n += 1;
                }
                n
            })
        })
        .collect();
    // Health while they run: a fresh connection each time, as a monitor would.
    std::thread::sleep(Duration::from_millis(300));
    let mut took = Vec::new();
    for _ in 0..40 {
        let t = Instant::now();
        let resp = agent()
            .get(&format!("{url}/api/v1/health"))
            .call()
            .expect("health");
        assert_eq!(resp.status(), 200);
        took.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(50));
    }
    eprintln!("health while heavy requests ran: {took:?}");
    stop.store(true, Ordering::SeqCst);
    let mut done = 0;
    for c in clients {
        done += c.join().expect("client thread");
    }
    assert!(
        done >= 10,
        "only {done} heavy requests ran beside the health checks"
    );
    // Every answer within a second, and all but two of 40 within 100 ms: on a shared 2-core
    // machine a rare check waits for the CPU behind other processes, which is not this server.
    // (Engine work on the async workers made checks wait 16 s.)
    took.sort();
    assert!(
        took[took.len() - 1] < Duration::from_secs(1),
        "/api/v1/health took {:?} while heavy requests ran",
        took[took.len() - 1]
    );
    assert!(
        took[took.len() - 3] < Duration::from_millis(100),
        "/api/v1/health took over 100 ms in more than 2 of 40 checks while heavy requests ran: {took:?}"
    );
}

/// Raise this process's open-files limit so it can hold the sockets below.
fn raise_own_fd_limit(need: u64) {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let l = getrlimit(Resource::Nofile);
    if l.current.is_some_and(|c| c < need) {
        setrlimit(
            Resource::Nofile,
            Rlimit {
                current: l.maximum,
                maximum: l.maximum,
            },
        )
        .expect("raise the open-files limit of the test");
    }
    let now = getrlimit(Resource::Nofile).current;
    assert!(
        now.is_none_or(|c| c >= need),
        "this test needs {need} open files, the hard limit is {now:?}"
    );
}

fn idle_sockets(addr: &str, n: usize) -> Vec<TcpStream> {
    (0..n)
        .map(|_| TcpStream::connect(addr).expect("connect an idle socket"))
        .collect()
}

fn health_within(url: &str, limit: Duration) -> Duration {
    let t = Instant::now();
    let resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(limit))
        .build()
        .new_agent()
        .get(&format!("{url}/api/v1/health"))
        .call()
        .expect("a new client is answered beside the idle sockets");
    assert_eq!(resp.status(), 200);
    t.elapsed()
}

#[test]
fn eleven_hundred_idle_sockets_do_not_stop_a_new_client() {
    let _alone = alone();
    raise_own_fd_limit(2_400);
    // As under systemd's default: a soft limit of 1,024 the server raises to the hard limit.
    let (_dir, server) = demo_server(&[], Some("-Sn 1024"));
    let idle = idle_sockets(&server.addr, 1_100);
    std::thread::sleep(Duration::from_millis(300));
    let took = health_within(&server.url, Duration::from_secs(5));
    assert!(took < Duration::from_secs(1), "health took {took:?}");
    drop(idle);

    // A hard limit of 1,024 too: connections stop below it, and idle ones are closed after the
    // header timeout, so a new client waits at most about that long.
    let (_dir, server) = demo_server(&["--header-timeout", "1"], Some("-n 1024"));
    let idle = idle_sockets(&server.addr, 1_100);
    let took = health_within(&server.url, Duration::from_secs(8));
    assert!(took < Duration::from_secs(5), "health took {took:?}");
    drop(idle);
    // The server is still whole.
    health_within(&server.url, Duration::from_secs(5));
}

/// Send a request head (and maybe part of its body) on a raw socket and read the status line
/// within `wait`.
fn raw_status(addr: &str, head: &str, body_part: &[u8], wait: Duration) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(wait)).expect("read timeout");
    s.write_all(head.as_bytes()).expect("send head");
    s.write_all(body_part).expect("send part of the body");
    let mut buf = [0u8; 512];
    let n = s.read(&mut buf).unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .lines()
        .next()
        .unwrap_or("no answer")
        .to_owned()
}

fn upload_head(content_length: usize, token: Option<&str>) -> String {
    let auth = token.map_or_else(String::new, |t| format!("Authorization: Bearer {t}\r\n"));
    format!(
        "POST /api/v1/hosts HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{auth}Content-Length: {content_length}\r\n\r\n"
    )
}

#[test]
fn uploads_are_refused_before_their_body_is_read() {
    let _alone = alone();
    let (_dir, server) = demo_server(&["--body-timeout", "1"], None);
    let wait = Duration::from_secs(5);
    // A tokenless 4 MB upload: 401 without sending one byte of the body (were the body read
    // first, no answer would come before the body).
    let line = raw_status(&server.addr, &upload_head(4_000_000, None), b"", wait);
    assert!(line.starts_with("HTTP/1.1 401"), "{line}");
    let line = raw_status(
        &server.addr,
        &upload_head(4_000_000, Some("wrong")),
        b"",
        wait,
    );
    assert!(line.starts_with("HTTP/1.1 401"), "{line}");
    // With the token, a Content-Length over the 4 MiB limit is refused up front.
    let line = raw_status(
        &server.addr,
        &upload_head(10 * 1024 * 1024, Some(TOKEN)),
        b"",
        wait,
    );
    assert!(line.starts_with("HTTP/1.1 413"), "{line}");
    // A body that stops arriving: 408 after the body timeout (1 s here), not 503.
    let t = Instant::now();
    let line = raw_status(
        &server.addr,
        &upload_head(1_000, Some(TOKEN)),
        b"{\"schema_",
        wait,
    );
    assert!(line.starts_with("HTTP/1.1 408"), "{line}");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    // The same for a read's body.
    let head = "POST /api/v1/masks HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000000\r\n\r\n";
    let line = raw_status(&server.addr, head, b"", wait);
    assert!(line.starts_with("HTTP/1.1 413"), "{line}");
}

#[test]
fn idle_connections_are_closed_after_the_header_timeout() {
    let _alone = alone();
    let (_dir, server) = demo_server(&["--header-timeout", "1"], None);
    let mut s = TcpStream::connect(&server.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    let t = Instant::now();
    let mut buf = [0u8; 64];
    // Closed (0 bytes, or a reset), not left open until the read timeout.
    let _ = s.read(&mut buf);
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());

    // A keep-alive connection idle after its answer is closed too.
    let mut s = TcpStream::connect(&server.addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("read timeout");
    s.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .expect("request");
    let mut answer = [0u8; 512];
    let n = s.read(&mut answer).expect("answer");
    assert!(answer[..n].starts_with(b"HTTP/1.1 200"));
    let t = Instant::now();
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the idle connection is closed, not answered");
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[test]
fn sigterm_stops_the_server_within_its_deadline() {
    let _alone = alone();
    let (_dir, mut server) = demo_server(&[], None);
    // An open keep-alive connection does not hold the shutdown up.
    let _idle = TcpStream::connect(&server.addr).expect("connect");
    std::thread::sleep(Duration::from_millis(200));
    let pid = server.child.id().to_string();
    let sent = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill -TERM");
    assert!(sent.success());
    let t = Instant::now();
    let status = loop {
        if let Some(s) = server.child.try_wait().expect("wait") {
            break s;
        }
        assert!(
            t.elapsed() < Duration::from_secs(12),
            "still running 12 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}

/// CPU seconds the process has used (user + system), from /proc.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("/proc stat");
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 =
        fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime");
    ticks as f64 / 100.0
}

#[test]
fn work_whose_client_went_away_stops() {
    let _alone = alone();
    let (_dir, server) = demo_server(&[], None);
    let from = host_ids(&server.url)[0].clone();
    // Every host judged for 500 devices: seconds of engine work (refused in the end: the answer
    // would be over 32 MiB).
    let body = json!({ "from": from, "guest": domain_with_hostdevs(500) }).to_string();
    let pid = server.child.id();
    let before = cpu_seconds(pid);
    let (status, code) = post(&server.url, "/api/v1/precheck", &body);
    assert_eq!((status, code.as_str()), (422, "limit_exceeded"));
    let whole = cpu_seconds(pid) - before;
    assert!(whole > 0.3, "the work is too small to tell: {whole} s");

    let before = cpu_seconds(pid);
    let mut s = TcpStream::connect(&server.addr).expect("connect");
    let head = format!(
        "POST /api/v1/precheck HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).expect("head");
    s.write_all(body.as_bytes()).expect("body");
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
    std::thread::sleep(Duration::from_secs(3));
    let abandoned = cpu_seconds(pid) - before;
    assert!(
        abandoned < whole / 2.0,
        "{abandoned} s of CPU after the client left, {whole} s for the whole work"
    );
}
