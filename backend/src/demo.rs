//! The demo fleet: real processors from libvirt's CPU test data laid out as clusters of identical
//! hosts (assets/demo/fleet.json; attribution in assets/demo/SOURCE.md). Loaded into an empty
//! database by `fleetcompat serve --demo` (what `cargo xtask run` does).

use std::collections::BTreeMap;

use rust_embed::RustEmbed;
use serde::Deserialize;
use shared::import::{ImportMeta, profile_from_dump};
use shared::profile::HostProfile;

#[derive(RustEmbed)]
#[folder = "../assets/demo/"]
struct DemoFiles;

#[derive(Deserialize)]
struct Fleet {
    clusters: Vec<Cluster>,
}

#[derive(Deserialize)]
struct Cluster {
    cluster: String,
    zone: String,
    cpu: String,
    hosts: u32,
    hosts_per_rack: u32,
    #[serde(default)]
    perturb: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("demo file {0} is missing from the build")]
    Missing(String),
    #[error("demo file {file}: {message}")]
    Bad { file: String, message: String },
}

fn text(name: &str) -> Result<String, DemoError> {
    let file = DemoFiles::get(name).ok_or_else(|| DemoError::Missing(name.to_owned()))?;
    String::from_utf8(file.data.into_owned()).map_err(|e| DemoError::Bad {
        file: name.to_owned(),
        message: e.to_string(),
    })
}

/// Every host of the demo fleet, as profiles.
pub fn demo_profiles(collected_at: &str) -> Result<Vec<HostProfile>, DemoError> {
    let fleet: Fleet = serde_json::from_str(&text("fleet.json")?).map_err(|e| DemoError::Bad {
        file: "fleet.json".into(),
        message: e.to_string(),
    })?;
    let mut out = Vec::new();
    for c in &fleet.clusters {
        let xml_name = format!("cpus/x86_64-cpuid-{}.xml", c.cpu);
        let json_name = format!("cpus/x86_64-cpuid-{}.json", c.cpu);
        let (xml, json) = (text(&xml_name)?, text(&json_name)?);
        let mut detail = format!(
            "demo fleet: libvirt v11.3.0 tests/cputestdata/x86_64-cpuid-{}.{{xml,json}} (LGPL-2.1-or-later)",
            c.cpu
        );
        let mut host_features_removed = Vec::new();
        match c.perturb.as_deref() {
            None => {}
            Some("tsx-off") => {
                for name in ["rtm", "hle"] {
                    if let Some(id) = shared::catalog().lookup(name) {
                        host_features_removed.push(id);
                    }
                }
                detail.push_str("; perturbed: TSX (rtm, hle) disabled by a microcode update");
            }
            Some(other) => {
                return Err(DemoError::Bad {
                    file: "fleet.json".into(),
                    message: format!("cluster {} has unknown perturb '{other}'", c.cluster),
                });
            }
        }
        let mut template = profile_from_dump(
            &xml,
            Some(&json),
            ImportMeta {
                collected_at: collected_at.to_owned(),
                detail,
                tool: format!("fleetcompat {} demo", env!("CARGO_PKG_VERSION")),
                ..ImportMeta::default()
            },
        )
        .map_err(|e| DemoError::Bad {
            file: xml_name.clone(),
            message: e.to_string(),
        })?;
        if template.kvm.is_none() || template.gaps.iter().any(|g| g.what == "kvm.qemu_data") {
            return Err(DemoError::Bad {
                file: json_name,
                message: "its QEMU host model could not be merged into the cpudata".into(),
            });
        }
        for id in &host_features_removed {
            template.cpu.features.remove(*id);
            if let Some(k) = template.kvm.as_mut() {
                k.guest_features.remove(*id);
            }
        }
        for i in 1..=c.hosts {
            let rack = (i - 1) / c.hosts_per_rack.max(1) + 1;
            let host_id = format!("{}-{i:02}", c.cluster);
            let mut p = template.clone();
            p.hostname = format!("{host_id}.demo.invalid");
            p.host_id = host_id;
            p.labels = BTreeMap::from([
                ("cluster".to_owned(), c.cluster.clone()),
                ("zone".to_owned(), c.zone.clone()),
                ("rack".to_owned(), format!("{}-r{rack:02}", c.cluster)),
            ]);
            out.push(p);
        }
    }
    Ok(out)
}
