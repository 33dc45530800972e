//! libvirt domain XML (`virsh dumpxml`) to a [`GuestConfig`]: `<os><type machine>`, `<cpu>`,
//! `<vcpu>`, `<memory>`, `<memoryBacking>`, `<clock><timer name='tsc' frequency>`,
//! `<launchSecurity>` and the devices that carry guest-visible state (disks, interfaces,
//! hostdevs, controllers) with their PCI addresses.

use std::collections::BTreeMap;

use roxmltree::{Document, Node};

use super::{
    Confidential, GuestDevice, GuestParseError, MemoryBackend, Smp, VfioSource, normalise_addr,
};
use crate::catalog::catalog;
use crate::verdict::{GuestConfig, GuestCpu};

fn err(m: impl Into<String>) -> GuestParseError {
    GuestParseError::Xml(m.into())
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

fn num(n: Node<'_, '_>, attr: &str) -> Result<Option<u32>, GuestParseError> {
    n.attribute(attr)
        .map(|v| {
            v.trim().parse().map_err(|_| {
                err(format!(
                    "<{}> {attr}='{v}' is not a number",
                    n.tag_name().name()
                ))
            })
        })
        .transpose()
}

/// Parse a libvirt domain XML.
pub fn parse_domain_xml(text: &str) -> Result<GuestConfig, GuestParseError> {
    let doc = Document::parse(text).map_err(|e| err(e.to_string()))?;
    let dom = doc.root_element();
    if !dom.has_tag_name("domain") {
        return Err(err(format!(
            "the root element is <{}>, not <domain>",
            dom.tag_name().name()
        )));
    }
    let mut g = GuestConfig {
        managed_by: Some(crate::policy::ManagementStack::Libvirt),
        ..GuestConfig::default()
    };
    if let Some(os) = child(dom, "os")
        && let Some(t) = child(os, "type")
    {
        g.machine = t.attribute("machine").map(str::to_owned);
    }
    if let Some(m) = child(dom, "memory") {
        let v: u64 = m
            .text()
            .unwrap_or("")
            .trim()
            .parse()
            .map_err(|_| err("<memory> is not a number"))?;
        let unit = m.attribute("unit").unwrap_or("KiB");
        let kib = match unit {
            "b" | "bytes" => v / 1024,
            "KiB" | "k" | "K" => v,
            "MiB" | "M" => v.saturating_mul(1024),
            "GiB" | "G" => v.saturating_mul(1024 * 1024),
            "KB" => v.saturating_mul(1000) / 1024,
            "MB" => v.saturating_mul(1_000_000) / 1024,
            "GB" => v.saturating_mul(1_000_000_000) / 1024,
            other => return Err(err(format!("<memory> unit '{other}' is unknown"))),
        };
        g.memory_mib = Some(kib / 1024);
    }
    let vcpus = match child(dom, "vcpu") {
        Some(v) => Some(
            v.text()
                .unwrap_or("")
                .trim()
                .parse::<u32>()
                .map_err(|_| err("<vcpu> is not a number"))?,
        ),
        None => None,
    };
    // `<vcpu current='2'>4</vcpu>`: 2 vCPUs online, 4 at most.
    let current = child(dom, "vcpu")
        .map(|v| num(v, "current"))
        .transpose()?
        .flatten();
    let mut smp = vcpus.map(|max| Smp {
        cpus: current.unwrap_or(max),
        maxcpus: current.map(|_| max),
        ..Smp::default()
    });
    if let Some(cpu) = child(dom, "cpu") {
        g.cpu = cpu_element(cpu, &mut g.cpu_props)?;
        // check='none': libvirt skips its CPU comparison on the destination (see
        // `GuestConfig::libvirt_check_none`).
        g.libvirt_check_none = cpu.attribute("check") == Some("none");
        if let Some(t) = child(cpu, "topology") {
            let s = smp.get_or_insert_with(Smp::default);
            s.sockets = num(t, "sockets")?;
            s.dies = num(t, "dies")?;
            s.clusters = num(t, "clusters")?;
            s.cores = num(t, "cores")?;
            s.threads = num(t, "threads")?;
            if s.cpus == 0 {
                s.cpus = [s.sockets, s.dies, s.clusters, s.cores, s.threads]
                    .iter()
                    .map(|x| x.unwrap_or(1))
                    .product();
            }
        }
    }
    g.smp = smp;
    if let Some(clock) = child(dom, "clock") {
        for t in clock.children().filter(|c| c.has_tag_name("timer")) {
            if t.attribute("name") == Some("tsc")
                && let Some(f) = t.attribute("frequency")
            {
                let hz: u64 = f
                    .parse()
                    .map_err(|_| err(format!("tsc timer frequency '{f}' is not a number")))?;
                g.tsc_khz = Some(hz / 1000);
            }
        }
    }
    if let Some(mb) = child(dom, "memoryBacking") {
        let shared = child(mb, "access").and_then(|a| a.attribute("mode")) == Some("shared");
        let kind = match child(mb, "source").and_then(|s| s.attribute("type")) {
            Some("memfd") => "memory-backend-memfd",
            Some("file") => "memory-backend-file",
            _ => "memory-backend-ram",
        };
        g.memory_backends.push(MemoryBackend {
            kind: kind.into(),
            id: "pc.ram".into(),
            share: Some(shared),
            size_mib: g.memory_mib,
        });
    }
    if let Some(ls) = child(dom, "launchSecurity") {
        g.confidential = match ls.attribute("type") {
            Some("sev") => {
                let policy = child(ls, "policy")
                    .and_then(|p| p.text())
                    .and_then(|t| u64::from_str_radix(t.trim().trim_start_matches("0x"), 16).ok())
                    .unwrap_or(0);
                Some(if policy & 0x4 != 0 {
                    Confidential::SevEs
                } else {
                    Confidential::Sev
                })
            }
            Some("sev-snp") => Some(Confidential::SevSnp),
            Some("tdx") => Some(Confidential::Tdx),
            Some(other) => return Err(err(format!("launchSecurity type '{other}' is unknown"))),
            None => return Err(err("<launchSecurity> has no type")),
        };
    }
    if let Some(devs) = child(dom, "devices") {
        for d in devs.children().filter(Node::is_element) {
            if let Some(dev) = device(d)? {
                g.devices.push(dev);
            }
        }
    }
    Ok(g)
}

/// The guest CPU of a `<cpu>` element; host-passthrough's `migratable` and a required invtsc
/// go to `cpu_props` as the command line's would.
fn cpu_element(
    cpu: Node<'_, '_>,
    cpu_props: &mut std::collections::BTreeMap<String, String>,
) -> Result<GuestCpu, GuestParseError> {
    let mut enable = Vec::new();
    let mut disable = Vec::new();
    for f in cpu.children().filter(|c| c.has_tag_name("feature")) {
        let Some(name) = f.attribute("name") else {
            return Err(err("<cpu><feature> has no name"));
        };
        // libvirt spells some features differently (e.g. `pni`, `pclmuldq`); the catalog knows both.
        let name = catalog()
            .lookup(name)
            .map_or_else(|| name.to_owned(), |id| catalog().get(id).name.clone());
        match f.attribute("policy").unwrap_or("require") {
            "require" | "force" => enable.push(name),
            "disable" | "forbid" => disable.push(name),
            _ => {}
        }
    }
    let mode = cpu.attribute("mode").unwrap_or("custom");
    // check='full': libvirt starts QEMU with `enforce` (libvirt src/qemu/qemu_command.c
    // qemuBuildCpuModelArgStr), so QEMU refuses what the host cannot give.
    if mode == "custom" && cpu.attribute("check") == Some("full") {
        cpu_props.insert("enforce".into(), "on".into());
    }
    // host-passthrough is migratable='on' by default: QEMU leaves out invtsc (the engine's
    // `qemu_unmigratable`) unless it is required or migratable='off'.
    if matches!(mode, "host-passthrough" | "maximum") {
        if let Some(m) = cpu.attribute("migratable") {
            cpu_props.insert("migratable".into(), m.to_owned());
        }
        if enable.iter().any(|e| e == "invtsc") {
            cpu_props.insert("invtsc".into(), "on".into());
        }
    }
    Ok(match mode {
        "host-passthrough" | "maximum" if disable.is_empty() => GuestCpu::HostPassthrough,
        "host-passthrough" | "maximum" => GuestCpu::HostPassthroughMasked { disable },
        "host-model" => GuestCpu::HostModel,
        _ => match child(cpu, "model").and_then(|m| m.text()) {
            Some(model) => GuestCpu::Named {
                model: model.trim().to_owned(),
                enable,
                disable,
            },
            None => return Err(err("<cpu mode='custom'> has no <model>")),
        },
    })
}

/// `<address type='pci' bus='0x00' slot='0x05' function='0x0'/>` -> (`pci.0` style bus, `0x5.0`).
fn pci_address(n: Node<'_, '_>) -> (Option<String>, Option<String>) {
    let Some(a) = child(n, "address").filter(|a| a.attribute("type") == Some("pci")) else {
        return (None, None);
    };
    let bus = a.attribute("bus").map(|b| {
        let b = b.trim_start_matches("0x");
        format!("pci-bus-{}", u32::from_str_radix(b, 16).unwrap_or(0))
    });
    let addr = a
        .attribute("slot")
        .and_then(|s| normalise_addr(&format!("{}.{}", s, a.attribute("function").unwrap_or("0"))));
    (bus, addr)
}

fn device(d: Node<'_, '_>) -> Result<Option<GuestDevice>, GuestParseError> {
    let (bus, addr) = pci_address(d);
    let mut props = BTreeMap::new();
    let mut vfio = None;
    let alias = child(d, "alias")
        .and_then(|a| a.attribute("name"))
        .map(str::to_owned);
    let driver = match d.tag_name().name() {
        "disk" => {
            let tbus = child(d, "target").and_then(|t| t.attribute("bus"));
            if let Some(s) = child(d, "serial").and_then(|s| s.text()) {
                props.insert("serial".into(), s.trim().to_owned());
            }
            if let Some(q) = child(d, "driver").and_then(|x| x.attribute("queues")) {
                props.insert("num-queues".into(), q.to_owned());
            }
            match tbus {
                Some("virtio") => "virtio-blk-pci".to_owned(),
                Some(b) => format!("{b}-disk"),
                None => return Ok(None),
            }
        }
        "interface" => {
            if let Some(m) = child(d, "mac").and_then(|m| m.attribute("address")) {
                props.insert("mac".into(), m.to_ascii_lowercase());
            }
            if let Some(q) = child(d, "driver").and_then(|x| x.attribute("queues"))
                && q != "1"
            {
                props.insert("mq".into(), "on".into());
                props.insert("queues".into(), q.to_owned());
            }
            if let Some(rom) = child(d, "rom") {
                if let Some(f) = rom.attribute("file") {
                    props.insert("romfile".into(), f.to_owned());
                }
                if rom.attribute("enabled") == Some("no") {
                    props.insert("romfile".into(), String::new());
                }
                if let Some(b) = rom.attribute("bar") {
                    props.insert("rombar".into(), if b == "on" { "1" } else { "0" }.into());
                }
            }
            match child(d, "model").and_then(|m| m.attribute("type")) {
                Some("virtio") => "virtio-net-pci".to_owned(),
                Some(m) => m.to_owned(),
                None => "rtl8139".to_owned(),
            }
        }
        "hostdev" => {
            let source = child(d, "source");
            match d.attribute("type") {
                Some("pci") => {
                    let host = source.and_then(|s| child(s, "address")).map(|a| {
                        let h = |k: &str, w: usize| {
                            let v = a.attribute(k).unwrap_or("0").trim_start_matches("0x");
                            format!("{:0w$x}", u32::from_str_radix(v, 16).unwrap_or(0))
                        };
                        format!(
                            "{}:{}:{}.{}",
                            h("domain", 4),
                            h("bus", 2),
                            h("slot", 2),
                            a.attribute("function")
                                .unwrap_or("0")
                                .trim_start_matches("0x")
                        )
                    });
                    vfio = Some(VfioSource {
                        host_address: host,
                        ..VfioSource::default()
                    });
                }
                Some("mdev") => {
                    vfio = Some(VfioSource {
                        mdev_uuid: source
                            .and_then(|s| child(s, "address"))
                            .and_then(|a| a.attribute("uuid"))
                            .map(str::to_owned),
                        ..VfioSource::default()
                    });
                }
                _ => return Ok(None),
            }
            "vfio-pci".to_owned()
        }
        "controller" => {
            let t = d.attribute("type").unwrap_or("");
            let model = d.attribute("model").unwrap_or("");
            if addr.is_none() {
                return Ok(None);
            }
            format!(
                "{t}-controller{}",
                if model.is_empty() {
                    String::new()
                } else {
                    format!("-{model}")
                }
            )
        }
        "video" | "sound" | "watchdog" | "memballoon" | "rng" => {
            let model = child(d, "model")
                .and_then(|m| m.attribute("type"))
                .or(d.attribute("model"))
                .unwrap_or("");
            if model == "none" {
                return Ok(None);
            }
            format!("{}-{model}", d.tag_name().name())
        }
        _ => return Ok(None),
    };
    Ok(Some(GuestDevice {
        driver,
        id: alias,
        bus,
        addr,
        props,
        vfio,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOMAIN: &str = r#"<domain type='kvm'>
  <name>vm1</name>
  <memory unit='GiB'>4</memory>
  <vcpu placement='static'>4</vcpu>
  <memoryBacking><source type='memfd'/><access mode='shared'/></memoryBacking>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <cpu mode='custom' match='exact'>
    <model fallback='forbid'>Skylake-Server-v4</model>
    <feature policy='require' name='invtsc'/>
    <feature policy='disable' name='hle'/>
    <topology sockets='1' dies='1' cores='2' threads='2'/>
  </cpu>
  <clock offset='utc'><timer name='tsc' frequency='2100000000'/></clock>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2' queues='4'/>
      <target dev='vda' bus='virtio'/>
      <serial>DISK-1</serial>
      <alias name='virtio-disk0'/>
      <address type='pci' domain='0x0000' bus='0x04' slot='0x00' function='0x0'/>
    </disk>
    <interface type='network'>
      <mac address='52:54:00:AB:CD:EF'/>
      <model type='virtio'/>
      <driver queues='2'/>
      <rom enabled='no'/>
      <address type='pci' domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>
    </interface>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <source><address domain='0x0000' bus='0x65' slot='0x00' function='0x1'/></source>
      <address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/>
    </hostdev>
    <hostdev mode='subsystem' type='mdev' model='vfio-pci'>
      <source><address uuid='c60cc60c-c60c-c60c-c60c-c60cc60cc60c'/></source>
    </hostdev>
  </devices>
  <launchSecurity type='sev'><policy>0x0007</policy></launchSecurity>
</domain>"#;

    #[test]
    fn a_domain() {
        let g = parse_domain_xml(DOMAIN).expect("parses");
        assert_eq!(g.machine.as_deref(), Some("pc-q35-7.2"));
        assert_eq!(g.memory_mib, Some(4096));
        let smp = g.smp.as_ref().expect("smp");
        assert_eq!((smp.cpus, smp.cores, smp.threads), (4, Some(2), Some(2)));
        assert_eq!(
            g.cpu,
            GuestCpu::Named {
                model: "Skylake-Server-v4".into(),
                enable: vec!["invtsc".into()],
                disable: vec!["hle".into()]
            }
        );
        assert_eq!(g.tsc_khz, Some(2_100_000));
        assert_eq!(g.memory_backends[0].kind, "memory-backend-memfd");
        assert_eq!(g.memory_backends[0].share, Some(true));
        assert_eq!(g.confidential, Some(Confidential::SevEs));
        assert_eq!(g.devices.len(), 4);
        let disk = &g.devices[0];
        assert_eq!(disk.driver, "virtio-blk-pci");
        assert_eq!(disk.prop("serial"), Some("DISK-1"));
        assert_eq!(disk.prop("num-queues"), Some("4"));
        assert_eq!(disk.addr.as_deref(), Some("0x0.0"));
        assert_eq!(disk.bus.as_deref(), Some("pci-bus-4"));
        let nic = &g.devices[1];
        assert_eq!(nic.prop("mac"), Some("52:54:00:ab:cd:ef"));
        assert_eq!(nic.prop("mq"), Some("on"));
        assert_eq!(nic.prop("romfile"), Some(""));
        assert_eq!(
            g.devices[2]
                .vfio
                .as_ref()
                .and_then(|v| v.host_address.as_deref()),
            Some("0000:65:00.1")
        );
        assert_eq!(
            g.devices[3]
                .vfio
                .as_ref()
                .and_then(|v| v.mdev_uuid.as_deref()),
            Some("c60cc60c-c60c-c60c-c60c-c60cc60cc60c")
        );
    }

    #[test]
    fn bad_documents_are_refused_plainly() {
        assert!(parse_domain_xml("<domain>").is_err());
        let e = parse_domain_xml("<vm/>").expect_err("not a domain");
        assert!(e.to_string().contains("not <domain>"), "{e}");
        assert!(parse_domain_xml("<domain><memory>x</memory></domain>").is_err());
        assert!(parse_domain_xml("<domain><cpu mode='custom'/></domain>").is_err());
        let hot = parse_domain_xml("<domain><vcpu current='2'>4</vcpu></domain>").expect("ok");
        let smp = hot.smp.expect("smp");
        assert_eq!((smp.cpus, smp.maxcpus), (2, Some(4)));
        // QEMU's default migratable=on leaves invtsc out; migratable='off' or requiring it
        // keeps it.
        let host = crate::testing::profile_named("h", "GenuineIntel", &["sse2", "invtsc"]);
        let invtsc = catalog().lookup("invtsc").expect("catalog");
        let sees_invtsc = |xml: &str| {
            let g = parse_domain_xml(xml).expect("ok");
            assert_eq!(g.cpu, GuestCpu::HostPassthrough, "{xml}");
            crate::verdict::guest_view(&host, &g)
                .expect("view")
                .contains(invtsc)
        };
        assert!(sees_invtsc(
            "<domain><cpu mode='host-passthrough' migratable='off'/></domain>"
        ));
        assert!(!sees_invtsc(
            "<domain><cpu mode='host-passthrough'/></domain>"
        ));
        assert!(!sees_invtsc(
            "<domain><cpu mode='host-passthrough' migratable='on'/></domain>"
        ));
        assert!(sees_invtsc(
            "<domain><cpu mode='host-passthrough'><feature policy='require' name='invtsc'/></cpu></domain>"
        ));
    }
}
