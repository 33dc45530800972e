//! `fleetcompat-collector import`: goldens per format, whole corpora through the CLI, bad files.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use serde_json::{Value, json};

/// The parts of a profile an import decides (not its time or tool version).
fn summary(p: &Value) -> Value {
    let cpu = &p["cpu"];
    json!({
        "vendor": cpu["vendor"], "brand": cpu["brand"], "family": cpu["family"],
        "model": cpu["model"], "stepping": cpu["stepping"], "microcode": cpu["microcode"],
        "logical_cpus": p["logical_cpus"], "partial": p["partial"].as_bool().unwrap_or(false),
        "raw_cpuid_entries": cpu["raw_cpuid"].as_array().map_or(0, Vec::len),
        "raw_msrs": cpu["raw_msrs"], "features": cpu["features"],
        "cpu_variants": p["cpu_variants"].as_array().map_or(0, Vec::len),
        "guest_features": p["kvm"]["guest_features"],
        "qemu_models": p["qemu"][0]["cpu_models"].as_array().map_or(0, Vec::len),
        "gaps": p["gaps"],
    })
}

/// Import one file, compare with tests/golden/<name>.json (UPDATE_GOLDEN=1 rewrites it).
fn golden(file: &Path, name: &str) -> Value {
    let out = run_ok(&["import", file.to_str().expect("utf-8"), "--quiet"]);
    let line = String::from_utf8_lossy(&out.stdout);
    let p: Value = serde_json::from_str(line.trim()).expect("one json profile");
    let got = summary(&p);
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(format!("{name}.json"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(
            &path,
            serde_json::to_string_pretty(&got).expect("json") + "\n",
        )
        .expect("write golden");
    }
    assert_eq!(
        got,
        read_json(&path),
        "{name}: import differs from {}",
        path.display()
    );
    p
}

#[test]
fn golden_cpuid_tool_dump_of_this_machine() {
    let p = golden(&data("cpuid-r-this-machine.txt"), "cpuid-r-this-machine");
    assert_eq!(p["cpu"]["vendor"], "AuthenticAMD");
    assert_eq!(p["logical_cpus"], 2);
    assert_eq!(
        (p["cpu"]["family"].as_u64(), p["cpu"]["model"].as_u64()),
        (Some(0x19), Some(0x11))
    );
}

#[test]
fn golden_instlatx64_dump() {
    let f = shared_data("cpuid-corpus/dev/GenuineIntel00606C1_ICX_01v_CPUID.txt");
    let p = golden(&f, "instlatx64-icx");
    assert_eq!(p["cpu"]["vendor"], "GenuineIntel");
    assert_eq!(
        (p["cpu"]["family"].as_u64(), p["cpu"]["model"].as_u64()),
        (Some(6), Some(0x6c))
    );
    let f = names(&p["cpu"]["features"]);
    assert!(
        f.contains(&"avx512f".to_owned()) && f.contains(&"sha-ni".to_owned()),
        "{f:?}"
    );
    assert!(
        p["cpu"]["raw_msrs"]
            .as_array()
            .is_some_and(|m| !m.is_empty()),
        "MSR section kept"
    );
    assert!(
        p["origin"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("InstLatX64"))
    );
}

#[test]
fn golden_libvirt_cpudata_with_its_qmp_json() {
    let f = shared_data("libvirt-cputestdata/x86_64-cpuid-Xeon-Gold-6148.xml");
    let p = golden(&f, "libvirt-xeon-gold-6148");
    assert_eq!(p["kvm"]["guest_features_source"], "qemu_host_model");
    assert!(
        p["cpu"]["brand"]
            .as_str()
            .is_some_and(|b| b.contains("Gold 6148"))
    );
    let json = shared_data("libvirt-cputestdata/x86_64-cpuid-Xeon-Gold-6148.json");
    let q = golden(&json, "libvirt-qmp-xeon-gold-6148");
    assert_eq!(q["partial"], true);
    assert_eq!(q["kvm"]["guest_features"], p["kvm"]["guest_features"]);
}

#[test]
fn golden_lscpu_report() {
    let f =
        shared_data("cpuinfo-corpus/linuxhw-lscpu/AMD__EPYC_3201_8-Core__23-1-2__D10B1A057A.txt");
    let p = golden(&f, "lscpu-epyc-3201");
    assert_eq!(p["partial"], true);
    assert!(p["cpu"]["raw_cpuid"].as_array().is_none_or(Vec::is_empty));
    assert!(names(&p["cpu"]["features"]).contains(&"sha-ni".to_owned()));
}

/// `cpuid -r` run now on this machine, imported, agrees with the collector's own probe.
#[test]
fn live_cpuid_tool_output_agrees_with_the_probe() {
    let out = Command::new("cpuid")
        .arg("-r")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `cpuid -r` ({e}): install the cpuid package (apt-get install -y cpuid)"
            )
        });
    assert!(out.status.success());
    let dir = tempfile::tempdir().expect("tempdir");
    let dump = dir.path().join("dump.txt");
    std::fs::write(&dump, &out.stdout).expect("write");
    let imported = run_ok(&["import", dump.to_str().expect("utf-8"), "--quiet"]);
    let imp: Value =
        serde_json::from_str(String::from_utf8_lossy(&imported.stdout).trim()).expect("json");
    let probe_out = dir.path().join("p.json");
    run_ok(&[
        "probe",
        "--no-qemu",
        "--no-devices",
        "--quiet",
        "--out",
        probe_out.to_str().expect("utf-8"),
    ]);
    let p = read_json(&probe_out);
    for k in ["vendor", "brand", "family", "model", "stepping", "features"] {
        assert_eq!(imp["cpu"][k], p["cpu"][k], "{k}");
    }
    assert_eq!(imp["logical_cpus"], p["logical_cpus"]);
    let leaf = |v: &Value, l: u64| {
        v["cpu"]["raw_cpuid"]
            .as_array()
            .and_then(|a| a.iter().find(|e| e["leaf"] == l).cloned())
    };
    assert_eq!(leaf(&imp, 0), leaf(&p, 0));
    assert_eq!(leaf(&imp, 0x8000_0002), leaf(&p, 0x8000_0002));
}

/// `fleetcompat-collector import ... | head -1`: the reader goes away early; the import ends
/// quietly instead of panicking on the broken pipe.
#[test]
fn a_closed_stdout_ends_the_import_quietly() {
    let file = data("cpuid-r-this-machine.txt");
    let file = file.to_str().expect("utf-8");
    let mut child = Command::new(BIN)
        .args(["import", file, file, file, "--quiet"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader is gone before the first line
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn bad_file_is_named_with_its_line_and_the_rest_go_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = data("cpuid-r-this-machine.txt");
    let bad = dir.path().join("broken-dump.txt");
    let text = std::fs::read_to_string(&good).expect("read");
    let broken = text.replacen("eax=0x00a10f11", "eax=0xNOPE", 1);
    std::fs::write(&bad, broken).expect("write");
    let unknown = dir.path().join("notes.txt");
    std::fs::write(&unknown, "just some notes\n").expect("write");
    let out_dir = dir.path().join("out");
    let out = run(&[
        "import",
        bad.to_str().expect("utf-8"),
        good.to_str().expect("utf-8"),
        unknown.to_str().expect("utf-8"),
        "--out-dir",
        out_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broken-dump.txt: line 3:"), "{err}");
    assert!(err.contains("notes.txt: unknown format"), "{err}");
    assert!(
        out_dir.join("cpuid-r-this-machine.json").is_file(),
        "the good file was imported"
    );
}

#[test]
fn whole_corpora_import_through_the_cli() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (sub, ext, expect) in [
        ("cpuid-corpus/dev", "txt", 66),
        ("libvirt-cputestdata", "", 20 + 19 + 38),
    ] {
        let folder = shared_data(sub);
        let mut files: Vec<String> = std::fs::read_dir(&folder)
            .expect("list")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if ext == "txt" {
                    n.ends_with("_CPUID.txt") || n.contains("_CPUID") && n.ends_with(".txt")
                } else {
                    n.starts_with("x86_64-cpuid-")
                        && (n.ends_with(".json")
                            || std::fs::read_to_string(p).is_ok_and(|t| t.contains("<cpudata")))
                }
            })
            .filter_map(|p| p.to_str().map(str::to_owned))
            .collect();
        files.sort();
        assert_eq!(files.len(), expect, "{sub}");
        let out_dir = dir.path().join(sub.replace('/', "_"));
        let mut args = vec!["import", "--out-dir", out_dir.to_str().expect("utf-8")];
        args.extend(files.iter().map(String::as_str));
        let out = run_ok(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("from {expect} file(s)")), "{err}");
        let written = std::fs::read_dir(&out_dir).map(|r| r.count()).unwrap_or(0);
        // A QMP json is merged into the profile of its cpudata xml.
        assert_eq!(written, if ext == "txt" { 66 } else { 20 + 38 }, "{sub}");
    }
}

/// `virsh capabilities` and `virsh domcapabilities` of one host, given together, become one
/// profile: the host CPU from the first, the guest view, usable models and machine type from the
/// second. libvirt's reference data keeps no such pair of one host, so the pair is built from
/// two real files of the same CPU model: libvirt's expected host CPU of a Ryzen 9 3900X
/// (`EPYC-Rome-v1`, tests/cputestdata) in a `<capabilities><host>` document, and the domain
/// capabilities of an EPYC-Rome host under QEMU 10.0 (tests/domaincapsdata).
#[test]
fn virsh_capabilities_and_domcapabilities_of_one_host_merge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let host_cpu = std::fs::read_to_string(shared_data(
        "libvirt-cputestdata/x86_64-cpuid-Ryzen-9-3900X-12-Core-host.xml",
    ))
    .expect("read");
    let caps = dir.path().join("web01-caps.xml");
    std::fs::write(
        &caps,
        format!("<capabilities>\n  <host>\n{host_cpu}  </host>\n</capabilities>\n"),
    )
    .expect("write");
    let domcaps = dir.path().join("web01-domcaps.xml");
    std::fs::copy(
        shared_data("libvirt-qemucaps/domaincapsdata/qemu_10.0.0-q35.x86_64.xml"),
        &domcaps,
    )
    .expect("copy");
    let (caps, domcaps) = (
        caps.to_str().expect("utf-8"),
        domcaps.to_str().expect("utf-8"),
    );
    let out = run_ok(&["import", caps, domcaps, "--quiet"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 1, "one host: {text}");
    let p: Value = serde_json::from_str(text.trim()).expect("json");
    assert_eq!(p["host_id"], "web01");
    assert_eq!(p["cpu"]["vendor"], "AuthenticAMD");
    assert_eq!(
        (p["cpu"]["family"].as_u64(), p["cpu"]["model"].as_u64()),
        (Some(23), Some(113))
    );
    assert!(names(&p["cpu"]["features"]).contains(&"sha-ni".to_owned()));
    assert_eq!(
        p["kvm"]["guest_features_source"],
        "libvirt_domain_capabilities"
    );
    let guest = names(&p["kvm"]["guest_features"]);
    assert!(
        guest.contains(&"x2apic".to_owned()) && !guest.contains(&"xsaves".to_owned()),
        "host-model requires x2apic and disables xsaves: {guest:?}"
    );
    assert_eq!(p["qemu"][0]["machines"][0]["name"], "pc-q35-10.0");
    // libvirt's usable flags and blockers: EPYC runs there, EPYC-Rome (the host model's base)
    // is blocked by what the host-model disables.
    let model = |name: &str| -> Value {
        p["qemu"][0]["cpu_models"]
            .as_array()
            .and_then(|m| m.iter().find(|m| m["name"] == name).cloned())
            .unwrap_or_else(|| panic!("no model {name}"))
    };
    assert_eq!(model("EPYC")["usable"], true);
    let rome = model("EPYC-Rome");
    assert_eq!(rome["usable"], false);
    assert!(!names(&rome["unavailable_features"]).is_empty(), "{rome}");
    let detail = p["origin"]["detail"].as_str().unwrap_or("");
    assert!(detail.contains("web01-domcaps.xml"), "{detail}");
    let gaps: Vec<&str> = p["gaps"]
        .as_array()
        .map(|g| g.iter().filter_map(|g| g["what"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        gaps.contains(&"qemu.version") && !gaps.contains(&"kvm"),
        "{gaps:?}"
    );

    // Each on its own: the host CPU with an estimated guest view, or QEMU's side only.
    let alone = run_ok(&["import", caps, "--quiet"]);
    let a: Value =
        serde_json::from_str(String::from_utf8_lossy(&alone.stdout).trim()).expect("json");
    assert_eq!(a["kvm"]["guest_features_source"], "estimated_from_cpuid");
    assert_eq!(a["host_id"], "web01");
    let alone = run_ok(&["import", domcaps, "--quiet"]);
    let d: Value =
        serde_json::from_str(String::from_utf8_lossy(&alone.stdout).trim()).expect("json");
    assert_eq!(d["partial"], true);
    assert_eq!(
        d["kvm"]["guest_features_source"],
        "libvirt_domain_capabilities"
    );
}

/// A file that is no dump is named with the formats the import accepts.
#[test]
fn an_unknown_file_names_the_accepted_formats() {
    let dir = tempfile::tempdir().expect("tempdir");
    let f = dir.path().join("notes.xml");
    std::fs::write(&f, "<notes>hello</notes>\n").expect("write");
    let out = run(&["import", f.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    for want in [
        "notes.xml: unknown format",
        "cpuid -r",
        "libvirt cpudata xml",
        "virsh capabilities xml",
        "virsh domcapabilities xml",
    ] {
        assert!(err.contains(want), "{want}: {err}");
    }
}

/// libvirt's `<cpu>` definitions alone (tests/cputestdata: the guest CPU libvirt computes for a
/// host, `-guest.xml`, and its host CPU, `-host.xml`) cannot say whether they are a host's CPU or
/// a guest's: the import says so and names what to import instead, rather than "unknown format".
#[test]
fn a_libvirt_cpu_definition_is_told_apart_from_a_dump() {
    for file in [
        "libvirt-cputestdata/x86_64-cpuid-A10-5800K-guest.xml",
        "libvirt-cputestdata/x86_64-cpuid-Ryzen-9-3900X-12-Core-host.xml",
    ] {
        let path = shared_data(file);
        let out = run(&["import", path.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(2), "{file}");
        let err = String::from_utf8_lossy(&out.stderr);
        for want in [
            "a libvirt <cpu> definition alone",
            "a host's CPU or a guest's",
            "<cpudata>",
            "virsh capabilities",
            "domain XML",
        ] {
            assert!(err.contains(want), "{file}: {want}: {err}");
        }
        assert!(!err.contains("unknown format"), "{file}: {err}");
    }
}
