//! `virsh capabilities` (the host CPU as libvirt decodes it) and `virsh domcapabilities` (what
//! libvirt's QEMU driver offers a guest: the host-model CPU and the usable named models).

use std::collections::HashMap;
use std::sync::OnceLock;

use roxmltree::{Document, Node};

use super::{Format, Identity, ImportError, Imported};
use crate::catalog::catalog;
use crate::featureset::FeatureSet;
use crate::profile::{GuestViewSource, ProbeGap, QemuCpuModel, QemuInstall, QemuMachine};

fn parse_doc(text: &str) -> Result<Document<'_>, ImportError> {
    Document::parse(text).map_err(|e| ImportError::Xml {
        line: e.pos().row,
        message: e.to_string(),
    })
}

fn line(doc: &Document<'_>, n: Node<'_, '_>) -> u32 {
    doc.text_pos_at(n.range().start).row
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.has_tag_name(name))
}

fn child_text(n: Node<'_, '_>, name: &str) -> Option<String> {
    child(n, name)
        .and_then(|c| c.text())
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
}

/// libvirt's vendor names to CPUID vendor strings (libvirt src/cpu_map/x86_vendors.xml).
fn vendor_string(libvirt_vendor: &str) -> String {
    match libvirt_vendor {
        "Intel" => "GenuineIntel".into(),
        "AMD" => "AuthenticAMD".into(),
        "Hygon" => "HygonGenuine".into(),
        other => other.into(),
    }
}

/// libvirt's x86 models (`data/libvirt-models.tsv`, from libvirt v11.3.0 src/cpu_map): name to
/// (parent, own features).
fn libvirt_models() -> &'static HashMap<String, (Option<String>, FeatureSet)> {
    static MODELS: OnceLock<HashMap<String, (Option<String>, FeatureSet)>> = OnceLock::new();
    MODELS.get_or_init(|| {
        include_str!("../../data/libvirt-models.tsv")
            .lines()
            .filter(|l| !l.starts_with('#') && !l.starts_with("name\t"))
            .filter_map(|l| {
                let mut cols = l.split('\t');
                let name = cols.next()?.to_owned();
                let parent = cols.next().filter(|p| !p.is_empty()).map(str::to_owned);
                let _vendor = cols.next();
                let (features, _) =
                    FeatureSet::from_names(cols.next().unwrap_or("").split_whitespace());
                Some((name, (parent, features)))
            })
            .collect()
    })
}

/// The features of a libvirt cpu_map model by its libvirt name (`Skylake-Client-IBRS`,
/// `EPYC-Rome`, `Opteron_G3-v1`): its own and those of the models it builds on (libvirt
/// src/cpu/cpu_x86.c x86ModelParseAncestor). libvirt's definitions differ from QEMU's models of
/// the same name (libvirt keeps `vme` on Skylake and EPYC, lacks QEMU's `monitor` on EPYC-Rome...),
/// and libvirt's xml means libvirt's. `None` for a name libvirt v11.3.0 does not define.
pub fn libvirt_model_features(name: &str) -> Option<FeatureSet> {
    let models = libvirt_models();
    let mut set = FeatureSet::EMPTY;
    let mut cur = Some(name);
    // A parent chain is a few models long; the bound stops a loop in bad data.
    for _ in 0..32 {
        let Some(n) = cur else {
            return Some(set);
        };
        let (parent, own) = models.get(n)?;
        set = set.union(own);
        cur = parent.as_deref();
    }
    None
}

/// A libvirt `<cpu>` element's model plus its `<feature>` children: features without a policy
/// (host CPUs, libvirt src/conf/cpu_conf.c virCPUDefFormatBuf) or with `require`/`force` are
/// added, `disable`/`forbid` removed. Names the catalog does not know go to `unknown`.
fn cpu_features(
    model: Option<&str>,
    cpu: Node<'_, '_>,
    unknown: &mut Vec<String>,
    gaps: &mut Vec<ProbeGap>,
    what: &str,
) -> FeatureSet {
    let mut set = FeatureSet::EMPTY;
    if let Some(m) = model {
        let qemu = || crate::models::models().resolve(m).map(|q| q.features);
        match (libvirt_model_features(m), qemu()) {
            (Some(f), _) => set = f,
            (None, Some(f)) => {
                set = f;
                gaps.push(ProbeGap {
                    what: what.into(),
                    reason: format!(
                        "libvirt model '{m}' is not in libvirt v11.3.0's cpu_map: QEMU's model of that name stands in for it"
                    ),
                });
            }
            (None, None) => gaps.push(ProbeGap {
                what: what.into(),
                reason: format!(
                    "libvirt model '{m}' is neither in libvirt v11.3.0's cpu_map nor a QEMU 10.0 model: its features are missing from this view"
                ),
            }),
        }
    }
    for f in cpu.children().filter(|c| c.has_tag_name("feature")) {
        let Some(name) = f.attribute("name") else {
            continue;
        };
        let Some(id) = catalog().lookup(name) else {
            unknown.push(name.to_owned());
            continue;
        };
        match f.attribute("policy") {
            Some("disable" | "forbid") => set.remove(id),
            _ => set.insert(id),
        }
    }
    set
}

fn x86_arch(arch: Option<&str>, doc: &Document<'_>, at: Node<'_, '_>) -> Result<(), ImportError> {
    match arch {
        Some("x86_64" | "i686") | None => Ok(()),
        Some(other) => Err(ImportError::Content {
            line: line(doc, at),
            message: format!(
                "host arch is {other}: only x86 hosts can be imported from libvirt's xml"
            ),
        }),
    }
}

/// `virsh capabilities`: `<capabilities><host><cpu>` with `<arch>`, `<model>`, `<vendor>`,
/// `<microcode version=>`, `<signature family= model= stepping=>`, `<counter name='tsc'
/// frequency= scaling=>`, `<topology>` and `<feature name=>` (libvirt src/conf/capabilities.c
/// virCapabilitiesFormatHostXML, src/conf/cpu_conf.c virCPUDefFormatBuf), and
/// `<host><topology><cells>` with each cell's `<cpus num=>`. The libvirt and QEMU versions are not
/// in it.
pub fn parse_capabilities(text: &str) -> Result<Imported, ImportError> {
    let doc = parse_doc(text)?;
    let root = doc.root_element();
    let host = child(root, "host").ok_or_else(|| ImportError::Content {
        line: line(&doc, root),
        message: "<capabilities> has no <host> element".into(),
    })?;
    let cpu = child(host, "cpu").ok_or_else(|| ImportError::Content {
        line: line(&doc, host),
        message: "<capabilities><host> has no <cpu> element".into(),
    })?;
    x86_arch(child_text(cpu, "arch").as_deref(), &doc, cpu)?;
    let mut imp = Imported::new(Format::VirshCapabilities);
    let model = child_text(cpu, "model");
    let features = cpu_features(
        model.as_deref(),
        cpu,
        &mut imp.unknown_flags,
        &mut imp.notes,
        "cpu.features",
    );
    if model.is_none() && features.is_empty() {
        // libvirt writes only <arch> when it could not decode the host CPU (e.g. under TCG).
        imp.notes.push(ProbeGap {
            what: "cpu.features".into(),
            reason: "virsh capabilities names no cpu model or feature for this host".into(),
        });
    }
    imp.flags = Some(features);
    let sig = child(cpu, "signature");
    let num = |n: Option<Node<'_, '_>>, a: &str| {
        n.and_then(|n| n.attribute(a))
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    imp.identity = Some(Identity {
        vendor: child_text(cpu, "vendor")
            .map(|v| vendor_string(&v))
            .unwrap_or_default(),
        family: num(sig, "family").unwrap_or(0),
        model: num(sig, "model").unwrap_or(0),
        stepping: num(sig, "stepping").unwrap_or(0),
        // The brand string is not in virsh capabilities.
        brand: String::new(),
    });
    // <microcode version='188760099'/>: decimal (virCPUDefFormatBuf "%u").
    imp.microcode = child(cpu, "microcode")
        .and_then(|m| m.attribute("version"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(|v| format!("{v:#x}"));
    // <counter name='tsc' frequency='Hz' scaling='yes|no'/> (virHostCPUGetTscInfo: scaling is
    // KVM_CAP_TSC_CONTROL).
    if let Some(tsc) = cpu
        .children()
        .find(|c| c.has_tag_name("counter") && c.attribute("name") == Some("tsc"))
    {
        imp.tsc_khz = tsc
            .attribute("frequency")
            .and_then(|f| f.trim().parse::<u64>().ok())
            .map(|hz| hz / 1000);
        imp.tsc_scaling = tsc.attribute("scaling").map(|s| s == "yes");
    }
    let cells: u32 = child(host, "topology")
        .and_then(|t| child(t, "cells"))
        .map(|c| {
            c.children()
                .filter(|c| c.has_tag_name("cell"))
                .filter_map(|cell| child(cell, "cpus")?.attribute("num")?.parse::<u32>().ok())
                .sum()
        })
        .unwrap_or(0);
    let per_topology = child(cpu, "topology").map(|t| {
        ["sockets", "dies", "clusters", "cores", "threads"]
            .iter()
            .map(|a| num(Some(t), a).unwrap_or(1))
            .product::<u32>()
    });
    imp.logical_cpus = Some(cells).filter(|n| *n > 0).or(per_topology);
    imp.notes.push(ProbeGap {
        what: "cpu.raw_cpuid".into(),
        reason: "imported from virsh capabilities: no raw CPUID, features come from libvirt's model and feature names".into(),
    });
    Ok(imp)
}

/// `virsh domcapabilities`: `<domainCapabilities>` with `<path>` (the emulator), `<domain>`,
/// `<machine>`, `<arch>`, and `<cpu>`: `<mode name='host-model'>` is the CPU libvirt gives a
/// host-model guest, computed from QEMU's expansion of `host` under KVM; `<mode name='custom'>`
/// lists each named model with `usable='yes|no'` and its `<blockers>` (libvirt
/// src/conf/domain_capabilities.c virDomainCapsCPUFormat). The QEMU version is not in it.
pub fn parse_domcapabilities(text: &str) -> Result<Imported, ImportError> {
    let doc = parse_doc(text)?;
    let root = doc.root_element();
    x86_arch(child_text(root, "arch").as_deref(), &doc, root)?;
    let mut imp = Imported::new(Format::VirshDomCapabilities);
    let cpu = child(root, "cpu");
    let mode = |name: &str| {
        cpu.and_then(|c| {
            c.children()
                .find(|m| m.has_tag_name("mode") && m.attribute("name") == Some(name))
        })
    };
    let mut vendor = String::new();
    match mode("host-model").filter(|m| m.attribute("supported") != Some("no")) {
        Some(hm) => {
            let model = child_text(hm, "model");
            vendor = child_text(hm, "vendor")
                .map(|v| vendor_string(&v))
                .unwrap_or_default();
            let view = cpu_features(
                model.as_deref(),
                hm,
                &mut imp.unknown_flags,
                &mut imp.notes,
                "kvm.guest_features",
            );
            imp.guest_view = Some(view);
            imp.guest_source = GuestViewSource::LibvirtDomainCapabilities;
        }
        None => imp.notes.push(ProbeGap {
            what: "kvm".into(),
            reason: "virsh domcapabilities says host-model is not supported here (no KVM?): no guest view".into(),
        }),
    }
    let mut cpu_models = Vec::new();
    if let Some(custom) = mode("custom") {
        for m in custom.children().filter(|c| c.has_tag_name("model")) {
            let Some(name) = m.text().map(str::trim).filter(|n| !n.is_empty()) else {
                continue;
            };
            let mut unavailable_features: Vec<String> = custom
                .children()
                .find(|b| b.has_tag_name("blockers") && b.attribute("model") == Some(name))
                .into_iter()
                .flat_map(|b| b.children().filter(|f| f.has_tag_name("feature")))
                .filter_map(|f| f.attribute("name").map(str::to_owned))
                .collect();
            unavailable_features.sort();
            cpu_models.push(QemuCpuModel {
                name: name.to_owned(),
                usable: m.attribute("usable") == Some("yes"),
                unavailable_features,
                alias_of: m.attribute("canonical").map(str::to_owned),
                deprecated: m.attribute("deprecated") == Some("yes"),
                migration_safe: None,
            });
        }
        cpu_models.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let machine = child_text(root, "machine");
    imp.qemu = Some(QemuInstall {
        path: child_text(root, "path").unwrap_or_else(|| "(imported)".into()),
        accel: child_text(root, "domain").unwrap_or_else(|| "kvm".into()),
        machines: machine
            .iter()
            .map(|name| QemuMachine {
                name: name.clone(),
                ..QemuMachine::default()
            })
            .collect(),
        cpu_models: cpu_models.into(),
        host_model: imp.guest_view,
        ..QemuInstall::default()
    });
    imp.notes.push(ProbeGap {
        what: "qemu.version".into(),
        reason: format!(
            "virsh domcapabilities does not name the QEMU release (its machine type is {})",
            machine.as_deref().unwrap_or("not given")
        ),
    });
    imp.identity = Some(Identity {
        vendor,
        ..Identity::default()
    });
    Ok(imp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPS: &str = "<capabilities>\n  <host>\n    <cpu>\n      <arch>x86_64</arch>\n      <model>Skylake-Client-IBRS</model>\n      <vendor>Intel</vendor>\n      <microcode version='240'/>\n      <signature family='6' model='94' stepping='3'/>\n      <counter name='tsc' frequency='3408000000' scaling='no'/>\n      <topology sockets='1' dies='1' clusters='1' cores='4' threads='2'/>\n      <feature name='vmx'/>\n      <feature name='bogus-flag'/>\n    </cpu>\n  </host>\n</capabilities>\n";

    #[test]
    fn libvirt_models_expand_with_known_names() {
        let text = include_str!("../../data/libvirt-models.tsv");
        let mut rows = 0;
        for l in text.lines().filter(|l| !l.starts_with('#')).skip(1) {
            let cols: Vec<&str> = l.split('\t').collect();
            let (_, unknown) = FeatureSet::from_names(cols[3].split_whitespace());
            assert!(unknown.is_empty(), "{}: {unknown:?}", cols[0]);
            assert!(libvirt_model_features(cols[0]).is_some(), "{}", cols[0]);
            rows += 1;
        }
        assert_eq!(rows, 150);
        // libvirt's Skylake-Client keeps vme (src/cpu_map/x86_Skylake-Client.xml).
        let vme = catalog().lookup("vme").expect("vme");
        assert!(libvirt_model_features("Skylake-Client-IBRS").is_some_and(|f| f.contains(vme)));
        assert!(libvirt_model_features("No-Such-Model").is_none());
    }

    #[test]
    fn capabilities_cpu_becomes_host_features() {
        let imp = parse_capabilities(CAPS).unwrap();
        let f = imp.flags.unwrap_or_default().names();
        assert!(f.contains(&"vmx".to_owned()) && f.contains(&"avx2".to_owned()));
        assert_eq!(imp.unknown_flags, vec!["bogus-flag".to_owned()]);
        let id = imp.identity.unwrap_or_default();
        assert_eq!(
            (id.vendor.as_str(), id.family, id.model),
            ("GenuineIntel", 6, 94)
        );
        assert_eq!(imp.microcode.as_deref(), Some("0xf0"));
        assert_eq!(
            (imp.tsc_khz, imp.tsc_scaling),
            (Some(3_408_000), Some(false))
        );
        assert_eq!(imp.logical_cpus, Some(8));
        let arm = CAPS.replace("x86_64", "aarch64");
        assert!(matches!(
            parse_capabilities(&arm),
            Err(ImportError::Content { line: 3, .. })
        ));
        assert!(parse_capabilities("<capabilities/>").is_err());
    }

    #[test]
    fn domcapabilities_host_model_and_custom_models() {
        let xml = "<domainCapabilities>\n<path>/usr/bin/qemu-system-x86_64</path>\n<domain>kvm</domain>\n<machine>pc-q35-10.0</machine>\n<arch>x86_64</arch>\n<cpu>\n<mode name='host-model' supported='yes'>\n<model fallback='forbid'>EPYC-Rome</model>\n<vendor>AMD</vendor>\n<feature policy='require' name='x2apic'/>\n<feature policy='disable' name='xsaves'/>\n</mode>\n<mode name='custom' supported='yes'>\n<model usable='yes' vendor='unknown'>486</model>\n<model usable='no' vendor='Intel' canonical='Broadwell-v1'>Broadwell</model>\n<blockers model='Broadwell'>\n<feature name='hle'/>\n<feature name='erms'/>\n</blockers>\n</mode>\n</cpu>\n</domainCapabilities>\n";
        let imp = parse_domcapabilities(xml).unwrap();
        let view = imp.guest_view.unwrap_or_default().names();
        assert!(view.contains(&"x2apic".to_owned()) && !view.contains(&"xsaves".to_owned()));
        assert!(
            view.contains(&"sha-ni".to_owned()),
            "EPYC-Rome's own features"
        );
        let q = imp.qemu.unwrap_or_default();
        assert_eq!(q.machines[0].name, "pc-q35-10.0");
        assert_eq!(q.cpu_models.len(), 2);
        let (i486, broadwell) = (&q.cpu_models[0], &q.cpu_models[1]);
        assert_eq!((i486.name.as_str(), i486.usable), ("486", true));
        assert_eq!(
            (broadwell.name.as_str(), broadwell.usable),
            ("Broadwell", false)
        );
        assert_eq!(broadwell.unavailable_features, vec!["erms", "hle"]);
        assert_eq!(broadwell.alias_of.as_deref(), Some("Broadwell-v1"));
        assert_eq!(imp.guest_source, GuestViewSource::LibvirtDomainCapabilities);
    }
}
