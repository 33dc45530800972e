//! Imports over the real dumps in the repository's parent folder (`../shared`, not shipped: the
//! InstLatx64 corpus has no licence). Missing data fails loudly.

use std::path::{Path, PathBuf};

use super::*;

fn shared_dir(sub: &str) -> PathBuf {
    let p = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared")).join(sub);
    assert!(
        p.is_dir(),
        "test data {} is absent: these tests read the team's shared data folder beside the repository (../shared/{sub})",
        p.display()
    );
    p
}

fn read(p: &Path) -> String {
    let bytes = std::fs::read(p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()));
    String::from_utf8_lossy(&bytes).into_owned()
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn meta() -> ImportMeta {
    ImportMeta {
        host_id: "h".into(),
        ..ImportMeta::default()
    }
}

#[test]
fn every_instlatx64_dump_imports_and_matches_its_manifest() {
    let dir = shared_dir("cpuid-corpus/dev");
    let manifest = read(&dir.join("MANIFEST.tsv"));
    let mut n = 0;
    for row in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let c: Vec<&str> = row.split('\t').collect();
        let (file, vendor, model_name, eax1) = (c[0], c[1], c[3], c[4]);
        let (family, model, stepping) = (c[5], c[6], c[7]);
        let (ncpus, differ) = (c[8], c[10]);
        let text = read(&dir.join(file));
        assert_eq!(detect(&text), Some(Format::InstLatx64), "{file}");
        let p = profile_from_dump(&text, None, meta()).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            p.kvm.as_ref().map(|k| k.guest_features_source),
            Some(GuestViewSource::EstimatedFromCpuid),
            "{file}"
        );
        assert_eq!(p.cpu.vendor, vendor, "{file}");
        let leaf1 = p
            .cpu
            .raw_cpuid
            .iter()
            .find(|e| e.leaf == 1)
            .expect("leaf 1");
        assert_eq!(
            leaf1.eax,
            u32::from_str_radix(eax1, 16).unwrap_or(0),
            "{file}"
        );
        assert_eq!(p.cpu.family.to_string(), family, "{file}");
        // Zhaoxin family 7 included: decode::signature applies the extended model from family 6
        // up, as Linux's x86_model() does.
        assert_eq!(
            format!("{:#X}", p.cpu.model).replace("0X", "0x"),
            model,
            "{file}"
        );
        assert_eq!(p.cpu.stepping.to_string(), stepping, "{file}");
        assert_eq!(norm(&p.cpu.brand), norm(model_name), "{file}");
        assert_eq!(p.logical_cpus.to_string(), ncpus, "{file}");
        assert!(!p.cpu.features.is_empty(), "{file}");
        if differ == "yes" {
            assert!(
                !p.cpu_variants.is_empty(),
                "{file}: manifest says leaves differ across CPUs"
            );
        }
        n += 1;
    }
    assert_eq!(n, 66, "the dev split has 66 dumps");
}

/// `x86_64-cpuid-<name>.sig`: CPUID.1:EAX in hex on the first line.
fn sig_eax(dir: &Path, stem: &str) -> u32 {
    let sig = read(&dir.join(format!("{stem}.sig")));
    u32::from_str_radix(sig.lines().next().unwrap_or("").trim(), 16).unwrap_or(u32::MAX)
}

fn vendor_of(name: &str) -> &'static str {
    if name.contains("Hygon") {
        "HygonGenuine"
    } else if ["A10", "Opteron", "Ryzen", "FX-", "EPYC"]
        .iter()
        .any(|k| name.contains(k))
    {
        "AuthenticAMD"
    } else {
        "GenuineIntel"
    }
}

#[test]
fn every_libvirt_cpuid_input_imports() {
    let dir = shared_dir("libvirt-cputestdata");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("x86_64-cpuid-"))
        .collect();
    names.sort();
    let (mut raw, mut json, mut words) = (0, 0, 0);
    for name in &names {
        let text = read(&dir.join(name));
        let stem = name.trim_end_matches(".xml").trim_end_matches(".json");
        if name.ends_with(".json") {
            let imp = parse_any(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(imp.format, Format::LibvirtQmpJson);
            let p = profile_from_import(&imp, meta());
            assert_eq!(p.cpu.vendor, vendor_of(name), "{name}");
            let eax = sig_eax(&dir, stem);
            let (f, m, s) = crate::decode::signature(&[crate::profile::CpuidEntry {
                leaf: 1,
                subleaf: 0,
                eax,
                ebx: 0,
                ecx: 0,
                edx: 0,
            }])
            .unwrap_or_default();
            assert_eq!(
                (p.cpu.family, p.cpu.model, p.cpu.stepping),
                (f, m, s),
                "{name}"
            );
            assert!(
                p.partial && p.kvm.is_some_and(|k| !k.guest_features.is_empty()),
                "{name}"
            );
            json += 1;
        } else if text.contains("<cpudata") {
            let imp = parse_any(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(imp.format, Format::LibvirtCpudata);
            if stem.ends_with("-enabled") || stem.ends_with("-disabled") {
                // Feature words QEMU enabled/disabled: no leaf 0, imported as partial.
                let p = profile_from_import(&imp, meta());
                assert!(
                    p.partial && p.gaps.iter().any(|g| g.what == "cpu.vendor"),
                    "{name}"
                );
                words += 1;
                continue;
            }
            let p = profile_from_import(&imp, meta());
            assert_eq!(p.cpu.vendor, vendor_of(name), "{name}");
            let leaf1 = p
                .cpu
                .raw_cpuid
                .iter()
                .find(|e| e.leaf == 1)
                .expect("leaf 1");
            assert_eq!(leaf1.eax & 0x0fff_3fff, sig_eax(&dir, stem), "{name}");
            // The file name is the brand's model part: Xeon-Gold-6148 -> "Gold 6148".
            let want = stem.trim_start_matches("x86_64-cpuid-").replace('-', " ");
            let brand = norm(&p.cpu.brand).to_lowercase().replace('-', " ");
            let key = want.split(' ').next_back().unwrap_or("").to_lowercase();
            assert!(
                brand.contains(&key),
                "{name}: brand '{}' lacks '{key}'",
                p.cpu.brand
            );
            raw += 1;
        }
    }
    assert_eq!((raw, json), (20, 19), "raw cpudata and qmp json inputs");
    assert_eq!(words, 38);
}

#[test]
fn every_lscpu_report_imports_flags_only() {
    let dir = shared_dir("cpuinfo-corpus/linuxhw-lscpu");
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = e.map(|e| e.path()).unwrap_or_default();
        if path.extension().is_none_or(|x| x != "txt") {
            continue;
        }
        let text = read(&path);
        let imp = parse_any(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let p = profile_from_import(&imp, meta());
        assert!(p.partial && p.cpu.raw_cpuid.is_empty());
        let flagged = text
            .lines()
            .any(|l| l.trim_start().to_lowercase().starts_with("flags"));
        assert_eq!(p.cpu.features.len() > 10, flagged, "{}", path.display());
        assert!(!p.cpu.vendor.is_empty(), "{}", path.display());
        // File names are <vendor>__<model>__<family>-<model>-<stepping>__<probe>.txt.
        let fname = path.file_name().and_then(|f| f.to_str()).unwrap_or("");
        let fms = fname.split("__").nth(2).unwrap_or("");
        assert_eq!(
            fms,
            format!("{}-{}-{}", p.cpu.family, p.cpu.model, p.cpu.stepping),
            "{fname}"
        );
        n += 1;
    }
    assert!(n >= 200, "only {n} lscpu reports");
}

#[test]
fn nodedev_fixtures_parse() {
    let dir = shared_dir("device-data/libvirt-nodedev/nodedevschemadata");
    let f = nodedev::parse_nodedev_pci(&read(&dir.join("pci_0000_02_10_7_mdev_types.xml")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(f.address, "0000:02:10.7");
    assert_eq!(
        (f.vendor, f.device, f.iommu_group),
        (0x8086, 0x10ca, Some(31))
    );
    assert_eq!(f.mdev_types.len(), 2);
    assert_eq!(f.mdev_types[1].available_instances, 2);
    let s = nodedev::parse_nodedev_pci(&read(&dir.join("pci_0000_02_10_7_sriov_pf_vfs_all.xml")))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(s.sriov.map(|s| s.total_vfs), Some(7));
    assert_eq!(s.physfn.as_deref(), Some("0000:02:00.1"));
    let mut pci = 0;
    for e in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{e}")) {
        let path = e.map(|e| e.path()).unwrap_or_default();
        let name = path
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or("")
            .to_owned();
        if !name.ends_with(".xml") {
            continue;
        }
        let text = read(&path);
        if text.contains("<capability type='pci'>") {
            nodedev::parse_nodedev_pci(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
            pci += 1;
        } else {
            assert!(nodedev::parse_nodedev_pci(&text).is_err(), "{name}");
        }
    }
    assert_eq!(pci, 14, "pci node devices among the fixtures");
}

/// Truncated and corrupted dumps of every format give errors or profiles, never panics.
#[test]
fn damaged_dumps_never_panic() {
    let files = [
        shared_dir("cpuid-corpus/dev").join("GenuineIntel00606C1_ICX_01v_CPUID.txt"),
        shared_dir("libvirt-cputestdata").join("x86_64-cpuid-Xeon-Gold-6148.xml"),
        shared_dir("libvirt-cputestdata").join("x86_64-cpuid-Core-i7-2600.json"),
        shared_dir("cpuinfo-corpus/linuxhw-lscpu")
            .join("AMD__EPYC_3201_8-Core__23-1-2__D10B1A057A.txt"),
        shared_dir("libvirt-qemucaps/domaincapsdata").join("qemu_10.0.0-q35.x86_64.xml"),
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut outcomes = (0, 0);
    // Damaged QEMU data goes in beside an intact <cpudata> dump too.
    let intact = read(&files[1]);
    for f in &files {
        let bytes = std::fs::read(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        for step in 0..200 {
            let mut b = bytes.clone();
            let cut = usize::try_from(next() % (b.len() as u64 + 1)).unwrap_or(0);
            if step % 2 == 0 {
                b.truncate(cut);
            }
            for _ in 0..(step % 7) {
                let i = usize::try_from(next() % (b.len().max(1) as u64)).unwrap_or(0);
                if let Some(x) = b.get_mut(i) {
                    *x = (next() & 0xff) as u8;
                }
            }
            let text = String::from_utf8_lossy(&b);
            if f.extension().is_some_and(|x| x == "json")
                || f.ends_with("qemu_10.0.0-q35.x86_64.xml")
            {
                let _ = profile_from_dump(&intact, Some(&text), meta());
            }
            match profile_from_dump(&text, None, meta()) {
                Ok(_) => {
                    outcomes.0 += 1;
                }
                Err(e) => {
                    assert!(!e.to_string().is_empty());
                    outcomes.1 += 1;
                }
            }
        }
    }
    assert!(outcomes.0 > 0 && outcomes.1 > 0, "{outcomes:?}");
}
