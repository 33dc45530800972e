//! The vocabulary of verdicts: layers, severities, evidence, reasons and the verdict itself.

use serde::{Deserialize, Serialize};

use crate::catalog::{FeatureClass, FeatureId, FeatureLocation, catalog};
use crate::policy::GuestConfig;

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

impl Layer {
    /// For people: the layer's name as the UI and reports show it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Profile => "profile",
            Self::Vendor => "CPU vendor",
            Self::CpuFeatures => "CPU features",
            Self::Tsc => "TSC",
            Self::KernelKvm => "kernel and KVM",
            Self::QemuMachine => "QEMU and machine type",
            Self::Devices => "devices",
            Self::Arm64 => "arm64 ID registers",
            Self::Cpr => "cpr-transfer",
        }
    }
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
    /// A named CPU model and the QEMU release(s) involved.
    Model {
        model: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qemu: Option<String>,
    },
    None,
}

impl Evidence {
    /// One line for people: the manual citation of a feature, or the two sides' values.
    pub fn summary(&self) -> String {
        match self {
            Self::Feature {
                feature, citation, ..
            } => format!("{feature} at {citation}"),
            Self::Values {
                source,
                destination,
            } => format!("source {source}, destination {destination}"),
            Self::Model { model, qemu } => match qemu {
                Some(q) => format!("model {model}, qemu {q}"),
                None => format!("model {model}"),
            },
            Self::None => String::new(),
        }
    }
}

impl Severity {
    /// The lowercase word, as in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Self::Blocker => "blocker",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
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

impl Verdict {
    /// Reasons of one severity.
    pub fn with_severity(&self, s: Severity) -> impl Iterator<Item = &Reason> {
        self.reasons.iter().filter(move |r| r.severity == s)
    }
}

/// Evidence for a catalog feature.
pub fn feature_evidence(id: FeatureId) -> Evidence {
    let f = catalog().get(id);
    Evidence::Feature {
        feature: f.name.clone(),
        location: f.location,
        citation: f.location.to_string(),
        class: f.class,
    }
}
