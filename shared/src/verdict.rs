//! Directional verdicts: can a guest configured like `guest`, running on `src`, move to `dst`?
//! Every mismatch becomes a [`Reason`]; none is logged and dropped.

use serde::{Deserialize, Serialize};

use crate::catalog::{FeatureClass, FeatureLocation, catalog};
use crate::featureset::FeatureSet;
use crate::profile::HostProfile;

/// The layer of the virtual hardware a reason is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// The profiles themselves: a view that is missing or partial.
    Profile,
    Vendor,
    CpuFeatures,
    Tsc,
    KernelKvm,
    QemuMachine,
    Devices,
    Arm64,
    Cpr,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Migration fails or the guest breaks.
    Blocker,
    /// Migration works but something changes under the guest.
    Warning,
    Info,
}

/// What a reason points at.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Evidence {
    /// A catalog feature and where it lives (CPUID leaf/subleaf/register/bit or MSR index).
    Feature {
        feature: String,
        location: FeatureLocation,
        /// The manual's notation, e.g. `CPUID.(EAX=07H,ECX=0):EBX[16]`.
        citation: String,
        class: FeatureClass,
    },
    /// A value on each side.
    Values {
        source: String,
        destination: String,
    },
    None,
}

/// One finding of a verdict.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    pub layer: Layer,
    pub severity: Severity,
    /// The rule that produced the reason, e.g. `cpu.feature-missing`.
    pub rule: String,
    pub message: String,
    pub evidence: Evidence,
}

/// What the guest's CPU looks like to the guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum GuestCpu {
    /// `-cpu host`: everything the source's KVM offers, non-migratable features included.
    #[default]
    HostPassthrough,
    /// libvirt's host-model: the source's KVM offer less the non-migratable features.
    HostModel,
}

/// The guest configuration a verdict is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GuestConfig {
    #[serde(default)]
    pub cpu: GuestCpu,
}

/// The answer to "can this guest go from `from` to `to`?".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub from: String,
    pub to: String,
    pub guest: GuestConfig,
    /// True when no reason is a blocker.
    pub compatible: bool,
    /// Every reason, blockers first.
    pub reasons: Vec<Reason>,
}

fn feature_evidence(id: crate::catalog::FeatureId) -> Evidence {
    let f = catalog().get(id);
    Evidence::Feature {
        feature: f.name.clone(),
        location: f.location,
        citation: f.location.to_string(),
        class: f.class,
    }
}

/// The features a guest started on `host` under `guest` sees, or `None` when the profile has no
/// guest view.
pub fn guest_features(host: &HostProfile, guest: &GuestConfig) -> Option<FeatureSet> {
    let offered = host.kvm.as_ref()?.guest_features;
    Some(match guest.cpu {
        GuestCpu::HostPassthrough => offered,
        GuestCpu::HostModel => {
            let mut set = offered;
            for id in offered.iter() {
                if !catalog().get(id).migratable {
                    set.remove(id);
                }
            }
            set
        }
    })
}

/// Compare a source and destination for a guest configuration. Never fails: what cannot be
/// judged becomes a reason.
pub fn compare(src: &HostProfile, dst: &HostProfile, guest: &GuestConfig) -> Verdict {
    let mut reasons = Vec::new();

    // Vendor: Intel <-> AMD is "tricky" (seed 000); a blocker unless a policy allows it.
    if !src.cpu.vendor.eq_ignore_ascii_case(&dst.cpu.vendor) {
        reasons.push(Reason {
            layer: Layer::Vendor,
            severity: Severity::Blocker,
            rule: "vendor.change".into(),
            message: format!(
                "cpu vendor changes from {} to {}: a guest that detected one vendor at boot keeps its vendor-specific code paths",
                src.cpu.vendor, dst.cpu.vendor
            ),
            evidence: Evidence::Values {
                source: src.cpu.vendor.clone(),
                destination: dst.cpu.vendor.clone(),
            },
        });
    }

    let offered_by_dst = dst.kvm.as_ref().map(|k| k.guest_features);
    match (guest_features(src, guest), offered_by_dst) {
        (Some(seen), Some(offered)) => {
            for id in seen.difference(&offered).iter() {
                let f = catalog().get(id);
                let (severity, rule, why) = match f.class {
                    FeatureClass::Fixed => (
                        Severity::Blocker,
                        "cpu.feature-missing",
                        "the guest may use it and fault after the move",
                    ),
                    FeatureClass::Microcode => (
                        Severity::Warning,
                        "cpu.microcode-feature-missing",
                        "it changes with microcode or firmware: update the destination's microcode, or mask it",
                    ),
                    FeatureClass::OsState => (
                        Severity::Warning,
                        "cpu.os-state-feature-missing",
                        "it reflects host OS state, not the processor",
                    ),
                };
                reasons.push(Reason {
                    layer: Layer::CpuFeatures,
                    severity,
                    rule: rule.into(),
                    message: format!(
                        "the guest sees {} ({}) but the destination's KVM does not offer it: {why}",
                        f.name, f.location
                    ),
                    evidence: feature_evidence(id),
                });
            }
        }
        (src_view, dst_view) => {
            for (side, host, missing) in [
                ("source", src, src_view.is_none()),
                ("destination", dst, dst_view.is_none()),
            ] {
                if missing {
                    reasons.push(Reason {
                        layer: Layer::Profile,
                        severity: Severity::Blocker,
                        rule: "profile.no-guest-view".into(),
                        message: format!(
                            "the {side} host {} has no KVM guest view in its profile, so cpu features cannot be judged: re-run fleetcompat-collector probe where /dev/kvm is readable",
                            host.host_id
                        ),
                        evidence: Evidence::None,
                    });
                }
            }
        }
    }

    reasons.sort_by(|a, b| (a.severity, a.layer).cmp(&(b.severity, b.layer)));
    Verdict {
        from: src.host_id.clone(),
        to: dst.host_id.clone(),
        guest: guest.clone(),
        compatible: !reasons.iter().any(|r| r.severity == Severity::Blocker),
        reasons,
    }
}
