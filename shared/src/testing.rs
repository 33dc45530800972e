//! Synthetic host profiles for tests, property tests and benchmarks (not for production data).

use crate::featureset::FeatureSet;
use crate::profile::{HostProfile, SCHEMA_VERSION};

/// A profile whose host view and guest view are both `features`. Built through the JSON schema
/// (every other field at its serde default), so it keeps working as the schema grows.
pub fn profile(host_id: &str, vendor: &str, features: FeatureSet) -> HostProfile {
    let doc = serde_json::json!({
        "schema_version": SCHEMA_VERSION,
        "host_id": host_id,
        "hostname": host_id,
        "collected_at": "2026-01-01T00:00:00Z",
        "origin": { "kind": "import", "tool": "fleetcompat synthetic" },
        "cpu": {
            "arch": "x86_64",
            "vendor": vendor,
            "family": 6,
            "model": 85,
            "stepping": 4,
            "brand": "",
            "features": features,
        },
        "kvm": {
            "api_version": 12,
            "guest_features": features,
            "guest_features_source": "kvm_supported_cpuid",
        },
    });
    match serde_json::from_value(doc) {
        Ok(p) => p,
        Err(e) => unreachable!("the synthetic profile follows schema v{SCHEMA_VERSION}: {e}"),
    }
}

/// A profile from feature names; unknown names panic (test data is ours).
pub fn profile_named(host_id: &str, vendor: &str, names: &[&str]) -> HostProfile {
    let (set, unknown) = FeatureSet::from_names(names.iter().copied());
    assert!(unknown.is_empty(), "unknown test features {unknown:?}");
    profile(host_id, vendor, set)
}

/// A profile offering exactly a named model's features.
pub fn profile_of_model(host_id: &str, model: &str) -> Option<HostProfile> {
    let m = crate::models::models().get(model)?;
    let mut p = profile(
        host_id,
        m.vendor.as_deref().unwrap_or("GenuineIntel"),
        m.features,
    );
    p.cpu.family = m.family;
    p.cpu.model = m.model;
    p.cpu.stepping = m.stepping;
    Some(p)
}

/// `p` with one more QEMU install of `version` offering `machines` (name, alias).
pub fn with_qemu_machines(
    mut p: HostProfile,
    version: &str,
    machines: &[(&str, Option<&str>)],
) -> HostProfile {
    p.qemu.push(crate::profile::QemuInstall {
        version: version.into(),
        machines: machines
            .iter()
            .map(|(n, a)| crate::profile::QemuMachine {
                name: (*n).into(),
                alias: a.map(str::to_owned),
                ..crate::profile::QemuMachine::default()
            })
            .collect(),
        ..crate::profile::QemuInstall::default()
    });
    p
}

/// xorshift64*: deterministic pseudo-random input for tests and benchmarks, without a dependency.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed (0 is replaced: xorshift never leaves it).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            return 0;
        }
        usize::try_from(self.next_u64() % (n as u64)).unwrap_or(0)
    }
}

/// Named models of the synthetic VM fleets ([`guest_fleet`]): Intel and AMD server generations.
pub const VM_MODELS: &[&str] = &[
    "Skylake-Server-v4",
    "Cascadelake-Server-v4",
    "Icelake-Server-v6",
    "SapphireRapids-v1",
    "EPYC-Rome-v4",
    "EPYC-Milan-v2",
];

/// QEMU releases of the synthetic VM fleets, each with the machine types up to its own.
pub const VM_QEMUS: &[&str] = &["7.2.0", "8.2.2", "9.2.0", "10.0.2"];

/// `version` with every `pc-i440fx-*`/`pc-q35-*` machine type of [`VM_QEMUS`] up to its own
/// (its own q35 the default), as `query-machines` lists them.
pub fn qemu_with_machines(version: &str) -> crate::profile::QemuInstall {
    let v = crate::models::QemuVersion::parse(version);
    let mut machines = Vec::new();
    for r in VM_QEMUS {
        let rv = crate::models::QemuVersion::parse(r);
        if rv > v {
            continue;
        }
        let short: Vec<&str> = r.split('.').take(2).collect();
        for family in ["pc-i440fx", "pc-q35"] {
            machines.push(crate::profile::QemuMachine {
                name: format!("{family}-{}", short.join(".")),
                alias: None,
                is_default: family == "pc-q35" && rv == v,
                deprecated: false,
            });
        }
    }
    crate::profile::QemuInstall {
        path: format!("/usr/bin/qemu-system-x86_64-{version}"),
        version: version.to_owned(),
        accel: "kvm".into(),
        machines: machines.into(),
        ..crate::profile::QemuInstall::default()
    }
}

/// A libvirt domain XML of the kind `virsh dumpxml --migratable` writes: `cpu` is
/// `host-passthrough`, `host-model` or a named model, with a machine type and virtio devices.
pub fn domain_xml(
    name: &str,
    uuid: &str,
    cpu: &str,
    machine: &str,
    vcpus: u32,
    mib: u64,
) -> String {
    let cpu_xml = match cpu {
        "host-passthrough" => {
            "<cpu mode='host-passthrough' check='none' migratable='on'/>".to_owned()
        }
        "host-model" => "<cpu mode='host-model' check='partial'/>".to_owned(),
        model => format!(
            "<cpu mode='custom' match='exact' check='partial'><model fallback='forbid'>{model}</model></cpu>"
        ),
    };
    format!(
        "<domain type='kvm'>\n  <name>{name}</name>\n  <uuid>{uuid}</uuid>\n  <memory unit='MiB'>{mib}</memory>\n  <vcpu placement='static'>{vcpus}</vcpu>\n  <os><type arch='x86_64' machine='{machine}'>hvm</type></os>\n  {cpu_xml}\n  <devices>\n    <disk type='file' device='disk'><driver name='qemu' type='qcow2'/><target dev='vda' bus='virtio'/><address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/></disk>\n    <interface type='network'><mac address='52:54:00:12:34:56'/><model type='virtio'/><address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></interface>\n  </devices>\n</domain>\n"
    )
}

/// A QEMU command line of a guest started without libvirt.
pub fn command_line(name: &str, cpu: &str, machine: &str, vcpus: u32, mib: u64) -> String {
    let cpu = if cpu == "host-passthrough" {
        "host"
    } else {
        cpu
    };
    format!(
        "/usr/bin/qemu-system-x86_64 -name {name} -enable-kvm -machine {machine},accel=kvm -cpu {cpu} -smp {vcpus} -m {mib}M -device virtio-net-pci,netdev=n0,mac=52:54:00:ab:cd:01,addr=03.0 -netdev tap,id=n0 -drive file=/var/lib/vm/{name}.qcow2,if=virtio"
    )
}

/// `n` distinct guest shapes (cpu, machine type, libvirt or a bare process), in a fixed order:
/// named models, host-passthrough and host-model on machine types of several QEMU releases.
pub fn vm_shapes(n: usize) -> Vec<(String, String, bool)> {
    let mut cpus: Vec<&str> = vec!["host-passthrough", "host-model"];
    cpus.extend(VM_MODELS);
    let machines = [
        "pc-q35-7.2",
        "pc-q35-8.2",
        "pc-i440fx-7.2",
        "pc-q35-9.2",
        "pc-q35-10.0",
    ];
    let mut out = Vec::new();
    let mut i = 0usize;
    while out.len() < n {
        let cpu = cpus[i % cpus.len()];
        let machine = machines[(i / cpus.len() + i) % machines.len()];
        let libvirt = i % 5 != 4 || cpu == "host-model";
        let shape = (cpu.to_owned(), machine.to_owned(), libvirt);
        if !out.contains(&shape) {
            out.push(shape);
        }
        i += 1;
        if i > 10 * n + 100 {
            break;
        }
    }
    out
}

/// A synthetic fleet with guests: `n_hosts` hosts of [`VM_MODELS`] processors (QEMU releases of
/// [`VM_QEMUS`], 64-128 logical CPUs, 512-1024 GiB), `vms_per_host` running guests each from
/// `shapes` distinct definitions (each VM its own name and UUID); every `no_guest_data`-th host
/// has no guest data (`0`: all have it), and every `odd`-th host (`0`: none) has one CPU feature
/// beyond its model (newer microcode, a BIOS setting), a class of its own whose `-cpu host`
/// guests nobody else can take.
pub fn guest_fleet(
    n_hosts: usize,
    vms_per_host: usize,
    shapes: usize,
    no_guest_data: usize,
    odd: usize,
    seed: u64,
) -> Vec<HostProfile> {
    const EXTRA: &[&str] = &[
        "avx512-vp2intersect",
        "amx-fp16",
        "avx-vnni-int8",
        "sha512",
        "cldemote",
    ];
    use crate::vms::{HostCapacity, HostGuests, Vm, VmDefinition, VmSource, VmState};
    let mut rng = Rng::new(seed);
    let shapes = vm_shapes(shapes);
    (0..n_hosts)
        .map(|h| {
            let model = VM_MODELS[rng.below(VM_MODELS.len())];
            let mut p = profile_of_model(&format!("host-{h:05}"), model).unwrap_or_else(|| {
                profile(&format!("host-{h:05}"), "GenuineIntel", FeatureSet::EMPTY)
            });
            p.qemu = vec![qemu_with_machines(VM_QEMUS[rng.below(VM_QEMUS.len())])];
            if odd > 0 && h % odd == odd / 2 {
                let extra = crate::catalog().lookup(EXTRA[(h / odd) % EXTRA.len()]);
                if let (Some(f), Some(k)) = (extra, p.kvm.as_mut()) {
                    k.guest_features.insert(f);
                    p.cpu.features.insert(f);
                }
            }
            let _ = p.labels.insert("cluster".into(), format!("c{}", h % 7));
            if no_guest_data > 0 && h % no_guest_data == no_guest_data - 1 {
                return p;
            }
            let vms = (0..vms_per_host)
                .map(|v| {
                    let (cpu, machine, libvirt) = &shapes[rng.below(shapes.len())];
                    let vcpus = [1u32, 2, 4, 8][rng.below(4)];
                    let mib = [1024u64, 2048, 4096, 8192, 16384][rng.below(5)];
                    let name = format!("vm-{h:05}-{v:02}");
                    let uuid = format!("00000000-0000-4000-8000-{h:06}{v:06}");
                    let (id, definition, source) = if *libvirt {
                        (
                            uuid.clone(),
                            VmDefinition::DomainXml(domain_xml(
                                &name, &uuid, cpu, machine, vcpus, mib,
                            )),
                            VmSource::Libvirt,
                        )
                    } else {
                        (
                            format!("pid-{}", 1000 + v),
                            VmDefinition::CommandLine(command_line(
                                &name, cpu, machine, vcpus, mib,
                            )),
                            VmSource::Process,
                        )
                    };
                    Vm {
                        id,
                        name,
                        source,
                        state: VmState::Running,
                        vcpus,
                        memory_mib: mib,
                        definition,
                    }
                })
                .collect();
            p.guests = Some(HostGuests {
                capacity: HostCapacity {
                    logical_cpus: [64u32, 96, 128][rng.below(3)],
                    memory_mib: [512u64, 768, 1024][rng.below(3)] * 1024,
                },
                vms,
            });
            p
        })
        .collect()
}

/// `n` distinct feature sets (for benchmarks): Intel server models with a few features dropped
/// at random.
pub fn distinct_sets(n: usize, seed: u64) -> Vec<FeatureSet> {
    let bases: Vec<FeatureSet> = crate::models::models()
        .versioned()
        .filter(|m| m.vendor.as_deref() == Some("GenuineIntel") && m.features.len() > 60)
        .map(|m| m.features)
        .collect();
    let mut rng = Rng::new(seed);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let mut s = bases[rng.below(bases.len())];
        let ids: Vec<crate::catalog::FeatureId> = s.iter().collect();
        for _ in 0..1 + rng.below(4) {
            s.remove(ids[rng.below(ids.len())]);
        }
        if seen.insert(s) {
            out.push(s);
        }
    }
    out
}
