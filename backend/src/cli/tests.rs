//! Unit tests of the engine subcommands, through their clap arguments.

use std::path::{Path, PathBuf};

use super::baseline::{BaselineArgs, run_baseline};
use super::compare::{CompareArgs, run_compare};
use super::graph::{GraphArgs, run_graph};
use super::input::read_host;
use super::masks::{MasksArgs, run_masks};
use super::{EXIT_INCOMPATIBLE, EXIT_OK};
use clap::Parser;

#[derive(Parser)]
struct T {
    #[command(subcommand)]
    c: C,
}

#[derive(clap::Subcommand)]
enum C {
    Compare(CompareArgs),
    Baseline(BaselineArgs),
    Masks(MasksArgs),
    Graph(GraphArgs),
}

fn write_profile(dir: &Path, id: &str, model: &str) -> PathBuf {
    let p = shared::testing::profile_of_model(id, model).expect("model");
    let path = dir.join(format!("{id}.json"));
    std::fs::write(&path, serde_json::to_string(&p).expect("json")).expect("write");
    path
}

fn run(argv: &[&str]) -> Result<u8, String> {
    let t = T::try_parse_from(std::iter::once("fleetcompat").chain(argv.iter().copied()))
        .map_err(|e| e.to_string())?;
    match t.c {
        C::Compare(a) => run_compare(&a),
        C::Baseline(a) => run_baseline(&a),
        C::Masks(a) => run_masks(&a),
        C::Graph(a) => run_graph(&a),
    }
    .map_err(|e| e.to_string())
}

#[test]
fn host_passthrough_is_migratable_unless_told_otherwise() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = shared::testing::profile_named("inv", "GenuineIntel", &["sse2", "invtsc"]);
    let path = dir.path().join("inv.json");
    std::fs::write(&path, serde_json::to_string(&p).expect("json")).expect("write");
    let f = path.to_str().expect("utf-8");
    assert_eq!(run(&["compare", f, f]), Ok(EXIT_OK));
    assert_eq!(
        run(&["compare", f, f, "--migratable", "off"]),
        Ok(EXIT_INCOMPATIBLE)
    );
    assert_eq!(
        run(&[
            "compare",
            f,
            f,
            "--migratable",
            "off",
            "--tsc-khz",
            "2100000"
        ]),
        Ok(EXIT_OK)
    );
    assert!(run(&["compare", f, f, "--migratable", "maybe"]).is_err());
}

#[test]
fn masks_over_mixed_vendors_exit_1_and_libvirt_versions_are_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sky = write_profile(dir.path(), "sky", "Skylake-Server-v4");
    let csl = write_profile(dir.path(), "csl", "Cascadelake-Server-v4");
    let rome = write_profile(dir.path(), "rome", "EPYC-Rome-v4");
    let (sky, csl, rome) = (
        sky.to_str().expect("path"),
        csl.to_str().expect("path"),
        rome.to_str().expect("path"),
    );
    assert_eq!(run(&["masks", sky, csl, rome]), Ok(EXIT_INCOMPATIBLE));
    assert_eq!(run(&["masks", sky, rome, "--json"]), Ok(EXIT_INCOMPATIBLE));
    assert_eq!(run(&["masks", sky, sky]), Ok(EXIT_OK));
    assert_eq!(
        run(&["masks", sky, csl, "--libvirt-version", "11.3.0"]),
        Ok(EXIT_OK)
    );
    let err = run(&["masks", sky, csl, "--libvirt-version", "new"]).expect_err("bad");
    assert_eq!(
        err,
        "--libvirt-version 'new' is not a libvirt version like 9.0.0"
    );
    assert_eq!(
        run(&["baseline", sky, csl, "--libvirt-version", "9.0.0"]),
        Ok(EXIT_OK)
    );
    assert!(run(&["baseline", sky, "--libvirt-version", "x"]).is_err());
}

#[test]
fn exit_codes_follow_the_verdicts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sky = write_profile(dir.path(), "sky", "Skylake-Server-v4");
    let csl = write_profile(dir.path(), "csl", "Cascadelake-Server-v4");
    let (sky, csl) = (sky.to_str().expect("path"), csl.to_str().expect("path"));
    assert_eq!(run(&["compare", sky, csl, "--json"]), Ok(EXIT_OK));
    assert_eq!(run(&["compare", csl, sky]), Ok(EXIT_INCOMPATIBLE));
    assert_eq!(
        run(&["compare", csl, sky, "--cpu", "Skylake-Server-v4"]),
        Ok(EXIT_OK)
    );
    let err = run(&[
        "compare",
        csl,
        sky,
        "--cpu",
        "Skylake-Server-v4",
        "--dst-qemu",
        "nope",
    ])
    .expect_err("bad version");
    assert!(err.contains("not a qemu version"), "{err}");
    let err = run(&["compare", csl, sky, "--cpu", "Bogus-Model"]).expect_err("unknown model");
    assert!(err.contains("unknown cpu model 'Bogus-Model'"), "{err}");
    assert_eq!(run(&["masks", csl, sky]), Ok(EXIT_OK));
    assert_eq!(run(&["masks", csl, sky, csl, "--json"]), Ok(EXIT_OK));
    assert_eq!(run(&["baseline", csl, sky, "--json"]), Ok(EXIT_OK));
    let d = dir.path().to_str().expect("path");
    assert_eq!(run(&["graph", d]), Ok(EXIT_INCOMPATIBLE));
    assert_eq!(
        run(&["graph", d, "--cpu", "Skylake-Server-v4"]),
        Ok(EXIT_OK)
    );
    let missing = dir.path().join("missing.json");
    assert!(run(&["compare", missing.to_str().expect("path"), sky]).is_err());
    let bad = dir.path().join("bad.txt");
    std::fs::write(&bad, "CPUID 00000000: 0-0-0-0").expect("write");
    let err = run(&["compare", bad.to_str().expect("path"), sky]).expect_err("bad input");
    assert!(err.contains("not a host profile"), "{err}");
}

#[test]
fn cpudata_dumps_get_an_estimated_guest_view() {
    let dir = tempfile::tempdir().expect("tempdir");
    let xml = "<cpudata arch='x86'>\n  <cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x00000016' ebx='0x756e6547' ecx='0x6c65746e' edx='0x49656e69'/>\n  <cpuid eax_in='0x00000001' ecx_in='0x00' eax='0x00050654' ebx='0x00000800' ecx='0x7ffefbff' edx='0xbfebfbff'/>\n</cpudata>\n";
    let path = dir.path().join("x86_64-cpuid-test.xml");
    std::fs::write(&path, xml).expect("write");
    let p = read_host(&path).expect("cpudata reads");
    assert_eq!(p.host_id, "x86_64-cpuid-test");
    assert_eq!((p.cpu.family, p.cpu.model), (6, 85));
    let view = p
        .kvm
        .as_ref()
        .expect("estimated view")
        .guest_features
        .names();
    assert!(view.contains(&"avx".to_owned()) && !view.contains(&"monitor".to_owned()));
    assert!(p.gaps.iter().any(|g| g.reason.contains("estimated")));
}

#[test]
fn cpuid_tool_dumps_read_like_profiles() {
    // A real `cpuid -r` dump of the development machine (collector's golden input).
    let path = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../collector/tests/data/cpuid-r-this-machine.txt"
    ));
    let p = read_host(path).expect("cpuid -r dump reads");
    assert_eq!(p.cpu.vendor, "AuthenticAMD");
    assert_eq!(
        p.kvm.as_ref().map(|k| k.guest_features_source),
        Some(shared::profile::GuestViewSource::EstimatedFromCpuid)
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let junk = dir.path().join("junk.txt");
    std::fs::write(&junk, "hello\n").expect("write");
    let err = read_host(&junk).expect_err("junk is refused").to_string();
    assert!(
        err.contains("junk.txt") && err.contains("unknown format"),
        "{err}"
    );
}

mod guest_file_tests {
    use std::path::Path;

    use super::super::compare::{CompareArgs, run_compare};
    use super::super::targets::{TargetsArgs, run_targets};
    use super::super::{EXIT_INCOMPATIBLE, EXIT_OK};
    use clap::Parser;

    #[derive(Parser)]
    enum C {
        Compare(CompareArgs),
        Targets(TargetsArgs),
    }

    fn run(argv: &[&str]) -> Result<u8, String> {
        match C::try_parse_from(std::iter::once("fleetcompat").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?
        {
            C::Compare(a) => run_compare(&a),
            C::Targets(a) => run_targets(&a),
        }
        .map_err(|e| e.to_string())
    }

    fn host(dir: &Path, id: &str, qemu: &str, machines: &[&str]) -> String {
        let mut p = shared::testing::profile_of_model(id, "EPYC-v4").expect("model");
        p.qemu.push(shared::profile::QemuInstall {
            version: qemu.into(),
            machines: machines
                .iter()
                .map(|m| shared::profile::QemuMachine {
                    name: (*m).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
        let path = dir.join(format!("{id}.json"));
        std::fs::write(&path, serde_json::to_string(&p).expect("json")).expect("write");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn guest_files_dst_guest_and_targets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = host(dir.path(), "old", "7.2.22", &["pc-q35-7.2"]);
        let new = host(dir.path(), "new", "10.0.2", &["pc-q35-7.2", "pc-q35-10.0"]);
        let g = dir.path().join("g.cmdline");
        std::fs::write(
            &g,
            "qemu-system-x86_64 -machine pc-q35-10.0 -cpu EPYC-v4 -m 512",
        )
        .expect("w");
        let g = g.to_string_lossy().into_owned();
        assert_eq!(
            run(&["compare", &new, &old, "--guest", &g]),
            Ok(EXIT_INCOMPATIBLE)
        );
        assert_eq!(run(&["compare", &new, &new, "--guest", &g]), Ok(EXIT_OK));
        let d = dir.path().join("d.xml");
        std::fs::write(
            &d,
            "<domain><memory unit='MiB'>1024</memory><os><type machine='pc-q35-10.0'>hvm</type></os>\
             <cpu mode='custom'><model>EPYC-v4</model></cpu></domain>",
        )
        .expect("w");
        let d = d.to_string_lossy().into_owned();
        assert_eq!(
            run(&[
                "compare",
                &new,
                &new,
                "--guest",
                &g,
                "--dst-guest",
                &d,
                "--json"
            ]),
            Ok(EXIT_INCOMPATIBLE)
        );
        assert_eq!(
            run(&["targets", "--from", &new, "--guest", &g, &old, &new]),
            Ok(EXIT_INCOMPATIBLE)
        );
        // Errata follow the guest: started on 8.0.0, now moving 8.0.1 -> 8.2.0.
        let q801 = host(dir.path(), "q801", "8.0.1", &["pc-q35-7.2"]);
        let q820 = host(dir.path(), "q820", "8.2.0", &["pc-q35-7.2"]);
        let g72 = dir.path().join("g72.cmdline");
        std::fs::write(&g72, "-machine pc-q35-7.2 -cpu EPYC-v4").expect("w");
        let g72 = g72.to_string_lossy().into_owned();
        assert_eq!(
            run(&["compare", &q801, &q820, "--guest", &g72]),
            Ok(EXIT_OK)
        );
        let sticky = [
            "compare",
            &q801,
            &q820,
            "--guest",
            &g72,
            "--started-on-qemu",
            "8.0.0",
        ];
        assert_eq!(run(&sticky), Ok(EXIT_INCOMPATIBLE));
        let errata = dir.path().join("errata.tsv");
        std::fs::write(&errata, "ours\t8.0.1\t8.2.0\tpc-q35-*\t-\tnone\tour lab\n").expect("w");
        let errata = errata.to_string_lossy().into_owned();
        let with_errata = [
            "compare", &q801, &q820, "--guest", &g72, "--errata", &errata,
        ];
        assert_eq!(run(&with_errata), Ok(EXIT_INCOMPATIBLE));
        std::fs::write(&errata, "not a table").expect("w");
        assert!(
            run(&with_errata)
                .expect_err("bad errata")
                .contains("columns")
        );
        let bad = dir.path().join("bad.xml");
        std::fs::write(&bad, "<domain>").expect("w");
        let e = run(&["compare", &new, &old, "--guest", &bad.to_string_lossy()]).expect_err("bad");
        assert!(e.contains("libvirt domain xml"), "{e}");
    }
}
