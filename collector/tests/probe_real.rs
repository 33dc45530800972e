//! The real probe on this machine (real CPUID, real /dev/kvm, real /sys, real QEMU): its content
//! must agree with what the kernel and QEMU themselves say.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

use common::*;
use serde_json::Value;

fn cpuinfo(key: &str) -> Vec<String> {
    std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(':'))
        .filter(|(k, _)| k.trim() == key)
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

fn probe(extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("p.json");
    let mut args = vec!["probe", "--out", out.to_str().expect("utf-8"), "--quiet"];
    args.extend_from_slice(extra);
    run_ok(&args);
    read_json(&out)
}

/// Features KVM legitimately offers a guest beyond what the host's raw CPUID shows, with why
/// (arch/x86/kvm/cpuid.c, kvm_set_cpu_caps): emulated in software or derived from other bits.
const KVM_SYNTHESIZED: &[&str] = &[
    "hypervisor",        // KVM sets CPUID.1:ECX[31] for every guest
    "x2apic",            // the in-kernel local APIC always emulates x2APIC mode
    "tsc-deadline",      // emulated with an hrtimer
    "arat",              // always-running APIC timer, emulated
    "arch-capabilities", // KVM emulates IA32_ARCH_CAPABILITIES on every host
    "spec-ctrl",         // Intel bits derived from AMD IBRS/IBPB/STIBP/SSBD and back
    "stibp",
    "ssbd",
    "ibpb",
    "ibrs",
    "amd-ssbd",
    "amd-stibp",
    "virt-ssbd",
    "lfence-always-serializing", // AMD 80000021H bits KVM sets unconditionally
    "null-sel-clr-base",
    "no-nested-data-bp",
    "tsc-adjust", // IA32_TSC_ADJUST is emulated
    "umip",       // emulated through descriptor-table exits
];

#[test]
fn cpu_identity_kernel_and_vulnerabilities_match_the_kernel() {
    let p = probe(&["--no-qemu", "--no-devices"]);
    assert_eq!(p["schema_version"], 1);
    let cpu = &p["cpu"];
    assert_eq!(cpu["vendor"], cpuinfo("vendor_id")[0].as_str());
    assert_eq!(
        norm(cpu["brand"].as_str().unwrap_or("")),
        norm(&cpuinfo("model name")[0])
    );
    assert_eq!(
        cpu["family"].as_u64().map(|f| f.to_string()),
        Some(cpuinfo("cpu family")[0].clone())
    );
    assert_eq!(
        cpu["model"].as_u64().map(|f| f.to_string()),
        Some(cpuinfo("model")[0].clone())
    );
    assert_eq!(cpu["microcode"], cpuinfo("microcode")[0].as_str());
    // CPUID was read on every logical CPU.
    assert_eq!(
        p["logical_cpus"].as_u64(),
        Some(cpuinfo("processor").len() as u64)
    );
    assert!(cpu["raw_cpuid"].as_array().is_some_and(|a| a.len() > 20));
    // Flags Linux shows come from the same CPUID bits.
    let flags: BTreeSet<String> = cpuinfo("flags")[0]
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let feats = names(&cpu["features"]);
    for (linux, qemu) in [
        ("fpu", "fpu"),
        ("sse2", "sse2"),
        ("lm", "lm"),
        ("hypervisor", "hypervisor"),
    ] {
        assert_eq!(
            flags.contains(linux),
            feats.contains(&qemu.to_owned()),
            "{qemu}"
        );
    }
    let uname = Command::new("uname").arg("-r").output().expect("uname");
    assert_eq!(
        p["kernel_release"],
        String::from_utf8_lossy(&uname.stdout).trim()
    );
    let vdir = Path::new("/sys/devices/system/cpu/vulnerabilities");
    let files: BTreeSet<String> = std::fs::read_dir(vdir)
        .expect("vulnerabilities folder")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    let got: BTreeSet<String> = p["vulnerabilities"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    assert_eq!(got, files);
    assert_eq!(
        p["vulnerabilities"]["meltdown"],
        std::fs::read_to_string(vdir.join("meltdown"))
            .unwrap_or_default()
            .trim()
    );
}

#[test]
fn kvm_guest_view_is_real_and_within_what_the_host_allows() {
    let p = probe(&["--no-qemu", "--no-devices"]);
    let gaps = p["gaps"].to_string();
    if std::fs::File::open("/dev/kvm").is_err() {
        assert!(p["kvm"].is_null() && gaps.contains("/dev/kvm"), "{gaps}");
        return;
    }
    let kvm = &p["kvm"];
    assert_eq!(
        kvm["api_version"], 12,
        "KVM_GET_API_VERSION is 12 on every kernel since 2.6.22"
    );
    assert!(
        kvm["supported_cpuid"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(
        kvm["msr_index_list"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    // KVM always emulates MOVBE (KVM_GET_EMULATED_CPUID, __do_cpuid_func_emulated).
    let emulated = kvm["emulated_cpuid"].as_array().expect("emulated cpuid");
    let movbe = emulated
        .iter()
        .any(|e| e["leaf"] == 1 && e["ecx"].as_u64().is_some_and(|c| c & (1 << 22) != 0));
    assert!(movbe, "KVM_GET_EMULATED_CPUID lacks movbe: {emulated:?}");
    // IA32_ARCH_CAPABILITIES is either read or explicitly recorded as refused.
    let msrs: Vec<u64> = kvm["feature_msrs"]
        .as_array()
        .map(|a| a.iter().filter_map(|m| m["index"].as_u64()).collect())
        .unwrap_or_default();
    assert!(
        msrs.contains(&0x10a) || gaps.contains("0x0000010a"),
        "{msrs:?} {gaps}"
    );
    // The guest view's CPUID features must come from the host CPUID, KVM's emulation, or the
    // features KVM synthesizes. MSR-located features are checked apart (raw MSRs are not read).
    let catalog = shared::catalog();
    let raw: BTreeSet<String> = names(&p["cpu"]["features"]).into_iter().collect();
    let entries: Vec<shared::profile::CpuidEntry> =
        serde_json::from_value(kvm["emulated_cpuid"].clone()).expect("entries");
    let emulated: BTreeSet<String> = shared::decode::features(&entries, &[])
        .names()
        .into_iter()
        .collect();
    let mut beyond = Vec::new();
    for name in names(&kvm["guest_features"]) {
        let id = catalog.lookup(&name).expect("catalog name");
        match catalog.get(id).location {
            shared::catalog::FeatureLocation::Msr { index, .. } => {
                assert!(
                    msrs.contains(&u64::from(index)),
                    "{name} without its MSR {index:#x}"
                );
            }
            shared::catalog::FeatureLocation::Cpuid { .. } => {
                if !raw.contains(&name) && !emulated.contains(&name) {
                    beyond.push(name);
                }
            }
        }
    }
    let unexplained: Vec<&String> = beyond
        .iter()
        .filter(|n| !KVM_SYNTHESIZED.contains(&n.as_str()))
        .collect();
    assert!(
        unexplained.is_empty(),
        "KVM offers features the host lacks: {unexplained:?}"
    );
    // This nested KVM offers far fewer features than raw CPUID shows: the profile says so.
    let guest = names(&kvm["guest_features"]).len();
    assert!(guest > 10, "{guest}");
}

#[test]
fn devices_are_read_from_sysfs() {
    let p = probe(&["--no-qemu"]);
    let pci = p["devices"]["pci"].as_array().expect("pci list");
    let listed = std::fs::read_dir("/sys/bus/pci/devices")
        .map(|r| r.count())
        .unwrap_or(0);
    assert_eq!(pci.len(), listed);
    for f in pci {
        let addr = f["address"].as_str().expect("address");
        let vendor =
            std::fs::read_to_string(format!("/sys/bus/pci/devices/{addr}/vendor")).expect("vendor");
        assert_eq!(
            f["vendor"].as_u64(),
            u64::from_str_radix(vendor.trim().trim_start_matches("0x"), 16).ok()
        );
    }
}

/// `-machine help` lines: (name, alias-of, default, deprecated).
fn machine_help(qemu: &Path) -> Vec<(String, Option<String>, bool, bool)> {
    let out = Command::new(qemu)
        .args(["-machine", "help"])
        .output()
        .expect("-machine help");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip(1)
        .filter_map(|l| {
            let name = l.split_whitespace().next()?.to_owned();
            let alias_of = l
                .split("(alias of ")
                .nth(1)
                .and_then(|s| s.split(')').next())
                .map(str::to_owned);
            Some((
                name,
                alias_of,
                l.contains("(default)"),
                l.contains("(deprecated)"),
            ))
        })
        .collect()
}

/// Probe arguments for `qemu` alone, no devices, with its own QMP cache folder.
fn only_this_qemu<'a>(qemu: &'a Path, cache: &'a Path) -> Vec<&'a str> {
    vec![
        "--no-devices",
        "--no-qemu-discovery",
        "--qemu",
        qemu.to_str().expect("utf-8"),
        "--cache-dir",
        cache.to_str().expect("utf-8"),
    ]
}

#[test]
fn installed_qemu_agrees_with_its_own_help_and_really_runs_usable_models() {
    let qemu = qemu_x86();
    let cache = tempfile::tempdir().expect("tempdir");
    let args = only_this_qemu(&qemu, cache.path());
    let p = probe(&args);
    let installs = p["qemu"].as_array().expect("qemu list");
    assert_eq!(installs.len(), 1, "gaps: {}", p["gaps"]);
    let q = &installs[0];
    let version = Command::new(&qemu)
        .arg("--version")
        .output()
        .expect("--version");
    let version = String::from_utf8_lossy(&version.stdout);
    assert!(
        version.starts_with(&format!(
            "QEMU emulator version {}",
            q["version"].as_str().unwrap_or("?")
        )),
        "{version}"
    );
    let kvm_ok = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok();
    assert_eq!(q["accel"], if kvm_ok { "kvm" } else { "tcg" });
    // QEMU's own `host` model under KVM lies within what KVM offers (QEMU may add the bits it
    // always sets for a guest).
    if kvm_ok {
        let host: BTreeSet<String> = names(&q["host_model"]).into_iter().collect();
        assert!(host.len() > 10, "{host:?}");
        let guest: BTreeSet<String> = names(&p["kvm"]["guest_features"]).into_iter().collect();
        let extra: Vec<&String> = host
            .difference(&guest)
            .filter(|f| !["hypervisor", "x2apic", "tsc-deadline", "arat"].contains(&f.as_str()))
            .collect();
        assert!(
            extra.is_empty(),
            "QEMU's host model has features KVM does not offer: {extra:?}"
        );
    }
    // Machine types: the same names, aliases, default and deprecation as `-machine help`.
    let help = machine_help(&qemu);
    let machines = q["machines"].as_array().expect("machines");
    let real: Vec<&(String, Option<String>, bool, bool)> =
        help.iter().filter(|h| h.1.is_none()).collect();
    let got: BTreeSet<&str> = machines.iter().filter_map(|m| m["name"].as_str()).collect();
    let want: BTreeSet<&str> = real.iter().map(|h| h.0.as_str()).collect();
    assert_eq!(got, want);
    for (alias, target, ..) in help
        .iter()
        .filter_map(|h| h.1.as_ref().map(|t| (&h.0, t, h.2)))
    {
        let m = machines
            .iter()
            .find(|m| m["name"] == target.as_str())
            .expect("alias target");
        assert_eq!(m["alias"], alias.as_str());
    }
    for (name, _, default, deprecated) in real {
        let m = machines
            .iter()
            .find(|m| m["name"] == name.as_str())
            .expect("machine");
        assert_eq!(
            m["is_default"].as_bool().unwrap_or(false),
            *default,
            "{name}"
        );
        assert_eq!(
            m["deprecated"].as_bool().unwrap_or(false),
            *deprecated,
            "{name}"
        );
    }
    assert!(got.iter().any(|n| n.starts_with("pc-q35-")));
    // CPU models: every model `-cpu help` lists, usable ones with no unavailable features.
    let models = q["cpu_models"].as_array().expect("models");
    let cpu_help = Command::new(&qemu)
        .args(["-cpu", "help"])
        .output()
        .expect("-cpu help");
    for l in String::from_utf8_lossy(&cpu_help.stdout)
        .lines()
        .filter(|l| l.starts_with("x86 "))
    {
        let name = l.split_whitespace().nth(1).expect("model name");
        assert!(models.iter().any(|m| m["name"] == name), "{name} missing");
    }
    let usable: Vec<&str> = models
        .iter()
        .filter(|m| m["usable"] == true)
        .filter_map(|m| m["name"].as_str())
        .collect();
    assert!(!usable.is_empty());
    let unusable = models
        .iter()
        .find(|m| m["usable"] == false && m["name"].as_str().is_some_and(|n| n.ends_with("-v1")))
        .and_then(|m| m["name"].as_str());
    let accel = q["accel"].as_str().unwrap_or("tcg");
    // `-cpu MODEL,enforce` must start exactly when usable, and refuse naming the same features.
    let start = |model: &str| {
        let (ran, stderr) = real_start(&qemu, accel, &format!("{model},enforce"));
        let refused: BTreeSet<String> = stderr
            .lines()
            .filter_map(|l| l.split("requested feature: ").nth(1))
            .filter_map(|f| {
                // "CPUID.01H:ECX.sse4.1 [bit 19]" -> "sse4.1"
                let loc = f.split_whitespace().next()?;
                let reg = loc.rsplit(':').next()?;
                reg.split_once('.').map(|(_, name)| name.to_owned())
            })
            .collect();
        (ran, refused)
    };
    let probe_model = if usable.contains(&"pentium-v1") {
        "pentium-v1"
    } else {
        usable[0]
    };
    assert!(
        start(probe_model).0,
        "{probe_model} is reported usable but QEMU refuses it"
    );
    if let Some(u) = unusable {
        let (ran, refused) = start(u);
        assert!(
            !ran,
            "{u} is reported unusable but QEMU starts it with enforce"
        );
        let m = models.iter().find(|m| m["name"] == u).expect("model");
        let reported: BTreeSet<String> = names(&m["unavailable_features"]).into_iter().collect();
        assert_eq!(
            reported, refused,
            "{u}: unavailable features differ from QEMU's refusal"
        );
    }
    // A second run answers from the cache (keyed by sha256 + kernel release + accelerator).
    let cached: Vec<_> = std::fs::read_dir(cache.path().join("qemu"))
        .expect("cache folder")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    assert_eq!(cached.len(), 1, "{cached:?}");
    assert!(cached[0].contains(q["sha256"].as_str().unwrap_or("?")));
    let again = probe(&args);
    assert_eq!(again["qemu"], p["qemu"]);
}

/// A stopped start of `qemu` with `-cpu CPU` on its default machine (`-S`, no disk): whether
/// QMP answered `prelaunch`, and what QEMU wrote on stderr.
fn real_start(qemu: &Path, accel: &str, cpu: &str) -> (bool, String) {
    let mut child = Command::new(qemu)
        .args(["-accel", accel, "-nodefaults", "-display", "none", "-S"])
        .args(["-cpu", cpu, "-qmp", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn qemu");
    if let Some(mut stdin) = child.stdin.take() {
        use std::io::Write;
        let _ = writeln!(
            stdin,
            "{{\"execute\":\"qmp_capabilities\"}}\n{{\"execute\":\"query-status\"}}\n{{\"execute\":\"quit\"}}"
        );
    }
    let out = child.wait_with_output().expect("qemu output");
    (
        String::from_utf8_lossy(&out.stdout).contains("\"prelaunch\""),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The collector's stopped starts (`host_cpu_start`, and `--check-cpu` models with `enforce`)
/// say what a start of the same QEMU with the same `-cpu` says, QEMU's error text included.
#[test]
fn start_checks_agree_with_real_starts() {
    let qemu = qemu_x86();
    let cache = tempfile::tempdir().expect("tempdir");
    let mut args = only_this_qemu(&qemu, cache.path());
    let p = probe(&args);
    let q = &p["qemu"][0];
    if q["accel"] != "kvm" {
        assert!(q["host_cpu_start"].is_null(), "no start check under tcg");
        return;
    }
    let (ran, stderr) = real_start(&qemu, "kvm", "host");
    assert_eq!(
        q["host_cpu_start"]["ok"].as_bool(),
        Some(ran),
        "{}; QEMU said: {stderr}",
        q["host_cpu_start"]
    );
    // One model KVM gives in full and one it does not, tried with `enforce`.
    let models = q["cpu_models"].as_array().expect("models");
    let pick = |usable: bool| {
        models
            .iter()
            .filter(|m| m["usable"] == usable)
            .filter_map(|m| m["name"].as_str())
            .find(|n| n.ends_with("-v1"))
            .expect("a -v1 model")
    };
    let (usable, unusable) = (pick(true), pick(false));
    args.extend(["--check-cpu", usable, "--check-cpu", unusable]);
    let t = std::time::Instant::now();
    let p = probe(&args);
    let took = t.elapsed();
    let q = &p["qemu"][0];
    for model in [usable, unusable] {
        let cpu = format!("{model},enforce");
        let (ran, stderr) = real_start(&qemu, "kvm", &cpu);
        let rec = &q["cpu_start_checks"][&cpu];
        assert_eq!(rec["ok"].as_bool(), Some(ran), "{cpu}: {rec}");
        if !ran {
            let said: Vec<&str> = stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            assert_eq!(rec["error"].as_str(), Some(said.join(" / ").as_str()));
            assert!(
                stderr.contains("Host doesn't support requested features"),
                "{stderr}"
            );
        }
    }
    assert!(
        !q["cpu_start_checks"][&format!("{unusable},enforce")]["ok"]
            .as_bool()
            .unwrap_or(true),
        "{unusable} is reported unusable, its enforced start must fail"
    );
    // Cached QMP answers plus two stopped starts: well under the QMP timeout.
    assert!(took.as_secs() < 10, "the probe took {took:?}");
}

#[test]
fn missing_qemu_is_a_gap_not_a_failure() {
    let p = probe(&[
        "--no-devices",
        "--no-qemu-discovery",
        "--qemu",
        "/nonexistent/qemu-system-x86_64",
        "--no-cache",
    ]);
    let gaps = p["gaps"].to_string();
    assert!(
        gaps.contains("qemu:/nonexistent/qemu-system-x86_64"),
        "{gaps}"
    );
    assert!(p["qemu"].is_null());
}

#[test]
fn a_hanging_qemu_times_out_into_a_gap() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().expect("tempdir");
    let fake = dir.path().join("qemu-system-hang");
    std::fs::write(&fake, "#!/bin/sh\nsleep 60\n").expect("write");
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let t = std::time::Instant::now();
    let p = probe(&[
        "--no-devices",
        "--no-qemu-discovery",
        "--no-cache",
        "--qemu-timeout",
        "1",
        "--qemu",
        fake.to_str().expect("utf-8"),
    ]);
    assert!(
        t.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        t.elapsed()
    );
    let gaps = p["gaps"].to_string();
    assert!(
        gaps.contains("QMP timed out after 1s waiting for the QMP greeting"),
        "{gaps}"
    );
}

/// An unprivileged user: no /dev/kvm, yet a profile with every CPU's CPUID and a gap saying why.
#[test]
fn unprivileged_probe_records_the_kvm_gap_and_still_reads_every_cpu() {
    let is_root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if !is_root {
        // Already unprivileged: the plain probe tests cover this case.
        return;
    }
    // The build folder may sit under /root (CI's cache), which nobody cannot enter: run a copy
    // from a folder everyone can read.
    let dir = tempfile::tempdir().expect("temp dir");
    let copy = dir.path().join("fleetcompat-collector");
    std::fs::copy(BIN, &copy).expect("copy the collector binary");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod temp dir");
    }
    let out = Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            copy.to_str().expect("utf-8 path"),
            "probe",
            "--no-qemu",
            "--no-devices",
            "--out",
            "-",
        ])
        .output()
        .expect("runuser (util-linux) runs the collector as nobody");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot open /dev/kvm: Permission denied"),
        "{err}"
    );
    assert!(err.contains("add the user to the kvm group"), "{err}");
    let p: Value = serde_json::from_slice(&out.stdout).expect("profile json");
    assert!(p["kvm"].is_null());
    assert_eq!(
        p["logical_cpus"].as_u64(),
        Some(cpuinfo("processor").len() as u64)
    );
    assert_eq!(p["cpu"]["vendor"], cpuinfo("vendor_id")[0].as_str());
}
