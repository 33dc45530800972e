//! Rich generated hosts, guests and policies for the graph property tests (KVM MSR lists,
//! kernels, several QEMU releases with machine types, named models QEMU filters, `-cpu host`
//! start checks, TSC, arm64 ID registers).

use proptest::prelude::*;

use shared::catalog::{FeatureId, catalog};
use shared::models::{QemuVersion, models};
use shared::profile::{HostProfile, QemuCpuModel, QemuInstall, QemuMachine, StartCheck};
use shared::testing::profile;
use shared::verdict::{GuestConfig, GuestCpu, ManagementStack, Policy};

/// A few real models of each vendor, so that fleets share classes sometimes.
const MODELS: &[&str] = &[
    "Skylake-Server-v4",
    "Cascadelake-Server-v4",
    "Icelake-Server-v6",
    "EPYC-Rome-v4",
    "EPYC-Milan-v2",
    "qemu64-v1",
];

/// KVM MSRs: the ones tied to features (IA32_SPEC_CTRL, IA32_ARCH_CAPABILITIES, IA32_TSC_DEADLINE,
/// IA32_TSC_ADJUST, IA32_XSS) and some that are not.
const MSRS: &[u32] = &[
    0x48,
    0x10a,
    0x6e0,
    0x3b,
    0xda0,
    0x10,
    0x174,
    0xc000_0080,
    0x1234,
];

const RELEASES: &[&str] = &["7.2.0", "8.0.0", "8.0.1", "10.0.2"];

fn install(
    release: &str,
    unavailable: &[&str],
    host_start_ok: Option<bool>,
    enforce_ok: Option<bool>,
) -> QemuInstall {
    let v = QemuVersion::parse(release).unwrap_or_default();
    // Each release has every machine type up to its own, its own the default.
    let mut machines = Vec::new();
    for r in RELEASES {
        let Some(rv) = QemuVersion::parse(r) else {
            continue;
        };
        if rv > v {
            continue;
        }
        let short: Vec<&str> = r.split('.').take(2).collect();
        let short = short.join(".");
        for family in ["pc-i440fx", "pc-q35"] {
            machines.push(QemuMachine {
                name: format!("{family}-{short}"),
                alias: None,
                is_default: family == "pc-i440fx" && rv == v,
                deprecated: false,
            });
        }
    }
    machines.dedup_by(|a, b| a.name == b.name);
    QemuInstall {
        path: format!("/usr/bin/qemu-{release}"),
        version: release.to_owned(),
        accel: "kvm".into(),
        machines: machines.into(),
        cpu_models: MODELS
            .iter()
            .map(|m| QemuCpuModel {
                name: (*m).to_owned(),
                usable: unavailable.is_empty(),
                unavailable_features: unavailable.iter().map(|s| (*s).to_owned()).collect(),
                ..QemuCpuModel::default()
            })
            .collect(),
        host_cpu_start: host_start_ok.map(|ok| StartCheck {
            ok,
            error: (!ok).then(|| "error: failed to set MSR 0x10a to 0x0".to_owned()),
        }),
        cpu_start_checks: enforce_ok
            .map(|ok| {
                MODELS
                    .iter()
                    .map(|m| {
                        (
                            format!("{m},enforce"),
                            StartCheck {
                                ok,
                                error: (!ok)
                                    .then(|| "Host doesn't support requested features".to_owned()),
                            },
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        ..QemuInstall::default()
    }
}

prop_compose! {
    pub fn rich_host()(
        model in 0..MODELS.len(),
        drop in proptest::collection::vec(any::<prop::sample::Index>(), 0..4),
        add in proptest::collection::vec(0..catalog().len(), 0..3),
        tsc in prop::option::of(prop::sample::select(vec![2_000_000u64, 2_000_100, 2_001_000])),
        scaling in prop::option::of(any::<bool>()),
        msrs in proptest::collection::vec(any::<bool>(), MSRS.len()),
        kernel in prop::sample::select(vec!["5.10.0-30-amd64", "6.1.0-28-amd64", "6.12.9-amd64"]),
        releases in proptest::collection::vec(0..RELEASES.len(), 0..3),
        unavailable in prop::sample::select(vec![vec![], vec!["pni"], vec!["avx512f", "pcid"]]),
        start in prop::option::of(any::<bool>()),
        enforce_ok in prop::option::of(any::<bool>()),
        deadline in any::<bool>(),
        // Some arm64 hosts: Neoverse-N1 or -V1 MIDRs and ID_AA64ISAR0_EL1 values.
        arm in prop::option::of((0..2usize, 0..2usize)),
    ) -> HostProfile {
        let m = models().get(MODELS[model]).expect("model");
        let mut set = m.features;
        let ids: Vec<FeatureId> = set.iter().collect();
        for d in drop {
            set.remove(ids[d.index(ids.len())]);
        }
        for a in add {
            set.insert(FeatureId(u16::try_from(a).unwrap_or(0)));
        }
        let mut p = profile(MODELS[model], m.vendor.as_deref().unwrap_or(""), set);
        p.cpu.tsc_khz = tsc;
        p.kernel_release = Some(kernel.to_owned());
        if let Some(k) = p.kvm.as_mut() {
            k.tsc_scaling = scaling;
            k.msr_index_list = MSRS
                .iter()
                .zip(&msrs)
                .filter(|(_, on)| **on)
                .map(|(m, _)| *m)
                .collect();
            if deadline {
                k.capabilities.insert("tsc_deadline_timer".into(), 1);
            }
        }
        if let Some((midr, isar0)) = arm {
            p.cpu.arch = shared::profile::Arch::Aarch64;
            p.arm_id_registers.insert("midr_el1".into(), [0x413f_d0c1, 0x411f_d401][midr]);
            p.arm_id_registers.insert(
                "id_aa64isar0_el1".into(),
                [0x0000_1000_1021_1120, 0x1221_1001_1021_2120][isar0],
            );
        }
        let mut rs: Vec<usize> = releases;
        rs.sort_unstable();
        rs.dedup();
        p.qemu = rs
            .iter()
            .map(|&r| install(RELEASES[r], &unavailable, start, enforce_ok))
            .collect();
        p
    }
}

pub fn guests() -> impl Strategy<Value = GuestConfig> {
    let cpu = prop_oneof![
        Just(GuestCpu::HostPassthrough),
        Just(GuestCpu::HostModel),
        Just(GuestCpu::HostPassthroughMasked {
            disable: vec!["arch-capabilities".into()]
        }),
        (0..MODELS.len()).prop_map(|i| GuestCpu::Named {
            model: MODELS[i].to_owned(),
            enable: vec![],
            disable: vec![],
        }),
    ];
    let machine = prop::option::of(prop::sample::select(vec![
        "pc-q35-7.2",
        "pc-i440fx-8.0",
        "pc-q35-10.0",
    ]));
    let stack = prop::option::of(prop::sample::select(vec![
        ManagementStack::Qemu,
        ManagementStack::Libvirt,
    ]));
    (
        cpu,
        machine,
        any::<bool>(),
        stack,
        prop::option::of(Just(2_000_000u64)),
    )
        .prop_map(|(cpu, machine, enforce, managed_by, tsc_khz)| {
            let mut g = GuestConfig {
                cpu,
                machine: machine.map(str::to_owned),
                managed_by,
                tsc_khz,
                ..GuestConfig::default()
            };
            if enforce {
                g.cpu_props.insert("enforce".into(), "on".into());
            }
            g
        })
}

pub fn policies() -> impl Strategy<Value = Policy> {
    (
        any::<bool>(),
        prop::option::of(prop::sample::select(vec!["7.2.0", "10.0.2"])),
        prop::option::of(prop::sample::select(vec![
            ManagementStack::Qemu,
            ManagementStack::Libvirt,
        ])),
    )
        .prop_map(|(vendor, qemu, stack)| Policy {
            allow_vendor_change: vendor,
            src_qemu: qemu.and_then(QemuVersion::parse),
            dst_qemu: qemu.and_then(QemuVersion::parse),
            stack,
            ..Policy::default()
        })
}
