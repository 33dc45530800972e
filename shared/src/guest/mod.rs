//! Guest configuration as input: what a VM really uses, parsed from a libvirt domain XML or a
//! QEMU command line ([`parse_guest`] detects which), plus the ABI-stability check of two
//! definitions of one guest ([`abi::check_abi`]).
//!
//! The types here are the extension fields of [`crate::verdict::GuestConfig`]; every one has a
//! serde default so a document with only `{"cpu": ...}` still parses.

pub mod abi;
pub mod cmdline;
pub mod libvirt;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::verdict::GuestConfig;

/// `-smp`: vCPU count and topology as given (absent parts stay `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Smp {
    pub cpus: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maxcpus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sockets: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dies: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clusters: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads: Option<u32>,
}

/// A `-object memory-backend-*` (or libvirt's memoryBacking).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct MemoryBackend {
    /// `memory-backend-ram`, `memory-backend-memfd`, `memory-backend-file`, `memory-backend-epc`...
    pub kind: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// `share=on|off`; `None` when not given (QEMU's default is off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_mib: Option<u64>,
}

/// A passed-through device's host side, as far as the definition (or the operator) says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct VfioSource {
    /// Host PCI address on the source, e.g. `0000:65:00.0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_address: Option<String>,
    /// mdev type id (e.g. `nvidia-11`) for a mediated device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdev_type: Option<String>,
    /// mdev UUID, from `sysfsdev=/sys/bus/mdev/devices/UUID` or libvirt's `<source><address uuid>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mdev_uuid: Option<String>,
}

/// One `-device` (or libvirt device element) with its guest-visible properties.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GuestDevice {
    /// QEMU device type: `virtio-blk-pci`, `virtio-net-pci`, `vfio-pci`...
    pub driver: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<String>,
    /// Slot.function on the bus, normalised to `0x2.0` form (`addr=02.0`, libvirt slot/function).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addr: Option<String>,
    /// Every other property as given (`num-queues`, `mac`, `serial`, `romfile`, `mq`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub props: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vfio: Option<VfioSource>,
}

impl GuestDevice {
    pub fn prop(&self, name: &str) -> Option<&str> {
        self.props.get(name).map(String::as_str)
    }
    /// A VFIO passthrough or mdev device.
    pub fn is_vfio(&self) -> bool {
        self.vfio.is_some() || self.driver.starts_with("vfio-")
    }
}

/// Confidential computing technology the guest runs under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Confidential {
    Sev,
    SevEs,
    SevSnp,
    Tdx,
}

impl Confidential {
    pub fn name(self) -> &'static str {
        match self {
            Self::Sev => "sev",
            Self::SevEs => "sev-es",
            Self::SevSnp => "sev-snp",
            Self::Tdx => "tdx",
        }
    }
    /// Bit in KVM_CAP_VM_TYPES (`KVM_X86_SEV_VM` 2, `SEV_ES_VM` 3, `SNP_VM` 4, `TDX_VM` 5).
    pub fn vm_type_bit(self) -> u32 {
        match self {
            Self::Sev => 2,
            Self::SevEs => 3,
            Self::SevSnp => 4,
            Self::Tdx => 5,
        }
    }
}

/// How the guest is moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum MigrationMode {
    #[default]
    Normal,
    /// QEMU 10.0's same-host upgrade mode (seed 004).
    CprTransfer,
}

impl MigrationMode {
    pub fn is_normal(&self) -> bool {
        *self == Self::Normal
    }
}

/// The input formats [`parse_guest`] detects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestFormat {
    LibvirtXml,
    QemuCommandLine,
    Json,
}

/// Why a guest definition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GuestParseError {
    #[error("the guest definition is empty")]
    Empty,
    #[error("guest json: {0}")]
    Json(String),
    #[error("libvirt domain xml: {0}")]
    Xml(String),
    #[error("qemu command line: {0}")]
    CommandLine(String),
}

/// Detect the format: `<` starts a libvirt domain XML, `{` a fleetcompat guest JSON, anything
/// else is a QEMU command line.
pub fn detect(text: &str) -> Option<GuestFormat> {
    match text.trim_start().chars().next()? {
        '<' => Some(GuestFormat::LibvirtXml),
        '{' => Some(GuestFormat::Json),
        _ => Some(GuestFormat::QemuCommandLine),
    }
}

/// Parse a guest definition of any supported format.
pub fn parse_guest(text: &str) -> Result<(GuestFormat, GuestConfig), GuestParseError> {
    let format = detect(text).ok_or(GuestParseError::Empty)?;
    let guest = match format {
        GuestFormat::LibvirtXml => libvirt::parse_domain_xml(text)?,
        GuestFormat::QemuCommandLine => cmdline::parse_command_line(text)?,
        GuestFormat::Json => {
            serde_json::from_str(text).map_err(|e| GuestParseError::Json(e.to_string()))?
        }
    };
    Ok((format, guest))
}

/// `on`/`off` and QEMU's other boolean spellings.
pub fn parse_bool(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "on" | "yes" | "true" | "y" | "1" => Some(true),
        "off" | "no" | "false" | "n" | "0" => Some(false),
        _ => None,
    }
}

/// A QEMU size (`512`, `512M`, `2G`, `1T`, `1048576k`) in MiB; a bare number is MiB for `-m`.
pub fn parse_size_mib(v: &str, bare_unit_mib: bool) -> Option<u64> {
    let v = v.trim();
    let (num, unit) = match v.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => (&v[..i], v[i..].trim()),
        None => (v, ""),
    };
    let n: u64 = num.parse().ok()?;
    let bytes = match unit.to_ascii_lowercase().as_str() {
        "" if bare_unit_mib => n.checked_mul(1 << 20)?,
        "" | "b" => n,
        "k" | "kb" | "kib" => n.checked_mul(1 << 10)?,
        "m" | "mb" | "mib" => n.checked_mul(1 << 20)?,
        "g" | "gb" | "gib" => n.checked_mul(1 << 30)?,
        "t" | "tb" | "tib" => n.checked_mul(1 << 40)?,
        _ => return None,
    };
    Some(bytes >> 20)
}

/// A PCI slot/function in one spelling: `0x2.0` from `2`, `02.0`, `0x02.0x0`.
pub fn normalise_addr(addr: &str) -> Option<String> {
    let (slot, func) = match addr.split_once('.') {
        Some((s, f)) => (s, f),
        None => (addr, "0"),
    };
    let num = |s: &str| {
        let s = s.trim();
        let s = s.strip_prefix("0x").unwrap_or(s);
        u32::from_str_radix(s, 16).ok()
    };
    Some(format!("{:#x}.{:x}", num(slot)?, num(func)?))
}

/// The version of a versioned machine type: `pc-q35-7.2` -> (7, 2); aliases give `None`.
pub fn machine_version(machine: &str) -> Option<(u32, u32)> {
    let tail = machine.rsplit('-').next()?;
    let (a, b) = tail.split_once('.')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_addresses_and_machine_versions() {
        assert_eq!(parse_size_mib("512", true), Some(512));
        assert_eq!(parse_size_mib("2G", true), Some(2048));
        assert_eq!(parse_size_mib("1048576k", false), Some(1024));
        assert_eq!(parse_size_mib("12Q", true), None);
        assert_eq!(normalise_addr("02.0").as_deref(), Some("0x2.0"));
        assert_eq!(normalise_addr("0x5").as_deref(), Some("0x5.0"));
        assert_eq!(normalise_addr("zz"), None);
        assert_eq!(machine_version("pc-q35-7.2"), Some((7, 2)));
        assert_eq!(machine_version("pc-i440fx-10.0"), Some((10, 0)));
        assert_eq!(machine_version("q35"), None);
    }

    #[test]
    fn format_is_detected() {
        assert_eq!(detect("  <domain/>"), Some(GuestFormat::LibvirtXml));
        assert_eq!(detect("{\"cpu\":{}}"), Some(GuestFormat::Json));
        assert_eq!(
            detect("qemu-system-x86_64 -m 1G"),
            Some(GuestFormat::QemuCommandLine)
        );
        assert_eq!(parse_guest("   ").err(), Some(GuestParseError::Empty));
        let (f, g) = parse_guest(r#"{"cpu":{"mode":"host-passthrough"}}"#).expect("old json");
        assert_eq!(f, GuestFormat::Json);
        assert_eq!(g, GuestConfig::default());
    }
}
