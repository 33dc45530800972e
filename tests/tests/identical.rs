//! Identical hosts produce no warning and no mask, through the binaries as the README shows
//! them: this machine probed twice by the real `fleetcompat-collector probe` (as two host ids),
//! then `fleetcompat compare A B` for each guest CPU mode and `fleetcompat masks A B`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn probe(dir: &Path, id: &str) -> PathBuf {
    let out = dir.join(format!("{id}.json"));
    let o = Command::new(e2e::fresh_binary("fleetcompat-collector"))
        .args(["probe", "--quiet", "--host-id", id, "--no-devices"])
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .arg("--out")
        .arg(&out)
        .output()
        .expect("run fleetcompat-collector probe");
    assert!(
        o.status.success(),
        "fleetcompat-collector probe failed ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

fn fleetcompat(args: &[&str], files: &[&Path]) -> (i32, serde_json::Value) {
    let o = Command::new(e2e::fresh_binary("fleetcompat"))
        .args(args)
        .args(files)
        .arg("--json")
        .output()
        .expect("run fleetcompat");
    let code = o.status.code().unwrap_or(-1);
    let text = String::from_utf8_lossy(&o.stdout);
    let json = serde_json::from_str(&text).unwrap_or_else(|e| {
        panic!(
            "fleetcompat {args:?} printed no json ({e}), exit {code}: {text}{}",
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (code, json)
}

#[test]
fn identical_hosts_give_no_warning_and_no_mask() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (a, b) = (probe(dir.path(), "twin-a"), probe(dir.path(), "twin-b"));
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&a).expect("profile")).expect("json");
    if profile["kvm"].is_null() {
        panic!("this machine's profile has no KVM guest view: the test needs a readable /dev/kvm");
    }
    // Plain -cpu host may not start on every host (QEMU's stopped start says so, and then the
    // blocker is the truth); nothing else may block or warn between identical hosts.
    let host_cpu_fails = profile["qemu"]
        .as_array()
        .is_some_and(|qs| qs.iter().any(|q| q["host_cpu_start"]["ok"] == false));
    for cpu in ["host-passthrough", "host-model", "qemu64", "Nehalem-v1"] {
        let (code, v) = fleetcompat(&["compare", "--cpu", cpu], &[&a, &b]);
        let reasons = v["reasons"].as_array().cloned().unwrap_or_default();
        let loud: Vec<String> = reasons
            .iter()
            .filter(|r| r["severity"] != "info")
            .filter(|r| !(host_cpu_fails && r["rule"] == "cpu.host-cpu-cannot-start"))
            .map(|r| format!("{} {}: {}", r["severity"], r["rule"], r["message"]))
            .collect();
        assert!(
            loud.is_empty(),
            "--cpu {cpu} between identical hosts: {loud:#?}"
        );
        if !host_cpu_fails || cpu != "host-passthrough" {
            assert_eq!(code, 0, "--cpu {cpu}: {v}");
        }
    }
    let (code, m) = fleetcompat(&["masks"], &[&a, &b]);
    assert_eq!(code, 0, "masks between identical hosts: {m}");
    for side in ["source", "destination"] {
        let off = m[side]["disable"].as_array().map_or(0, Vec::len);
        assert_eq!(off, 0, "the {side} of identical hosts gets a mask: {m}");
        assert_eq!(m[side]["qemu_cpu"], "host", "{m}");
    }
}
