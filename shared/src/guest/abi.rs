//! ABI stability of two definitions of one guest (the source's running definition and the one
//! the destination will be started from), as libvirt's virDomainDefCheckABIStability does:
//! machine type, RAM size, vCPU count and topology, devices and their addresses, guest-visible
//! device properties (MAC address, disk serial, queues, option ROMs...), `-global` properties,
//! CPU model and features, TSC frequency. Every difference is a blocker: QEMU refuses some
//! (config space, RAM size, sections) on the destination after the source says "completed", and
//! lets the others (CPU model, MAC, serial) through to change under the guest.

use std::collections::BTreeSet;

use super::cmdline::BACKEND_PROPS;
use super::{GuestDevice, machine_version};
use crate::rules::devices::device_name;
use crate::rules::{reason, values};
use crate::verdict::{GuestConfig, GuestCpu, Layer, Reason, Severity};

fn show<T: std::fmt::Debug>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "unset".into(), |x| format!("{x:?}"))
}

/// virtio-blk's effective queue count: explicit, else `-smp` on machine types >= 5.2, else 1.
pub fn virtio_blk_queues(guest: &GuestConfig, d: &GuestDevice) -> u32 {
    if let Some(n) = d.prop("num-queues").and_then(|n| n.parse().ok()) {
        return n;
    }
    let new_type = guest
        .machine
        .as_deref()
        .and_then(machine_version)
        .is_none_or(|v| v >= (5, 2));
    if new_type {
        guest.smp.as_ref().map_or(1, |s| s.cpus)
    } else {
        1
    }
}

fn cpu_text(c: &GuestCpu) -> String {
    match c {
        GuestCpu::HostPassthrough => "host".into(),
        GuestCpu::HostModel => "host-model".into(),
        GuestCpu::HostPassthroughMasked { disable } => format!("host,-{}", disable.join(",-")),
        GuestCpu::Named {
            model,
            enable,
            disable,
        } => {
            let mut s = model.clone();
            for e in enable {
                s.push_str(&format!(",+{e}"));
            }
            for d in disable {
                s.push_str(&format!(",-{d}"));
            }
            s
        }
    }
}

fn same_cpu(a: &GuestCpu, b: &GuestCpu) -> bool {
    let sorted = |v: &[String]| v.iter().cloned().collect::<BTreeSet<_>>();
    match (a, b) {
        (
            GuestCpu::Named {
                model: ma,
                enable: ea,
                disable: da,
            },
            GuestCpu::Named {
                model: mb,
                enable: eb,
                disable: db,
            },
        ) => ma == mb && sorted(ea) == sorted(eb) && sorted(da) == sorted(db),
        (
            GuestCpu::HostPassthroughMasked { disable: da },
            GuestCpu::HostPassthroughMasked { disable: db },
        ) => sorted(da) == sorted(db),
        _ => a == b,
    }
}

/// Pair devices: by id when both have one, else by (driver, bus, addr), else by order of type.
fn pair<'a>(
    a: &'a GuestConfig,
    b: &'a GuestConfig,
) -> (
    Vec<(&'a GuestDevice, &'a GuestDevice)>,
    Vec<&'a GuestDevice>,
    Vec<&'a GuestDevice>,
) {
    let mut used = vec![false; b.devices.len()];
    let mut pairs = Vec::new();
    let mut missing = Vec::new();
    for da in &a.devices {
        let pick = |f: &dyn Fn(&GuestDevice) -> bool, used: &[bool]| {
            b.devices
                .iter()
                .enumerate()
                .find(|(i, db)| !used[*i] && f(db))
                .map(|(i, _)| i)
        };
        let found = da
            .id
            .as_ref()
            .and_then(|id| pick(&|db| db.id.as_ref() == Some(id), &used))
            .or_else(|| {
                pick(
                    &|db| db.driver == da.driver && db.bus == da.bus && db.addr == da.addr,
                    &used,
                )
            })
            .or_else(|| {
                pick(
                    &|db| db.driver == da.driver && (da.id.is_none() || db.id.is_none()),
                    &used,
                )
            });
        match found {
            Some(i) => {
                used[i] = true;
                pairs.push((da, &b.devices[i]));
            }
            None => missing.push(da),
        }
    }
    let extra = b
        .devices
        .iter()
        .enumerate()
        .filter(|(i, _)| !used[*i])
        .map(|(_, d)| d)
        .collect();
    (pairs, missing, extra)
}

/// Check that `dst` presents the same virtual hardware as `src`. Rule ids are `abi.*`.
pub fn check_abi(src: &GuestConfig, dst: &GuestConfig) -> Vec<Reason> {
    let mut out = Vec::new();
    let mut block = |layer: Layer, rule: &str, message: String, s: String, d: String| {
        out.push(reason(
            layer,
            Severity::Blocker,
            rule,
            message,
            values(s, d),
        ));
    };
    if src.machine != dst.machine {
        block(
            Layer::QemuMachine,
            "abi.machine-type",
            format!(
                "the machine type differs ({} vs {}): migration requires the same machine type on both sides (QEMU docs/devel/migration/compatibility.rst)",
                show(&src.machine),
                show(&dst.machine)
            ),
            show(&src.machine),
            show(&dst.machine),
        );
    }
    for key in src
        .machine_props
        .keys()
        .chain(dst.machine_props.keys())
        .collect::<BTreeSet<_>>()
    {
        let (a, b) = (src.machine_props.get(key), dst.machine_props.get(key));
        if a != b {
            block(
                Layer::QemuMachine,
                "abi.machine-property",
                format!("machine property {key} differs"),
                show(&a),
                show(&b),
            );
        }
    }
    if src.memory_mib != dst.memory_mib {
        block(
            Layer::Devices,
            "abi.memory-size",
            format!(
                "RAM size differs ({} vs {} MiB): QEMU refuses the RAM block of another size",
                show(&src.memory_mib),
                show(&dst.memory_mib)
            ),
            show(&src.memory_mib),
            show(&dst.memory_mib),
        );
    }
    let cpus = |g: &GuestConfig| g.smp.as_ref().map_or(1, |s| s.cpus);
    if cpus(src) != cpus(dst) {
        block(
            Layer::CpuFeatures,
            "abi.vcpu-count",
            format!("the vCPU count differs ({} vs {})", cpus(src), cpus(dst)),
            cpus(src).to_string(),
            cpus(dst).to_string(),
        );
    } else if let (Some(a), Some(b)) = (&src.smp, &dst.smp)
        && a != b
    {
        block(
            Layer::CpuFeatures,
            "abi.vcpu-topology",
            "the vCPU topology (sockets/dies/clusters/cores/threads/maxcpus) differs".into(),
            format!("{a:?}"),
            format!("{b:?}"),
        );
    }
    if !same_cpu(&src.cpu, &dst.cpu) {
        block(
            Layer::CpuFeatures,
            "abi.cpu-model",
            format!(
                "the CPU differs ({} vs {}): QEMU neither migrates nor compares CPUID, so the move would succeed and the guest would find other CPU features than it detected at boot",
                cpu_text(&src.cpu),
                cpu_text(&dst.cpu)
            ),
            cpu_text(&src.cpu),
            cpu_text(&dst.cpu),
        );
    }
    for key in src
        .cpu_props
        .keys()
        .chain(dst.cpu_props.keys())
        .collect::<BTreeSet<_>>()
    {
        let (a, b) = (src.cpu_props.get(key), dst.cpu_props.get(key));
        if a != b {
            block(
                Layer::CpuFeatures,
                "abi.cpu-property",
                format!("cpu property {key} differs"),
                show(&a),
                show(&b),
            );
        }
    }
    if src.tsc_khz != dst.tsc_khz {
        block(
            Layer::Tsc,
            "abi.tsc-frequency",
            "the fixed TSC frequency differs".into(),
            show(&src.tsc_khz),
            show(&dst.tsc_khz),
        );
    }
    for key in src
        .globals
        .keys()
        .chain(dst.globals.keys())
        .collect::<BTreeSet<_>>()
    {
        let (a, b) = (src.globals.get(key), dst.globals.get(key));
        if a != b {
            block(
                Layer::Devices,
                "abi.global-property",
                format!("-global {key} differs"),
                show(&a),
                show(&b),
            );
        }
    }
    if src.confidential != dst.confidential {
        block(
            Layer::Profile,
            "abi.confidential",
            "the confidential-computing setting differs".into(),
            show(&src.confidential),
            show(&dst.confidential),
        );
    }
    let (pairs, missing, extra) = pair(src, dst);
    for d in missing {
        block(
            Layer::Devices,
            "abi.device-missing",
            format!(
                "{} is not in the destination definition: its migration section has nowhere to go",
                device_name(d)
            ),
            device_name(d),
            "absent".into(),
        );
    }
    for d in extra {
        block(
            Layer::Devices,
            "abi.device-extra",
            format!(
                "{} is only in the destination definition: the guest would find new hardware (QEMU lets it through; libvirt's ABI check refuses it)",
                device_name(d)
            ),
            "absent".into(),
            device_name(d),
        );
    }
    for (a, b) in pairs {
        let name = device_name(a);
        if a.driver != b.driver {
            block(
                Layer::Devices,
                "abi.device-type",
                format!("{name} is a {} on the destination", b.driver),
                a.driver.clone(),
                b.driver.clone(),
            );
            continue;
        }
        if a.bus != b.bus || a.addr != b.addr {
            block(
                Layer::Devices,
                "abi.device-address",
                format!(
                    "{name} sits at another address on the destination: QEMU finds no matching device for its state"
                ),
                format!(
                    "{}/{}",
                    a.bus.as_deref().unwrap_or("-"),
                    a.addr.as_deref().unwrap_or("auto")
                ),
                format!(
                    "{}/{}",
                    b.bus.as_deref().unwrap_or("-"),
                    b.addr.as_deref().unwrap_or("auto")
                ),
            );
        }
        if a.driver.starts_with("virtio-blk") {
            let (qa, qb) = (virtio_blk_queues(src, a), virtio_blk_queues(dst, b));
            if qa != qb {
                block(
                    Layer::Devices,
                    "abi.virtio-blk-num-queues",
                    format!(
                        "{name} has {qa} queues on the source and {qb} on the destination (num-queues follows -smp on machine types >= 5.2): PCI config space differs and QEMU refuses it"
                    ),
                    qa.to_string(),
                    qb.to_string(),
                );
            }
        }
        for key in a
            .props
            .keys()
            .chain(b.props.keys())
            .filter(|k| !BACKEND_PROPS.contains(&k.as_str()) && k.as_str() != "num-queues")
            .collect::<BTreeSet<_>>()
        {
            let (va, vb) = (a.prop(key), b.prop(key));
            if va == vb {
                continue;
            }
            let (rule, why) = match key.as_str() {
                "romfile" | "rombar" => (
                    "abi.option-rom",
                    "the option ROM differs: QEMU refuses a ROM region of another size or a missing one",
                ),
                "mac" => (
                    "abi.device-property",
                    "the MAC address changes under the guest",
                ),
                "serial" => (
                    "abi.device-property",
                    "the disk serial changes under the guest",
                ),
                "mq" | "vectors" | "queues" => (
                    "abi.device-property",
                    "virtio-net multiqueue changes the device's config space",
                ),
                "disable-legacy" | "disable-modern" => (
                    "abi.device-property",
                    "legacy vs modern virtio changes PCI config space",
                ),
                _ => (
                    "abi.device-property",
                    "a guest-visible device property differs",
                ),
            };
            block(
                Layer::Devices,
                rule,
                format!("{name}: {key} differs: {why}"),
                va.unwrap_or("unset").to_owned(),
                vb.unwrap_or("unset").to_owned(),
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::cmdline::parse_command_line;

    fn cl(s: &str) -> GuestConfig {
        parse_command_line(s).expect("parses")
    }
    fn rules(r: &[Reason]) -> Vec<&str> {
        r.iter().map(|r| r.rule.as_str()).collect()
    }
    const BASE: &str = "-machine pc-q35-7.2 -cpu EPYC-v4 -m 256 -smp 1 \
        -device virtio-blk-pci,drive=d0,id=vd0,addr=0x5 \
        -device virtio-net-pci,netdev=n0,id=net0,mac=52:54:00:00:00:01,addr=0x6";

    #[test]
    fn identical_definitions_are_stable() {
        assert!(check_abi(&cl(BASE), &cl(BASE)).is_empty());
        // Backend names may differ.
        let other = BASE.replace("drive=d0", "drive=disk-on-dst");
        assert!(check_abi(&cl(BASE), &cl(&other)).is_empty());
    }

    #[test]
    fn each_difference_has_its_rule() {
        let cases = [
            ("pc-q35-7.2", "pc-q35-10.0", "abi.machine-type"),
            ("-m 256", "-m 512", "abi.memory-size"),
            ("-smp 1", "-smp 2", "abi.virtio-blk-num-queues"),
            ("id=vd0,addr=0x5", "id=vd0,addr=0x7", "abi.device-address"),
            ("EPYC-v4", "EPYC-v1", "abi.cpu-model"),
            ("EPYC-v4", "EPYC-v4,-lm", "abi.cpu-model"),
            (
                "mac=52:54:00:00:00:01",
                "mac=52:54:00:00:00:02",
                "abi.device-property",
            ),
            ("id=net0,", "id=net0,romfile=,", "abi.option-rom"),
            (
                "id=vd0,",
                "id=vd0,num-queues=4,",
                "abi.virtio-blk-num-queues",
            ),
        ];
        for (from, to, rule) in cases {
            let dst = BASE.replace(from, to);
            assert_ne!(dst, BASE, "{from} not in the base");
            let r = check_abi(&cl(BASE), &cl(&dst));
            assert!(rules(&r).contains(&rule), "{from} -> {to}: {:?}", rules(&r));
            assert!(r.iter().all(|r| r.severity == Severity::Blocker));
        }
        // -smp 2 also changes the vcpu count.
        let r = check_abi(&cl(BASE), &cl(&BASE.replace("-smp 1", "-smp 2")));
        assert!(rules(&r).contains(&"abi.vcpu-count"));
        // An old machine type pins num-queues to 1: -smp alone does not change the disk.
        let old = BASE.replace("pc-q35-7.2", "pc-q35-5.1");
        let r = check_abi(&cl(&old), &cl(&old.replace("-smp 1", "-smp 2")));
        assert!(
            !rules(&r).contains(&"abi.virtio-blk-num-queues"),
            "{:?}",
            rules(&r)
        );
        let missing = check_abi(
            &cl(BASE),
            &cl(
                "-machine pc-q35-7.2 -cpu EPYC-v4 -m 256 -smp 1 -device virtio-net-pci,id=net0,mac=52:54:00:00:00:01,addr=0x6",
            ),
        );
        assert_eq!(rules(&missing), ["abi.device-missing"]);
        let extra = check_abi(&cl(BASE), &cl(&format!("{BASE} -device virtio-rng-pci")));
        assert_eq!(rules(&extra), ["abi.device-extra"]);
        let topo = check_abi(
            &cl("-smp 4,sockets=2,cores=2"),
            &cl("-smp 4,sockets=1,cores=4"),
        );
        assert_eq!(rules(&topo), ["abi.vcpu-topology"]);
    }
}
