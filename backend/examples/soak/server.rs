//! The server under test: the real `fleetcompat serve` binary on loopback, started, killed with
//! SIGKILL, restarted on the same database and port, stopped with SIGTERM, and measured through
//! /proc (VmRSS, VmHWM, open descriptors).

use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::{Conn, Request};

/// How to start the server; the same every time, as systemd would restart it.
#[derive(Clone, Debug)]
pub struct Spec {
    pub bin: PathBuf,
    pub db: PathBuf,
    pub addr: SocketAddr,
    pub token: String,
    pub log: PathBuf,
}

/// A running server process.
pub struct Server {
    child: Child,
    pub pid: u32,
}

impl Spec {
    /// Start `fleetcompat serve --demo` (the demo fleet is loaded into an empty database only) and
    /// wait until `/api/v1/health` answers.
    pub async fn start(&self) -> Result<(Server, Duration), String> {
        let started = Instant::now();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(|e| format!("cannot open the server log {}: {e}", self.log.display()))?;
        let err_log = log
            .try_clone()
            .map_err(|e| format!("cannot share the server log: {e}"))?;
        let mut child = Command::new(&self.bin)
            .arg("serve")
            .arg("--db")
            .arg(&self.db)
            .arg("--listen")
            .arg(self.addr.to_string())
            .arg("--demo")
            .env("FLEETCOMPAT_TOKEN", &self.token)
            .env("FLEETCOMPAT_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start {}: {e} (cargo xtask soak builds it)",
                    self.bin.display()
                )
            })?;
        let pid = child.id();
        let deadline = started + Duration::from_secs(120);
        let health = Request {
            method: hyper::Method::GET,
            path: "/api/v1/health".into(),
            body: hyper::body::Bytes::new(),
            token: None,
        };
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!(
                    "the server exited during start ({status}); its log:\n{}",
                    tail(&self.log)
                ));
            }
            if let Ok(mut c) = Conn::open(self.addr).await
                && let Ok((200, _)) = c.send(&health).await
            {
                return Ok((Server { child, pid }, started.elapsed()));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "the server did not answer /api/v1/health within 120 s; its log:\n{}",
                    tail(&self.log)
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Server {
    /// `kill -9`: no shutdown code runs, as in a crash or the OOM killer.
    pub fn kill9(mut self) -> Result<(), String> {
        // std's `Child::kill` sends SIGKILL on Unix.
        self.child
            .kill()
            .map_err(|e| format!("cannot kill -9 the server (pid {}): {e}", self.pid))?;
        self.child
            .wait()
            .map_err(|e| format!("cannot reap the killed server: {e}"))?;
        Ok(())
    }

    /// SIGTERM, as systemd stops it; SIGKILL if it is still there after 20 s.
    pub fn stop(mut self) -> Result<std::process::ExitStatus, String> {
        use rustix::process::{Pid, Signal, kill_process};
        kill_process(Pid::from_child(&self.child), Signal::TERM)
            .map_err(|e| format!("cannot send SIGTERM to the server (pid {}): {e}", self.pid))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Ok(None) => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    return Err("the server did not stop within 20 s of SIGTERM".into());
                }
                Err(e) => return Err(format!("cannot wait for the server: {e}")),
            }
        }
    }
}

/// Memory and descriptors of a process, from /proc.
#[derive(Clone, Copy, Debug, Default)]
pub struct ProcStats {
    /// Resident set now (VmRSS), KiB.
    pub rss_kib: u64,
    /// Peak resident set of the process's life (VmHWM), KiB.
    pub hwm_kib: u64,
    pub threads: u64,
    pub fds: u64,
    /// CPU time used so far, user and system, in seconds.
    pub cpu_s: f64,
}

/// `None` when the process is gone.
pub fn proc_stats(pid: u32) -> Option<ProcStats> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    // /proc/PID/stat: utime and stime are the 14th and 15th fields, counted after the command
    // name's closing parenthesis, in USER_HZ ticks (100 a second on Linux, proc(5)).
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = &stat[stat.rfind(')')? + 1..];
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    #[expect(clippy::cast_precision_loss, reason = "CPU seconds")]
    let cpu_s = ticks as f64 / 100.0;
    Some(ProcStats {
        rss_kib: field("VmRSS:"),
        hwm_kib: field("VmHWM:"),
        threads: field("Threads:"),
        fds: u64::try_from(fds).unwrap_or(u64::MAX),
        cpu_s,
    })
}

/// The connection limit the server logged at start (`serve.rs`: "serving max_connections=N").
pub fn logged_connection_limit(log: &Path) -> Option<usize> {
    let text = strip_ansi(&std::fs::read_to_string(log).ok()?);
    text.lines().rev().find_map(|l| {
        let rest = &l[l.find("max_connections=")? + "max_connections=".len()..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    })
}

/// The text without terminal colour sequences (`ESC [ ... letter`), which tracing may write.
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The last lines of a log, for an error message.
pub fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
