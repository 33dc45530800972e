//! The guests probe where libvirt is not there: the built collector, real /proc, real processes.
//! The libvirt side with a real libvirtd and real KVM domains is tests/tests/vms.rs.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

/// A process that ends when dropped.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn probe_with(env_path: Option<&str>, extra: &[&str]) -> (Value, String) {
    probe_env(env_path.map(|p| ("PATH", p)), extra)
}

fn probe_env(env: Option<(&str, &str)>, extra: &[&str]) -> (Value, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("p.json");
    let mut cmd = Command::new(BIN);
    cmd.args(["probe", "--no-qemu", "--no-devices", "--out"])
        .arg(&out)
        .args(extra);
    if let Some((k, v)) = env {
        cmd.env(k, v);
    }
    let o = cmd.output().expect("run the collector");
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(o.status.success(), "probe failed: {stderr}");
    (read_json(&out), stderr)
}

fn gap<'a>(p: &'a Value, what: &str) -> Option<&'a str> {
    p["gaps"]
        .as_array()
        .expect("gaps")
        .iter()
        .find(|g| g["what"] == what)
        .and_then(|g| g["reason"].as_str())
}

#[test]
fn libvirt_down_is_a_gap_and_capacity_matches_the_kernel() {
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = format!(
        "qemu+unix:///system?socket={}",
        dir.path().join("absent-sock").display()
    );
    let (p, stderr) = probe_with(None, &["--libvirt-uri", &uri]);
    let reason = gap(&p, "guests:libvirt").expect("a guests:libvirt gap");
    assert!(
        reason.contains(&uri) && reason.contains("absent-sock"),
        "{reason}"
    );
    assert!(stderr.contains("guests:libvirt"), "{stderr}");
    // No libvirt domain is invented.
    let vms = p["guests"]["vms"].as_array().expect("vms");
    assert!(vms.iter().all(|v| v["source"] != "libvirt"), "{vms:?}");
    // Capacity: glibc's count of online CPUs and free(1)'s total, both read independently.
    let online = Command::new("getconf")
        .arg("_NPROCESSORS_ONLN")
        .output()
        .expect("getconf");
    let online: u64 = String::from_utf8_lossy(&online.stdout)
        .trim()
        .parse()
        .expect("a number");
    assert_eq!(p["guests"]["capacity"]["logical_cpus"], online);
    let free = Command::new("free").arg("-m").output().expect("free -m");
    let total: u64 = String::from_utf8_lossy(&free.stdout)
        .lines()
        .find(|l| l.starts_with("Mem:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .expect("free's Mem: total");
    assert_eq!(p["guests"]["capacity"]["memory_mib"], total);

    // Without --libvirt-uri, libvirt's own default: LIBVIRT_DEFAULT_URI is honoured.
    let env_sock = dir.path().join("env-sock");
    let env_uri = format!("qemu+unix:///system?socket={}", env_sock.display());
    let (p, _) = probe_env(Some(("LIBVIRT_DEFAULT_URI", &env_uri)), &[]);
    let reason = gap(&p, "guests:libvirt").expect("a guests:libvirt gap");
    assert!(reason.contains("env-sock"), "{reason}");
}

#[test]
fn no_virsh_is_a_gap_naming_the_package_and_no_guests_reads_nothing() {
    let empty = tempfile::tempdir().expect("tempdir");
    let (p, _) = probe_with(Some(&empty.path().display().to_string()), &[]);
    let reason = gap(&p, "guests:libvirt").expect("a guests:libvirt gap");
    assert!(
        reason.contains("virsh is not installed") && reason.contains("libvirt-clients"),
        "{reason}"
    );
    let (p, _) = probe_with(None, &["--no-guests"]);
    assert!(p["guests"].is_null(), "{}", p["guests"]);
    assert!(
        p["gaps"]
            .as_array()
            .expect("gaps")
            .iter()
            .all(|g| !g["what"].as_str().unwrap_or("").starts_with("guest")),
        "{}",
        p["gaps"]
    );
}

/// A process whose command line the engine cannot parse is listed, with a gap. It is not a real
/// QEMU (a real one refuses such a line and exits): a `sleep` in Perl (Debian's perl-base, always
/// there) started under the name `qemu-system-x86_64` (bash `exec -a`), whose /proc/PID/cmdline
/// is what the probe reads.
#[test]
fn an_unparsable_qemu_command_line_is_listed_with_a_gap() {
    let child = Child(
        Command::new("bash")
            .args([
                "-c",
                "exec -a qemu-system-x86_64 /usr/bin/perl -e 'sleep 120' stray-word -smp 3",
            ])
            .stdin(Stdio::null())
            .spawn()
            .expect("bash and perl"),
    );
    let pid = child.0.id();
    // Wait until the exec has happened (the cmdline carries the new argv[0]).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .starts_with(b"qemu-system-x86_64\0")
    {
        assert!(Instant::now() < deadline, "the stand-in never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = format!(
        "qemu+unix:///system?socket={}",
        dir.path().join("s").display()
    );
    let (p, _) = probe_with(None, &["--libvirt-uri", &uri]);
    let id = format!("pid-{pid}");
    let vm = p["guests"]["vms"]
        .as_array()
        .expect("vms")
        .iter()
        .find(|v| v["id"] == id.as_str())
        .unwrap_or_else(|| panic!("no {id} in {}", p["guests"]));
    assert_eq!(vm["source"], "process");
    assert_eq!(vm["state"], "running");
    assert_eq!(vm["name"], id.as_str());
    // -smp still counted; no -m: QEMU's default 128 MiB.
    assert_eq!(
        (vm["vcpus"].as_u64(), vm["memory_mib"].as_u64()),
        (Some(3), Some(128))
    );
    assert_eq!(vm["definition"]["kind"], "command_line");
    let text = vm["definition"]["text"].as_str().expect("text");
    assert!(
        text.starts_with("qemu-system-x86_64 -e 'sleep 120' stray-word"),
        "{text}"
    );
    let reason = gap(&p, &format!("guest:{id}")).expect("a gap for the guest");
    assert!(
        reason.contains("stray-word") && reason.contains(&pid.to_string()),
        "{reason}"
    );
    drop(child);
}
