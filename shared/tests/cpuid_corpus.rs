//! The 66 real processors of `../shared/cpuid-corpus/dev` (InstLatx64 dumps, no licence: read at
//! test time, never shipped): each imports through `shared::import::profile_from_dump` (the
//! function `fleetcompat-collector import`, the command line's dumps and the demo fleet use), and
//! the best named model of its estimated guest view is of its own generation.

mod common;

use shared::baseline::{BaselineOptions, host_model};
use shared::decode;
use shared::import::{ImportMeta, profile_from_dump};
use shared::profile::GuestViewSource;

/// QEMU model families of each generation named in MANIFEST.tsv's microarchitecture column.
/// Where QEMU 10.0 has no model of the generation (client parts after Skylake, Silvermont,
/// Zen 5, Zhaoxin LuJiaZui), the nearest older families are accepted, named in the list.
fn expected_families(uarch: &str) -> &'static [&'static str] {
    let table: &[(&str, &[&str])] = &[
        ("Core (Merom", &["Conroe", "core2duo"]),
        ("Penryn", &["Penryn"]),
        ("Nehalem", &["Nehalem"]),
        ("Westmere", &["Westmere"]),
        ("Sandy Bridge", &["SandyBridge"]),
        ("Ivy Bridge", &["IvyBridge"]),
        ("Haswell", &["Haswell"]),
        ("Broadwell", &["Broadwell"]),
        ("Skylake-SP", &["Skylake-Server"]),
        ("Skylake-X", &["Skylake-Server"]),
        ("Skylake (client", &["Skylake-Client"]),
        ("Kaby Lake", &["Skylake-Client"]),
        ("Coffee Lake", &["Skylake-Client"]),
        ("Cascade Lake", &["Cascadelake-Server"]),
        ("Ice Lake-SP", &["Icelake-Server"]),
        ("Ice Lake-D", &["Icelake-Server"]),
        // No Icelake-Client in QEMU 10.0: the client parts have Ice Lake's ISA without the
        // server's AVX-512 extras.
        ("Ice Lake (client", &["Icelake-Server", "Skylake-Client"]),
        ("Tiger Lake", &["Icelake-Server", "Skylake-Client"]),
        ("Sapphire Rapids", &["SapphireRapids"]),
        ("Emerald Rapids", &["SapphireRapids"]),
        ("Granite Rapids", &["GraniteRapids"]),
        // Golden Cove P-cores alone: firmware can enable AVX-512 with the E-cores off; the core
        // is Sapphire Rapids' (without AMX), Ice Lake's ISA is the nearest QEMU model below it.
        (
            "Alder Lake-S (P-cores only)",
            &["Skylake-Client", "Icelake-Server", "SapphireRapids"],
        ),
        // Hybrid parts: a guest gets the intersection with the E-cores, AVX2 without AVX-512 or
        // TSX; where QEMU has a server model of the same E-core generation it fits best
        // (Crestmont: SierraForest, Skymont/Darkmont: ClearwaterForest).
        ("Alder Lake", &["Skylake-Client"]),
        ("Raptor Lake", &["Skylake-Client"]),
        ("Meteor Lake", &["Skylake-Client", "SierraForest"]),
        (
            "Arrow Lake",
            &["Skylake-Client", "SierraForest", "ClearwaterForest"],
        ),
        ("Atom Silvermont", &["Westmere", "Nehalem"]),
        ("Atom Goldmont Plus", &["Denverton", "Snowridge"]),
        ("Atom Goldmont", &["Denverton"]),
        ("Atom Tremont", &["Snowridge"]),
        ("Xeon Phi", &["KnightsMill"]),
        ("K8 rev F", &["Opteron_G2"]),
        // QEMU's Opteron_G1 has SSE3, which K8 before revision E (SledgeHammer, 2003) lacks:
        // the 32-bit K7/K8 class athlon plus lm/nx/syscall is then an equally close fit.
        ("K8", &["Opteron_G1", "athlon"]),
        ("K10", &["Opteron_G3", "phenom"]),
        ("Bulldozer", &["Opteron_G4"]),
        ("Piledriver", &["Opteron_G5"]),
        ("Zen 1", &["EPYC"]),
        ("Zen+", &["EPYC"]),
        ("Zen 2", &["EPYC-Rome"]),
        ("Zen 3", &["EPYC-Milan"]),
        ("Zen 4", &["EPYC-Genoa"]),
        // QEMU 10.0.2 has no EPYC-Turin.
        ("Zen 5", &["EPYC-Genoa"]),
        ("Hygon", &["Dhyana"]),
        ("Zhaoxin Yongfeng", &["YongFeng"]),
        ("Zhaoxin LuJiaZui", &["YongFeng", "x86-64"]),
    ];
    table
        .iter()
        .find(|(prefix, _)| uarch.starts_with(prefix))
        .map_or(&[], |(_, f)| f)
}

#[test]
fn every_corpus_dump_decodes_and_gets_a_model_of_its_generation() {
    let dir = common::shared_dir().join("cpuid-corpus/dev");
    let manifest = common::read_shared("cpuid-corpus/dev/MANIFEST.tsv");
    let mut rows = 0;
    let mut failures = Vec::new();
    let mut hybrid = Vec::new();
    println!(
        "\n{:<52} {:<40} {:>3} {:>4} {:<22} ok",
        "dump", "microarchitecture", "cpu", "feat", "best model"
    );
    for line in manifest.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 8, "short MANIFEST line: {line}");
        let (file, vendor, uarch) = (cols[0], cols[1], cols[2]);
        rows += 1;
        let text = std::fs::read(dir.join(file))
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|e| panic!("cannot read {file}: {e}"));
        let p = match profile_from_dump(
            &text,
            None,
            ImportMeta {
                host_id: file.into(),
                ..ImportMeta::default()
            },
        ) {
            Ok(p) => p,
            Err(e) => {
                failures.push(format!("{file}: {e}"));
                continue;
            }
        };
        let got_vendor = p.cpu.vendor.clone();
        let want_family = cols[5].trim().parse::<u32>().ok();
        let want_model = u32::from_str_radix(cols[6].trim().trim_start_matches("0x"), 16).ok();
        if got_vendor != vendor
            || (Some(p.cpu.family), Some(p.cpu.model)) != (want_family, want_model)
        {
            failures.push(format!(
                "{file}: decoded {got_vendor} {}/{}, manifest {vendor} {want_family:?}/{want_model:?}",
                p.cpu.family, p.cpu.model
            ));
        }
        // Hybrid parts: the host view is the intersection over every logical CPU; the groups of
        // CPUs that differ are the profile's cpu_variants.
        let differs = !p.cpu_variants.is_empty();
        if differs != (cols.get(10).map(|c| c.trim()) == Some("yes")) {
            failures.push(format!(
                "{file}: cpus differ in features: {differs}, MANIFEST feature_leaves_differ_across_cpus: {:?}",
                cols.get(10)
            ));
        }
        if differs {
            hybrid.push(format!(
                "{file} ({uarch}): {} features common to all {} cpus",
                p.cpu.features.len(),
                p.logical_cpus
            ));
        }
        let Some(kvm) = p
            .kvm
            .as_ref()
            .filter(|k| k.guest_features_source == GuestViewSource::EstimatedFromCpuid)
        else {
            failures.push(format!("{file}: no estimated guest view"));
            continue;
        };
        let guest = kvm.guest_features;
        if guest != decode::estimate_guest_view(&p.cpu.features) {
            failures.push(format!(
                "{file}: guest view is not the estimate of the host view"
            ));
        }
        // The dumps' MSR sections (where present) say nothing of KVM's nesting setting, and most
        // dumps carry no MSRs: those features are unknown, not absent.
        let mut unknown = decode::nesting_dependent();
        for f in shared::catalog().features() {
            if matches!(f.location, shared::catalog::FeatureLocation::Msr { .. }) {
                unknown.insert(f.id);
            }
        }
        let opts = BaselineOptions {
            ignore: unknown,
            ..BaselineOptions::default()
        };
        let model = match host_model(&p, &opts) {
            Ok(b) => b.model,
            Err(e) => {
                failures.push(format!("{file}: no host model: {e}"));
                continue;
            }
        };
        let family = shared::models::models()
            .get(&model)
            .map_or(model.as_str(), |m| m.family_name());
        let expected = expected_families(uarch);
        let ok = expected.contains(&family);
        println!(
            "{:<52} {:<40} {:>3} {:>4} {:<22} {}",
            file,
            uarch,
            p.logical_cpus,
            guest.len(),
            model,
            if ok { "yes" } else { "NO" }
        );
        if !ok {
            failures.push(format!(
                "{file} ({uarch}): best model {model}, expected one of {expected:?}"
            ));
        }
    }
    println!("\ndumps whose logical cpus differ in features (intersected):");
    for h in &hybrid {
        println!("  {h}");
    }
    assert!(
        hybrid.iter().any(|h| h.contains("hybrid")),
        "no hybrid part differs across its cpus: {hybrid:?}"
    );
    assert_eq!(rows, 66, "MANIFEST.tsv should list the 66 dev dumps");
    assert!(
        failures.is_empty(),
        "{} of {rows} dumps failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
