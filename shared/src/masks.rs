//! Masking suggestions: the features to turn off, and on which side, so that a pair or a pool of
//! hosts becomes compatible, with what each option costs (seed 002: `-cpu host,pcid=off,stibp=off`
//! on one host and `-cpu host,taa-no=off` on the other).
//!
//! A mask is a `-cpu host` line, so it names only what QEMU accepts there (see [`crate::flags`]):
//! features the host's oldest QEMU has a flag for and, where the profile holds the host's QEMU
//! `host` expansions, that one of them gives a guest (what QEMU cannot name it never passes on).
//! A flag QEMU
//! turns off with another (`vmx-*` with `vmx`) is not repeated. invtsc is never masked: `-cpu
//! host` leaves it out while `migratable=on`, its default (QEMU target/i386/cpu.c,
//! `unmigratable_flags`). What masking cannot fix, a change of cpu vendor first, comes first.

use serde::{Deserialize, Serialize};

use crate::baseline::{Baseline, BaselineError, BaselineOptions, baseline, common_features};
use crate::catalog::catalog;
use crate::featureset::FeatureSet;
use crate::flags::{cleared_by_dependencies, collapse_off, implied_off, qemu_flag};
use crate::libvirt::{LibvirtVersion, cpu_map};
use crate::profile::HostProfile;
use crate::verdict::{
    Evidence, GuestConfig, GuestCpu, Layer, Policy, Reason, Severity, compare_with,
    qemu_unmigratable,
};

/// `-cpu host` with features turned off, for guests started on one host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostMask {
    pub host: String,
    /// Features to turn off for guests started on this host: the flags of `qemu_cpu`.
    pub disable: FeatureSet,
    /// Features the guest does not get without a flag of their own: what QEMU turns off along
    /// with `disable` (the `vmx-*` features with `vmx`: QEMU target/i386/cpu.c,
    /// `feature_dependencies[]` applied by `x86_cpu_expand_features`), and what `-cpu host`
    /// never passes on (no QEMU name, invtsc: `x86_cpu_get_migratable_flags`).
    #[serde(default, skip_serializing_if = "FeatureSet::is_empty")]
    pub implied: FeatureSet,
    /// The QEMU `-cpu` argument: `host,pcid=off,stibp=off`.
    pub qemu_cpu: String,
    /// The same as libvirt's `<cpu mode='host-passthrough'>` element with the features disabled
    /// (libvirt's names). Absent from documents written before it was added.
    #[serde(default)]
    pub libvirt: String,
    /// The guest configuration to judge it with.
    pub guest: GuestConfig,
}

/// Features a `-cpu host` line on `host` can turn off: QEMU has a flag for them and, where the
/// profile holds the host's QEMU `host` expansions, one of them gives the feature to a guest.
fn maskable(host: &HostProfile) -> FeatureSet {
    // The flags of the oldest QEMU installed (all QEMU 10.0.2 names when none is recorded).
    let oldest = host
        .qemu
        .iter()
        .filter_map(|q| crate::models::QemuVersion::parse(&q.version))
        .min();
    let mut set = crate::flags::qemu_flags(oldest);
    let expansions: Vec<&FeatureSet> = host
        .qemu
        .iter()
        .filter_map(|q| q.host_model.as_ref())
        .collect();
    if !expansions.is_empty() {
        set = set.intersection(
            &expansions
                .iter()
                .fold(FeatureSet::EMPTY, |acc, e| acc.union(e)),
        );
    }
    set.difference(&qemu_unmigratable())
}

/// The mask of `host` that keeps `off` from its guests: the flags to write, and what the guest
/// does not get without one. `-cpu host` passes on only what the host's QEMU names (and invtsc
/// not while `migratable=on`: QEMU target/i386/cpu.c, `x86_cpu_get_migratable_flags`), and
/// turns the `vmx-*` features off with `vmx`.
fn host_mask(host: &HostProfile, mut off: FeatureSet) -> HostMask {
    // The accelerator sets CPUID.01H:ECX[31] for every guest: nothing to mask.
    if let Some(h) = catalog().lookup("hypervisor") {
        off.remove(h);
    }
    let flags = maskable(host);
    let disable = collapse_off(&off.intersection(&flags));
    let view = host.kvm.as_ref().map_or(off, |k| k.guest_features);
    let unnamed = off.difference(&flags);
    let implied = implied_off(&disable)
        .intersection(&view.union(&off))
        .union(&unnamed)
        .union(&cleared_by_dependencies(
            &view.difference(&disable).difference(&unnamed),
        ));
    let mut qemu_cpu = "host".to_owned();
    for id in disable.iter() {
        qemu_cpu.push_str(&format!(",{}=off", qemu_flag(id)));
    }
    let libvirt_version = host
        .libvirt_version
        .as_deref()
        .and_then(LibvirtVersion::parse)
        .unwrap_or(crate::libvirt::DEFAULT);
    HostMask {
        host: host.host_id.clone(),
        disable,
        implied,
        qemu_cpu,
        libvirt: libvirt_mask_xml_for(&disable, libvirt_version),
        guest: GuestConfig {
            cpu: GuestCpu::HostPassthroughMasked {
                disable: disable.union(&implied).names(),
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

/// [`libvirt_mask_xml`] with only the feature names `version` knows (libvirt src/cpu/cpu_x86.c,
/// `x86FeatureFind`: an unknown name fails the definition); the others are said in a comment,
/// for the QEMU `-cpu` line to turn off.
fn libvirt_mask_xml_for(disable: &FeatureSet, version: LibvirtVersion) -> String {
    let map = cpu_map();
    let (mut known, mut unknown) = (FeatureSet::EMPTY, Vec::new());
    for id in disable.iter() {
        let name = crate::libvirt::feature_name(id);
        if map.knows_feature(&name, version) {
            known.insert(id);
        } else {
            unknown.push(name);
        }
    }
    let xml = libvirt_mask_xml(&known);
    if unknown.is_empty() {
        return xml;
    }
    xml.replacen(
        "\n",
        &format!(
            "\n  <!-- libvirt {} has no name for {}: turn them off with the QEMU -cpu line -->\n",
            map.checked_against(version),
            unknown.join(", ")
        ),
        1,
    )
}

/// Masks for a pair of hosts, both directions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairMasks {
    /// Blockers that masking cannot remove (vendor change first, then TSC, missing guest
    /// view...): read these before the masks.
    pub unmaskable: Vec<Reason>,
    /// For guests started on the source, so they can move to the destination.
    pub source: HostMask,
    /// For guests started on the destination, so they can move back.
    pub destination: HostMask,
    /// The named-model alternative: the baseline of the two hosts.
    pub named_alternative: Option<Baseline>,
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

/// What `-cpu host` gives a guest on `h`, as its QEMU computes it ([`crate::view::host_cpu`]).
fn view(h: &HostProfile) -> Result<FeatureSet, MaskError> {
    crate::view::host_cpu(h, None).ok_or_else(|| MaskError::NoGuestView(h.host_id.clone()))
}

/// What each side must turn off so that `-cpu host` guests can move both ways: on each side the
/// features the other lacks, as QEMU flags (see [`host_mask`]). Identical hosts get no mask.
pub fn pair_masks(
    src: &HostProfile,
    dst: &HostProfile,
    policy: &Policy,
) -> Result<PairMasks, MaskError> {
    let (a, b) = (view(src)?, view(dst)?);
    let source = host_mask(src, a.difference(&b));
    let destination = host_mask(dst, b.difference(&a));
    let mut unmaskable: Vec<Reason> = Vec::new();
    for (from, to, m) in [(src, dst, &source), (dst, src, &destination)] {
        for r in compare_with(from, to, &m.guest, policy).reasons {
            if r.severity == Severity::Blocker && !unmaskable.contains(&r) {
                unmaskable.push(r);
            }
        }
    }
    // A vendor change first: no mask helps with it.
    unmaskable.sort_by_key(|r| r.layer != Layer::Vendor);
    let named_alternative = baseline(&[src, dst], &alternative_options(&[src, dst])).ok();
    Ok(PairMasks {
        unmaskable,
        source,
        destination,
        named_alternative,
    })
}

/// Options of the named alternative: the oldest QEMU the hosts recorded decides the model and
/// the flags its `-cpu` line may use.
fn alternative_options(hosts: &[&HostProfile]) -> BaselineOptions {
    BaselineOptions {
        qemu: hosts
            .iter()
            .flat_map(|h| &h.qemu)
            .filter_map(|q| crate::models::QemuVersion::parse(&q.version))
            .min(),
        ..BaselineOptions::default()
    }
}

/// The blocker a pool over several cpu vendors carries whatever is masked: `-cpu host` shows
/// each host's own vendor string (QEMU target/i386/host-cpu.c, `host_cpu_vendor_fms` sets the
/// `host` model's vendor from the host's CPUID), and a guest keeps the vendor-specific code paths
/// it chose at boot.
fn vendor_change(hosts: &[&HostProfile]) -> Option<Reason> {
    let mut vendors: Vec<(String, Vec<String>)> = Vec::new();
    for h in hosts {
        match vendors
            .iter_mut()
            .find(|(v, _)| v.eq_ignore_ascii_case(&h.cpu.vendor))
        {
            Some((_, ids)) => ids.push(h.host_id.clone()),
            None => vendors.push((h.cpu.vendor.clone(), vec![h.host_id.clone()])),
        }
    }
    if vendors.len() < 2 {
        return None;
    }
    let groups: Vec<String> = vendors
        .iter()
        .map(|(v, ids)| format!("{v}: {}", ids.join(" ")))
        .collect();
    Some(Reason {
        layer: Layer::Vendor,
        severity: Severity::Blocker,
        rule: "vendor.change".into(),
        message: format!(
            "masking cannot fix a cpu vendor change: the pool mixes {} ({}); -cpu host shows each host's own vendor (QEMU target/i386/host-cpu.c, host_cpu_vendor_fms) and a guest keeps the vendor-specific code paths it chose at boot: split the pool by vendor",
            vendors
                .iter()
                .map(|(v, _)| v.as_str())
                .collect::<Vec<_>>()
                .join(" and "),
            groups.join("; ")
        ),
        evidence: Evidence::Values {
            source: vendors[0].0.clone(),
            destination: vendors[1].0.clone(),
        },
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
    /// What masking cannot fix (a change of cpu vendor): read this before the masks.
    #[serde(default)]
    pub unmaskable: Vec<Reason>,
    pub hosts: Vec<String>,
    /// What every host's guests would see: the common features, non-migratable ones removed.
    pub common: FeatureSet,
    pub per_host: Vec<HostMask>,
    /// Features some hosts lack, those lacked by the fewest hosts first.
    pub blocking_features: Vec<BlockingFeature>,
    /// Features hosts offer that `-cpu host` guests never get while `migratable=on` (invtsc),
    /// so no mask names them.
    pub non_migratable: FeatureSet,
    /// Hosts holding the common set back, the costliest first.
    pub holding_back: Vec<HoldingBack>,
    pub named_alternative: Option<Baseline>,
    pub options: Vec<MaskOption>,
}

/// Masks for a pool: every host masks down to the common features. What masking cannot fix is
/// said first: a change of cpu vendor. (The policy no longer changes the masks: invtsc is never
/// masked; it stays in the signature for callers.)
pub fn pool_masks(hosts: &[&HostProfile], _policy: &Policy) -> Result<PoolMasks, MaskError> {
    // Refuses an empty selection and names a host without a guest view, as the baseline does.
    common_features(hosts)?;
    let views: Vec<FeatureSet> = hosts.iter().map(|h| view(h)).collect::<Result<_, _>>()?;
    let common_all = views
        .iter()
        .fold(None::<FeatureSet>, |acc, v| {
            Some(acc.map_or(*v, |a| a.intersection(v)))
        })
        .unwrap_or(FeatureSet::EMPTY);
    let never = qemu_unmigratable();
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
        .map(|m| m.disable.union(&m.implied).difference(&never).len())
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
    let named_alternative = baseline(hosts, &alternative_options(hosts)).ok();
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
        unmaskable: vendor_change(hosts).into_iter().collect(),
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
    fn identical_hosts_get_no_mask() {
        let a = profile_named(
            "a",
            "GenuineIntel",
            &["sse2", "avx", "xsaves", "invtsc", "vmx"],
        );
        let mut b = a.clone();
        b.host_id = "b".into();
        let m = pair_masks(&a, &b, &Policy::default()).expect("masks");
        assert!(m.source.disable.is_empty() && m.destination.disable.is_empty());
        assert_eq!(m.source.qemu_cpu, "host");
        assert!(m.unmaskable.is_empty(), "{:?}", m.unmaskable);
        let p = pool_masks(&[&a, &b], &Policy::default()).expect("pool");
        assert!(p.per_host.iter().all(|h| h.disable.is_empty()));
        assert!(p.unmaskable.is_empty());
    }

    #[test]
    fn vmx_features_collapse_into_vmx_off_and_flags_are_qemus() {
        let a = profile_named(
            "a",
            "GenuineIntel",
            &[
                "sse2",
                "avx",
                "vmx",
                "vmx-ept",
                "vmx-vpid",
                "vmx-invept",
                "pcid",
            ],
        );
        let b = profile_named("b", "GenuineIntel", &["sse2", "avx"]);
        let m = pair_masks(&a, &b, &Policy::default()).expect("masks");
        assert_eq!(m.source.qemu_cpu, "host,vmx=off,pcid=off");
        assert_eq!(
            m.source.implied,
            FeatureSet::from_names(["vmx-ept", "vmx-vpid", "vmx-invept"]).0
        );
        assert!(m.source.libvirt.contains("name='vmx'"));
        assert!(!m.source.libvirt.contains("vmx-"));
        assert!(m.unmaskable.is_empty(), "{:?}", m.unmaskable);
        assert!(compare(&a, &b, &m.source.guest).compatible);
        // Only a vmx-* feature differs: it is a QEMU flag of its own, and vmx stays on.
        let c = profile_named("c", "GenuineIntel", &["sse2", "avx", "vmx", "vmx-ept"]);
        let d = profile_named("d", "GenuineIntel", &["sse2", "avx", "vmx"]);
        let m = pair_masks(&c, &d, &Policy::default()).expect("masks");
        assert_eq!(m.source.qemu_cpu, "host,vmx-ept=off");
        // libvirt 9.0.0 has no name for it: the libvirt form says so instead of failing.
        assert!(
            m.source.libvirt.contains("no name for vmx-ept"),
            "{}",
            m.source.libvirt
        );
    }

    #[test]
    fn vendor_change_comes_first() {
        let a = profile_named("a", "GenuineIntel", &["sse2", "avx", "vmx"]);
        let b = profile_named("b", "AuthenticAMD", &["sse2", "avx", "svm"]);
        let m = pair_masks(&a, &b, &Policy::default()).expect("masks");
        assert_eq!(m.unmaskable[0].layer, Layer::Vendor, "{:?}", m.unmaskable);
        let p = pool_masks(&[&a, &b, &a], &Policy::default()).expect("pool");
        assert_eq!(p.unmaskable.len(), 1);
        assert!(
            p.unmaskable[0]
                .message
                .starts_with("masking cannot fix a cpu vendor change")
        );
        let json = serde_json::to_string(&p).expect("json");
        assert!(json.starts_with("{\"unmaskable\""), "{json}");
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
