//! A large, realistic fleet for benchmarks and scale tests: the demo fleet's real processors
//! (`demo::demo_profiles`, libvirt's CPU test data) laid out as regions, clusters and racks, with
//! the drift a real fleet has: clusters on different QEMU releases and kernels, microcode levels
//! (an old one without `md-clear`, the TSX-disabling one without `rtm`/`hle`), a few features a
//! cluster's firmware settings turn off, the SKUs of one processor family (another base clock, so
//! another TSC frequency), rolling upgrades that have reached the first racks of a cluster and not
//! the others (a QEMU release, a microcode level), clusters grown later with racks of a newer
//! processor, and the odd host an upgrade missed. Host `i` is a pure function of the seed and
//! `i`, so a client can make profile after profile without holding the fleet.
//!
//! 100,000 hosts come out in about 3,000 classes (2,500 clusters of 40 hosts in racks of 10, about
//! half of them with a rolling upgrade, an expansion or a missed host; seeds 1, 2, 3: 2,925,
//! 2,905, 2,956 classes). `fleetgen::tests` counts them on a smaller fleet.

use std::collections::BTreeMap;

use shared::FeatureSet;
use shared::intern::SharedList;
use shared::models::{QemuSupport, QemuVersion, models};
use shared::profile::{HostProfile, QemuCpuModel, QemuInstall};

use crate::demo::{DemoError, demo_profiles};

/// QEMU releases a cluster may run, oldest first: Debian 12's, Ubuntu 24.04's, 9.2 and Debian
/// 13's.
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
/// bought later or for another price gets another SKU of the same CPUID. One Xeon Scalable
/// generation spans about 1.7 to 3.6 GHz; these are 1.8 to 3.3 GHz in steps of 100 MHz.
const SKU_TSC_KHZ: &[u64] = &[
    1_800_000, 1_900_000, 2_000_000, 2_100_000, 2_200_000, 2_300_000, 2_400_000, 2_500_000,
    2_600_000, 2_700_000, 2_800_000, 2_900_000, 3_000_000, 3_100_000, 3_200_000, 3_300_000,
];
/// Hosts per cluster.
const CLUSTER: usize = 40;
/// Hosts per rack.
const RACK: usize = 10;
/// One host in this many is a QEMU release behind its rack (an upgrade that missed it).
const STRAGGLER: u64 = 256;

/// Features a cluster's firmware settings may turn off, by catalog name (each cluster turns off
/// none, one or two of those its processor has).
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
    /// `cpu_models[t][r]`: template `t`'s `query-cpu-definitions` as QEMU release `r` lists it
    /// (the models the release has), one shared list each.
    cpu_models: Vec<Vec<SharedList<QemuCpuModel>>>,
    /// `bios_optional[t]`: the [`BIOS_OPTIONAL`] features template `t` has.
    bios_optional: Vec<Vec<&'static str>>,
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
    /// A rolling QEMU upgrade to the next release has reached racks below this one (0: none).
    qemu_racks_ahead: usize,
    /// A rolling microcode update to the next level has reached racks below this one.
    microcode_racks_ahead: usize,
    /// The cluster grew: racks from this one on hold another processor (template) and SKU.
    expansion: Option<(usize, usize, u64)>,
}

/// `template`'s CPU models as QEMU `release` lists them: without the models the release is known
/// to lack (`shared::models`' `present_in`/`absent_in`, from libvirt's probes of QEMU 6.2, 8.2,
/// 9.2 and 10.0).
fn models_of_release(template: &HostProfile, release: &str) -> SharedList<QemuCpuModel> {
    let v = QemuVersion::parse(release);
    template
        .qemu
        .first()
        .map(|q| {
            q.cpu_models
                .iter()
                .filter(|m| {
                    !matches!(
                        models().resolve(&m.name).map(|n| n.qemu_support(v)),
                        Some(QemuSupport::No { .. })
                    )
                })
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

impl FleetGen {
    /// The generator over the demo fleet's processors.
    pub fn new(seed: u64) -> Result<Self, DemoError> {
        let all = demo_profiles("2026-12-06T00:00:00Z")?;
        let mut seen = std::collections::BTreeSet::new();
        let mut templates: Vec<HostProfile> = all
            .into_iter()
            .filter(|p| {
                p.labels
                    .get("cluster")
                    .is_some_and(|c| seen.insert(c.clone()))
            })
            .collect();
        // Every host of a KVM fleet has a QEMU, also where the demo's data has no QEMU answers.
        for t in &mut templates {
            if t.qemu.is_empty() {
                t.qemu.push(QemuInstall {
                    path: "/usr/bin/qemu-system-x86_64".into(),
                    accel: "kvm".into(),
                    ..QemuInstall::default()
                });
            }
        }
        let cpu_models = templates
            .iter()
            .map(|t| {
                QEMU_RELEASES
                    .iter()
                    .map(|r| models_of_release(t, r))
                    .collect()
            })
            .collect();
        let bios_optional = templates
            .iter()
            .map(|t| {
                BIOS_OPTIONAL
                    .iter()
                    .copied()
                    .filter(|name| {
                        shared::catalog()
                            .lookup(name)
                            .is_some_and(|id| t.cpu.features.contains(id))
                    })
                    .collect()
            })
            .collect();
        Ok(Self {
            templates,
            cpu_models,
            bios_optional,
            seed,
            cluster_size: CLUSTER,
        })
    }

    fn setup(&self, cluster: usize) -> Setup {
        let h = |salt: u64| mix(self.seed ^ mix(u64::try_from(cluster).unwrap_or(0) ^ salt << 48));
        let racks = self.cluster_size.div_ceil(RACK).max(1);
        // Newer releases are more common.
        let qemu = QEMU_RELEASES.len() - 1 - pick(h(3), QEMU_RELEASES.len()).min(pick(h(13), 4));
        let microcode = pick(h(9), MICROCODE.len());
        let template = pick(h(1), self.templates.len());
        let optional = &self.bios_optional[template];
        let bios_off = if optional.is_empty() {
            Vec::new()
        } else {
            (0..pick(h(5), 3))
                .map(|k| optional[pick(h(6 + k as u64), optional.len())])
                .collect()
        };
        // An upgrade under way in one cluster in three (QEMU) and one in four (microcode), having
        // reached 1 to all-but-one racks; one cluster in five grew by 1 to all-but-one racks of
        // another processor of the same vendor.
        let ahead = |salt: u64, odds: u64, possible: bool| {
            if possible && racks > 1 && h(salt).is_multiple_of(odds) {
                1 + pick(h(salt + 1), racks - 1)
            } else {
                0
            }
        };
        let vendor = &self.templates[template].cpu.vendor;
        let same_vendor: Vec<usize> = (0..self.templates.len())
            .filter(|&t| t != template && self.templates[t].cpu.vendor == *vendor)
            .collect();
        let expansion =
            (racks > 1 && !same_vendor.is_empty() && h(20).is_multiple_of(5)).then(|| {
                (
                    racks - 1 - pick(h(21), racks - 1),
                    same_vendor[pick(h(22), same_vendor.len())],
                    SKU_TSC_KHZ[pick(h(23), SKU_TSC_KHZ.len())],
                )
            });
        Setup {
            template,
            region: pick(h(2), REGIONS.len()),
            qemu,
            kernel: pick(h(4), KERNELS.len()),
            microcode,
            tsc_khz: SKU_TSC_KHZ[pick(h(10), SKU_TSC_KHZ.len())],
            bios_off,
            qemu_racks_ahead: ahead(30, 3, qemu + 1 < QEMU_RELEASES.len()),
            microcode_racks_ahead: ahead(32, 4, microcode + 1 < MICROCODE.len()),
            expansion,
        }
    }

    /// Host `i` of the fleet (ids `host-000000`, ...).
    pub fn host(&self, i: usize) -> HostProfile {
        let size = self.cluster_size.max(1);
        let cluster = i / size;
        let rack = (i % size) / RACK;
        let s = self.setup(cluster);
        let h = mix(self.seed ^ mix(u64::try_from(i).unwrap_or(0)));
        let (template, sku) = match s.expansion {
            Some((first, t, sku)) if rack >= first => (t, sku),
            _ => (s.template, s.tsc_khz),
        };
        let mut p = self.templates[template].clone();
        // Rolling upgrades reach the first racks first; the odd host an upgrade missed stays a
        // QEMU release behind its rack.
        let mut qemu = s.qemu + usize::from(rack < s.qemu_racks_ahead);
        if h.is_multiple_of(STRAGGLER) {
            qemu = qemu.saturating_sub(1);
        }
        let microcode = s.microcode + usize::from(rack < s.microcode_racks_ahead);
        let (revision, missing) = MICROCODE[microcode];
        let mut off: Vec<&str> = s.bios_off.clone();
        off.extend_from_slice(missing);
        drop_features(&mut p, &off);
        p.cpu.microcode = Some(revision.to_owned());
        // Each host's own calibration, within a few kHz of its SKU's base clock.
        p.cpu.tsc_khz = Some(sku + h / 80 % 7);
        for q in &mut p.qemu {
            QEMU_RELEASES[qemu].clone_into(&mut q.version);
            q.package = format!("1:{}+dfsg-1", QEMU_RELEASES[qemu]);
            q.cpu_models = self.cpu_models[template][qemu].clone();
        }
        p.kernel_release = Some(KERNELS[s.kernel].to_owned());
        let region = REGIONS[s.region];
        p.host_id = format!("host-{i:06}");
        p.hostname = format!("{}.{region}.fleet.invalid", p.host_id);
        let cluster_name = format!("{region}-c{cluster:04}");
        p.labels = BTreeMap::from([
            ("region".to_owned(), region.to_owned()),
            ("rack".to_owned(), format!("{cluster_name}-r{rack:02}")),
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
    use std::collections::{BTreeMap, BTreeSet};

    use super::*;

    #[test]
    fn hosts_are_deterministic_labelled_and_drift_into_many_classes() {
        let g = FleetGen::new(7).expect("demo fleet");
        let a = g.host(12_345);
        assert_eq!(a, g.host(12_345), "host i is a function of the seed and i");
        assert_ne!(a, FleetGen::new(8).expect("demo fleet").host(12_345));
        assert_eq!(a.host_id, "host-012345");
        for key in ["region", "cluster", "rack"] {
            assert!(a.labels.contains_key(key), "label {key}");
        }
        // 200 clusters of 40: each in one class, more while an upgrade or an expansion is under
        // way; clusters of one setup share classes. 100,000 hosts (2,500 clusters) make about
        // 3,000.
        let clusters = 200;
        let hosts: Vec<HostProfile> = (0..clusters * CLUSTER).map(|i| g.host(i)).collect();
        let classes = shared::graph::group(&hosts).members.len();
        assert!(
            (clusters * 6 / 5..=clusters * 2).contains(&classes),
            "{clusters} clusters made {classes} classes"
        );
        // Every host has a QEMU; the releases drift, and a rolling upgrade splits some clusters
        // by rack.
        let mut releases: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut cpus: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for p in &hosts {
            assert_eq!(p.qemu.len(), 1, "{}", p.host_id);
            let cluster = p.labels["cluster"].as_str();
            releases
                .entry(cluster)
                .or_default()
                .insert(p.qemu[0].version.as_str());
            cpus.entry(cluster)
                .or_default()
                .insert(p.origin.detail.as_str());
        }
        let all: BTreeSet<&str> = releases.values().flatten().copied().collect();
        assert_eq!(
            all.len(),
            QEMU_RELEASES.len(),
            "QEMU releases drift: {all:?}"
        );
        let upgrading = releases.values().filter(|r| r.len() > 1).count();
        let grown = cpus.values().filter(|c| c.len() > 1).count();
        assert!(
            (clusters / 10..=clusters / 2).contains(&upgrading),
            "{upgrading} of {clusters} clusters mid-upgrade"
        );
        assert!(
            (clusters / 20..=clusters / 3).contains(&grown),
            "{grown} of {clusters} clusters grown with another processor"
        );
    }

    #[test]
    fn each_release_lists_only_the_models_it_has() {
        let g = FleetGen::new(1).expect("demo fleet");
        for i in (0..20_000).step_by(97) {
            let p = g.host(i);
            let q = &p.qemu[0];
            let v = QemuVersion::parse(&q.version);
            for m in &q.cpu_models {
                let support = models().resolve(&m.name).map(|n| n.qemu_support(v));
                assert!(
                    !matches!(support, Some(QemuSupport::No { .. })),
                    "{} lists {} that QEMU {} does not have",
                    p.host_id,
                    m.name,
                    q.version
                );
            }
        }
        // The demo's QEMU data (libvirt's) lists no model newer than 7.2; a template that does
        // loses it on releases known to lack it. GraniteRapids-v1 first appears in QEMU 8.2,
        // 6.2 lacks it, 7.2 was not probed (kept: not known to lack it).
        let mut t = HostProfile::default();
        t.qemu.push(QemuInstall {
            cpu_models: ["GraniteRapids-v1", "Skylake-Server-v4"]
                .map(|name| QemuCpuModel {
                    name: name.into(),
                    ..QemuCpuModel::default()
                })
                .into(),
            ..QemuInstall::default()
        });
        let names = |release| -> Vec<String> {
            models_of_release(&t, release)
                .iter()
                .map(|m| m.name.clone())
                .collect()
        };
        assert_eq!(names("6.2.0"), ["Skylake-Server-v4"]);
        assert_eq!(names("7.2.0"), ["GraniteRapids-v1", "Skylake-Server-v4"]);
        assert_eq!(names("8.2.2"), ["GraniteRapids-v1", "Skylake-Server-v4"]);
    }
}
