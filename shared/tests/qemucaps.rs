//! The named-model database against what libvirt probed from real QEMUs
//! (`../shared/libvirt-qemucaps`, libvirt v11.3.0 tests/qemucapabilitiesdata):
//! - every model a QEMU release offers under KVM is one the database says that release has;
//! - on the QEMU 10.0.0 host, the features fleetcompat says a model lacks against KVM's host CPU
//!   are exactly the blockers QEMU reported for it;
//! - fleetcompat's host model of each probed host, with that host's QEMU release, has the feature
//!   set of libvirt's host-model (domain capabilities), expanded through libvirt's cpu_map.

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

#[test]
fn host_model_matches_libvirts_domain_capabilities() {
    use common::libvirt::{CpuMap, expand, libvirt_universe, parse_cpus, vendor_string};
    use shared::baseline::{BaselineOptions, host_model};
    let map = CpuMap::load();
    let universe = libvirt_universe(&map);
    for v in ["6.2.0", "8.2.0", "9.2.0", "10.0.0"] {
        let caps = load(v);
        let text = common::read_shared(&format!(
            "libvirt-qemucaps/domaincapsdata/qemu_{v}-q35.x86_64.xml"
        ));
        let doc = roxmltree::Document::parse(&text).expect("domain caps xml");
        let mode = doc
            .descendants()
            .find(|n| n.has_tag_name("mode") && n.attribute("name") == Some("host-model"))
            .expect("a host-model mode");
        let cpu_xml = format!(
            "<cpu>{}</cpu>",
            &text[mode.range()]
                .split_once('>')
                .map_or("", |(_, rest)| rest)
                .rsplit_once("</mode>")
                .map_or("", |(body, _)| body)
        );
        let lv = &parse_cpus(&cpu_xml)[0];
        let theirs = expand(&map, lv).expect("host-model expands").present;
        let mut p = shared::testing::profile(v, &vendor_string(lv.vendor.as_deref()), caps.host);
        (p.cpu.family, p.cpu.model) = (0, 0);
        let opts = BaselineOptions {
            qemu: QemuVersion::parse(v),
            ..BaselineOptions::default()
        };
        let hm = host_model(&p, &opts).expect("host model");
        let (ours, theirs) = (
            hm.features.intersection(&universe),
            theirs.intersection(&universe),
        );
        // libvirt's host-model keeps xsaves (QEMU reports it migratable); fleetcompat drops the
        // features libvirt's cpu_map marks migratable='no' (see libvirt_cases.rs).
        let nm = shared::verdict::non_migratable();
        assert_eq!(
            ours.names(),
            theirs.difference(&nm).names(),
            "QEMU {v}: host model {} vs libvirt {:?}",
            hm.model,
            lv.model
        );
        let m = models().get(&hm.model).expect("model");
        assert_eq!(
            m.qemu_support(QemuVersion::parse(v)),
            QemuSupport::Yes,
            "{v}"
        );
        println!(
            "QEMU {v}: fleetcompat {} / libvirt {:?}: same features",
            hm.model, lv.model
        );
    }
}
