//! `fleetcompat drain HOST FLEET` through the binary, as the README shows it: a fleet file of the
//! demo fleet (real CPUID dumps, assets/demo) with guests added to some hosts; the exit code and
//! the JSON checked against `fleetcompat compare SRC DST --guest VM --json` of the same pairs,
//! and `--db` reading the same fleet from a real SQLite database.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shared::profile::HostProfile;
use shared::testing::{command_line, domain_xml};
use shared::vms::{HostCapacity, HostGuests, Vm, VmDefinition, VmSource, VmState};

fn binary() -> PathBuf {
    std::env::var_os("FLEETCOMPAT_BIN_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_fleetcompat")),
        |d| PathBuf::from(d).join("fleetcompat"),
    )
}

fn run(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .output()
        .expect("run fleetcompat")
}

fn vm(name: &str, cpu: &str, machine: &str, vcpus: u32, mib: u64, xml: bool) -> Vm {
    let uuid = format!(
        "c0ffee00-0000-4000-8000-{:012}",
        name.len() * 100 + vcpus as usize
    );
    let (id, definition, source) = if xml {
        (
            uuid.clone(),
            VmDefinition::DomainXml(domain_xml(name, &uuid, cpu, machine, vcpus, mib)),
            VmSource::Libvirt,
        )
    } else {
        (
            "pid-777".to_owned(),
            VmDefinition::CommandLine(command_line(name, cpu, machine, vcpus, mib)),
            VmSource::Process,
        )
    };
    Vm {
        id,
        name: name.to_owned(),
        source,
        state: VmState::Running,
        vcpus,
        memory_mib: mib,
        definition,
    }
}

fn text(vm: &Vm) -> &str {
    match &vm.definition {
        VmDefinition::DomainXml(t) | VmDefinition::CommandLine(t) => t,
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

/// The demo fleet (first 40 hosts) with guests on `src` and empty capacity on every 4th host.
fn fleet(dir: &Path) -> (Vec<HostProfile>, usize, PathBuf) {
    let mut fleet = backend::demo::demo_profiles("2026-12-06T00:00:00Z").expect("demo fleet");
    fleet.truncate(40);
    let src = fleet
        .iter()
        .position(|p| p.cpu.vendor == "GenuineIntel" && p.kvm.is_some())
        .expect("an Intel host");
    // The drained host has a feature no other host has (newer microcode, say): a class of its
    // own, whose host-passthrough guests see it and can go nowhere.
    let extra = shared::catalog()
        .lookup("avx512-fp16")
        .expect("a catalog feature");
    if let Some(k) = fleet[src].kvm.as_mut() {
        k.guest_features.insert(extra);
    }
    fleet[src].cpu.features.insert(extra);
    fleet[src].guests = Some(HostGuests {
        capacity: HostCapacity {
            logical_cpus: 48,
            memory_mib: 192 * 1024,
        },
        vms: vec![
            vm("web", "Westmere-v1", "pc-q35-7.2", 2, 4096, true),
            vm("db", "Skylake-Server-v4", "pc-q35-7.2", 8, 32768, true),
            vm("pass", "host-passthrough", "pc-q35-7.2", 4, 8192, true),
            vm("bare", "Nehalem-v1", "pc-q35-7.2", 2, 2048, false),
        ],
    });
    for (i, p) in fleet.iter_mut().enumerate() {
        if i != src && i % 4 == 0 {
            p.guests = Some(HostGuests {
                capacity: HostCapacity {
                    logical_cpus: 64,
                    memory_mib: 256 * 1024,
                },
                vms: Vec::new(),
            });
        }
    }
    let path = dir.join("fleet.jsonl");
    let mut f = std::fs::File::create(&path).expect("fleet file");
    for p in &fleet {
        writeln!(f, "{}", serde_json::to_string(p).expect("json")).expect("line");
    }
    (fleet, src, path)
}

#[test]
fn drain_agrees_with_compare_guest_and_exits_by_placement() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fleet, src, fleet_file) = fleet(dir.path());
    let src_id = fleet[src].host_id.clone();
    let out = run(&[
        "drain",
        &src_id,
        "--json",
        fleet_file.to_str().expect("utf-8"),
    ]);
    let code = out.status.code();
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}", String::from_utf8_lossy(&out.stderr));
    });
    assert_eq!(plan["host_id"], src_id.as_str());
    assert_eq!(plan["drainable"], false, "{plan}");
    assert_eq!(code, Some(1), "{plan}");
    let pass = &plan["vms"][0];
    assert_eq!(pass["name"], "pass", "stuck VMs come first: {plan}");
    assert_eq!(pass["outcome"], "stuck");
    assert!(
        pass["common_reasons"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("avx512-fp16")),
        "{pass}"
    );
    // The advice turns it off, and the engine found targets for the changed definition.
    let advice = &pass["advice"];
    assert!(
        advice["features_lost"]
            .as_array()
            .is_some_and(|l| l.iter().any(|f| f == "avx512-fp16")),
        "{advice}"
    );
    assert!(advice["n_target_hosts"].as_u64() > Some(0), "{advice}");

    // Every pair through `fleetcompat compare --guest` with profile files.
    let files: Vec<PathBuf> = fleet
        .iter()
        .map(|p| {
            let f = dir.path().join(format!("{}.json", p.host_id));
            write(&f, &serde_json::to_string(p).expect("json"));
            f
        })
        .collect();
    let vms = &fleet[src].guests.as_ref().expect("guests").vms;
    let mut n_pairs = 0;
    for v in vms {
        let guest = dir.path().join(format!("{}.def", v.name));
        write(&guest, text(v));
        let mut expected = BTreeSet::new();
        for (i, dst) in fleet.iter().enumerate() {
            if i == src {
                continue;
            }
            let out = run(&[
                "compare",
                files[src].to_str().expect("utf-8"),
                files[i].to_str().expect("utf-8"),
                "--guest",
                guest.to_str().expect("utf-8"),
                "--json",
            ]);
            let verdict: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verdict");
            let ok = verdict["compatible"].as_bool().expect("compatible");
            assert_eq!(out.status.code(), Some(if ok { 0 } else { 1 }));
            if ok {
                expected.insert(dst.host_id.clone());
            }
            n_pairs += 1;
        }
        let in_plan = plan["vms"]
            .as_array()
            .expect("vms")
            .iter()
            .find(|x| x["name"] == v.name.as_str())
            .expect("vm in plan");
        // The plan's target hosts: every host of its target classes (by class id).
        let ids: BTreeSet<String> = in_plan["target_classes"]
            .as_array()
            .expect("target classes")
            .iter()
            .filter_map(|c| {
                plan["classes"][c.as_u64().expect("index") as usize]["class_id"].as_str()
            })
            .map(str::to_owned)
            .collect();
        let got: BTreeSet<String> = fleet
            .iter()
            .enumerate()
            .filter(|(i, p)| *i != src && ids.contains(&shared::class::class_id(p)))
            .map(|(_, p)| p.host_id.clone())
            .collect();
        assert_eq!(got, expected, "{}", v.name);
        assert_eq!(in_plan["n_target_hosts"], expected.len());
        match in_plan["outcome"].as_str() {
            Some("stuck") => assert!(expected.is_empty()),
            Some("placed") => {
                assert!(expected.contains(in_plan["placement"].as_str().expect("host")));
            }
            other => assert!(
                !expected.is_empty() && matches!(other, Some("no_capacity" | "capacity_unknown")),
                "{in_plan}"
            ),
        }
    }
    assert_eq!(n_pairs, vms.len() * (fleet.len() - 1));

    // Human output: stuck VMs first, with their reasons.
    let human = run(&["drain", &src_id, fleet_file.to_str().expect("utf-8")]);
    assert_eq!(human.status.code(), code);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains(&src_id) && text.contains("VMs"), "{text}");
    let stuck = text.find("STUCK  pass").expect("stuck listed");
    assert!(text.contains("fix: "), "{text}");
    let ok = text.find("      ok  ").expect("placed listed");
    assert!(stuck < ok, "{text}");

    // The same fleet without the pinned VM: every VM has a place, exit 0; with no room left on
    // the hosts of known capacity, capacity stops them: exit 1.
    let mut movable = fleet.clone();
    if let Some(g) = movable[src].guests.as_mut() {
        g.vms.retain(|v| v.name != "pass");
    }
    let movable_file = dir.path().join("movable.jsonl");
    write(
        &movable_file,
        &movable
            .iter()
            .map(|p| serde_json::to_string(p).expect("json") + "\n")
            .collect::<String>(),
    );
    let out = run(&[
        "drain",
        &src_id,
        "--json",
        movable_file.to_str().expect("utf-8"),
    ]);
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(0), "{p}");
    assert_eq!(p["n_placed"], 3);
    for (i, h) in movable.iter_mut().enumerate() {
        if i != src
            && let Some(g) = h.guests.as_mut()
        {
            g.capacity.memory_mib = 1024;
        }
    }
    write(
        &movable_file,
        &movable
            .iter()
            .map(|p| serde_json::to_string(p).expect("json") + "\n")
            .collect::<String>(),
    );
    let out = run(&[
        "drain",
        &src_id,
        "--json",
        movable_file.to_str().expect("utf-8"),
    ]);
    let p: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(1), "{p}");
    assert_eq!(p["n_no_capacity"], 3, "{p}");

    // Usage and input errors exit 2, naming what is wrong.
    let out = run(&["drain", "no-such-host", fleet_file.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-host"));
    let out = run(&["drain", &src_id]);
    assert_eq!(out.status.code(), Some(2));
    let out = run(&["drain", &src_id, "--db", "/nonexistent/fleet.db"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/fleet.db"));
}

#[test]
fn drain_reads_the_fleet_from_a_database() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (fleet, src, fleet_file) = fleet(dir.path());
    let db = dir.path().join("fleet.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let store = backend::Store::open(&db).await.expect("store");
        for p in &fleet {
            store
                .upsert(p, "2026-12-06T00:00:00Z")
                .await
                .expect("upsert");
        }
    });
    let id = fleet[src].host_id.as_str();
    let from_db = run(&["drain", id, "--db", db.to_str().expect("utf-8"), "--json"]);
    let from_file = run(&["drain", id, fleet_file.to_str().expect("utf-8"), "--json"]);
    assert_eq!(from_db.status.code(), from_file.status.code());
    let a: serde_json::Value = serde_json::from_slice(&from_db.stdout).expect("json");
    let b: serde_json::Value = serde_json::from_slice(&from_file.stdout).expect("json");
    assert_eq!(a["n_vms"], 4);
    // Fleet order differs (the database orders by host id): compare what does not depend on it.
    for k in ["drainable", "n_vms", "n_stuck", "n_unreadable"] {
        assert_eq!(a[k], b[k], "{k}");
    }
}
