//! Devices ("[PATCH 0/5] QEMU VFIO live migration", and QEMU's hw_compat tables):
//! guest-visible device state must be the same on both sides; passed-through (VFIO) devices
//! migrate only where the vendor driver supports it and the destination device is compatible
//! (same vendor, a device-version string the destination driver accepts, the same mdev type with
//! a free instance). Incompatible devices must fail plainly, before migrating.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::{glob, reason, values};
use crate::guest::{GuestDevice, machine_version};
use crate::policy::{GuestConfig, Policy};
use crate::profile::{HostProfile, PciFunction};
use crate::reason::{Evidence, Layer, Reason, Severity};

const VFIO_TSV: &str = include_str!("../../data/vfio-device-versions.tsv");

/// One row of the VFIO device-version table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VfioVersionRule {
    pub vendor: u16,
    /// Driver name or `*`.
    pub driver: String,
    pub src_version: String,
    pub dst_version: String,
    pub accepted: bool,
    pub note: String,
}

/// Parse a device-version table (`shared/data/vfio-device-versions.tsv` format).
pub fn parse_vfio_versions(text: &str) -> Result<Vec<VfioVersionRule>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.starts_with('#') || line.starts_with("vendor\t") {
            continue;
        }
        let c: Vec<&str> = line.split('\t').collect();
        if c.len() != 6 {
            return Err(format!(
                "vfio version line {}: {} columns, expected 6 (vendor, driver, src_version, dst_version, accepted, note)",
                n + 1,
                c.len()
            ));
        }
        let vendor =
            u16::from_str_radix(c[0].trim().trim_start_matches("0x"), 16).map_err(|_| {
                format!(
                    "vfio version line {}: vendor '{}' is not a hex id",
                    n + 1,
                    c[0]
                )
            })?;
        let accepted = match c[4].trim() {
            "yes" => true,
            "no" => false,
            o => {
                return Err(format!(
                    "vfio version line {}: accepted '{o}' is not yes or no",
                    n + 1
                ));
            }
        };
        out.push(VfioVersionRule {
            vendor,
            driver: c[1].trim().into(),
            src_version: c[2].trim().into(),
            dst_version: c[3].trim().into(),
            accepted,
            note: c[5].trim().into(),
        });
    }
    Ok(out)
}

fn builtin_vfio_versions() -> &'static [VfioVersionRule] {
    static T: OnceLock<Vec<VfioVersionRule>> = OnceLock::new();
    T.get_or_init(|| match parse_vfio_versions(VFIO_TSV) {
        Ok(t) => t,
        Err(e) => unreachable!("shared/data/vfio-device-versions.tsv is ours and parses: {e}"),
    })
}

/// Does the destination driver accept a device of version `src` as `dst`? `None`: unknown.
pub fn version_accepted(
    policy: &Policy,
    vendor: u16,
    driver: &str,
    src: &str,
    dst: &str,
) -> Option<(bool, String)> {
    policy
        .extra_vfio_versions
        .iter()
        .chain(builtin_vfio_versions())
        .find(|r| {
            r.vendor == vendor
                && (r.driver == "*" || r.driver == driver)
                && glob(&r.src_version, src)
                && glob(&r.dst_version, dst)
        })
        .map(|r| (r.accepted, r.note.clone()))
        .or_else(|| (src == dst).then(|| (true, "equal device versions".to_owned())))
}

/// Device rules against the hosts:
/// - `devices.num-queues-follows-smp` (info): a virtio-blk device without `num-queues` on a
///   machine type >= 5.2 gets one queue per vCPU (hw_compat_5_1 pins 1 for older types), so the
///   destination must be started with the same `-smp`;
/// - VFIO: `vfio.no-migration-driver` (blocker), `vfio.migration-unknown` (warning),
///   `vfio.no-compatible-device` (blocker), `vfio.device-version-incompatible` (blocker),
///   `vfio.device-version-unknown` (warning), `vfio.mdev-type-missing` /
///   `vfio.mdev-no-free-instance` (blockers).
pub fn device_rules(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    let cpus = guest.smp.as_ref().map_or(1, |s| s.cpus);
    let new_type = guest
        .machine
        .as_deref()
        .and_then(machine_version)
        .is_some_and(|v| v >= (5, 2));
    for d in &guest.devices {
        if d.driver.starts_with("virtio-blk")
            && d.prop("num-queues").is_none()
            && new_type
            && cpus > 1
        {
            reasons.push(reason(
                Layer::Devices,
                Severity::Info,
                "devices.num-queues-follows-smp",
                format!(
                    "{} has no num-queues: on machine type {} it gets -smp ({cpus}) queues, so the destination must be started with the same -smp or num-queues={cpus} (hw_compat_5_1)",
                    device_name(d),
                    guest.machine.as_deref().unwrap_or("?")
                ),
                values(cpus.to_string(), "same -smp required"),
            ));
        }
        if d.is_vfio() {
            vfio_rule(src, dst, d, policy, reasons);
        }
    }
}

pub(crate) fn device_name(d: &GuestDevice) -> String {
    match (&d.id, &d.addr) {
        (Some(id), _) => format!("{} '{id}'", d.driver),
        (None, Some(a)) => format!("{} at {a}", d.driver),
        (None, None) => d.driver.clone(),
    }
}

fn migration_driver<'a>(host: &'a HostProfile, address: &str) -> Option<(&'a str, bool)> {
    host.devices
        .vfio_variant_drivers
        .iter()
        .find(|v| v.bound.iter().any(|b| b == address))
        .map(|v| (v.name.as_str(), v.migration))
}

fn vfio_rule(
    src: &HostProfile,
    dst: &HostProfile,
    d: &GuestDevice,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    let name = device_name(d);
    let v = d.vfio.clone().unwrap_or_default();
    let layer = Layer::Devices;
    // mdev: the type must exist on the destination with a free instance.
    if let Some(t) = v.mdev_type.clone() {
        let offers: Vec<(&PciFunction, u32)> = dst
            .devices
            .pci
            .iter()
            .filter_map(|f| {
                f.mdev_types
                    .iter()
                    .find(|m| m.id == t)
                    .map(|m| (f, m.available_instances))
            })
            .collect();
        if offers.is_empty() {
            reasons.push(reason(
                layer,
                Severity::Blocker,
                "vfio.mdev-type-missing",
                format!("{name} is an mdev of type {t}, which no device of the destination offers"),
                values(t.clone(), "absent"),
            ));
        } else if offers.iter().all(|(_, n)| *n == 0) {
            reasons.push(reason(
                layer,
                Severity::Blocker,
                "vfio.mdev-no-free-instance",
                format!("{name} is an mdev of type {t}: the destination offers it but has no free instance (availableInstances 0)"),
                values(t.clone(), "0 available"),
            ));
        }
        return;
    }
    let Some(addr) = v.host_address else {
        reasons.push(reason(
            layer,
            Severity::Warning,
            "vfio.migration-unknown",
            format!("{name} is passed through but its host device is not named: VFIO migration support cannot be checked"),
            Evidence::None,
        ));
        return;
    };
    let Some(func) = src.devices.pci.iter().find(|f| f.address == addr) else {
        reasons.push(reason(
            layer,
            Severity::Warning,
            "vfio.migration-unknown",
            format!("{name} uses host device {addr}, which the source profile does not list: VFIO migration support cannot be checked"),
            values(addr, "unknown"),
        ));
        return;
    };
    let src_driver = match migration_driver(src, &addr) {
        Some((drv, true)) => drv.to_owned(),
        other => {
            reasons.push(reason(
                layer,
                Severity::Blocker,
                "vfio.no-migration-driver",
                format!(
                    "{name} uses host device {addr} ({:04x}:{:04x}) bound to {}: no VFIO variant driver with migration support (vfio-pci alone cannot migrate device state)",
                    func.vendor,
                    func.device,
                    other.map_or_else(|| func.driver.clone().unwrap_or_else(|| "no driver".into()), |(d, _)| d.to_owned())
                ),
                values(format!("{:04x}:{:04x}", func.vendor, func.device), "n/a"),
            ));
            return;
        }
    };
    // Destination candidates: the same vendor/device, bound to a migration-capable driver.
    let candidates: Vec<&PciFunction> = dst
        .devices
        .pci
        .iter()
        .filter(|f| {
            f.vendor == func.vendor
                && f.device == func.device
                && migration_driver(dst, &f.address).is_some_and(|(_, m)| m)
        })
        .collect();
    if candidates.is_empty() {
        reasons.push(reason(
            layer,
            Severity::Blocker,
            "vfio.no-compatible-device",
            format!(
                "{name} ({:04x}:{:04x} with {src_driver}) has no counterpart on the destination: no function of the same vendor and device bound to a migration-capable driver",
                func.vendor, func.device
            ),
            values(format!("{:04x}:{:04x}", func.vendor, func.device), "absent"),
        ));
        return;
    }
    let Some(sv) = src.devices.device_versions.get(&addr).map(String::as_str) else {
        reasons.push(reason(
            layer,
            Severity::Warning,
            "vfio.device-version-unknown",
            format!("{name}: the source device reports no migration device version, so the destination driver's acceptance is not known before migrating"),
            values("unknown", ""),
        ));
        return;
    };
    let verdicts: Vec<(String, Option<(bool, String)>)> = candidates
        .iter()
        .map(|c| {
            let version = dst.devices.device_versions.get(&c.address);
            let dv = version.cloned().unwrap_or_default();
            let ok =
                version.and_then(|dv| version_accepted(policy, func.vendor, &src_driver, sv, dv));
            (dv, ok)
        })
        .collect();
    if verdicts.iter().any(|(_, ok)| matches!(ok, Some((true, _)))) {
        return;
    }
    let refused: Vec<&(String, Option<(bool, String)>)> =
        verdicts.iter().filter(|(_, ok)| ok.is_some()).collect();
    if let Some((dv, Some((_, note)))) = refused.first() {
        reasons.push(reason(
            layer,
            Severity::Blocker,
            "vfio.device-version-incompatible",
            format!("{name}: the destination driver does not accept device version '{sv}' as '{dv}' ({note})"),
            values(sv, dv.clone()),
        ));
    } else {
        reasons.push(reason(
            layer,
            Severity::Blocker,
            "vfio.device-version-incompatible",
            format!(
                "{name}: device version '{sv}' differs from the destination's ({}) and no vendor table row accepts the pair",
                verdicts.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(", ")
            ),
            values(sv, verdicts.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(",")),
        ));
    }
}
