//! The exports of `fleetcompat baseline` read by the real software that reads them:
//! - the libvirt `<cpu>` is accepted by Debian 12's libvirt (9.0.0): a private `libvirtd` with
//!   the QEMU driver, started here in its own mount namespace (its socket, state, run, cache and
//!   log folders are temporary ones; no system service is touched), compares it with
//!   `virsh hypervisor-cpu-compare` (libvirt src/qemu/qemu_driver.c,
//!   `qemuConnectCompareHypervisorCPU`, which resolves every model and feature name in its
//!   `cpu_map` and fails on an unknown one);
//! - the QEMU `-cpu` argument starts both QEMU releases the migration suite unpacks (Debian's 7.2
//!   and bookworm-backports' 10.0, tests/qemu-setup.sh), stopped (`-S`), then quit over QMP;
//! - so does this host's mask (`fleetcompat masks`, `-cpu host,...=off`) against real processors.
//!
//! Nothing is skipped: without libvirt the test fails naming the Debian packages.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use e2e::{Libvirtd, QemuVm, binary, qemu_release};

fn demo(file: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/demo/cpus")
        .join(file);
    assert!(p.exists(), "demo dump {} is missing", p.display());
    p.display().to_string()
}

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `fleetcompat baseline ARGS --json`.
fn baseline(args: &[&str]) -> serde_json::Value {
    let out = run(Command::new(binary("fleetcompat"))
        .arg("baseline")
        .args(args)
        .arg("--json"));
    assert!(
        out.status.success(),
        "fleetcompat baseline {args:?}: {}",
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("baseline json")
}

fn export<'a>(b: &'a serde_json::Value, key: &str) -> &'a str {
    b["exports"][key]
        .as_str()
        .unwrap_or_else(|| panic!("no exports.{key} in {b}"))
}

/// Start a QEMU release stopped with `-cpu CPU`, under KVM or, if KVM refuses, TCG; then quit.
fn qemu_starts(release: &str, cpu: &str, dir: &Path) {
    let r = qemu_release(release);
    let mut errors = Vec::new();
    for accel in ["kvm", "tcg"] {
        let args: Vec<String> = [
            "-S",
            "-nodefaults",
            "-machine",
            &format!("accel={accel}"),
            "-cpu",
            cpu,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        match QemuVm::start(&r, &args, dir, &format!("qemu-{release}-{accel}")) {
            Ok(mut vm) => {
                assert_eq!(vm.status().as_deref(), Some("prelaunch"), "qemu {release}");
                let _ = vm.qmp.execute("quit", serde_json::json!({}));
                return;
            }
            Err(e) => errors.push(format!("accel={accel}: {e}")),
        }
    }
    panic!("qemu {release} does not start with -cpu {cpu}: {errors:?}");
}

#[test]
fn exports_and_masks_fit_debian_12_libvirt_and_both_qemus() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let libvirtd = Libvirtd::start(&tmp.path().join("libvirt"));
    let vout = libvirtd.virsh(&["version"]);
    assert!(
        text(&vout.stdout).contains("libvirt 9.0.0"),
        "this test is about Debian 12's libvirt 9.0.0: {}",
        text(&vout.stdout)
    );

    // This machine, as the collector sees it (its profile records libvirt 9.0.0 too).
    let me = tmp.path().join("me.json");
    let out = run(Command::new(binary("fleetcompat-collector")).args([
        "probe",
        "--out",
        &me.display().to_string(),
        "--no-qemu",
        "--no-devices",
        "--quiet",
        "--host-id",
        "this-host",
    ]));
    assert!(out.status.success(), "probe: {}", text(&out.stderr));
    let profile: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&me).expect("profile")).expect("json");
    assert_eq!(
        profile["libvirt_version"], "9.0.0",
        "the probe records virsh -v"
    );
    let me = me.display().to_string();

    // Selections of real processors (the demo fleet's dumps), with and without this host.
    let selections: Vec<(&str, Vec<String>)> = vec![
        (
            "this host and a Core 2",
            vec![me.clone(), demo("x86_64-cpuid-Core2-E6850.xml")],
        ),
        (
            "Skylake and Ice Lake servers",
            vec![
                demo("x86_64-cpuid-Xeon-Gold-6148.xml"),
                demo("x86_64-cpuid-Ice-Lake-Server.xml"),
            ],
        ),
        (
            "an Ice Lake server",
            vec![demo("x86_64-cpuid-Ice-Lake-Server.xml")],
        ),
        (
            "Cascade Lake and Skylake",
            vec![
                demo("x86_64-cpuid-Xeon-Platinum-9242.xml"),
                demo("x86_64-cpuid-Xeon-Gold-5115.xml"),
            ],
        ),
        (
            "two Ryzens",
            vec![
                demo("x86_64-cpuid-Ryzen-7-1800X-Eight-Core.xml"),
                demo("x86_64-cpuid-Ryzen-9-3900X-12-Core.xml"),
            ],
        ),
        (
            "Intel and AMD",
            vec![
                demo("x86_64-cpuid-Xeon-Gold-6148.xml"),
                demo("x86_64-cpuid-Ryzen-9-3900X-12-Core.xml"),
            ],
        ),
    ];
    let qemu_dir = tmp.path().join("qemu");
    std::fs::create_dir_all(&qemu_dir).expect("qemu dir");
    let mut checked = 0;
    for (what, hosts) in &selections {
        let mut args: Vec<&str> = hosts.iter().map(String::as_str).collect();
        args.extend(["--qemu", "7.2.0"]);
        let b = baseline(&args);
        assert_eq!(b["exports"]["libvirt_checked"], "9.0.0", "{what}");
        let xml = export(&b, "libvirt");
        let file = tmp.path().join(format!("cpu-{checked}.xml"));
        std::fs::write(&file, xml).expect("cpu xml");
        let out = libvirtd.virsh(&["hypervisor-cpu-compare", &file.display().to_string()]);
        let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
        // Accepted: libvirt resolved every name and compared (this nested host's KVM offers
        // little, so real server baselines may be "incompatible" with it; that is an answer).
        assert!(
            stderr.trim().is_empty()
                && ["identical", "superset", "incompatible"]
                    .iter()
                    .any(|w| stdout.contains(w)),
            "{what}: libvirt 9.0.0 did not accept\n{xml}\nstdout: {stdout}\nstderr: {stderr}"
        );
        if hosts.contains(&me) {
            // A baseline that includes this host runs here.
            assert!(
                out.status.success(),
                "{what}: libvirt finds the baseline incompatible with this host\n{xml}\n{stdout}"
            );
        }
        let model = b["exports"]["libvirt_model"]
            .as_str()
            .expect("libvirt_model");
        assert!(
            !model.contains("-v"),
            "{what}: libvirt 9.0.0 has no versioned model {model}"
        );
        for release in ["7.2", "10.0"] {
            qemu_starts(release, export(&b, "qemu"), &qemu_dir);
        }
        checked += 1;
    }
    assert_eq!(checked, selections.len());

    // Masks name only flags QEMU accepts: this host's mask against real processors starts both
    // QEMU releases under KVM (the profile records each release's `host` expansion).
    let me_q = tmp.path().join("me-qemu.json");
    let mut probe = Command::new(binary("fleetcompat-collector"));
    probe
        .args(["probe", "--out"])
        .arg(&me_q)
        .args(["--no-devices", "--quiet", "--host-id", "this-host"])
        .args(["--no-qemu-discovery", "--cache-dir"])
        .arg(tmp.path().join("qmp-cache"));
    for release in ["7.2", "10.0"] {
        probe.arg("--qemu").arg(qemu_release(release).binary());
    }
    let out = run(&mut probe);
    assert!(out.status.success(), "probe: {}", text(&out.stderr));
    for other in [
        "x86_64-cpuid-Core-i7-2600.xml",
        "x86_64-cpuid-Xeon-Gold-6148.xml",
    ] {
        let out = run(Command::new(binary("fleetcompat"))
            .arg("masks")
            .arg(&me_q)
            .arg(demo(other))
            .arg("--json"));
        let m: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("masks json: {e}: {}", text(&out.stderr)));
        let cpu = m["source"]["qemu_cpu"].as_str().expect("qemu_cpu");
        assert!(!cpu.contains("vmx-"), "{cpu}");
        // The named alternative suits the oldest QEMU the profile recorded (7.2).
        let named = m["named_alternative"]["exports"]["qemu"]
            .as_str()
            .expect("named alternative");
        for release in ["7.2", "10.0"] {
            qemu_starts(release, named, &qemu_dir);
        }
        for release in ["7.2", "10.0"] {
            let r = qemu_release(release);
            let args: Vec<String> = ["-S", "-nodefaults", "-machine", "accel=kvm", "-cpu", cpu]
                .iter()
                .map(|s| (*s).to_owned())
                .collect();
            let mut vm = QemuVm::start(&r, &args, &qemu_dir, &format!("mask-{release}"))
                .unwrap_or_else(|e| panic!("mask against {other}: -cpu {cpu}: {e}"));
            assert_eq!(vm.status().as_deref(), Some("prelaunch"));
            let _ = vm.qmp.execute("quit", serde_json::json!({}));
        }
    }

    // The control: the versioned name libvirt 11.3.0 uses is rejected by libvirt 9.0.0, so the
    // test above would see a wrong export.
    let b = baseline(&[
        &demo("x86_64-cpuid-Ice-Lake-Server.xml"),
        "--libvirt-version",
        "11.3.0",
    ]);
    assert_eq!(b["exports"]["libvirt_checked"], "11.3.0");
    let file = tmp.path().join("cpu-versioned.xml");
    std::fs::write(&file, export(&b, "libvirt")).expect("cpu xml");
    let out = libvirtd.virsh(&["hypervisor-cpu-compare", &file.display().to_string()]);
    assert!(
        !out.status.success() && text(&out.stderr).contains("Unknown CPU model"),
        "libvirt 9.0.0 should not know {}: {}{}",
        b["exports"]["libvirt_model"],
        text(&out.stdout),
        text(&out.stderr)
    );
    drop(libvirtd);
}
