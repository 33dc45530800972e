//! Devices as sysfs shows them: PCI functions with driver, IOMMU group, SR-IOV totals and mdev
//! types, and the loaded VFIO PCI variant drivers that can migrate device state.

use std::fs;
use std::path::Path;

use shared::profile::{Devices, MdevType, PciFunction, ProbeGap, Sriov, VfioVariantDriver};

/// VFIO PCI variant drivers that implement VFIO live migration upstream
/// (drivers/vfio/pci/*: mlx5, hisilicon, pds, virtio (6.11+ admin-command migration), qat).
pub const MIGRATION_DRIVERS: &[&str] = &[
    "mlx5_vfio_pci",
    "hisi_acc_vfio_pci",
    "pds_vfio_pci",
    "virtio_vfio_pci",
    "qat_vfio_pci",
];

fn read(p: &Path) -> Option<String> {
    fs::read_to_string(p).ok().map(|s| s.trim().to_owned())
}

/// A sysfs hex value such as `0x8086` or `0x060000`.
pub fn parse_hex(s: &str) -> Option<u32> {
    let s = s.trim();
    u32::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}

fn hex16(dir: &Path, name: &str) -> Option<u16> {
    read(&dir.join(name))
        .and_then(|s| parse_hex(&s))
        .and_then(|v| u16::try_from(v).ok())
}

fn link_name(p: &Path) -> Option<String> {
    fs::read_link(p)
        .ok()
        .and_then(|t| t.file_name().map(|n| n.to_string_lossy().into_owned()))
}

fn mdev_types(dir: &Path) -> Vec<MdevType> {
    let Ok(rd) = fs::read_dir(dir.join("mdev_supported_types")) else {
        return Vec::new();
    };
    let mut out: Vec<MdevType> = rd
        .filter_map(Result::ok)
        .map(|e| {
            let t = e.path();
            MdevType {
                id: e.file_name().to_string_lossy().into_owned(),
                name: read(&t.join("name")).unwrap_or_default(),
                device_api: read(&t.join("device_api")).unwrap_or_default(),
                available_instances: read(&t.join("available_instances"))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0),
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// One PCI function from its sysfs folder.
pub fn pci_function(dir: &Path) -> Option<PciFunction> {
    let address = dir.file_name()?.to_string_lossy().into_owned();
    let total = read(&dir.join("sriov_totalvfs")).and_then(|s| s.parse().ok());
    Some(PciFunction {
        vendor: hex16(dir, "vendor")?,
        device: hex16(dir, "device")?,
        subsystem_vendor: hex16(dir, "subsystem_vendor").unwrap_or(0),
        subsystem_device: hex16(dir, "subsystem_device").unwrap_or(0),
        class: read(&dir.join("class"))
            .and_then(|s| parse_hex(&s))
            .unwrap_or(0),
        driver: link_name(&dir.join("driver")),
        iommu_group: link_name(&dir.join("iommu_group")).and_then(|g| g.parse().ok()),
        sriov: total.map(|total_vfs| Sriov {
            total_vfs,
            num_vfs: read(&dir.join("sriov_numvfs"))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0),
        }),
        physfn: link_name(&dir.join("physfn")),
        mdev_types: mdev_types(dir),
        address,
    })
}

/// Read `sys` (normally `/sys`).
pub fn probe(sys: &Path) -> (Devices, Vec<ProbeGap>) {
    let mut gaps = Vec::new();
    let mut devices = Devices::default();
    let pci_dir = sys.join("bus/pci/devices");
    match fs::read_dir(&pci_dir) {
        Ok(rd) => {
            let mut dirs: Vec<_> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
            dirs.sort();
            for d in dirs {
                match pci_function(&d) {
                    Some(f) => devices.pci.push(f),
                    None => gaps.push(ProbeGap {
                        what: format!("pci:{}", d.display()),
                        reason: "cannot read its vendor/device ids".into(),
                    }),
                }
            }
        }
        Err(e) => gaps.push(ProbeGap {
            what: "devices.pci".into(),
            reason: format!("cannot list {}: {e}", pci_dir.display()),
        }),
    }
    // Variant drivers are modules that hold vfio_pci_core (besides vfio_pci itself).
    if let Ok(rd) = fs::read_dir(sys.join("module/vfio_pci_core/holders")) {
        let mut names: Vec<String> = rd
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n != "vfio_pci")
            .collect();
        names.sort();
        for name in names {
            let bound = fs::read_dir(sys.join("bus/pci/drivers").join(&name))
                .map(|rd| {
                    let mut b: Vec<String> = rd
                        .filter_map(|e| {
                            e.ok().map(|e| e.file_name().to_string_lossy().into_owned())
                        })
                        .filter(|n| n.matches(':').count() == 2 && n.contains('.'))
                        .collect();
                    b.sort();
                    b
                })
                .unwrap_or_default();
            devices.vfio_variant_drivers.push(VfioVariantDriver {
                migration: MIGRATION_DRIVERS.contains(&name.as_str()),
                name,
                bound,
            });
        }
    }
    (devices, gaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_values() {
        assert_eq!(parse_hex("0x060000\n"), Some(0x06_0000));
        assert_eq!(parse_hex("8086"), Some(0x8086));
        assert_eq!(parse_hex("zz"), None);
    }

    /// The real /sys: every function listed, ids equal to the first bytes of its config space.
    #[test]
    fn real_sysfs_matches_config_space() {
        let (d, gaps) = probe(Path::new("/sys"));
        assert!(gaps.is_empty(), "{gaps:?}");
        let listed = fs::read_dir("/sys/bus/pci/devices")
            .map(|r| r.count())
            .unwrap_or(0);
        assert_eq!(d.pci.len(), listed);
        assert!(!d.pci.is_empty(), "this VM has PCI functions");
        for f in &d.pci {
            let cfg =
                fs::read(format!("/sys/bus/pci/devices/{}/config", f.address)).unwrap_or_default();
            assert!(cfg.len() >= 12, "{}", f.address);
            assert_eq!(
                f.vendor,
                u16::from_le_bytes([cfg[0], cfg[1]]),
                "{}",
                f.address
            );
            assert_eq!(
                f.device,
                u16::from_le_bytes([cfg[2], cfg[3]]),
                "{}",
                f.address
            );
            let class = u32::from_le_bytes([cfg[9], cfg[10], cfg[11], 0]);
            assert_eq!(f.class, class, "{}", f.address);
        }
        assert!(
            d.pci.iter().any(|f| f.driver.is_some()),
            "some function has a driver"
        );
    }

    #[test]
    fn fake_sysfs_tree_with_sriov_and_mdev() {
        let t = tempfile::tempdir().expect("tempdir");
        let dev = t.path().join("bus/pci/devices/0000:02:00.0");
        let ty = dev.join("mdev_supported_types/nvidia-11");
        fs::create_dir_all(&ty).expect("mkdir");
        for (f, v) in [
            ("vendor", "0x10de"),
            ("device", "0x13f2"),
            ("class", "0x030000"),
            ("sriov_totalvfs", "16"),
            ("sriov_numvfs", "4"),
        ] {
            fs::write(dev.join(f), format!("{v}\n")).expect("write");
        }
        fs::write(ty.join("name"), "GRID M60-0B\n").expect("write");
        fs::write(ty.join("available_instances"), "16\n").expect("write");
        fs::write(ty.join("device_api"), "vfio-pci\n").expect("write");
        let holders = t.path().join("module/vfio_pci_core/holders");
        fs::create_dir_all(holders.join("mlx5_vfio_pci")).expect("mkdir");
        fs::create_dir_all(holders.join("vfio_pci")).expect("mkdir");
        let (d, gaps) = probe(t.path());
        assert!(gaps.is_empty(), "{gaps:?}");
        let f = &d.pci[0];
        assert_eq!((f.vendor, f.device, f.class), (0x10de, 0x13f2, 0x03_0000));
        assert_eq!(
            f.sriov,
            Some(Sriov {
                total_vfs: 16,
                num_vfs: 4
            })
        );
        assert_eq!(f.mdev_types[0].available_instances, 16);
        assert_eq!(d.vfio_variant_drivers.len(), 1);
        assert!(d.vfio_variant_drivers[0].migration);
    }
}
