//! libvirt node-device XML of PCI functions (`virsh nodedev-dumpxml pci_...`): the device data of
//! hosts the collector did not run on, in the profile's [`PciFunction`] form.

use roxmltree::Node;

use super::ImportError;
use crate::profile::{MdevType, PciFunction, Sriov};

fn num(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

fn text_num(n: Node<'_, '_>, name: &str) -> Option<u32> {
    child(n, name).and_then(|c| c.text()).and_then(num)
}

fn address(a: Node<'_, '_>) -> Option<String> {
    let f = |k| a.attribute(k).and_then(num);
    Some(format!(
        "{:04x}:{:02x}:{:02x}.{:x}",
        f("domain")?,
        f("bus")?,
        f("slot")?,
        f("function")?
    ))
}

/// One `<device>` with a `<capability type='pci'>`.
pub fn parse_nodedev_pci(text: &str) -> Result<PciFunction, ImportError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| ImportError::Xml {
        line: e.pos().row,
        message: e.to_string(),
    })?;
    let root = doc.root_element();
    let line = |n: Node<'_, '_>| doc.text_pos_at(n.range().start).row;
    let pci = root
        .children()
        .find(|c| c.has_tag_name("capability") && c.attribute("type") == Some("pci"))
        .ok_or_else(|| {
            ImportError::Missing("no <capability type='pci'>: not a PCI node device".into())
        })?;
    let need = |name: &str| {
        text_num(pci, name).ok_or_else(|| ImportError::Content {
            line: line(pci),
            message: format!("<{name}> is missing or not a number"),
        })
    };
    let (domain, bus, slot, function) = (
        need("domain")?,
        need("bus")?,
        need("slot")?,
        need("function")?,
    );
    let id_of = |name: &str| {
        child(pci, name)
            .and_then(|n| n.attribute("id"))
            .and_then(num)
            .and_then(|v| u16::try_from(v).ok())
            .ok_or_else(|| ImportError::Content {
                line: line(pci),
                message: format!("<{name} id='0x....'> is missing or not a 16-bit number"),
            })
    };
    let caps = |t: &str| {
        pci.children()
            .find(move |c| c.has_tag_name("capability") && c.attribute("type") == Some(t))
    };
    let sriov = caps("virt_functions").map(|vf| Sriov {
        total_vfs: vf.attribute("maxCount").and_then(num).unwrap_or(0),
        num_vfs: u32::try_from(vf.children().filter(|c| c.has_tag_name("address")).count())
            .unwrap_or(0),
    });
    let mdev_types = caps("mdev_types")
        .map(|m| {
            m.children()
                .filter(|t| t.has_tag_name("type"))
                .map(|t| MdevType {
                    id: t.attribute("id").unwrap_or("").to_owned(),
                    name: child(t, "name")
                        .and_then(|n| n.text())
                        .unwrap_or("")
                        .to_owned(),
                    device_api: child(t, "deviceAPI")
                        .and_then(|n| n.text())
                        .unwrap_or("")
                        .to_owned(),
                    available_instances: text_num(t, "availableInstances").unwrap_or(0),
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(PciFunction {
        address: format!("{domain:04x}:{bus:02x}:{slot:02x}.{function:x}"),
        vendor: id_of("vendor")?,
        device: id_of("product")?,
        subsystem_vendor: 0,
        subsystem_device: 0,
        class: text_num(pci, "class").unwrap_or(0),
        driver: child(root, "driver")
            .and_then(|d| child(d, "name"))
            .and_then(|n| n.text())
            .map(str::to_owned),
        iommu_group: child(pci, "iommuGroup")
            .and_then(|g| g.attribute("number"))
            .and_then(num),
        sriov,
        physfn: caps("phys_function")
            .and_then(|p| child(p, "address"))
            .and_then(address),
        mdev_types,
    })
}
