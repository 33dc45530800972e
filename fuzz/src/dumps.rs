//! The dump formats of `fleetcompat-collector import` and the command line's dumps
//! (`shared::import`). Each target makes the fuzzer work on one parser (`parse` with the format
//! fixed), then takes the path the collector takes (collector/src/import.rs `import_one`:
//! `detect`, then `profile_from_dump`, with the QEMU data of the same host when the input has
//! some after a NUL byte) and runs the engine on the profile.

use shared::import::{Format, ImportMeta, detect, parse, profile_from_dump};

use crate::{engine, lossy, split_nul};

fn dump(data: &[u8], format: Format) {
    let text = lossy(data);
    let (text, qemu_data) = split_nul(&text);
    let _ = parse(text, format);
    if let Some(q) = qemu_data {
        let _ = parse(q, Format::LibvirtQmpJson);
    }
    let _ = detect(text);
    let meta = ImportMeta {
        host_id: "fuzzed".to_owned(),
        hostname: "fuzzed".to_owned(),
        detail: format.name().to_owned(),
        tool: "fleetcompat fuzz".to_owned(),
        ..ImportMeta::default()
    };
    if let Ok(profile) = profile_from_dump(text, qemu_data, meta) {
        engine::on_profile(&profile);
    }
}

pub fn cpuid_r(data: &[u8]) {
    dump(data, Format::CpuidTool);
}

pub fn instlatx64(data: &[u8]) {
    dump(data, Format::InstLatx64);
}

pub fn cpudata(data: &[u8]) {
    dump(data, Format::LibvirtCpudata);
}

pub fn qmp(data: &[u8]) {
    dump(data, Format::LibvirtQmpJson);
}

pub fn lscpu(data: &[u8]) {
    dump(data, Format::Lscpu);
}

/// `virsh capabilities`, and after a NUL byte `virsh domcapabilities` of the same host (the pair
/// the collector merges, `shared::import::virsh_pair_key`).
pub fn virsh(data: &[u8]) {
    let text = lossy(data);
    let (caps, domcaps) = split_nul(&text);
    let _ = shared::import::parse_capabilities(caps);
    if let Some(d) = domcaps {
        let _ = shared::import::parse_domcapabilities(d);
    }
    dump(data, Format::VirshCapabilities);
}

/// libvirt node-device XML of a PCI function (`virsh nodedev-dumpxml`,
/// `shared::import::nodedev`): the function parsed, then put on a real host of the fuzz fleet
/// as one of its devices, and the engine run on that host.
pub fn nodedev(data: &[u8]) {
    let text = lossy(data);
    let Ok(function) = shared::import::nodedev::parse_nodedev_pci(&text) else {
        return;
    };
    if let Some(host) = crate::fleet::fleet().first() {
        let mut p = host.clone();
        p.devices.pci.push(function);
        engine::on_profile(&p);
    }
}
