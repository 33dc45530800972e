//! libvirt's cpu_map and `<cpu>` definitions, expanded to feature sets (test helpers).

use std::collections::{BTreeMap, BTreeSet};

use shared::catalog::catalog;
use shared::featureset::FeatureSet;
use shared::models::accel_provided;

/// A cpu_map model as written: parent model, vendor, own features.
pub type RawModel = (Option<String>, Option<String>, BTreeSet<String>);

/// libvirt's x86 models, expanded: name -> (vendor, features).
pub struct CpuMap {
    pub models: BTreeMap<String, (Option<String>, BTreeSet<String>)>,
    /// Features libvirt lists in models with `added='yes'` (all `vmx-*`): optional members, so
    /// libvirt's outputs do not say whether a CPU has them.
    pub optional: BTreeSet<String>,
}

pub fn attr(n: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    n.attribute(name).map(str::to_owned)
}

impl CpuMap {
    pub fn load() -> Self {
        let dir = super::shared_dir().join("libvirt-cpu-map");
        let mut raw: BTreeMap<String, RawModel> = BTreeMap::new();
        let mut optional = BTreeSet::new();
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if !name.starts_with("x86_") || name == "x86_features.xml" || name == "x86_vendors.xml"
            {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("cpu_map file");
            let doc = roxmltree::Document::parse(&text).expect("cpu_map xml");
            for m in doc.descendants().filter(|n| {
                n.has_tag_name("model") && n.parent().is_some_and(|p| p.has_tag_name("cpus"))
            }) {
                let mname = attr(m, "name").expect("model name");
                let mut parent = None;
                let mut vendor = None;
                let mut feats = BTreeSet::new();
                for c in m.children().filter(roxmltree::Node::is_element) {
                    match c.tag_name().name() {
                        "model" => parent = attr(c, "name"),
                        "vendor" => vendor = attr(c, "name"),
                        "feature" if c.attribute("added") == Some("yes") => {
                            optional.insert(attr(c, "name").expect("feature name"));
                        }
                        "feature" => {
                            feats.insert(attr(c, "name").expect("feature name"));
                        }
                        _ => {}
                    }
                }
                raw.insert(mname, (parent, vendor, feats));
            }
        }
        let mut models = BTreeMap::new();
        for name in raw.keys() {
            let mut vendor = None;
            let mut feats = BTreeSet::new();
            let mut cur = Some(name.clone());
            let mut depth = 0;
            while let Some(n) = cur {
                let (parent, v, f) = raw
                    .get(&n)
                    .unwrap_or_else(|| panic!("cpu_map model {n} missing"));
                vendor = vendor.or_else(|| v.clone());
                feats.extend(f.iter().cloned());
                cur = parent.clone();
                depth += 1;
                assert!(depth < 20, "cpu_map model loop at {name}");
            }
            models.insert(name.clone(), (vendor, feats));
        }
        assert!(models.len() > 100, "cpu_map has {} models", models.len());
        Self { models, optional }
    }
}

/// A libvirt `<cpu>` element.
#[derive(Debug, Default, Clone)]
pub struct LvCpu {
    pub model: Option<String>,
    pub vendor: Option<String>,
    pub match_: Option<String>,
    /// (name, policy); policy `None` for host CPUs (= present).
    pub features: Vec<(String, Option<String>)>,
}

pub fn parse_cpus(text: &str) -> Vec<LvCpu> {
    let doc = roxmltree::Document::parse(text).expect("libvirt cpu xml");
    doc.descendants()
        .filter(|n| n.has_tag_name("cpu"))
        .map(|cpu| {
            let mut c = LvCpu {
                match_: attr(cpu, "match"),
                ..LvCpu::default()
            };
            for ch in cpu.children().filter(roxmltree::Node::is_element) {
                match ch.tag_name().name() {
                    "model" => c.model = ch.text().map(|t| t.trim().to_owned()),
                    "vendor" => c.vendor = ch.text().map(|t| t.trim().to_owned()),
                    "feature" => c
                        .features
                        .push((attr(ch, "name").expect("feature name"), attr(ch, "policy"))),
                    _ => {}
                }
            }
            c
        })
        .collect()
}

/// The features a libvirt CPU definition describes: model features plus require/force/optional
/// minus disable/forbid. `Err` for an unknown model.
pub struct Expanded {
    /// Everything the definition names as on (model, require, force, optional).
    pub present: FeatureSet,
    /// What a host must offer: model features and `require`d ones (libvirt's compare ignores
    /// `force`d and `optional` features).
    pub required: FeatureSet,
    /// `force`d and `optional` features.
    pub soft: FeatureSet,
    pub forbidden: FeatureSet,
}

pub fn to_set<'a>(names: impl IntoIterator<Item = &'a str>) -> FeatureSet {
    let (set, unknown) = FeatureSet::from_names(names);
    assert!(
        unknown.is_empty(),
        "libvirt names unknown to the catalog: {unknown:?}"
    );
    set
}

pub fn expand(map: &CpuMap, cpu: &LvCpu) -> Result<Expanded, String> {
    let mut present = match &cpu.model {
        Some(m) => {
            let (_, f) = map
                .models
                .get(m)
                .ok_or_else(|| format!("unknown model {m}"))?;
            to_set(f.iter().map(String::as_str))
        }
        None => FeatureSet::EMPTY,
    };
    let mut required = present;
    let mut soft = FeatureSet::EMPTY;
    let mut forbidden = FeatureSet::EMPTY;
    for (name, policy) in &cpu.features {
        let id = catalog()
            .lookup(name)
            .ok_or_else(|| format!("unknown feature {name}"))?;
        match policy.as_deref() {
            None | Some("require") => {
                present.insert(id);
                required.insert(id);
            }
            Some("force" | "optional") => {
                present.insert(id);
                required.remove(id);
                soft.insert(id);
            }
            Some("disable") => {
                present.remove(id);
                required.remove(id);
            }
            Some("forbid") => {
                present.remove(id);
                required.remove(id);
                forbidden.insert(id);
            }
            Some(p) => return Err(format!("unknown policy {p}")),
        }
    }
    Ok(Expanded {
        present,
        required,
        soft,
        forbidden,
    })
}

/// The features libvirt knows (the universe its expected outputs are written in), minus those the
/// accelerator provides whatever the model (`hypervisor`; libvirt lists it on some guest CPUs),
/// minus the optional `added='yes'` model members (`vmx-*`; the inputs carry no VMX MSRs either).
pub fn libvirt_universe(map: &CpuMap) -> FeatureSet {
    let optional = to_set(map.optional.iter().map(String::as_str));
    let mut u = FeatureSet::EMPTY;
    for f in catalog().features() {
        if f.libvirt_name.is_some() {
            u.insert(f.id);
        }
    }
    u.difference(&accel_provided()).difference(&optional)
}

pub fn vendor_string(libvirt_vendor: Option<&str>) -> String {
    match libvirt_vendor {
        Some("Intel") => "GenuineIntel".into(),
        Some("AMD") => "AuthenticAMD".into(),
        Some("Hygon") => "HygonGenuine".into(),
        Some(v) => v.into(),
        None => String::new(),
    }
}
