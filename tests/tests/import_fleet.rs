//! One path from dump to profile, through the binaries as the README shows them:
//! `fleetcompat-collector import DUMPS... > fleet.jsonl`, then `fleetcompat compare`, `baseline`,
//! `masks` and `graph` over it, on every whole-host dump of `../shared/cpuid-corpus/dev` and
//! `../shared/libvirt-cputestdata`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn shared_data(sub: &str) -> PathBuf {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")).join(sub);
    assert!(
        p.is_dir(),
        "test data {} is absent: these tests read the shared data folder beside the repository (../shared/{sub})",
        p.display()
    );
    p
}

fn list(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(&keep))
        .collect();
    out.sort();
    out
}

/// The InstLatx64 dumps of the corpus (MANIFEST.tsv is not one).
fn corpus_dumps() -> Vec<PathBuf> {
    list(&shared_data("cpuid-corpus/dev"), |n| {
        n.contains("_CPUID") && n.ends_with(".txt")
    })
}

/// The whole hosts of libvirt's CPU test data: each `x86_64-cpuid-<CPU>.xml` raw `<cpudata>` (its
/// `<CPU>.json` QMP replies, where there is one, are merged by the import). Left out by this rule:
/// `-enabled`/`-disabled` (the CPUID words QEMU changed at VM start: no leaf 0, not a host),
/// `-host`/`-guest`/`-json` (libvirt's expected `<cpu>` outputs, not dumps) and
/// `x86_64-cpuid-baseline-*` (expected baselines).
fn libvirt_hosts() -> Vec<PathBuf> {
    list(&shared_data("libvirt-cputestdata"), |n| {
        n.starts_with("x86_64-cpuid-")
            && n.ends_with(".xml")
            && !n.starts_with("x86_64-cpuid-baseline-")
            && !["-enabled", "-disabled", "-host", "-guest", "-json"]
                .iter()
                .any(|s| n.ends_with(&format!("{s}.xml")))
    })
}

fn run(bin: &str, args: &[&str], files: &[PathBuf]) -> Output {
    let path = e2e::binary(bin);
    Command::new(&path)
        .args(args)
        .args(files)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()))
}

/// A run that judged its hosts: exit 0 (ok) or 1 (incompatible), never 2 (error), no panic.
fn judged(what: &str, out: &Output) -> Value {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 1)) && !err.contains("panicked"),
        "{what}: exit {:?}: {err}",
        out.status.code()
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: no json on stdout ({e}): {err}"))
}

/// `fleetcompat COMMAND --json FLEET`, judged.
fn judged_fleet(command: &str, fleet: &Path) -> Value {
    judged(
        command,
        &run("fleetcompat", &[command, "--json"], &[fleet.to_path_buf()]),
    )
}

fn lines(fleet: &str) -> Vec<Value> {
    fleet
        .lines()
        .map(|l| serde_json::from_str(l).expect("a profile a line"))
        .collect()
}

/// Hosts grouped by what the graph's class key compares first (vendor and guest view).
fn distinct_guest_views(profiles: &[Value]) -> usize {
    profiles
        .iter()
        .map(|p| {
            (
                p["cpu"]["vendor"].to_string(),
                p["kvm"]["guest_features"].to_string(),
            )
        })
        .collect::<BTreeSet<_>>()
        .len()
}

/// Each class's hosts, sorted, from `fleetcompat graph --json`.
fn class_hosts(graph: &Value) -> BTreeSet<Vec<String>> {
    graph["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .map(|c| {
            let mut h: Vec<String> = c["hosts"]
                .as_array()
                .expect("hosts")
                .iter()
                .filter_map(|h| h.as_str().map(str::to_owned))
                .collect();
            h.sort();
            h
        })
        .collect()
}

/// Every whole-host dump, and `fleetcompat-collector import DUMPS... > DIR/fleet.jsonl` of them.
fn import_fleet(dir: &Path) -> (Vec<PathBuf>, PathBuf) {
    let corpus = corpus_dumps();
    let libvirt = libvirt_hosts();
    assert_eq!(corpus.len(), 66, "cpuid-corpus/dev dumps");
    assert_eq!(libvirt.len(), 20, "libvirt whole-host cpudata files");
    let all: Vec<PathBuf> = corpus.iter().chain(&libvirt).cloned().collect();
    let out = run("fleetcompat-collector", &["import", "--quiet"], &all);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "import failed: {err}");
    let fleet = dir.join("fleet.jsonl");
    std::fs::write(&fleet, &out.stdout).expect("write fleet.jsonl");
    (all, fleet)
}

#[test]
fn every_dump_imports_into_a_fleet_the_engine_commands_accept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, fleet) = import_fleet(dir.path());
    let profiles = lines(&std::fs::read_to_string(&fleet).expect("read fleet.jsonl"));
    assert_eq!(profiles.len(), 86, "one profile a whole host");

    // Every host has a guest view: QEMU's host model where libvirt kept the QMP replies, an
    // estimate from raw CPUID (and a gap saying so, without the /dev/kvm advice) elsewhere.
    let mut sources: BTreeMap<String, usize> = BTreeMap::new();
    for p in &profiles {
        let id = p["host_id"].as_str().unwrap_or("?");
        let source = p["kvm"]["guest_features_source"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no guest view"));
        *sources.entry(source.to_owned()).or_default() += 1;
        assert!(
            p["kvm"]["guest_features"]
                .as_array()
                .is_some_and(|f| f.len() > 10),
            "{id}: guest view too small"
        );
        if source == "estimated_from_cpuid" {
            let gap = p["gaps"]
                .as_array()
                .and_then(|g| g.iter().find(|g| g["what"] == "kvm"))
                .unwrap_or_else(|| panic!("{id}: no kvm gap for an estimate"));
            let reason = gap["reason"].as_str().unwrap_or("");
            assert!(
                reason.contains("estimated")
                    && reason.contains("fleetcompat-collector probe")
                    && !reason.contains("/dev/kvm"),
                "{id}: {reason}"
            );
        }
    }
    let qmp = list(&shared_data("libvirt-cputestdata"), |n| {
        n.starts_with("x86_64-cpuid-") && n.ends_with(".json")
    })
    .len();
    assert_eq!(
        sources,
        BTreeMap::from([
            ("estimated_from_cpuid".to_owned(), 86 - qmp),
            ("qemu_host_model".to_owned(), qmp),
        ])
    );

    // fleetcompat baseline fleet.jsonl
    let b = judged_fleet("baseline", &fleet);
    assert_eq!(b["hosts"].as_array().map(Vec::len), Some(86), "{b}");

    // fleetcompat graph fleet.jsonl: distinct guest views are distinct classes (the class key
    // holds the vendor and the guest view), so no two different processors are lumped together.
    let g = judged_fleet("graph", &fleet);
    assert_eq!(g["n_hosts"], 86);
    let classes = g["classes"].as_array().map_or(0, Vec::len);
    let views = distinct_guest_views(&profiles);
    assert!(
        views >= 75,
        "only {views} distinct guest views among 86 processors"
    );
    assert!(
        classes >= views,
        "{classes} classes for {views} distinct (vendor, guest view) pairs"
    );
    let intel: Vec<&Value> = profiles
        .iter()
        .filter(|p| p["cpu"]["vendor"] == "GenuineIntel")
        .collect();
    let intel_classes = g["classes"]
        .as_array()
        .expect("classes")
        .iter()
        .filter(|c| c["vendor"] == "GenuineIntel")
        .count();
    assert!(intel.len() > 43, "{} Intel hosts", intel.len());
    assert!(
        intel_classes >= intel.len() * 8 / 10,
        "{intel_classes} classes for {} Intel processors",
        intel.len()
    );

    // fleetcompat compare SRC DST and masks SRC DST over hosts of the fleet, written as profile
    // files: an Intel pair of different generations both ways, and Intel to AMD.
    let host_file = |id: &str| -> PathBuf {
        let p = profiles
            .iter()
            .find(|p| p["host_id"] == id)
            .unwrap_or_else(|| panic!("{id} not in the fleet"));
        let f = dir.path().join(format!("{id}.json"));
        std::fs::write(&f, p.to_string()).expect("write profile");
        f
    };
    let haswell = host_file("x86_64-cpuid-Xeon-E5-2630-v3");
    let skylake = host_file("x86_64-cpuid-Xeon-Gold-6148");
    let zen = host_file("AuthenticAMD0830F10_K17_Rome_CPUID2");
    for (src, dst) in [(&haswell, &skylake), (&skylake, &haswell), (&skylake, &zen)] {
        let pair = [src.clone(), dst.clone()];
        let v = judged(
            "compare",
            &run("fleetcompat", &["compare", "--json"], &pair),
        );
        assert!(v["compatible"].is_boolean(), "{v}");
        judged("masks", &run("fleetcompat", &["masks", "--json"], &pair));
    }
    let v = judged(
        "compare",
        &run(
            "fleetcompat",
            &["compare", "--json"],
            &[skylake.clone(), haswell.clone()],
        ),
    );
    assert_eq!(v["compatible"], false, "Skylake-SP to Haswell-EP: {v}");
}

/// The command line reads the same dumps itself (`fleetcompat graph DUMP...`): the same
/// function makes the profiles, so the classes are the import's.
#[test]
fn the_command_line_reads_dumps_as_the_import_does() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (all, fleet) = import_fleet(dir.path());
    let from_fleet = judged_fleet("graph", &fleet);
    let from_dumps = judged(
        "graph of dumps",
        &run("fleetcompat", &["graph", "--json"], &all),
    );
    assert_eq!(class_hosts(&from_fleet), class_hosts(&from_dumps));
}
