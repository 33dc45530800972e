//! The `fleetcompat serve` binary as a child process for the examples that drive it over
//! loopback (`scale`, `graph_change`): started on a free port with an admin token, ready once
//! `/api/v1/health` answers, killed when dropped.

use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub addr: std::net::SocketAddr,
    token: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// `bin serve --db DB` on a free loopback port, `FLEETCOMPAT_TOKEN=token`, logging at `log`.
    pub fn start(bin: &std::path::Path, db: &str, token: &str, log: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
        let child = Command::new(bin)
            .args(["serve", "--db", db, "--listen", &addr.to_string()])
            .env("FLEETCOMPAT_TOKEN", token)
            .env("FLEETCOMPAT_LOG", log)
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let server = Self {
            child,
            addr,
            token: token.to_owned(),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while ureq::get(&server.url("/api/v1/health")).call().is_err() {
            assert!(
                Instant::now() < deadline,
                "the server did not answer in 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        server
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// (VmRSS, VmHWM) of the server in MiB.
    pub fn memory(&self) -> (u64, u64) {
        super::proc::memory(self.child.id())
    }

    /// CPU time the server has used so far, user and system, in seconds.
    pub fn cpu_seconds(&self) -> f64 {
        cpu_seconds(self.child.id())
    }

    /// Context switches of the server's threads so far, voluntary and not (the
    /// `voluntary_ctxt_switches` and `nonvoluntary_ctxt_switches` of each
    /// `/proc/PID/task/TID/status`: Linux fs/proc/array.c, `task_context_switch_counts`);
    /// threads that ended are not counted.
    pub fn context_switches(&self) -> u64 {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else {
            return 0;
        };
        tasks
            .filter_map(Result::ok)
            .filter_map(|t| std::fs::read_to_string(t.path().join("status")).ok())
            .flat_map(|status| {
                status
                    .lines()
                    .filter(|l| l.contains("ctxt_switches:"))
                    .filter_map(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
                    .collect::<Vec<_>>()
            })
            .sum()
    }

    /// (status, bytes, time) of a GET with the token, the body read whole; status 0 when no
    /// answer came (within 120 s).
    pub fn get(&self, path: &str) -> (u16, usize, Duration) {
        let t = Instant::now();
        let agent = ureq::Agent::new_with_config(
            ureq::Agent::config_builder()
                .timeout_global(Some(Duration::from_secs(120)))
                .http_status_as_error(false)
                .build(),
        );
        match agent
            .get(&self.url(path))
            .header("Authorization", &format!("Bearer {}", self.token))
            .call()
        {
            Ok(mut r) => {
                let mut n = 0usize;
                let mut buf = vec![0u8; 1 << 16];
                let mut body = r.body_mut().as_reader();
                while let Ok(k) = body.read(&mut buf) {
                    if k == 0 {
                        break;
                    }
                    n += k;
                }
                (r.status().as_u16(), n, t.elapsed())
            }
            Err(_) => (0, 0, t.elapsed()),
        }
    }
}

/// CPU time of process `pid` so far (user + system, and of its children it has waited for), in
/// seconds: fields 14-17 of `/proc/PID/stat`, in clock ticks of `USER_HZ` (100 on Linux for
/// user space whatever the kernel's HZ: fs/proc/array.c, `do_task_stat`, `nsec_to_clock_t`);
/// 0 when the process is gone.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces: the fields after it start after its `)`.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(4)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    #[expect(clippy::cast_precision_loss, reason = "clock ticks")]
    let seconds = ticks as f64 / 100.0;
    seconds
}
