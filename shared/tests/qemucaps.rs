//! The named-model database against what libvirt probed from real QEMUs
//! (`../shared/libvirt-qemucaps`, libvirt v11.3.0 tests/qemucapabilitiesdata):
//! - every model a QEMU release offers under KVM is one the database says that release has;
//! - on the QEMU 10.0.0 host, the features fleetcompat says a model lacks against KVM's host CPU
//!   are exactly the blockers QEMU reported for it.

mod common;

use shared::catalog::{catalog, qemu_known};
use shared::featureset::FeatureSet;
use shared::models::{QemuSupport, QemuVersion, models, not_model_controlled};

struct Caps {
    /// KVM's host CPU (`<hostCPU type='kvm'>` boolean properties that are true).
    host: FeatureSet,
    /// (model, usable, blockers) of every `<cpu type='kvm'>`.
    models: Vec<(String, bool, Vec<String>)>,
}

fn load(version: &str) -> Caps {
    let text = common::read_shared(&format!(
        "libvirt-qemucaps/qemucapabilitiesdata/caps_{version}_x86_64.xml"
    ));
    let doc = roxmltree::Document::parse(&text).expect("caps xml");
    let host_cpu = doc
        .descendants()
        .find(|n| n.has_tag_name("hostCPU") && n.attribute("type") == Some("kvm"))
        .expect("a kvm hostCPU");
    let mut host = FeatureSet::EMPTY;
    for p in host_cpu.children().filter(|n| n.has_tag_name("property")) {
        if p.attribute("type") == Some("boolean")
            && p.attribute("value") == Some("true")
            && let Some(id) = p.attribute("name").and_then(|n| catalog().lookup(n))
        {
            host.insert(id);
        }
    }
    let models = doc
        .descendants()
        .filter(|n| n.has_tag_name("cpu") && n.attribute("type") == Some("kvm"))
        .filter_map(|n| {
            let name = n.attribute("name")?.to_owned();
            let blockers = n
                .children()
                .filter(|b| b.has_tag_name("blocker"))
                .filter_map(|b| b.attribute("name").map(str::to_owned))
                .collect();
            Some((name, n.attribute("usable") == Some("yes"), blockers))
        })
        .collect();
    Caps { host, models }
}

#[test]
fn every_probed_model_is_available_in_its_release() {
    let newest: Vec<String> = load("10.0.0").models.into_iter().map(|m| m.0).collect();
    for v in ["6.2.0", "8.2.0", "9.2.0", "10.0.0"] {
        let caps = load(v);
        let version = QemuVersion::parse(v).expect("version");
        let mut n = 0;
        for (name, _, _) in &caps.models {
            if matches!(name.as_str(), "host" | "max" | "base") {
                continue;
            }
            match models().get(name) {
                Some(m) => {
                    assert_eq!(
                        m.qemu_support(Some(version)),
                        QemuSupport::Yes,
                        "{name} in {v}"
                    );
                    n += 1;
                }
                // Removed from QEMU before 10.0 (Icelake-Client...): then 10.0.0 lacks it too.
                None => assert!(
                    !newest.contains(name),
                    "QEMU 10.0.0 offers {name}, unknown to the database"
                ),
            }
        }
        assert!(n > 100, "QEMU {v}: only {n} models");
    }
}

#[test]
fn missing_features_are_qemus_blockers_on_the_10_0_host() {
    let caps = load("10.0.0");
    assert!(
        caps.host.len() > 80,
        "kvm host cpu has {} features",
        caps.host.len()
    );
    let mut agree = 0;
    let mut failures = Vec::new();
    for (name, usable, blockers) in &caps.models {
        let Some(m) = models().get(name) else {
            continue;
        };
        let ours = m
            .features
            .intersection(&qemu_known())
            .difference(&caps.host)
            .difference(&not_model_controlled());
        let (theirs, unknown) = FeatureSet::from_names(blockers.iter().map(String::as_str));
        assert!(unknown.is_empty(), "{name}: unknown blockers {unknown:?}");
        if ours == theirs && *usable == theirs.is_empty() {
            agree += 1;
        } else {
            failures.push(format!(
                "{name}: fleetcompat says missing {:?}, QEMU blockers {:?} (usable {usable})",
                ours.names(),
                theirs.names()
            ));
        }
    }
    println!(
        "QEMU 10.0.0 host: {agree} models agree, {} differ",
        failures.len()
    );
    assert!(agree > 100, "only {agree} models compared");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
