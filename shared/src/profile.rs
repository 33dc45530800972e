//! Host profile schema v1: everything a host offers, as collected, shared by collector and backend.
//! Raw CPUID and MSR data is kept beside the decoded sets so a later release can decode again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::featureset::FeatureSet;
use crate::intern::SharedList;

/// The profile schema this release writes and reads.
pub const SCHEMA_VERSION: u32 = 1;

/// One CPUID leaf/subleaf and its output registers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CpuidEntry {
    pub leaf: u32,
    pub subleaf: u32,
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
}

/// A model-specific register and its 64-bit value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MsrValue {
    pub index: u32,
    pub value: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    #[default]
    X86_64,
    Aarch64,
}

/// How the profile came to be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ProfileOrigin {
    /// `probe` (the collector ran on the host) or `import` (a dump of a host it could not run on).
    pub kind: OriginKind,
    /// Tool and version that made it, e.g. `fleetcompat-collector 0.1.0`.
    pub tool: String,
    /// For imports: the file and format it came from, with attribution where the data is third-party.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum OriginKind {
    #[default]
    Probe,
    Import,
}

/// The processor as raw CPUID shows it (the *host CPU* view).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct CpuInfo {
    pub arch: Arch,
    /// CPUID.(EAX=00H):EBX,EDX,ECX vendor string, e.g. `GenuineIntel`, `AuthenticAMD`.
    pub vendor: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub brand: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub microcode: Option<String>,
    /// TSC frequency in kHz, where known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsc_khz: Option<u64>,
    /// Features raw CPUID and the host's feature MSRs show, QEMU names.
    pub features: FeatureSet,
    #[serde(default)]
    pub raw_cpuid: Vec<CpuidEntry>,
    #[serde(default)]
    pub raw_msrs: Vec<MsrValue>,
}

/// Where a profile's guest view came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum GuestViewSource {
    /// KVM_GET_SUPPORTED_CPUID and KVM_GET_MSR_FEATURE_INDEX_LIST on the host itself.
    #[default]
    KvmSupportedCpuid,
    /// QEMU's `query-cpu-model-expansion` of model `host` under KVM (libvirt's host-model data).
    QemuHostModel,
    /// Estimated from a raw CPUID dump of a host whose KVM was never asked
    /// (`shared::decode::estimate_guest_view`): good for planning, not proof.
    EstimatedFromCpuid,
    /// `virsh domcapabilities`' host-model CPU: libvirt's reading of QEMU's expansion of `host`
    /// under KVM, written as a libvirt model plus features.
    LibvirtDomainCapabilities,
}

impl GuestViewSource {
    /// For people: where the guest view came from.
    pub fn describe(self) -> &'static str {
        match self {
            Self::KvmSupportedCpuid => "KVM's supported CPUID on the host",
            Self::QemuHostModel => "QEMU's host model, as libvirt's host-model reads it",
            Self::EstimatedFromCpuid => {
                "an estimate from raw CPUID, good for planning but not proof"
            }
            Self::LibvirtDomainCapabilities => {
                "libvirt's host-model CPU from virsh domcapabilities"
            }
        }
    }
}

impl OriginKind {
    /// `probe` or `import`, as the profile's JSON spells it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Probe => "probe",
            Self::Import => "import",
        }
    }
}

/// What KVM on this host can give a guest (the *guest view*). Verdicts are about this view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct KvmInfo {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<i32>,
    pub guest_features: FeatureSet,
    pub guest_features_source: GuestViewSource,
    #[serde(default)]
    pub supported_cpuid: Vec<CpuidEntry>,
    /// KVM_GET_MSR_INDEX_LIST: the MSRs KVM saves and restores on migration.
    #[serde(default)]
    pub msr_index_list: Vec<u32>,
    /// KVM_GET_MSR_FEATURE_INDEX_LIST with each MSR's value.
    #[serde(default)]
    pub feature_msrs: Vec<MsrValue>,
    /// KVM_CAP_TSC_CONTROL: KVM can give a guest a TSC frequency other than the host's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsc_scaling: Option<bool>,
    /// KVM_GET_EMULATED_CPUID: bits KVM can emulate in software (movbe, rdpid...), not in `guest_features`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub emulated_cpuid: Vec<CpuidEntry>,
    /// KVM_CHECK_EXTENSION results that matter for migration, by capability name (0 = absent).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub capabilities: BTreeMap<String, i64>,
}

/// Something the collector could not read, kept in the profile rather than dropped.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeGap {
    /// What was not read, e.g. `kvm`, `qemu:/usr/bin/qemu-system-x86_64`.
    pub what: String,
    pub reason: String,
}

/// Everything a host offers, as collected. Versioned JSON (`schema_version`).
/// `Default` is for tests and builders (`..Default::default()`): its host id is empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HostProfile {
    pub schema_version: u32,
    /// Stable id of the host in the fleet (its hostname unless set otherwise).
    pub host_id: String,
    pub hostname: String,
    /// RFC 3339 UTC time of collection.
    pub collected_at: String,
    pub origin: ProfileOrigin,
    /// Operator labels: cluster, rack, zone...
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    pub cpu: CpuInfo,
    /// The guest view; absent when KVM could not be read (see `gaps`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kvm: Option<KvmInfo>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_release: Option<String>,
    #[serde(default)]
    pub gaps: Vec<ProbeGap>,
    /// True when the source held less than a probe reads (e.g. `lscpu` flags only, no raw CPUID).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    /// Logical CPUs probed (CPUID read on each); 0 when unknown.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub logical_cpus: u32,
    /// Groups of logical CPUs whose CPUID differs from CPU 0 beyond topology ids (hybrid cores).
    /// `cpu.features` is the intersection over all CPUs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cpu_variants: Vec<CpuVariant>,
    /// /sys/devices/system/cpu/vulnerabilities: file name -> its one-line state.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub vulnerabilities: BTreeMap<String, String>,
    /// aarch64: MIDR_EL1, REVIDR_EL1, ID_AA64* registers by lower-case name (CPU 0).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub arm_id_registers: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qemu: Vec<QemuInstall>,
    #[serde(default, skip_serializing_if = "Devices::is_empty")]
    pub devices: Devices,
    /// The host's libvirt release as `virsh -v` or `libvirtd --version` prints it (`9.0.0`);
    /// absent when the host has no libvirt. Exports use only names the oldest libvirt knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub libvirt_version: Option<String>,
    /// The host's guests and capacity; absent when the collector did not look (`--no-guests`,
    /// imported dumps). The store keeps them apart from the hardware versions, with history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guests: Option<crate::vms::HostGuests>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Logical CPUs that share a CPUID different from CPU 0's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuVariant {
    pub cpus: Vec<u32>,
    /// CPUID.1AH:EAX[31:24] on hybrid Intel parts: `core` (0x40), `atom` (0x20) or the raw value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub core_type: Option<String>,
    /// The leaves that differ from CPU 0 (topology-id fields excluded from the comparison).
    pub cpuid: Vec<CpuidEntry>,
    pub features: FeatureSet,
}

/// One QEMU binary as asked over QMP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct QemuInstall {
    pub path: String,
    /// sha256 of the binary (the cache key with the kernel release).
    pub sha256: String,
    /// `query-version`, e.g. `7.2.19`; `package` is the distribution suffix.
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub package: String,
    /// Accelerator the CPU models were checked with: `kvm` or `tcg`.
    pub accel: String,
    /// `query-machines`, sorted by name: the same for every host with the same QEMU build, so
    /// shared between their profiles ([`crate::intern::ProfileInterner`]); JSON as a plain list.
    #[cfg_attr(
        feature = "list-memo",
        serde(
            serialize_with = "crate::intern::memo::serialize",
            deserialize_with = "crate::intern::memo::deserialize"
        )
    )]
    pub machines: SharedList<QemuMachine>,
    /// `query-cpu-definitions`, sorted by name: the same for every host with the same QEMU build
    /// and processor, so shared like `machines`.
    #[cfg_attr(
        feature = "list-memo",
        serde(
            serialize_with = "crate::intern::memo::serialize",
            deserialize_with = "crate::intern::memo::deserialize"
        )
    )]
    pub cpu_models: SharedList<QemuCpuModel>,
    /// QEMU's `host` model expanded under KVM (`query-cpu-model-expansion`): the guest view QEMU
    /// itself presents for `-cpu host`, catalog features only. Absent under tcg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_model: Option<FeatureSet>,
    /// Whether this QEMU could start `-cpu host` here (a stopped start, `-S`, its default machine,
    /// no disk, by the collector under KVM): a guest it cannot start cannot be running on this
    /// host. Absent under tcg and in profiles of older collectors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_cpu_start: Option<StartCheck>,
    /// Stopped starts of named models asked for with `probe --check-cpu MODEL`, keyed by the
    /// `-cpu` value tried (the model with `enforce`, e.g. `Skylake-Client-v1,enforce`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cpu_start_checks: BTreeMap<String, StartCheck>,
}

/// The outcome of a stopped start (`-S`, no disk) of a QEMU with one `-cpu`: QMP `query-status`
/// answering `prelaunch`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StartCheck {
    pub ok: bool,
    /// QEMU's error text (its stderr) when it did not start, or what the collector saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct QemuMachine {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_default: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct QemuCpuModel {
    pub name: String,
    /// Usable here with the probed accelerator: `unavailable_features` empty.
    pub usable: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unavailable_features: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias_of: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deprecated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migration_safe: Option<bool>,
}

/// Devices as sysfs shows them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Devices {
    #[serde(default)]
    pub pci: Vec<PciFunction>,
    /// Loaded VFIO PCI variant drivers (built on vfio-pci-core) and whether they support migration.
    #[serde(default)]
    pub vfio_variant_drivers: Vec<VfioVariantDriver>,
    /// PCI address -> the vendor driver's migration "device version" string for that function,
    /// where the driver reports one (seed 003: vendor id + a vendor-proprietary string).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub device_versions: BTreeMap<String, String>,
}

impl Devices {
    pub fn is_empty(&self) -> bool {
        self.pci.is_empty()
            && self.vfio_variant_drivers.is_empty()
            && self.device_versions.is_empty()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct PciFunction {
    /// Domain:bus:device.function, e.g. `0000:00:02.0`.
    pub address: String,
    pub vendor: u16,
    pub device: u16,
    #[serde(default)]
    pub subsystem_vendor: u16,
    #[serde(default)]
    pub subsystem_device: u16,
    /// 24-bit class code (class, subclass, prog-if).
    pub class: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iommu_group: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sriov: Option<Sriov>,
    /// For a virtual function: its physical function's address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physfn: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mdev_types: Vec<MdevType>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Sriov {
    pub total_vfs: u32,
    pub num_vfs: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MdevType {
    pub id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device_api: String,
    pub available_instances: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct VfioVariantDriver {
    pub name: String,
    /// Known to implement VFIO live migration (VFIO_DEVICE_FEATURE_MIGRATION) upstream.
    pub migration: bool,
    /// PCI addresses bound to it.
    #[serde(default)]
    pub bound: Vec<String>,
}

/// Why a profile document was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProfileError {
    #[error("profile is not valid json: {0}")]
    Json(String),
    #[error(
        "profile has schema_version {found}, this release reads {SCHEMA_VERSION}: upgrade fleetcompat or re-collect the profile"
    )]
    SchemaVersion { found: u64 },
    #[error("profile has no schema_version field: is this a fleetcompat host profile?")]
    MissingSchemaVersion,
    #[error("profile field {field} is invalid: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
}

/// Longest accepted host id.
pub const MAX_HOST_ID_LEN: usize = 253;

impl HostProfile {
    /// Parse and validate a profile document, naming the field at fault.
    pub fn from_json(text: &str) -> Result<Self, ProfileError> {
        // Fast path: one pass straight into the struct (most documents are good ones).
        let direct = serde_json::from_str::<Self>(text);
        if let Ok(profile) = direct.as_ref()
            && profile.schema_version == SCHEMA_VERSION
        {
            profile.validate()?;
        }
        let direct_error = match direct {
            Ok(profile) if profile.schema_version == SCHEMA_VERSION => return Ok(profile),
            Ok(_) => None,
            Err(e) => Some(e.to_string()),
        };
        // Slow path: say precisely what is wrong, the schema version first.
        let value: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ProfileError::Json(e.to_string()))?;
        match value.get("schema_version").map(serde_json::Value::as_u64) {
            None => Err(ProfileError::MissingSchemaVersion),
            Some(Some(v)) if v == u64::from(SCHEMA_VERSION) => Err(ProfileError::Json(
                direct_error.unwrap_or_else(|| "unreadable profile".into()),
            )),
            Some(v) => Err(ProfileError::SchemaVersion {
                found: v.unwrap_or(0),
            }),
        }
    }

    /// Check what serde cannot: ids that are safe in URLs and logs.
    pub fn validate(&self) -> Result<(), ProfileError> {
        validate_host_id(&self.host_id).map_err(|problem| ProfileError::Field {
            field: "host_id",
            problem,
        })
    }
}

/// A hostname or file name made safe as a host id: other characters become '-', at most
/// [`MAX_HOST_ID_LEN`] characters; an empty or all-dot result becomes `unknown-host`.
pub fn sanitize_host_id(name: &str) -> String {
    let id: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .take(MAX_HOST_ID_LEN)
        .collect();
    if id.chars().all(|c| c == '.') {
        "unknown-host".into()
    } else {
        id
    }
}

/// A host id: 1-253 characters of letters, digits, `.`, `-`, `_`, not only dots (`.` and `..`
/// are no path segment a URL can name).
pub fn validate_host_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("it is empty".into());
    }
    if id.chars().all(|c| c == '.') {
        return Err(format!(
            "'{id}' is only dots, which no URL can name: use letters or digits too"
        ));
    }
    if id.len() > MAX_HOST_ID_LEN {
        return Err(format!(
            "it is {} characters long, at most {MAX_HOST_ID_LEN} are allowed",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
    {
        return Err(format!(
            "'{id}' contains {c:?}: use letters, digits, '.', '-' and '_'"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_checks_are_additive() {
        // A QEMU entry written before the start checks existed still parses, without them.
        let old = r#"{"path":"/usr/bin/qemu-system-x86_64","sha256":"","version":"7.2.22",
            "accel":"kvm","machines":[],"cpu_models":[]}"#;
        let q: QemuInstall = serde_json::from_str(old).expect("old entry");
        assert_eq!(q.host_cpu_start, None);
        assert!(q.cpu_start_checks.is_empty());
        assert!(!serde_json::to_string(&q).expect("json").contains("start"));
        let mut q = q;
        q.host_cpu_start = Some(StartCheck {
            ok: true,
            ..StartCheck::default()
        });
        q.cpu_start_checks.insert(
            "qemu64,enforce".into(),
            StartCheck {
                ok: false,
                error: Some("qemu-system-x86_64: Host doesn't support requested features".into()),
            },
        );
        let json = serde_json::to_string(&q).expect("json");
        assert!(json.contains(r#""host_cpu_start":{"ok":true}"#), "{json}");
        assert_eq!(serde_json::from_str::<QemuInstall>(&json).expect("back"), q);
    }

    fn minimal(host_id: &str, schema_version: u32) -> String {
        let p = HostProfile {
            schema_version,
            host_id: host_id.into(),
            hostname: host_id.into(),
            ..HostProfile::default()
        };
        serde_json::to_string(&p).expect("serialises")
    }

    #[test]
    fn from_json_accepts_a_good_profile_and_names_each_problem() {
        let good = HostProfile::from_json(&minimal("host-1", SCHEMA_VERSION)).expect("good");
        assert_eq!(good.host_id, "host-1");
        assert_eq!(
            HostProfile::from_json(&minimal("host-1", 7)),
            Err(ProfileError::SchemaVersion { found: 7 })
        );
        assert_eq!(
            HostProfile::from_json(r#"{"host_id": "x"}"#),
            Err(ProfileError::MissingSchemaVersion)
        );
        let truncated = minimal("host-1", SCHEMA_VERSION);
        let err = HostProfile::from_json(&truncated[..truncated.len() / 2]).expect_err("truncated");
        assert!(
            matches!(err, ProfileError::Json(ref m) if m.contains("line")),
            "{err}"
        );
        let bad_field =
            minimal("host-1", SCHEMA_VERSION).replace(r#""hostname":"host-1""#, r#""hostname":5"#);
        let err = HostProfile::from_json(&bad_field).expect_err("hostname is a number");
        assert!(err.to_string().contains("invalid type"), "{err}");
        let err = HostProfile::from_json(&minimal("x'; DROP TABLE hosts;--", SCHEMA_VERSION))
            .expect_err("unsafe host id");
        assert!(
            matches!(
                err,
                ProfileError::Field {
                    field: "host_id",
                    ..
                }
            ),
            "{err}"
        );
    }
}
