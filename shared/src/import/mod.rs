//! Parsers for dumps of hosts the collector cannot run on. Pure text in, data out.
//!
//! One file per format; [`detect`] picks the format from the text, [`parse`] reads it and
//! [`profile_from_import`] turns the result into a host profile.

mod cpudata;
mod cpuid_tool;
mod instlat;
mod lscpu;
pub mod nodedev;
mod percpu;
pub mod qmp;

use std::collections::BTreeMap;

pub use cpudata::{CpuData, parse_libvirt_cpudata, qmp_host_model_features, split_json_stream};
pub use cpuid_tool::parse_cpuid_tool;
pub use instlat::parse_instlatx64;
pub use lscpu::{Lscpu, parse_lscpu};
pub use percpu::{core_type, cpu_variants, topology_masked};

use crate::featureset::FeatureSet;
use crate::profile::{
    Arch, CpuInfo, CpuidEntry, GuestViewSource, HostProfile, KvmInfo, MsrValue, OriginKind,
    ProbeGap, ProfileOrigin, QemuInstall, SCHEMA_VERSION,
};

/// Why a dump could not be read; names the line where it can.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ImportError {
    #[error("not valid xml at line {line}: {message}")]
    Xml { line: u32, message: String },
    #[error("line {line}: {message}")]
    Content { line: u32, message: String },
    #[error("not valid json: {0}")]
    Json(String),
    #[error("{0}")]
    Missing(String),
}

/// The dump formats `fleetcompat-collector import` reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// `cpuid -r` (Debian package cpuid): `CPU N:` then `0xLEAF 0xSUB: eax=0x.. ebx=..`.
    CpuidTool,
    /// InstLatx64 / AIDA64 text dumps: `CPUID 0000000D: EAX-EBX-ECX-EDX [SL 01]`.
    InstLatx64,
    /// libvirt `<cpudata arch='x86'>` XML.
    LibvirtCpudata,
    /// QMP replies as libvirt's CPU test data keeps them (`query-cpu-model-expansion` of `host`).
    LibvirtQmpJson,
    /// `lscpu` output or a `/proc/cpuinfo` stanza: feature flags only.
    Lscpu,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Self::CpuidTool => "cpuid -r",
            Self::InstLatx64 => "InstLatx64 text dump",
            Self::LibvirtCpudata => "libvirt cpudata xml",
            Self::LibvirtQmpJson => "libvirt qmp json",
            Self::Lscpu => "lscpu flags",
        }
    }
}

fn is_hex(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit())
}

/// Guess the format of a dump from its text; `None` when it is none of [`Format`].
pub fn detect(text: &str) -> Option<Format> {
    let start = text.trim_start_matches('\u{feff}').trim_start();
    if start.starts_with('{') {
        return Some(Format::LibvirtQmpJson);
    }
    if start.starts_with('<') && text.contains("<cpudata") {
        return Some(Format::LibvirtCpudata);
    }
    let (mut flags, mut vendor_id) = (false, false);
    for line in text.lines().take(20_000) {
        let t = line.trim_start();
        if cpuid_tool::parse_line(t).is_some() {
            return Some(Format::CpuidTool);
        }
        if let Some(rest) = t.strip_prefix("CPUID ")
            && rest.get(..8).is_some_and(is_hex)
        {
            return Some(Format::InstLatx64);
        }
        if let Some((k, _)) = t.split_once(':')
            && k.trim().eq_ignore_ascii_case("flags")
        {
            flags = true;
        }
        vendor_id |= t.starts_with("Vendor ID:") || t.starts_with("vendor_id");
    }
    (flags || vendor_id).then_some(Format::Lscpu)
}

/// Identity fields given by the dump itself, for dumps without raw CPUID.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Identity {
    pub vendor: String,
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub brand: String,
}

/// What one dump holds, before it becomes a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Imported {
    pub format: Format,
    /// Raw CPUID of each logical CPU in the dump (CPU 0 first); empty for flags-only formats.
    pub cpus: Vec<Vec<CpuidEntry>>,
    pub msrs: Vec<MsrValue>,
    /// Brand from a comment or header, used when CPUID has no brand string.
    pub brand_hint: Option<String>,
    /// Identity when there is no raw CPUID (lscpu, QMP json).
    pub identity: Option<Identity>,
    /// Features known from flags only (lscpu).
    pub flags: Option<FeatureSet>,
    /// Names in the dump that are not CPUID/MSR features in the catalog (kept for the record).
    pub unknown_flags: Vec<String>,
    /// QEMU's host model under KVM on that host (guest view).
    pub guest_view: Option<FeatureSet>,
    /// `query-cpu-definitions` found in QMP data.
    pub qemu: Option<QemuInstall>,
    pub microcode: Option<String>,
}

impl Imported {
    fn new(format: Format) -> Self {
        Self {
            format,
            cpus: Vec::new(),
            msrs: Vec::new(),
            brand_hint: None,
            identity: None,
            flags: None,
            unknown_flags: Vec::new(),
            guest_view: None,
            qemu: None,
            microcode: None,
        }
    }
}

/// Parse a dump of the given format.
pub fn parse(text: &str, format: Format) -> Result<Imported, ImportError> {
    match format {
        Format::CpuidTool => {
            let cpus = parse_cpuid_tool(text)?;
            require_leaf0(&cpus, format)?;
            Ok(Imported {
                cpus,
                ..Imported::new(format)
            })
        }
        Format::InstLatx64 => {
            let (cpus, msrs) = parse_instlatx64(text)?;
            require_leaf0(&cpus, format)?;
            Ok(Imported {
                cpus,
                msrs,
                ..Imported::new(format)
            })
        }
        Format::LibvirtCpudata => {
            let d = parse_libvirt_cpudata(text)?;
            Ok(Imported {
                cpus: vec![d.cpuid],
                msrs: d.msrs,
                brand_hint: d.comment,
                ..Imported::new(format)
            })
        }
        Format::LibvirtQmpJson => qmp::parse_libvirt_qmp(text),
        Format::Lscpu => {
            let l = parse_lscpu(text)?;
            Ok(Imported {
                identity: Some(l.identity),
                flags: Some(l.features),
                unknown_flags: l.unknown_flags,
                microcode: l.microcode,
                ..Imported::new(format)
            })
        }
    }
}

/// Text dumps (`cpuid -r`, InstLatx64) must hold CPUID leaf 0 (vendor, highest leaf): a text
/// that only quotes a few CPUID lines, like a README, is not a host.
fn require_leaf0(cpus: &[Vec<CpuidEntry>], format: Format) -> Result<(), ImportError> {
    // CPUID.(EAX=00H): the vendor string in EBX, EDX, ECX is never zero on a real processor.
    if cpus.iter().any(|cpu| {
        cpu.iter()
            .any(|e| e.leaf == 0 && (e.ebx | e.ecx | e.edx) != 0)
    }) {
        Ok(())
    } else {
        Err(ImportError::Missing(format!(
            "no CPUID leaf 0 with a vendor string in this {}: is it a complete dump of a host?",
            format.name()
        )))
    }
}

/// Detect the format and parse.
pub fn parse_any(text: &str) -> Result<Imported, ImportError> {
    let format = detect(text).ok_or_else(|| {
        ImportError::Missing(
            "unknown format: expected `cpuid -r` output, an InstLatx64 CPUID dump, libvirt <cpudata> xml, libvirt QMP json or lscpu output".into(),
        )
    })?;
    parse(text, format)
}

/// What to call an imported host and where it came from.
#[derive(Clone, Debug, Default)]
pub struct ImportMeta {
    pub host_id: String,
    pub hostname: String,
    pub collected_at: String,
    pub labels: BTreeMap<String, String>,
    /// File name, format and attribution of the data.
    pub detail: String,
    pub tool: String,
}

/// A host profile from an imported dump. Without raw CPUID the profile is `partial`; without
/// QEMU host-model data it has no guest view (a gap says so).
pub fn profile_from_import(imp: &Imported, meta: ImportMeta) -> HostProfile {
    let mut gaps = Vec::new();
    let empty = Vec::new();
    let cpu0 = imp.cpus.first().unwrap_or(&empty);
    let (features, cpu_variants) = if imp.cpus.is_empty() {
        (imp.flags.unwrap_or_default(), Vec::new())
    } else {
        cpu_variants(&imp.cpus, &imp.msrs)
    };
    let (family, model, stepping) = crate::decode::signature(cpu0)
        .or_else(|| {
            imp.identity
                .as_ref()
                .map(|i| (i.family, i.model, i.stepping))
        })
        .unwrap_or_default();
    let vendor = crate::decode::vendor(cpu0)
        .or_else(|| imp.identity.as_ref().map(|i| i.vendor.clone()))
        .unwrap_or_default();
    let brand = crate::decode::brand(cpu0)
        .or_else(|| imp.brand_hint.clone())
        .or_else(|| imp.identity.as_ref().map(|i| i.brand.clone()))
        .unwrap_or_default();
    let no_leaf0 = !imp.cpus.is_empty() && !cpu0.iter().any(|e| e.leaf == 0);
    if no_leaf0 {
        gaps.push(ProbeGap {
            what: "cpu.vendor".into(),
            reason: "the dump has no CPUID leaf 0: not a whole host (e.g. libvirt's -enabled/-disabled feature words)".into(),
        });
    }
    let partial = imp.cpus.is_empty() || no_leaf0;
    if imp.cpus.is_empty() {
        gaps.push(ProbeGap {
            what: "cpu.raw_cpuid".into(),
            reason: format!(
                "imported from {}: no raw CPUID, features come from names only",
                imp.format.name()
            ),
        });
    }
    if imp.flags.is_some_and(|f| f.is_empty()) {
        gaps.push(ProbeGap {
            what: "cpu.features".into(),
            reason: "the lscpu report lists no feature flags".into(),
        });
    }
    if imp.guest_view.is_none() {
        gaps.push(ProbeGap {
            what: "kvm".into(),
            reason: format!(
                "imported from {} without QEMU/KVM data: no guest view",
                imp.format.name()
            ),
        });
    }
    HostProfile {
        schema_version: SCHEMA_VERSION,
        host_id: meta.host_id,
        hostname: meta.hostname,
        collected_at: meta.collected_at,
        origin: ProfileOrigin {
            kind: OriginKind::Import,
            tool: meta.tool,
            detail: meta.detail,
        },
        labels: meta.labels,
        cpu: CpuInfo {
            arch: Arch::X86_64,
            vendor,
            family,
            model,
            stepping,
            brand,
            microcode: imp.microcode.clone(),
            tsc_khz: None,
            features,
            raw_cpuid: cpu0.clone(),
            raw_msrs: imp.msrs.clone(),
        },
        kvm: imp.guest_view.map(|guest_features| KvmInfo {
            api_version: None,
            guest_features,
            guest_features_source: GuestViewSource::QemuHostModel,
            supported_cpuid: Vec::new(),
            msr_index_list: Vec::new(),
            feature_msrs: Vec::new(),
            tsc_scaling: None,
            emulated_cpuid: Vec::new(),
            capabilities: BTreeMap::new(),
        }),
        kernel_release: None,
        gaps,
        partial,
        logical_cpus: u32::try_from(imp.cpus.len()).unwrap_or(u32::MAX),
        cpu_variants,
        vulnerabilities: BTreeMap::new(),
        arm_id_registers: BTreeMap::new(),
        qemu: imp.qemu.iter().cloned().collect(),
        devices: Default::default(),
        libvirt_version: None,
    }
}

/// A host profile from a libvirt `<cpudata>` dump and, where present, QEMU's host-model expansion
/// under KVM on that host (the guest view). Without the QMP data the profile has no guest view.
pub fn profile_from_cpudata(
    data: &CpuData,
    guest_view: Option<FeatureSet>,
    meta: ImportMeta,
) -> HostProfile {
    let imp = Imported {
        cpus: vec![data.cpuid.clone()],
        msrs: data.msrs.clone(),
        brand_hint: data.comment.clone(),
        guest_view,
        ..Imported::new(Format::LibvirtCpudata)
    };
    profile_from_import(&imp, meta)
}

/// Split `EAX-EBX-ECX-EDX`-style register text (separators `-`, spaces or tabs) into 4 words.
fn four_words(text: &str) -> Option<[u32; 4]> {
    let mut it = text
        .split(|c: char| c == '-' || c.is_whitespace())
        .filter(|s| !s.is_empty());
    let mut out = [0u32; 4];
    for w in &mut out {
        let s = it.next()?;
        let s = s
            .strip_prefix("0x")
            .or_else(|| s.strip_prefix("0X"))
            .unwrap_or(s);
        if s.len() > 8 || !is_hex(s) {
            return None;
        }
        *w = u32::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn line_no(i: usize) -> u32 {
    u32::try_from(i + 1).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_quoting_a_cpuid_line_is_not_a_host() {
        // Like a README that shows one line of the format: detected, but refused by name.
        let text =
            "The dumps look like this:\nCPUID 00000007: 00000000-D39FFFFB-00000008-00000000\n";
        assert_eq!(detect(text), Some(Format::InstLatx64));
        let err = parse_any(text).expect_err("no leaf 0");
        assert!(err.to_string().contains("no CPUID leaf 0"), "{err}");
    }

    #[test]
    fn detects_each_format() {
        assert_eq!(
            detect(
                "CPU 0:\n   0x00000000 0x00: eax=0x0000001c ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\n"
            ),
            Some(Format::CpuidTool)
        );
        assert_eq!(
            detect(
                "------[ Logical CPU #0 ]------\nCPUID 00000000: 0000000A-756E6547-6C65746E-49656E69\n"
            ),
            Some(Format::InstLatx64)
        );
        assert_eq!(
            detect("<!-- x -->\n<cpudata arch='x86'>\n</cpudata>"),
            Some(Format::LibvirtCpudata)
        );
        assert_eq!(detect("{\"return\": {}}"), Some(Format::LibvirtQmpJson));
        assert_eq!(
            detect("Architecture: x86_64\nFlags:   fpu vme\n"),
            Some(Format::Lscpu)
        );
        assert_eq!(detect("hello\nworld\n"), None);
        assert!(parse_any("hello").is_err());
    }

    #[test]
    fn four_words_accepts_the_separators_seen() {
        assert_eq!(
            four_words("00000001-00000002 00000003\t00000004 [x]"),
            Some([1, 2, 3, 4])
        );
        assert_eq!(four_words("0000000G-0-0-0"), None);
        assert_eq!(four_words("1-2-3"), None);
    }
}
#[cfg(test)]
mod corpus_tests;
