//! Rules beyond the CPU on real reference data from ../shared (read at test time, not shipped):
//! arm64 MIDRs from archspec's /proc/cpuinfo samples (seed 000's ThunderX2 among them) and VFIO
//! devices from libvirt's node-device test data (../shared/device-data, LGPL-2.1-or-later).
//! Plus confidential guests and cpr-transfer.

use shared::guest::cmdline::parse_command_line;
use shared::guest::{GuestDevice, VfioSource};
use shared::import::nodedev::parse_nodedev_pci;
use shared::profile::{Arch, HostProfile, PciFunction, QemuInstall, VfioVariantDriver};
use shared::rules::arm64::EquivalenceGroup;
use shared::rules::devices::VfioVersionRule;
use shared::testing::profile_named;
use shared::verdict::{GuestConfig, Policy, Severity, Verdict, compare, compare_with};

const SHARED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared");

fn read(rel: &str) -> String {
    let path = format!("{SHARED}/{rel}");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("{path}: {e}: the reference data of ../shared must be present for these tests")
    })
}

fn rules(v: &Verdict) -> Vec<(&str, Severity)> {
    v.reasons
        .iter()
        .map(|r| (r.rule.as_str(), r.severity))
        .collect()
}

/// MIDR_EL1 from a /proc/cpuinfo of an arm64 host: implementer[31:24] variant[23:20]
/// architecture 0xf[19:16] part[15:4] revision[3:0].
fn midr(cpuinfo: &str) -> u64 {
    let field = |name: &str| {
        let v = cpuinfo
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split(':').nth(1))
            .unwrap_or_else(|| panic!("no {name}"))
            .trim();
        match v.strip_prefix("0x") {
            Some(h) => u64::from_str_radix(h, 16).expect("hex"),
            None => v.parse().expect("number"),
        }
    };
    field("CPU implementer") << 24
        | field("CPU variant") << 20
        | 0xf << 16
        | field("CPU part") << 4
        | field("CPU revision")
}

fn arm_host(id: &str, target: &str) -> HostProfile {
    let m = midr(&read(&format!("cpuinfo-corpus/archspec/targets/{target}")));
    let mut p = profile_named(id, "arm", &[]);
    p.cpu.arch = Arch::Aarch64;
    p.arm_id_registers.insert("midr_el1".into(), m);
    p
}

#[test]
fn arm64_midr_must_match_unless_an_operator_group_says_otherwise() {
    let tx2a = arm_host("tx2-a", "linux-centos7-thunderx2");
    let tx2b = arm_host("tx2-b", "linux-centos7-thunderx2");
    assert_eq!(tx2a.arm_id_registers["midr_el1"] >> 24, 0x43, "Cavium");
    let v = compare(&tx2a, &tx2b, &GuestConfig::default());
    assert!(v.compatible, "{:?}", v.reasons);

    let a1 = arm_host("ampere1", "linux-ubuntu22.04-ampere1");
    let a1a = arm_host("ampere1a", "linux-ubuntu22.04-ampere1a");
    let (ma, mb) = (
        a1.arm_id_registers["midr_el1"],
        a1a.arm_id_registers["midr_el1"],
    );
    assert_ne!(ma, mb);
    let v = compare(&a1, &a1a, &GuestConfig::default());
    assert!(!v.compatible);
    assert!(rules(&v).contains(&("arm64.midr-mismatch", Severity::Blocker)));

    let policy = Policy {
        arm_equivalence_groups: vec![EquivalenceGroup {
            name: "ampere-one".into(),
            midrs: vec![ma, mb],
        }],
        ..Policy::default()
    };
    let v = compare_with(&a1, &a1a, &GuestConfig::default(), &policy);
    assert!(v.compatible, "{:?}", v.reasons);
    let used = v
        .reasons
        .iter()
        .find(|r| r.rule == "arm64.equivalence-group-used")
        .expect("the verdict says a group was used");
    assert!(used.message.contains("ampere-one"));

    // A group holding only one of them does not help; another ID register differing blocks too.
    let n2 = arm_host("n2", "linux-ubuntu22.04-neoverse_n2");
    let v = compare_with(&a1, &n2, &GuestConfig::default(), &policy);
    assert!(!v.compatible);
    let mut other = tx2b.clone();
    other
        .arm_id_registers
        .insert("id_aa64isar0_el1".into(), 0x1);
    let mut base = tx2a.clone();
    base.arm_id_registers.insert("id_aa64isar0_el1".into(), 0x2);
    let v = compare(&base, &other, &GuestConfig::default());
    assert!(rules(&v).contains(&("arm64.id-register-mismatch", Severity::Blocker)));
    let mut bare = tx2b;
    bare.arm_id_registers.clear();
    let v = compare(&tx2a, &bare, &GuestConfig::default());
    assert!(rules(&v).contains(&("arm64.id-registers-unknown", Severity::Warning)));
}

fn nodedev(name: &str) -> PciFunction {
    parse_nodedev_pci(&read(&format!(
        "device-data/libvirt-nodedev/nodedevschemadata/{name}"
    )))
    .unwrap_or_else(|e| panic!("{name}: {e:?}"))
}

fn mdev_guest(t: &str) -> GuestConfig {
    GuestConfig {
        devices: vec![GuestDevice {
            driver: "vfio-pci".into(),
            id: Some("mdev0".into()),
            vfio: Some(VfioSource {
                mdev_type: Some(t.into()),
                ..VfioSource::default()
            }),
            ..GuestDevice::default()
        }],
        ..GuestConfig::default()
    }
}

#[test]
fn vfio_mdev_type_must_exist_with_a_free_instance() {
    let f = nodedev("pci_0000_02_10_7_mdev_types.xml");
    assert_eq!((f.vendor, f.device), (0x8086, 0x10ca));
    let src = profile_named("src", "GenuineIntel", &["sse2"]);
    let mut dst = profile_named("dst", "GenuineIntel", &["sse2"]);
    dst.devices.pci.push(f);
    let v = compare(&src, &dst, &mdev_guest("foo1"));
    assert!(v.compatible, "{:?}", v.reasons);
    let v = compare(&src, &dst, &mdev_guest("nvidia-11"));
    assert!(rules(&v).contains(&("vfio.mdev-type-missing", Severity::Blocker)));
    for t in &mut dst.devices.pci[0].mdev_types {
        t.available_instances = 0;
    }
    let v = compare(&src, &dst, &mdev_guest("foo2"));
    assert!(rules(&v).contains(&("vfio.mdev-no-free-instance", Severity::Blocker)));
}

fn vfio_host(id: &str, driver: &str, migration: bool, version: Option<&str>) -> HostProfile {
    let f = nodedev("pci_0000_02_10_7_sriov_vfs.xml");
    let mut p = profile_named(id, "GenuineIntel", &["sse2"]);
    if let Some(v) = version {
        p.devices
            .device_versions
            .insert(f.address.clone(), v.to_owned());
    }
    p.devices.vfio_variant_drivers.push(VfioVariantDriver {
        name: driver.into(),
        migration,
        bound: vec![f.address.clone()],
    });
    p.devices.pci.push(f);
    p
}

#[test]
fn vfio_needs_a_migration_driver_a_counterpart_and_an_accepted_device_version() {
    let addr = nodedev("pci_0000_02_10_7_sriov_vfs.xml").address;
    let guest =
        parse_command_line(&format!("-device vfio-pci,host={addr},id=hostdev0")).expect("cmdline");
    // Synthetic driver names: the device identities come from libvirt's data.
    let src = vfio_host("src", "example_vfio_pci", true, Some("8086:10ca-v1"));
    let same = vfio_host("dst", "example_vfio_pci", true, Some("8086:10ca-v1"));
    let v = compare(&src, &same, &guest);
    assert!(v.compatible, "{:?}", v.reasons);

    let newer = vfio_host("dst", "example_vfio_pci", true, Some("8086:10ca-v2"));
    let v = compare(&src, &newer, &guest);
    assert!(rules(&v).contains(&("vfio.device-version-incompatible", Severity::Blocker)));
    let policy = Policy {
        extra_vfio_versions: vec![VfioVersionRule {
            vendor: 0x8086,
            driver: "example_vfio_pci".into(),
            src_version: "*-v1".into(),
            dst_version: "*-v2".into(),
            accepted: true,
            note: "lower to higher generation".into(),
        }],
        ..Policy::default()
    };
    let v = compare_with(&src, &newer, &guest, &policy);
    assert!(v.compatible, "{:?}", v.reasons);

    let plain = vfio_host("src", "vfio-pci", false, None);
    let v = compare(&plain, &same, &guest);
    assert!(rules(&v).contains(&("vfio.no-migration-driver", Severity::Blocker)));
    let no_dev = profile_named("dst", "GenuineIntel", &["sse2"]);
    let v = compare(&src, &no_dev, &guest);
    assert!(rules(&v).contains(&("vfio.no-compatible-device", Severity::Blocker)));
    let unversioned = vfio_host("src", "example_vfio_pci", true, None);
    let v = compare(&unversioned, &same, &guest);
    assert!(rules(&v).contains(&("vfio.device-version-unknown", Severity::Warning)));
    // A shipped row: nvgrace-gpu has no migration support even for equal versions.
    let rows =
        shared::rules::devices::parse_vfio_versions("10de\tnvgrace_gpu_vfio_pci\t*\t*\tno\tnone\n")
            .expect("rows");
    assert!(!rows[0].accepted);
    assert!(shared::rules::devices::parse_vfio_versions("zz\t*\t*\t*\tyes\tx\n").is_err());
}

fn qemu_host(id: &str, version: &str) -> HostProfile {
    let mut p = profile_named(id, "GenuineIntel", &["sse2"]);
    p.qemu.push(QemuInstall {
        version: version.into(),
        ..QemuInstall::default()
    });
    p
}

#[test]
fn cpr_transfer_only_to_the_same_host_with_shared_memory_and_qemu_10() {
    let good = parse_command_line(
        "-machine q35,aux-ram-share=on -m 1G -object memory-backend-memfd,id=ram0,size=1G,share=on \
         -incoming tcp:0:4444 -incoming cpr,addr.transport=socket,addr.type=unix,addr.path=/tmp/cpr",
    )
    .expect("cmdline");
    let h = qemu_host("h1", "10.0.2");
    let v = compare(&h, &h, &good);
    assert!(v.compatible, "{:?}", v.reasons);
    let plain =
        parse_command_line("-machine q35,aux-ram-share=on -m 1G -incoming cpr,addr.path=/tmp/c")
            .expect("cmdline");
    assert!(rules(&compare(&h, &h, &plain)).contains(&("cpr.ram-not-shared", Severity::Blocker)));
    let other = qemu_host("h2", "10.0.2");
    assert!(rules(&compare(&h, &other, &good)).contains(&("cpr.other-host", Severity::Blocker)));
    let old = qemu_host("h1", "9.2.0");
    assert!(rules(&compare(&old, &old, &good)).contains(&("cpr.qemu-too-old", Severity::Blocker)));
    let bad = parse_command_line(
        "-machine q35 -object memory-backend-ram,id=r,size=1G -object memory-backend-epc,id=e,size=64M,share=on \
         -incoming cpr,addr.path=/tmp/cpr",
    )
    .expect("cmdline");
    let bad_verdict = compare(&h, &h, &bad);
    let r = rules(&bad_verdict);
    for rule in [
        "cpr.aux-ram-share-missing",
        "cpr.backend-not-shared",
        "cpr.epc-backend",
    ] {
        assert!(r.contains(&(rule, Severity::Blocker)), "{rule}: {r:?}");
    }
}

#[test]
fn confidential_guests_block_unless_allowed_and_supported() {
    let g = parse_command_line(
        "-machine q35,confidential-guest-support=sev0 -object sev-snp-guest,id=sev0",
    )
    .expect("cmdline");
    let src = profile_named("a", "AuthenticAMD", &["sse2"]);
    let mut dst = profile_named("b", "AuthenticAMD", &["sse2"]);
    assert!(
        rules(&compare(&src, &dst, &g))
            .contains(&("confidential.not-migratable", Severity::Blocker))
    );
    let allow = Policy {
        allow_confidential_migration: true,
        ..Policy::default()
    };
    let v = compare_with(&src, &dst, &g, &allow);
    assert!(rules(&v).contains(&("confidential.unsupported-on-destination", Severity::Blocker)));
    if let Some(k) = dst.kvm.as_mut() {
        // KVM_X86_DEFAULT_VM, SEV_VM, SEV_ES_VM, SNP_VM.
        k.capabilities.insert("vm_types".into(), 0b11101);
    }
    let v = compare_with(&src, &dst, &g, &allow);
    assert!(v.compatible, "{:?}", v.reasons);
    assert!(rules(&v).contains(&("confidential.migration-allowed", Severity::Warning)));
}

#[test]
fn virtio_blk_queues_follow_smp_on_new_machine_types() {
    let h = profile_named("a", "GenuineIntel", &["sse2"]);
    let g = parse_command_line("-machine pc-q35-7.2 -smp 4 -device virtio-blk-pci,drive=d0")
        .expect("cmdline");
    assert!(
        rules(&compare(&h, &h, &g)).contains(&("devices.num-queues-follows-smp", Severity::Info))
    );
    let old = parse_command_line("-machine pc-q35-5.1 -smp 4 -device virtio-blk-pci,drive=d0")
        .expect("cmdline");
    assert!(
        !rules(&compare(&h, &h, &old))
            .iter()
            .any(|r| r.0 == "devices.num-queues-follows-smp")
    );
}

#[test]
fn old_guest_json_still_parses_and_compares_the_same() {
    let g: GuestConfig =
        serde_json::from_str(r#"{"cpu":{"mode":"host-passthrough"}}"#).expect("old json");
    assert_eq!(g, GuestConfig::default());
    let text = serde_json::to_string(&g).expect("json");
    assert_eq!(text, r#"{"cpu":{"mode":"host-passthrough"}}"#);
}

mod never_panics {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Whatever a user pastes, the parsers answer with a config or an error.
        #[test]
        fn guest_parsers_never_panic(text in ".{0,200}") {
            let _ = shared::guest::parse_guest(&text);
            let _ = shared::guest::cmdline::parse_command_line(&text);
            let _ = shared::guest::libvirt::parse_domain_xml(&text);
            let _ = shared::rules::machine::parse_errata(&text);
            let _ = shared::rules::devices::parse_vfio_versions(&text);
        }

        #[test]
        fn qemu_like_words_never_panic(
            words in proptest::collection::vec(
                prop_oneof![
                    Just("-machine".to_owned()), Just("-cpu".to_owned()), Just("-smp".to_owned()),
                    Just("-m".to_owned()), Just("-device".to_owned()), Just("-object".to_owned()),
                    Just("-global".to_owned()), Just("-incoming".to_owned()), "[a-z0-9=,.+-]{0,12}",
                ],
                0..12,
            )
        ) {
            let g = shared::guest::cmdline::parse_command_line(&words.join(" "));
            if let Ok(g) = g {
                let h = shared::testing::profile_named("h", "GenuineIntel", &["sse2"]);
                let v = shared::verdict::compare_definitions(&h, &h, &g, &g, &shared::Policy::default());
                // A definition is always ABI-stable with itself.
                prop_assert!(v.reasons.iter().all(|r| !r.rule.starts_with("abi.")), "{:?}", v.reasons);
            }
        }
    }
}
