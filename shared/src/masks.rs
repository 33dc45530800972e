//! Masking suggestions: the features to turn off, and on which side, so that a pair or a pool of
//! hosts becomes compatible, with what each option costs (seed 002: `-cpu host,pcid=off,stibp=off`
//! on one host and `-cpu host,taa-no=off` on the other).

use serde::{Deserialize, Serialize};

use crate::baseline::{Baseline, BaselineError, BaselineOptions, baseline, common_features};
use crate::catalog::catalog;
use crate::featureset::FeatureSet;
use crate::profile::HostProfile;
use crate::verdict::{
    GuestConfig, GuestCpu, Policy, Reason, Severity, compare_with, non_migratable,
};

/// `-cpu host` with features turned off, for guests started on one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMask {
    pub host: String,
    /// Features to turn off for guests started on this host.
    pub disable: FeatureSet,
    /// The QEMU `-cpu` argument: `host,pcid=off,stibp=off`.
    pub qemu_cpu: String,
    /// The same as libvirt's `<cpu mode='host-passthrough'>` element with the features disabled
    /// (libvirt's names). Absent from documents written before it was added.
    #[serde(default)]
    pub libvirt: String,
    /// The guest configuration to judge it with.
    pub guest: GuestConfig,
}

fn host_mask(host: &HostProfile, disable: FeatureSet) -> HostMask {
    let c = catalog();
    let mut qemu_cpu = "host".to_owned();
    for id in disable.iter() {
        let f = c.get(id);
        qemu_cpu.push_str(&format!(
            ",{}=off",
            f.qemu_name.as_deref().unwrap_or(&f.name)
        ));
    }
    HostMask {
        host: host.host_id.clone(),
        disable,
        qemu_cpu,
        libvirt: libvirt_mask_xml(&disable),
        guest: GuestConfig {
            cpu: GuestCpu::HostPassthroughMasked {
                disable: disable.names(),
            },
            ..GuestConfig::default()
        },
    }
}

/// libvirt's `<cpu>` element for host-passthrough with `disable` turned off (libvirt's feature
/// names, QEMU's where libvirt has none).
pub fn libvirt_mask_xml(disable: &FeatureSet) -> String {
    let c = catalog();
    let mut xml = String::from("<cpu mode='host-passthrough' check='none' migratable='on'>\n");
    for id in disable.iter() {
        let f = c.get(id);
        let name = f
            .libvirt_name
            .as_deref()
            .or(f.qemu_name.as_deref())
            .unwrap_or(&f.name);
        xml.push_str(&format!("  <feature policy='disable' name='{name}'/>\n"));
    }
    xml.push_str("</cpu>");
    xml
}

/// Masks for a pair of hosts, both directions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairMasks {
    /// For guests started on the source, so they can move to the destination.
    pub source: HostMask,
    /// For guests started on the destination, so they can move back.
    pub destination: HostMask,
    /// The named-model alternative: the baseline of the two hosts.
    pub named_alternative: Option<Baseline>,
    /// Blockers that masking cannot remove (vendor change, TSC, missing guest view...).
    pub unmaskable: Vec<Reason>,
}

/// Why masks could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MaskError {
    #[error(
        "host {0} has no kvm guest view in its profile: run fleetcompat-collector probe on it where /dev/kvm is readable, or import its QEMU data"
    )]
    NoGuestView(String),
    #[error(transparent)]
    Baseline(#[from] BaselineError),
}

/// What `-cpu host` gives a guest on `h`, as its QEMU computes it ([`crate::view::supported`]).
fn view(h: &HostProfile) -> Result<FeatureSet, MaskError> {
    crate::view::supported(h, None).ok_or_else(|| MaskError::NoGuestView(h.host_id.clone()))
}

/// What each side must turn off so that `-cpu host` guests can move both ways: on each side the
/// features the other lacks, plus the non-migratable ones (invtsc unless the policy fixes the
/// guest's TSC frequency, xsaves).
pub fn pair_masks(
    src: &HostProfile,
    dst: &HostProfile,
    policy: &Policy,
) -> Result<PairMasks, MaskError> {
    let (a, b) = (view(src)?, view(dst)?);
    let mut never = non_migratable();
    if policy.guest_tsc_khz.is_some()
        && let Some(id) = catalog().lookup("invtsc")
    {
        never.remove(id);
    }
    let hypervisor = catalog().lookup("hypervisor");
    let mut off_src = a.difference(&b).union(&a.intersection(&never));
    let mut off_dst = b.difference(&a).union(&b.intersection(&never));
    if let Some(h) = hypervisor {
        off_src.remove(h);
        off_dst.remove(h);
    }
    let source = host_mask(src, off_src);
    let destination = host_mask(dst, off_dst);
    let mut unmaskable: Vec<Reason> = Vec::new();
    for (from, to, m) in [(src, dst, &source), (dst, src, &destination)] {
        for r in compare_with(from, to, &m.guest, policy).reasons {
            if r.severity == Severity::Blocker && !unmaskable.contains(&r) {
                unmaskable.push(r);
            }
        }
    }
    let named_alternative = baseline(&[src, dst], &BaselineOptions::default()).ok();
    Ok(PairMasks {
        source,
        destination,
        named_alternative,
        unmaskable,
    })
}

/// A feature some hosts of a pool lack.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockingFeature {
    pub feature: String,
    pub citation: String,
    /// Hosts that offer it (and must mask it).
    pub n_hosts_with: usize,
    /// Hosts that lack it.
    pub hosts_without: Vec<String>,
}

/// A host whose guest view holds the pool's common features back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HoldingBack {
    pub host: String,
    /// Features every other host shares but this one lacks: what the pool gains without it.
    pub lacks: FeatureSet,
}

/// One way to make a pool compatible, and its cost.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskOption {
    pub description: String,
    /// Features the guests of the pool see.
    pub n_features: usize,
    /// Largest number of features any host's guests give up compared with `-cpu host`.
    pub max_features_lost: usize,
    pub hosts_left_out: Vec<String>,
}

/// Masks and their cost for a pool.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolMasks {
    pub hosts: Vec<String>,
    /// What every host's guests would see: the common features, non-migratable ones removed.
    pub common: FeatureSet,
    pub per_host: Vec<HostMask>,
    /// Features some hosts lack, those lacked by the fewest hosts first.
    pub blocking_features: Vec<BlockingFeature>,
    /// Features turned off everywhere because they never migrate (invtsc without a fixed TSC
    /// frequency, xsaves), though hosts offer them.
    pub non_migratable: FeatureSet,
    /// Hosts holding the common set back, the costliest first.
    pub holding_back: Vec<HoldingBack>,
    pub named_alternative: Option<Baseline>,
    pub options: Vec<MaskOption>,
}

/// Masks for a pool: every host masks down to the common features.
pub fn pool_masks(hosts: &[&HostProfile], policy: &Policy) -> Result<PoolMasks, MaskError> {
    // Only to name a host without a guest view, as the baseline does.
    common_features(hosts)?;
    let views: Vec<FeatureSet> = hosts.iter().map(|h| view(h)).collect::<Result<_, _>>()?;
    let common_all = views
        .iter()
        .fold(None::<FeatureSet>, |acc, v| {
            Some(acc.map_or(*v, |a| a.intersection(v)))
        })
        .unwrap_or(FeatureSet::EMPTY);
    let mut never = non_migratable();
    if policy.guest_tsc_khz.is_some()
        && let Some(id) = catalog().lookup("invtsc")
    {
        never.remove(id);
    }
    let common = common_all.difference(&never);
    let hypervisor = catalog().lookup("hypervisor");
    let per_host: Vec<HostMask> = hosts
        .iter()
        .zip(&views)
        .map(|(h, v)| {
            let mut off = v.difference(&common);
            if let Some(id) = hypervisor {
                off.remove(id);
            }
            host_mask(h, off)
        })
        .collect();
    let union = views.iter().fold(FeatureSet::EMPTY, |acc, v| acc.union(v));
    let mut blocking_features: Vec<BlockingFeature> = union
        .difference(&common_all)
        .iter()
        .filter(|id| Some(*id) != hypervisor)
        .map(|id| {
            let f = catalog().get(id);
            BlockingFeature {
                feature: f.name.clone(),
                citation: f.location.to_string(),
                n_hosts_with: views.iter().filter(|v| v.contains(id)).count(),
                hosts_without: hosts
                    .iter()
                    .zip(&views)
                    .filter(|(_, v)| !v.contains(id))
                    .map(|(h, _)| h.host_id.clone())
                    .collect(),
            }
        })
        .collect();
    blocking_features.sort_by_key(|b| (b.hosts_without.len(), b.feature.clone()));
    let mut holding_back: Vec<HoldingBack> = Vec::new();
    if hosts.len() > 1 {
        for (i, h) in hosts.iter().enumerate() {
            let others = views
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .fold(None::<FeatureSet>, |acc, (_, v)| {
                    Some(acc.map_or(*v, |a| a.intersection(v)))
                })
                .unwrap_or(FeatureSet::EMPTY)
                .difference(&never);
            let lacks = others.difference(&common);
            if !lacks.is_empty() {
                holding_back.push(HoldingBack {
                    host: h.host_id.clone(),
                    lacks,
                });
            }
        }
    }
    holding_back.sort_by_key(|h| std::cmp::Reverse(h.lacks.len()));
    // Costs count what guests lose beyond the features that never migrate anyway.
    let max_lost = per_host
        .iter()
        .map(|m| m.disable.difference(&never).len())
        .max()
        .unwrap_or(0);
    let mut options = vec![MaskOption {
        description:
            "mask every host down to the common features (-cpu host with the listed features off)"
                .into(),
        n_features: common.len(),
        max_features_lost: max_lost,
        hosts_left_out: Vec::new(),
    }];
    for hb in &holding_back {
        let rest: Vec<&HostProfile> = hosts
            .iter()
            .filter(|h| h.host_id != hb.host)
            .copied()
            .collect();
        let rest_common = common.union(&hb.lacks);
        let lost = rest
            .iter()
            .filter_map(|h| h.kvm.as_ref())
            .map(|k| {
                k.guest_features
                    .difference(&rest_common)
                    .difference(&never)
                    .len()
            })
            .max()
            .unwrap_or(0);
        options.push(MaskOption {
            description: format!(
                "leave {} out of the pool: the others share {} more features",
                hb.host,
                hb.lacks.len()
            ),
            n_features: rest_common.len(),
            max_features_lost: lost,
            hosts_left_out: vec![hb.host.clone()],
        });
    }
    let named_alternative = baseline(hosts, &BaselineOptions::default()).ok();
    if let Some(b) = &named_alternative {
        let lost = views
            .iter()
            .map(|v| v.difference(&b.features).difference(&never).len())
            .max()
            .unwrap_or(0);
        options.push(MaskOption {
            description: format!("use the named baseline {}", b.exports.qemu),
            n_features: b.features.len(),
            max_features_lost: lost,
            hosts_left_out: Vec::new(),
        });
    }
    Ok(PoolMasks {
        hosts: hosts.iter().map(|h| h.host_id.clone()).collect(),
        common,
        per_host,
        blocking_features,
        non_migratable: union.intersection(&never),
        holding_back,
        named_alternative,
        options,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::profile_named;
    use crate::verdict::compare;

    #[test]
    fn seed_002_masks_make_the_pair_compatible() {
        // seed 002: one host has pcid and stibp, the other taa-no.
        let a = profile_named(
            "a",
            "GenuineIntel",
            &["sse2", "avx", "pcid", "stibp", "xsaves"],
        );
        let b = profile_named("b", "GenuineIntel", &["sse2", "avx", "taa-no"]);
        assert!(!compare(&a, &b, &GuestConfig::default()).compatible);
        let m = pair_masks(&a, &b, &Policy::default()).expect("masks");
        assert_eq!(m.source.qemu_cpu, "host,pcid=off,stibp=off,xsaves=off");
        assert_eq!(m.destination.qemu_cpu, "host,taa-no=off");
        assert_eq!(
            m.destination.libvirt,
            "<cpu mode='host-passthrough' check='none' migratable='on'>\n  \
             <feature policy='disable' name='taa-no'/>\n</cpu>"
        );
        assert!(m.unmaskable.is_empty(), "{:?}", m.unmaskable);
        assert!(compare(&a, &b, &m.source.guest).compatible);
        assert!(compare(&b, &a, &m.destination.guest).compatible);
    }

    #[test]
    fn pool_masks_name_blockers_and_holders_back() {
        let a = profile_named("a", "GenuineIntel", &["sse2", "avx", "avx2", "pcid"]);
        let b = profile_named("b", "GenuineIntel", &["sse2", "avx", "avx2", "pcid"]);
        let c = profile_named("c", "GenuineIntel", &["sse2", "avx"]);
        let p = pool_masks(&[&a, &b, &c], &Policy::default()).expect("pool masks");
        // QEMU adds hypervisor and arat to what KVM offers (kvm_arch_get_supported_cpuid).
        assert_eq!(p.common.names(), vec!["avx", "hypervisor", "sse2", "arat"]);
        assert_eq!(p.holding_back.len(), 1);
        assert_eq!(p.holding_back[0].host, "c");
        assert_eq!(p.blocking_features.len(), 2);
        assert!(p.non_migratable.is_empty());
        assert_eq!(p.blocking_features[0].hosts_without, vec!["c"]);
        assert_eq!(p.options[1].hosts_left_out, vec!["c"]);
        for (h, m) in [&a, &b, &c].iter().zip(&p.per_host) {
            for other in [&a, &b, &c] {
                assert!(
                    compare(h, other, &m.guest).compatible,
                    "{} -> {}",
                    h.host_id,
                    other.host_id
                );
            }
        }
    }
}
