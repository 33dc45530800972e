//! A large, realistic fleet for benchmarks and scale tests: the demo fleet's real processors
//! (`demo::demo_profiles`, libvirt's CPU test data) laid out as regions, clusters and racks, with
//! the drift a real fleet has: clusters on different QEMU releases and kernels, microcode levels
//! (an old one without `md-clear`, the TSX-disabling one without `rtm`/`hle`), a few features a
//! cluster's BIOS turns off, and rolling upgrades that leave some hosts of a cluster a release or
//! a microcode level behind, and the SKUs of one processor family (another base clock, so
//! another TSC frequency). Host `i` is a pure function of the seed and `i`, so a client can
//! make profile after profile without holding the fleet.
//!
//! 100,000 hosts come out in about 3,000 classes (the `cluster_size` of 100 sets the number of
//! distinct cluster setups; `fleetgen::tests` counts them on a smaller fleet).

use std::collections::BTreeMap;

use shared::FeatureSet;
use shared::profile::HostProfile;

use crate::demo::{DemoError, demo_profiles};

/// QEMU releases a cluster may run (each with its own named models), oldest first.
const QEMU_RELEASES: &[&str] = &["7.2.0", "8.2.2", "9.2.0", "10.0.2"];
/// Kernel releases (Debian 11, 12, 13 and a backport).
const KERNELS: &[&str] = &[
    "5.10.0-33-amd64",
    "6.1.0-28-amd64",
    "6.12.9-amd64",
    "6.12.38+deb13-amd64",
];
const REGIONS: &[&str] = &["fra", "ams", "dub", "iad", "sjc", "sin"];
/// Base clocks of the SKUs of one processor family (the TSC runs at the base clock): a cluster
/// bought later or for another price gets another SKU of the same CPUID.
const SKU_TSC_KHZ: &[u64] = &[
    2_000_000, 2_100_000, 2_300_000, 2_400_000, 2_600_000, 2_900_000,
];
/// Hosts per rack.
const RACK: usize = 40;

/// Features a cluster's firmware settings or an older microcode may leave out, by catalog name.
const BIOS_OPTIONAL: &[&str] = &[
    "aes",
    "pdpe1gb",
    "x2apic",
    "pcid",
    "invpcid",
    "rdseed",
    "adx",
    "sha-ni",
    "vaes",
    "gfni",
    "avx512vnni",
    "umip",
];

/// Microcode levels: the old one predates the MDS mitigation (no `md-clear`), the newest turns
/// TSX off (no `rtm`, `hle`: Intel's TAA update on parts without TSX_CTRL).
const MICROCODE: &[(&str, &[&str])] = &[
    ("0x2000050", &["md-clear"]),
    ("0x2006e05", &[]),
    ("0x2007006", &["rtm", "hle"]),
];

/// SplitMix64: a small deterministic generator (the same fleet on every run and platform).
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// An index below `n` from a hash.
fn pick(h: u64, n: usize) -> usize {
    usize::try_from(h % u64::try_from(n.max(1)).unwrap_or(1)).unwrap_or(0)
}

/// The fleet's templates (one per demo cluster) and its layout.
#[derive(Debug, Clone)]
pub struct FleetGen {
    templates: Vec<HostProfile>,
    seed: u64,
    /// Hosts per cluster.
    pub cluster_size: usize,
}

/// How one cluster is set up.
struct Setup {
    template: usize,
    region: usize,
    qemu: usize,
    kernel: usize,
    microcode: usize,
    tsc_khz: u64,
    bios_off: Vec<&'static str>,
}

impl FleetGen {
    /// The generator over the demo fleet's processors.
    pub fn new(seed: u64) -> Result<Self, DemoError> {
        let all = demo_profiles("2026-12-06T00:00:00Z")?;
        let mut seen = std::collections::BTreeSet::new();
        let templates = all
            .into_iter()
            .filter(|p| {
                p.labels
                    .get("cluster")
                    .is_some_and(|c| seen.insert(c.clone()))
            })
            .collect();
        Ok(Self {
            templates,
            seed,
            cluster_size: 100,
        })
    }

    fn setup(&self, cluster: usize) -> Setup {
        let h = |salt: u64| mix(self.seed ^ mix(u64::try_from(cluster).unwrap_or(0) ^ salt << 48));
        let bios_off = (0..pick(h(5), 3))
            .map(|k| BIOS_OPTIONAL[pick(h(6 + k as u64), BIOS_OPTIONAL.len())])
            .collect();
        Setup {
            template: pick(h(1), self.templates.len()),
            region: pick(h(2), REGIONS.len()),
            // Newer releases are more common.
            qemu: QEMU_RELEASES.len() - 1 - pick(h(3), QEMU_RELEASES.len()).min(pick(h(13), 4)),
            kernel: pick(h(4), KERNELS.len()),
            microcode: pick(h(9), MICROCODE.len()),
            tsc_khz: SKU_TSC_KHZ[pick(h(10), SKU_TSC_KHZ.len())],
            bios_off,
        }
    }

    /// Host `i` of the fleet (ids `host-000000`, ...).
    pub fn host(&self, i: usize) -> HostProfile {
        let cluster = i / self.cluster_size.max(1);
        let s = self.setup(cluster);
        let h = mix(self.seed ^ mix(u64::try_from(i).unwrap_or(0)));
        let mut p = self.templates[s.template].clone();
        // Rolling upgrades: about one host in eight is a QEMU release behind, one in ten a
        // microcode level behind.
        let qemu = if h.is_multiple_of(8) {
            s.qemu.saturating_sub(1)
        } else {
            s.qemu
        };
        let microcode = if (h / 8).is_multiple_of(10) {
            s.microcode.saturating_sub(1)
        } else {
            s.microcode
        };
        let (revision, missing) = MICROCODE[microcode];
        let mut off: Vec<&str> = s.bios_off.clone();
        off.extend_from_slice(missing);
        drop_features(&mut p, &off);
        p.cpu.microcode = Some(revision.to_owned());
        // Each host's own calibration, within a few kHz of its SKU's base clock.
        p.cpu.tsc_khz = Some(s.tsc_khz + h / 80 % 7);
        for q in &mut p.qemu {
            QEMU_RELEASES[qemu].clone_into(&mut q.version);
            q.package = format!("1:{}+dfsg-1", QEMU_RELEASES[qemu]);
        }
        p.kernel_release = Some(KERNELS[s.kernel].to_owned());
        let region = REGIONS[s.region];
        p.host_id = format!("host-{i:06}");
        p.hostname = format!("{}.{region}.fleet.invalid", p.host_id);
        let cluster_name = format!("{region}-c{cluster:04}");
        p.labels = BTreeMap::from([
            ("region".to_owned(), region.to_owned()),
            (
                "rack".to_owned(),
                format!("{cluster_name}-r{:02}", (i % self.cluster_size) / RACK),
            ),
            ("cluster".to_owned(), cluster_name),
        ]);
        p
    }
}

/// Take features away from what the CPU reports, what KVM offers and what each QEMU's host model
/// has (as firmware settings and microcode do: the CPUID bit is gone at the source).
fn drop_features(p: &mut HostProfile, names: &[&str]) {
    let (set, _unknown) = FeatureSet::from_names(names.iter().copied());
    for id in set.iter() {
        p.cpu.features.remove(id);
        if let Some(k) = p.kvm.as_mut() {
            k.guest_features.remove(id);
        }
        for q in &mut p.qemu {
            if let Some(m) = q.host_model.as_mut() {
                m.remove(id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_are_deterministic_labelled_and_drift_into_many_classes() {
        let g = FleetGen::new(7).expect("demo fleet");
        let a = g.host(12_345);
        assert_eq!(a, g.host(12_345), "host i is a function of the seed and i");
        assert_eq!(a.host_id, "host-012345");
        for key in ["region", "cluster", "rack"] {
            assert!(a.labels.contains_key(key), "label {key}");
        }
        // 10,000 hosts: 100 clusters, each in 1-4 classes (rolling upgrades); clusters of one
        // setup share classes.
        let hosts: Vec<HostProfile> = (0..10_000).map(|i| g.host(i)).collect();
        let classes = shared::graph::group(&hosts).members.len();
        assert!(
            (150..=500).contains(&classes),
            "10,000 hosts made {classes} classes"
        );
        let qemus: std::collections::BTreeSet<&str> = hosts
            .iter()
            .flat_map(|p| p.qemu.iter().map(|q| q.version.as_str()))
            .collect();
        assert!(qemus.len() >= 3, "QEMU releases drift: {qemus:?}");
    }
}
