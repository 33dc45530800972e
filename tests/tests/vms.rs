//! The collector reads the guests of its host (issue 13), all real parts: a private `libvirtd`
//! (Debian's libvirt-daemon-system, own config, sockets and state folders in its own mount
//! namespace; no system service touched, see `e2e::Libvirtd`) with three KVM domains defined from
//! XML (different CPU models and machine types, Debian's qemu-system-x86, no disk, 64-96 MiB):
//! one running, one paused, one defined and shut off; one raw QEMU process started without
//! libvirt (`e2e::QemuVm`). The built `fleetcompat-collector probe --libvirt-uri URI` must list
//! each once with its definition, state, vCPUs, memory and source, and each definition must be
//! what the built `fleetcompat compare --guest` reads (a verdict, not an input error).
//!
//! Bad input: a domain that vanishes between `virsh list` and its `dominfo`/`dumpxml`, and a
//! definition the engine cannot parse, cannot be produced with a real libvirtd on demand (the
//! first is a race, libvirt writes only XML its own parser accepts): a test double, a `virsh`
//! script first on PATH, wraps the real `virsh` talking to the real daemon; it adds one UUID no
//! domain has to `list` (so the real libvirtd answers "domain not found" for it, as for a domain
//! undefined meanwhile) and breaks `<memory>` in one domain's real `dumpxml`. libvirt down is
//! real: the daemon is stopped and the socket is gone.
//!
//! Then `fleetcompat drain` of the probed host in the demo fleet (assets/demo, imported by the
//! built collector, each demo host given room for guests): every VM's targets and outcome must
//! be what `fleetcompat compare --guest` says of the same pairs, and the unparsable definition
//! makes its VM unreadable and the host not drainable.
//!
//! The binaries are not built by this test: `cargo build -p backend -p collector` first.

use std::path::{Path, PathBuf};
use std::process::Command;

use e2e::{Libvirtd, QemuVm, fresh_binary, qemu_release};
use serde_json::Value;

struct Domain {
    name: &'static str,
    uuid: &'static str,
    machine: &'static str,
    /// The `<cpu>` element.
    cpu: &'static str,
    vcpus: u32,
    max_vcpus: u32,
    memory_mib: u64,
    /// After define: "start", "pause" (start then suspend) or "" (stays shut off).
    then: &'static str,
    state: &'static str,
}

const DOMAINS: [Domain; 3] = [
    Domain {
        name: "vm-q35-westmere",
        uuid: "5a1e0c3d-13aa-4f0e-9c2b-000000000001",
        machine: "pc-q35-7.2",
        // check='none': this host's KVM lacks some of Westmere's features; QEMU filters them.
        cpu: "<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>Westmere</model></cpu>",
        vcpus: 1,
        max_vcpus: 2,
        memory_mib: 64,
        then: "start",
        state: "running",
    },
    Domain {
        name: "vm-i440fx-host",
        uuid: "5a1e0c3d-13aa-4f0e-9c2b-000000000002",
        machine: "pc-i440fx-7.2",
        cpu: "<cpu mode='host-passthrough' check='none' migratable='on'/>",
        vcpus: 2,
        max_vcpus: 2,
        memory_mib: 96,
        then: "pause",
        state: "paused",
    },
    Domain {
        name: "vm-q35-6.2-epyc",
        uuid: "5a1e0c3d-13aa-4f0e-9c2b-000000000003",
        machine: "pc-q35-6.2",
        cpu: "<cpu mode='custom' match='exact' check='none'><model fallback='forbid'>EPYC</model></cpu>",
        vcpus: 1,
        max_vcpus: 1,
        memory_mib: 64,
        then: "",
        state: "shut_off",
    },
];

const RAW_UUID: &str = "5a1e0c3d-13aa-4f0e-9c2b-0000000000a1";
const GONE_UUID: &str = "5a1e0c3d-13aa-4f0e-9c2b-0000000000ff";

fn domain_xml(d: &Domain) -> String {
    format!(
        "<domain type='kvm'>\n  <name>{}</name>\n  <uuid>{}</uuid>\n  <memory unit='MiB'>{}</memory>\n  <currentMemory unit='MiB'>{}</currentMemory>\n  <vcpu placement='static' current='{}'>{}</vcpu>\n  <os><type arch='x86_64' machine='{}'>hvm</type></os>\n  {}\n  <devices><emulator>/usr/bin/qemu-system-x86_64</emulator><memballoon model='none'/></devices>\n</domain>\n",
        d.name, d.uuid, d.memory_mib, d.memory_mib, d.vcpus, d.max_vcpus, d.machine, d.cpu
    )
}

/// `fleetcompat-collector probe` with the guests of `uri`, `PATH` prefixed by `path_first`.
/// `qemu`: probe that QEMU only (else no QEMU at all).
fn probe(
    uri: &str,
    path_first: Option<&Path>,
    qemu: Option<&Path>,
    dir: &Path,
    name: &str,
) -> (PathBuf, Value) {
    let out = dir.join(format!("{name}.json"));
    let mut cmd = Command::new(fresh_binary("fleetcompat-collector"));
    match qemu {
        Some(q) => cmd
            .args(["probe", "--no-qemu-discovery", "--qemu"])
            .arg(q)
            .arg("--cache-dir")
            .arg(dir.join(format!("{name}.cache"))),
        None => cmd.args(["probe", "--no-qemu"]),
    };
    cmd.args([
        "--no-devices",
        "--quiet",
        "--host-id",
        "vmhost",
        "--libvirt-uri",
        uri,
        "--out",
    ])
    .arg(&out);
    if let Some(first) = path_first {
        let path = std::env::var("PATH").unwrap_or_default();
        cmd.env("PATH", format!("{}:{path}", first.display()));
    }
    let o = cmd.output().expect("run fleetcompat-collector probe");
    assert!(
        o.status.success(),
        "{name}: the probe must succeed whatever it finds ({}): {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    let text = std::fs::read_to_string(&out).expect("profile");
    let json = serde_json::from_str(&text).expect("profile json");
    (out, json)
}

/// `fleetcompat compare SRC DST --guest FILE --json`: its exit code, stdout and stderr.
fn compare(src: &Path, dst: &Path, guest: &Path) -> (i32, String, String) {
    let o = Command::new(fresh_binary("fleetcompat"))
        .arg("compare")
        .arg(src)
        .arg(dst)
        .arg("--guest")
        .arg(guest)
        .arg("--json")
        .output()
        .expect("run fleetcompat compare");
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// The demo fleet (assets/demo/cpus, made profiles by the built `fleetcompat-collector import`),
/// each host given room for guests and no VM, plus `probed`: a fleet file, and each demo host's
/// id and profile file.
fn demo_fleet_with(probed: &Path, dir: &Path, name: &str) -> (PathBuf, Vec<(String, PathBuf)>) {
    let cpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo/cpus");
    let mut dumps: Vec<PathBuf> = std::fs::read_dir(&cpus)
        .expect("assets/demo/cpus")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "xml"))
        .collect();
    dumps.sort();
    let out_dir = dir.join(format!("{name}-demo"));
    let o = Command::new(fresh_binary("fleetcompat-collector"))
        .arg("import")
        .args(&dumps)
        .arg("--out-dir")
        .arg(&out_dir)
        .output()
        .expect("run fleetcompat-collector import");
    assert!(
        o.status.success(),
        "import of the demo dumps: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(&out_dir)
        .expect("imported profiles")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{} demo profiles", files.len());
    let mut lines = Vec::new();
    let mut hosts = Vec::new();
    for file in files {
        let mut p: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("profile")).expect("json");
        p["guests"] = serde_json::json!({
            "capacity": {"logical_cpus": 64, "memory_mib": 262_144},
            "vms": []
        });
        std::fs::write(&file, p.to_string()).expect("write profile");
        hosts.push((p["host_id"].as_str().expect("host_id").to_owned(), file));
        lines.push(p.to_string());
    }
    let probed: Value =
        serde_json::from_str(&std::fs::read_to_string(probed).expect("probed")).expect("json");
    lines.push(probed.to_string());
    let fleet = dir.join(format!("{name}-fleet.jsonl"));
    std::fs::write(&fleet, lines.join("\n") + "\n").expect("fleet file");
    (fleet, hosts)
}

/// `fleetcompat drain vmhost FLEET --json`: the plan, its exit code checked against it.
fn drain(fleet: &Path) -> Value {
    let o = Command::new(fresh_binary("fleetcompat"))
        .args(["drain", "vmhost"])
        .arg(fleet)
        .arg("--json")
        .output()
        .expect("run fleetcompat drain");
    let plan: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "drain printed no plan ({e}): {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    let drainable = plan["drainable"].as_bool().expect("drainable");
    assert_eq!(
        o.status.code(),
        Some(if drainable { 0 } else { 1 }),
        "{plan:#}"
    );
    plan
}

fn vms(p: &Value) -> &Vec<Value> {
    p["guests"]["vms"].as_array().expect("guests.vms")
}

fn vm<'a>(p: &'a Value, id: &str) -> &'a Value {
    vms(p)
        .iter()
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no guest {id} in {:#}", p["guests"]))
}

fn gap<'a>(p: &'a Value, what: &str) -> Option<&'a str> {
    p["gaps"]
        .as_array()
        .expect("gaps")
        .iter()
        .find(|g| g["what"] == what)
        .and_then(|g| g["reason"].as_str())
}

/// The definition's text, parsed by the engine as `fleetcompat compare --guest` parses it.
fn parsed(v: &Value) -> shared::policy::GuestConfig {
    let text = v["definition"]["text"].as_str().expect("definition text");
    shared::guest::parse_guest(text)
        .unwrap_or_else(|e| panic!("{}: definition does not parse: {e}\n{text}", v["id"]))
        .1
}

#[test]
fn the_probe_lists_libvirt_domains_and_raw_qemu_once_each_and_survives_bad_input() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let libvirtd = Libvirtd::start(&tmp.path().join("libvirt"));
    let uri = libvirtd.uri();
    for d in &DOMAINS {
        let file = tmp.path().join(format!("{}.xml", d.name));
        std::fs::write(&file, domain_xml(d)).expect("domain xml");
        libvirtd.virsh_ok(&["define", &file.display().to_string()]);
        if !d.then.is_empty() {
            libvirtd.virsh_ok(&["start", d.name]);
        }
        if d.then == "pause" {
            libvirtd.virsh_ok(&["suspend", d.name]);
        }
    }

    // A QEMU process started without libvirt (Debian's QEMU 7.2 as tests/qemu-setup.sh unpacks it).
    let raw_args: Vec<String> = [
        "-machine",
        "pc-i440fx-7.2,accel=kvm",
        "-cpu",
        "host",
        "-smp",
        "2",
        "-m",
        "80",
        "-nodefaults",
        "-name",
        "raw-guest",
        "-uuid",
        RAW_UUID,
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let raw = QemuVm::start(&qemu_release("7.2"), &raw_args, tmp.path(), "raw-guest")
        .unwrap_or_else(|e| panic!("the raw QEMU must start under KVM: {e}"));

    let qemu = qemu_release("7.2").wrapper(tmp.path());
    let (profile, p) = probe(&uri, None, Some(&qemu), tmp.path(), "all");
    assert!(gap(&p, "guests:libvirt").is_none(), "{:#}", p["gaps"]);

    // Every domain, once, as libvirt has it.
    let from_libvirt: Vec<&Value> = vms(&p)
        .iter()
        .filter(|v| v["source"] == "libvirt")
        .collect();
    assert_eq!(from_libvirt.len(), DOMAINS.len(), "{:#}", p["guests"]);
    for d in &DOMAINS {
        let v = vm(&p, d.uuid);
        assert_eq!(v["name"], d.name);
        assert_eq!(v["source"], "libvirt");
        assert_eq!(v["state"], d.state, "{}", d.name);
        assert_eq!(
            v["vcpus"].as_u64(),
            Some(u64::from(d.vcpus)),
            "{}: current vCPUs",
            d.name
        );
        assert_eq!(v["memory_mib"].as_u64(), Some(d.memory_mib), "{}", d.name);
        assert_eq!(v["definition"]["kind"], "domain_xml");
        let g = parsed(v);
        assert_eq!(g.machine.as_deref(), Some(d.machine), "{}", d.name);
        let model = d
            .cpu
            .split("<model fallback='forbid'>")
            .nth(1)
            .and_then(|m| m.split('<').next());
        match (&g.cpu, model) {
            (shared::policy::GuestCpu::Named { model, .. }, Some(want)) => {
                assert_eq!(model, want, "{}", d.name);
            }
            (shared::policy::GuestCpu::HostPassthrough, None) => {}
            (other, want) => panic!("{}: cpu {other:?}, expected {want:?}", d.name),
        }
        assert!(
            gap(&p, &format!("guest:{}", d.name)).is_none(),
            "{:#}",
            p["gaps"]
        );
    }
    // A running domain's definition is libvirt's live XML: it has the domain id of the run.
    let live = vm(&p, DOMAINS[0].uuid)["definition"]["text"]
        .as_str()
        .expect("xml");
    assert!(live.starts_with("<domain type='kvm' id='"), "{live}");

    // The raw process, once, from its command line.
    let r = vm(&p, RAW_UUID);
    assert_eq!(r["source"], "process");
    assert_eq!(r["name"], "raw-guest");
    assert_eq!(r["state"], "running");
    assert_eq!(
        (r["vcpus"].as_u64(), r["memory_mib"].as_u64()),
        (Some(2), Some(80))
    );
    assert_eq!(r["definition"]["kind"], "command_line");
    let g = parsed(r);
    assert_eq!(g.machine.as_deref(), Some("pc-i440fx-7.2"));
    assert_eq!(g.cpu, shared::policy::GuestCpu::HostPassthrough);
    let raw_text = r["definition"]["text"].as_str().expect("text");
    assert!(
        raw_text.contains(&format!("-uuid {RAW_UUID}")),
        "{raw_text}"
    );

    // libvirt's own QEMU processes (they carry -uuid of their domain) are not counted again.
    for v in vms(&p).iter().filter(|v| v["source"] == "process") {
        let text = v["definition"]["text"].as_str().unwrap_or("");
        for d in &DOMAINS {
            assert!(!text.contains(d.uuid), "{} listed twice: {text}", d.name);
        }
    }
    let libvirt_qemus = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .filter(|c| String::from_utf8_lossy(c).contains(DOMAINS[0].uuid))
        .count();
    assert_eq!(
        libvirt_qemus, 1,
        "libvirt's QEMU of {} must be running",
        DOMAINS[0].name
    );

    // Each definition as probed is what `fleetcompat compare --guest` reads: a verdict (exit 0
    // or 1), never an input error (2), from this host to itself and to a demo host.
    let demo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/demo/cpus/x86_64-cpuid-Xeon-Gold-6148.xml");
    for v in vms(&p)
        .iter()
        .filter(|v| v["source"] == "libvirt" || v["id"] == RAW_UUID)
    {
        let file = tmp
            .path()
            .join(format!("{}.def", v["name"].as_str().unwrap_or("vm")));
        std::fs::write(&file, v["definition"]["text"].as_str().expect("text")).expect("write");
        for dst in [profile.as_path(), demo.as_path()] {
            let (code, out, err) = compare(&profile, dst, &file);
            assert!(
                code == 0 || code == 1,
                "{} to {}: exit {code}: {out}{err}",
                v["name"],
                dst.display()
            );
            let verdict: Value = serde_json::from_str(&out)
                .unwrap_or_else(|e| panic!("{}: no verdict json ({e}): {out}", v["name"]));
            assert_eq!(verdict["compatible"].as_bool(), Some(code == 0), "{out}");
        }
    }
    // The raw `-cpu host` guest stays on this host: compatible with itself.
    let raw_file = tmp.path().join("raw-guest.def");
    let (code, out, err) = compare(&profile, &profile, &raw_file);
    assert_eq!(
        code, 0,
        "the raw -cpu host guest to its own host: {out}{err}"
    );

    // Bad input through the test double (see the module comment).
    let double = tmp.path().join("double");
    std::fs::create_dir_all(&double).expect("double dir");
    let real = "/usr/bin/virsh";
    let broken = DOMAINS[0].uuid;
    std::fs::write(
        double.join("virsh"),
        format!(
            "#!/bin/sh\n# test double (tests/tests/vms.rs): the real virsh, with one vanished domain and one broken definition\n\
             case \" $* \" in\n\
             *' list '*) {real} \"$@\" || exit $?; echo {GONE_UUID}; exit 0 ;;\n\
             *' dumpxml '*{broken}*) {real} \"$@\" | sed \"s|<memory unit='KiB'>|<memory unit='KiB'>lots of |\"; exit 0 ;;\n\
             esac\n\
             exec {real} \"$@\"\n"
        ),
    )
    .expect("virsh double");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(double.join("virsh"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
    }
    let (bad_profile, p) = probe(&uri, Some(&double), None, tmp.path(), "bad");
    let reason = gap(&p, &format!("guest:{GONE_UUID}")).expect("a gap for the vanished domain");
    assert!(reason.contains("could not be read"), "{reason}");
    assert!(
        vms(&p).iter().all(|v| v["id"] != GONE_UUID),
        "{:#}",
        p["guests"]
    );
    let reason = gap(&p, &format!("guest:{}", DOMAINS[0].name)).expect("a parse gap");
    assert!(reason.contains("<memory> is not a number"), "{reason}");
    // Still listed, with what libvirt's dominfo says.
    let v = vm(&p, broken);
    assert_eq!(
        (v["state"].as_str(), v["vcpus"].as_u64()),
        (Some("running"), Some(1))
    );
    assert!(
        v["definition"]["text"]
            .as_str()
            .unwrap_or("")
            .contains("lots of")
    );
    for d in &DOMAINS[1..] {
        assert_eq!(vm(&p, d.uuid)["state"], d.state);
    }
    assert_eq!(vm(&p, RAW_UUID)["source"], "process");

    // Drain: the probed host in the demo fleet. Every one of its guests goes exactly where the
    // engine's pair verdicts (`fleetcompat compare --guest`) let it: stuck when no demo host is
    // compatible, else placed on a compatible one (the demo hosts have room).
    let (fleet, demo_hosts) = demo_fleet_with(&profile, tmp.path(), "good");
    let plan = drain(&fleet);
    assert_eq!(plan["has_guest_data"], true);
    let mut ours: Vec<(&str, &str)> = DOMAINS.iter().map(|d| (d.uuid, d.name)).collect();
    ours.push((RAW_UUID, "raw-guest"));
    let (mut n_stuck, mut n_placed) = (0, 0);
    for (id, name) in &ours {
        let v = plan["vms"]
            .as_array()
            .expect("vms")
            .iter()
            .find(|v| v["id"] == *id)
            .unwrap_or_else(|| panic!("{name} is not in the drain plan: {plan:#}"));
        let file = tmp.path().join(format!("{name}.def"));
        let compatible: Vec<&str> = demo_hosts
            .iter()
            .filter(|(_, path)| compare(&profile, path, &file).0 == 0)
            .map(|(h, _)| h.as_str())
            .collect();
        assert_eq!(
            v["n_target_hosts"].as_u64(),
            Some(compatible.len() as u64),
            "{name}: drain targets against compare's compatible hosts {compatible:?}: {v:#}"
        );
        eprintln!(
            "{name}: {} ({} compatible demo hosts)",
            v["summary"],
            compatible.len()
        );
        if compatible.is_empty() {
            assert_eq!(v["outcome"], "stuck", "{name}: {v:#}");
            assert!(
                v["blockers"].as_array().is_some_and(|b| !b.is_empty()),
                "{v:#}"
            );
            n_stuck += 1;
        } else {
            assert_eq!(v["outcome"], "placed", "{name}: {v:#}");
            let at = v["placement"].as_str().expect("placement");
            assert!(
                compatible.contains(&at),
                "{name} placed on {at}, not among {compatible:?}"
            );
            n_placed += 1;
        }
    }
    eprintln!(
        "drain of the probed host into the demo fleet: {n_placed} of ours placed, {n_stuck} stuck"
    );
    // Both answers occur with these guests (here: the Westmere guest goes to 11 demo hosts; the
    // host-passthrough ones see KVM paravirt features such as kvm-asyncpf-int no demo host
    // gives), so both paths above were checked.
    assert!(
        n_placed > 0 && n_stuck > 0,
        "placed {n_placed}, stuck {n_stuck}"
    );
    // The broken definition: the VM is in the plan, unreadable, and the host cannot be drained.
    let (fleet, _) = demo_fleet_with(&bad_profile, tmp.path(), "bad");
    let plan = drain(&fleet);
    let v = plan["vms"]
        .as_array()
        .expect("vms")
        .iter()
        .find(|v| v["id"] == broken)
        .unwrap_or_else(|| panic!("the unparsable domain is not in the plan: {plan:#}"));
    assert_eq!(v["outcome"], "unreadable", "{v:#}");
    assert_eq!(plan["drainable"], false);

    // libvirt down: the daemon stopped (its domains destroyed first); its socket file may stay
    // behind, refusing connections, as after a crash.
    drop(libvirtd);
    let (_, p) = probe(&uri, None, None, tmp.path(), "down");
    let reason = gap(&p, "guests:libvirt").expect("a guests:libvirt gap");
    assert!(
        reason.contains("cannot list libvirt's domains") && reason.contains(&uri),
        "{reason}"
    );
    assert!(
        vms(&p).iter().all(|v| v["source"] != "libvirt"),
        "{:#}",
        p["guests"]
    );
    assert_eq!(vm(&p, RAW_UUID)["source"], "process");
    // The destroyed domains' QEMUs are gone, so none shows up as a bare process either.
    for d in &DOMAINS {
        assert!(
            vms(&p).iter().all(|v| v["id"] != d.uuid),
            "{} after libvirtd stopped",
            d.name
        );
    }
    drop(raw);
}
