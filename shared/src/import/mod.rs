//! Parsers for dumps of hosts the collector cannot run on. Pure text in, data out.
//!
//! One file per format; [`detect`] picks the format from the text, [`parse`] reads it, and
//! [`profile_from_dump`] is the one way from a dump (and the host's QEMU data, when there is
//! some) to a host profile: `fleetcompat-collector import`, the command line's dumps and the
//! demo fleet all go through it.

mod cpudata;
mod cpuid_tool;
mod instlat;
mod lscpu;
pub mod nodedev;
mod percpu;
pub mod qmp;
mod virsh;

use std::collections::BTreeMap;

pub use cpudata::{CpuData, parse_libvirt_cpudata, qmp_host_model_features, split_json_stream};
pub use cpuid_tool::parse_cpuid_tool;
pub use instlat::parse_instlatx64;
pub use lscpu::{Lscpu, parse_lscpu};
pub use percpu::{core_type, cpu_variants, topology_masked};
pub use virsh::{libvirt_model_features, parse_capabilities, parse_domcapabilities};

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
    /// `virsh capabilities`: the host CPU as libvirt decodes it (model and feature names).
    VirshCapabilities,
    /// `virsh domcapabilities`: what libvirt's QEMU driver offers a guest (host-model CPU, usable
    /// named models, machine type).
    VirshDomCapabilities,
}

/// Every format, in the order the "unknown format" error lists them.
pub const FORMATS: [Format; 7] = [
    Format::CpuidTool,
    Format::InstLatx64,
    Format::LibvirtCpudata,
    Format::LibvirtQmpJson,
    Format::Lscpu,
    Format::VirshCapabilities,
    Format::VirshDomCapabilities,
];

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Self::CpuidTool => "cpuid -r",
            Self::InstLatx64 => "InstLatx64 text dump",
            Self::LibvirtCpudata => "libvirt cpudata xml",
            Self::LibvirtQmpJson => "libvirt qmp json",
            Self::Lscpu => "lscpu flags",
            Self::VirshCapabilities => "virsh capabilities xml",
            Self::VirshDomCapabilities => "virsh domcapabilities xml",
        }
    }

    /// Formats that carry QEMU's view of the host (the guest view): the sibling data
    /// [`profile_from_dump`] merges into a dump of the host CPU.
    pub fn is_qemu_data(self) -> bool {
        matches!(self, Self::LibvirtQmpJson | Self::VirshDomCapabilities)
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
    if start.starts_with('<') {
        if text.contains("<cpudata") {
            return Some(Format::LibvirtCpudata);
        }
        if text.contains("<domainCapabilities") {
            return Some(Format::VirshDomCapabilities);
        }
        if text.contains("<capabilities") {
            return Some(Format::VirshCapabilities);
        }
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
    /// Where `guest_view` came from.
    pub guest_source: GuestViewSource,
    pub microcode: Option<String>,
    pub tsc_khz: Option<u64>,
    /// KVM can give a guest another TSC frequency (KVM_CAP_TSC_CONTROL), where the dump says.
    pub tsc_scaling: Option<bool>,
    /// Logical CPUs where the dump counts them without raw CPUID of each.
    pub logical_cpus: Option<u32>,
    /// What the dump lacks or could not name, for the profile's gaps.
    pub notes: Vec<ProbeGap>,
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
            guest_source: GuestViewSource::QemuHostModel,
            microcode: None,
            tsc_khz: None,
            tsc_scaling: None,
            logical_cpus: None,
            notes: Vec::new(),
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
        Format::VirshCapabilities => virsh::parse_capabilities(text),
        Format::VirshDomCapabilities => virsh::parse_domcapabilities(text),
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
        if is_cpu_definition(text) {
            return ImportError::Missing(
                "a libvirt <cpu> definition alone, which does not say whether it is a host's CPU \
                 or a guest's: for a host, import its `virsh capabilities` (which holds this \
                 <cpu> under <host>), its `virsh domcapabilities` or libvirt's <cpudata> of it \
                 (tests/cputestdata/x86_64-cpuid-NAME.xml); a guest's <cpu> is checked as part \
                 of its domain XML (POST /api/v1/precheck)"
                    .into(),
            );
        }
        ImportError::Missing(format!(
            "unknown format: expected one of {}",
            FORMATS.map(Format::name).join(", ")
        ))
    })?;
    parse(text, format)
}

/// Whether `text` is a bare libvirt `<cpu>` element: a guest CPU (`mode='custom'`,
/// `host-model`) or a host CPU model as libvirt writes it (libvirt's tests/cputestdata
/// `x86_64-cpuid-NAME-guest.xml` and `-host.xml`), which alone cannot say whose CPU it is.
fn is_cpu_definition(text: &str) -> bool {
    let start = text.trim_start_matches('\u{feff}').trim_start();
    let start = match start.strip_prefix("<?xml") {
        Some(rest) => rest.split_once("?>").map_or("", |(_, r)| r).trim_start(),
        None => start,
    };
    start
        .strip_prefix("<cpu")
        .and_then(|r| r.chars().next())
        .is_some_and(|c| c == '>' || c == '/' || c.is_whitespace())
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

/// The one way from a dump to a host profile. `text` is a dump in any [`Format`]; `qemu_data`,
/// when given, is QEMU's view of the same host: libvirt's QMP json beside a `<cpudata>` xml
/// (see [`sibling_qmp_name`]) or `virsh domcapabilities` beside `virsh capabilities` (see
/// [`virsh_pair_key`]). Its guest view and QEMU data are merged into the profile. Without QEMU
/// data, a dump of the host CPU gets a guest view estimated from it
/// ([`GuestViewSource::EstimatedFromCpuid`]) and a gap saying how to get the real one. QEMU data
/// that cannot be used is a gap too; only a `text` that cannot be read is an error.
pub fn profile_from_dump(
    text: &str,
    qemu_data: Option<&str>,
    meta: ImportMeta,
) -> Result<HostProfile, ImportError> {
    let mut imp = parse_any(text)?;
    if let Some(q) = qemu_data {
        merge_qemu_data(&mut imp, q);
    }
    Ok(profile_from_import(&imp, meta))
}

/// Merge QEMU's view of the host (QMP json or domcapabilities) into a dump of its CPU.
fn merge_qemu_data(imp: &mut Imported, text: &str) {
    let mut refuse = |reason: String| {
        imp.notes.push(ProbeGap {
            what: "kvm.qemu_data".into(),
            reason,
        });
    };
    let q = match parse_any(text) {
        Ok(q) if q.format.is_qemu_data() => q,
        Ok(q) => {
            return refuse(format!(
                "the QEMU data given with this dump is a {}, not libvirt qmp json or virsh domcapabilities: not used",
                q.format.name()
            ));
        }
        Err(e) => {
            return refuse(format!(
                "the QEMU data given with this dump cannot be read ({e}): not used"
            ));
        }
    };
    if imp.guest_view.is_some() {
        return refuse(format!(
            "this {} has a guest view of its own: the QEMU data given with it is not used",
            imp.format.name()
        ));
    }
    let ours = crate::decode::vendor(imp.cpus.first().map_or(&[][..], Vec::as_slice))
        .or_else(|| imp.identity.as_ref().map(|i| i.vendor.clone()))
        .unwrap_or_default();
    let theirs = q.identity.as_ref().map(|i| i.vendor.as_str()).unwrap_or("");
    if !ours.is_empty() && !theirs.is_empty() && ours != theirs {
        return refuse(format!(
            "the QEMU data given with this dump is of a {theirs} host, the dump of a {ours} one: not the same host, not used"
        ));
    }
    imp.guest_view = q.guest_view;
    imp.guest_source = q.guest_source;
    imp.qemu = q.qemu;
    imp.unknown_flags.extend(q.unknown_flags);
    imp.notes
        .extend(q.notes.into_iter().filter(|g| g.what != "cpu.raw_cpuid"));
}

/// The QMP json libvirt keeps beside a `<cpudata>` xml of the same host (libvirt
/// tests/cputestdata: `x86_64-cpuid-<CPU>.xml` and `x86_64-cpuid-<CPU>.json`): the file name to
/// look for beside `file_name`, when `text` is a `<cpudata>` dump.
pub fn sibling_qmp_name(file_name: &str, text: &str) -> Option<String> {
    let stem = file_name.strip_suffix(".xml")?;
    (detect(text) == Some(Format::LibvirtCpudata)).then(|| format!("{stem}.json"))
}

/// Which side of a `virsh capabilities` / `virsh domcapabilities` pair a file name is, and the
/// host it names: `web01-caps.xml` and `web01-domcaps.xml` (also `_`, `.` or no separator,
/// `capabilities` / `domcapabilities`) are the two halves of host `web01`; bare `caps.xml` and
/// `domcaps.xml` name no host (an empty key). `None` for other names.
pub fn virsh_pair_key(file_name: &str) -> Option<(String, Format)> {
    let stem = file_name.strip_suffix(".xml").unwrap_or(file_name);
    for (suffix, format) in [
        ("domcapabilities", Format::VirshDomCapabilities),
        ("domcaps", Format::VirshDomCapabilities),
        ("capabilities", Format::VirshCapabilities),
        ("caps", Format::VirshCapabilities),
    ] {
        if let Some(head) = stem.strip_suffix(suffix) {
            let key = head.trim_end_matches(['-', '_', '.']);
            return Some((key.to_owned(), format));
        }
    }
    None
}

/// A host profile from a parsed dump: without raw CPUID it is `partial`; without a guest view of
/// its own it gets one estimated from the host CPU's features, and a gap saying so.
fn profile_from_import(imp: &Imported, meta: ImportMeta) -> HostProfile {
    let mut gaps = imp.notes.clone();
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
    if imp.cpus.is_empty() && !gaps.iter().any(|g| g.what == "cpu.raw_cpuid") {
        gaps.push(ProbeGap {
            what: "cpu.raw_cpuid".into(),
            reason: if imp.flags.is_none() {
                format!(
                    "imported from {}: no raw CPUID nor the host CPU's features, only what QEMU offers a guest",
                    imp.format.name()
                )
            } else {
                format!(
                    "imported from {}: no raw CPUID, features come from names only",
                    imp.format.name()
                )
            },
        });
    }
    if imp.flags.is_some_and(|f| f.is_empty()) && imp.format == Format::Lscpu {
        gaps.push(ProbeGap {
            what: "cpu.features".into(),
            reason: "the lscpu report lists no feature flags".into(),
        });
    }
    let (guest_features, guest_features_source) = match imp.guest_view {
        Some(view) => (Some(view), imp.guest_source),
        // A whole host's CPU view: estimate what KVM would give a guest.
        None if !no_leaf0 && !features.is_empty() => {
            let from = if imp.cpus.is_empty() {
                "feature flags"
            } else {
                "raw CPUID"
            };
            gaps.retain(|g| g.what != "kvm");
            gaps.push(ProbeGap {
                what: "kvm".into(),
                reason: format!(
                    "imported from {} with no QEMU or KVM data: guest view estimated from the host's {from}, good for planning but not proof (it cannot see the host kernel's KVM version or settings); for the real one import the host's QEMU data with the dump (libvirt's QMP json beside a <cpudata> xml, or virsh domcapabilities with virsh capabilities) or run `fleetcompat-collector probe` on that host",
                    imp.format.name()
                ),
            });
            (
                Some(crate::decode::estimate_guest_view(&features)),
                GuestViewSource::EstimatedFromCpuid,
            )
        }
        None => {
            if !gaps.iter().any(|g| g.what == "kvm") {
                gaps.push(ProbeGap {
                    what: "kvm".into(),
                    reason: format!(
                        "imported from {} without QEMU/KVM data or a whole host's CPU features: no guest view",
                        imp.format.name()
                    ),
                });
            }
            (None, GuestViewSource::QemuHostModel)
        }
    };
    let logical_cpus = imp
        .logical_cpus
        .unwrap_or_else(|| u32::try_from(imp.cpus.len()).unwrap_or(u32::MAX));
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
            tsc_khz: imp.tsc_khz,
            features,
            raw_cpuid: cpu0.clone(),
            raw_msrs: imp.msrs.clone(),
        },
        kvm: guest_features.map(|guest_features| KvmInfo {
            api_version: None,
            guest_features,
            guest_features_source,
            supported_cpuid: Vec::new(),
            msr_index_list: Vec::new(),
            feature_msrs: Vec::new(),
            tsc_scaling: imp.tsc_scaling,
            emulated_cpuid: Vec::new(),
            capabilities: BTreeMap::new(),
        }),
        kernel_release: None,
        gaps,
        partial,
        logical_cpus,
        cpu_variants,
        vulnerabilities: BTreeMap::new(),
        arm_id_registers: BTreeMap::new(),
        qemu: imp.qemu.iter().cloned().collect(),
        devices: Default::default(),
        libvirt_version: None,
        guests: None,
    }
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
    fn qemu_data_that_cannot_be_used_is_a_gap_and_the_view_is_estimated() {
        // Leaves 0 and 1 of libvirt's x86_64-cpuid-Xeon-Gold-6148.xml.
        let xml = "<cpudata arch='x86'>\n  <cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x00000016' ebx='0x756e6547' ecx='0x6c65746e' edx='0x49656e69'/>\n  <cpuid eax_in='0x00000001' ecx_in='0x00' eax='0x00050654' ebx='0x00000800' ecx='0x7ffefbff' edx='0xbfebfbff'/>\n</cpudata>\n";
        let amd =
            r#"{"return":{"model":{"name":"base","props":{"vendor":"AuthenticAMD","avx2":true}}}}"#;
        for (qemu_data, why) in [
            (amd, "not the same host"),
            ("Flags: fpu vme\n", "not libvirt qmp json"),
            ("{", "cannot be read"),
        ] {
            let p = profile_from_dump(xml, Some(qemu_data), ImportMeta::default())
                .unwrap_or_else(|e| panic!("{e}"));
            let gap = p.gaps.iter().find(|g| g.what == "kvm.qemu_data");
            assert!(
                gap.is_some_and(|g| g.reason.contains(why)),
                "{why}: {:?}",
                p.gaps
            );
            assert_eq!(
                p.kvm.map(|k| k.guest_features_source),
                Some(GuestViewSource::EstimatedFromCpuid)
            );
        }
        let intel = amd.replace("AuthenticAMD", "GenuineIntel");
        let p = profile_from_dump(xml, Some(&intel), ImportMeta::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            p.kvm
                .map(|k| (k.guest_features_source, k.guest_features.names())),
            Some((GuestViewSource::QemuHostModel, vec!["avx2".to_owned()]))
        );
        assert!(p.gaps.is_empty(), "{:?}", p.gaps);
    }

    #[test]
    fn sibling_and_pair_names() {
        let xml = "<cpudata arch='x86'></cpudata>";
        assert_eq!(
            sibling_qmp_name("x86_64-cpuid-A.xml", xml).as_deref(),
            Some("x86_64-cpuid-A.json")
        );
        assert_eq!(
            sibling_qmp_name("x86_64-cpuid-A.xml", "<capabilities/>"),
            None
        );
        assert_eq!(sibling_qmp_name("a.txt", xml), None);
        assert_eq!(
            virsh_pair_key("web01-domcaps.xml"),
            Some(("web01".into(), Format::VirshDomCapabilities))
        );
        assert_eq!(
            virsh_pair_key("web01_capabilities.xml"),
            Some(("web01".into(), Format::VirshCapabilities))
        );
        assert_eq!(
            virsh_pair_key("caps.xml"),
            Some((String::new(), Format::VirshCapabilities))
        );
        assert_eq!(virsh_pair_key("x86_64-cpuid-A.xml"), None);
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
