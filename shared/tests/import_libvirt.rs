//! libvirt's data through the import path, `shared::import::profile_from_dump` (what
//! `fleetcompat-collector import`, the command line's dumps and the demo fleet run), compared
//! feature by feature with what libvirt itself computed, model names expanded through libvirt's
//! cpu_map (`../shared/libvirt-cpu-map`).

mod common;

use common::libvirt::{CpuMap, LvCpu, expand, libvirt_universe, parse_cpus, to_set};
use shared::featureset::FeatureSet;
use shared::import::{Format, ImportMeta, detect, parse_libvirt_cpudata, profile_from_dump};
use shared::models::accel_provided;
use shared::profile::{GuestViewSource, HostProfile};

fn read(file: &str) -> String {
    common::read_shared(&format!("libvirt-cputestdata/{file}"))
}

fn import(text: &str, qemu_data: Option<&str>, what: &str) -> HostProfile {
    profile_from_dump(
        text,
        qemu_data,
        ImportMeta {
            host_id: "h".into(),
            ..ImportMeta::default()
        },
    )
    .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The profile's guest view, which must come from `source`.
fn guest_view<'a>(p: &'a HostProfile, source: GuestViewSource, what: &str) -> &'a FeatureSet {
    let kvm = p
        .kvm
        .as_ref()
        .unwrap_or_else(|| panic!("{what}: no guest view"));
    assert_eq!(kvm.guest_features_source, source, "{what}");
    &kvm.guest_features
}

/// "only fleetcompat [..]; only libvirt [..]", or `None` when the sets agree.
fn differs(ours: &FeatureSet, theirs: &FeatureSet) -> Option<String> {
    (ours != theirs).then(|| {
        format!(
            "only fleetcompat {:?}; only libvirt {:?}",
            ours.difference(theirs).names(),
            theirs.difference(ours).names()
        )
    })
}

/// (case, cpudata input, QMP input, expected files) of every `cpuid-host-model` case.
fn host_model_cases() -> Vec<(String, String, Option<String>, Vec<String>)> {
    read("cases.tsv")
        .lines()
        .skip(1)
        .filter_map(|line| {
            let cols: Vec<&str> = line.split('\t').collect();
            (cols.get(1) == Some(&"cpuid-host-model")).then(|| {
                let inputs: Vec<&str> = cols[2].split(';').collect();
                (
                    cols[0].to_owned(),
                    inputs[0].to_owned(),
                    inputs.get(1).map(|s| (*s).to_owned()),
                    cols[3].split(';').map(str::to_owned).collect(),
                )
            })
        })
        .collect()
}

/// `x86_64-cpuid-<CPU>.xml` imported with its `.json` (QEMU's `query-cpu-model-expansion` of
/// `host` under KVM) gives the guest view libvirt's `-json.xml` describes: libvirt's host-model
/// CPU computed from the same QMP data (tests/cputest.c cpuTestJSONCPUID).
///
/// Compared within the features libvirt can write (`libvirt_universe`): left out are `hypervisor`
/// (QEMU sets it for every guest, libvirt lists it on some CPUs only), the `vmx-*` bits cpu_map
/// adds to old models with added='yes' (optional members, and the inputs carry no VMX MSRs), and
/// features libvirt has no name for. No other difference is explained away: none is expected,
/// and fleetcompat's guest view keeps xsaves and invtsc as QEMU reports them, as libvirt's
/// QEMU-probed host-model does.
#[test]
fn libvirt_host_models_agree_through_the_import() {
    let map = CpuMap::load();
    let universe = libvirt_universe(&map);
    let (mut agree, mut failures) = (Vec::new(), Vec::new());
    for (case, xml, json, expected) in host_model_cases() {
        let Some(json_xml) = expected.iter().find(|f| f.ends_with("-json.xml")) else {
            continue;
        };
        let json = json.unwrap_or_else(|| panic!("{case}: a -json.xml case without its .json"));
        let p = import(&read(&xml), Some(&read(&json)), &case);
        let view = guest_view(&p, GuestViewSource::QemuHostModel, &case);
        assert!(
            !p.gaps.iter().any(|g| g.what.starts_with("kvm")),
            "{case}: {:?}",
            p.gaps
        );
        let theirs = expand(&map, &parse_cpus(&read(json_xml))[0])
            .unwrap_or_else(|e| panic!("{case}: {e}"))
            .present;
        // What is not compared is only what the universe leaves out, by name: the accelerator's
        // own bits (hypervisor, KVM's paravirtual CPUID.40000001H bits) and optional vmx-* members.
        let outside = view.difference(&universe);
        let not_compared = accel_provided().union(&to_set(map.optional.iter().map(String::as_str)));
        assert!(
            outside.is_subset(&not_compared),
            "{case}: guest view features neither compared nor named: {:?}",
            outside.difference(&not_compared).names()
        );
        println!(
            "{case}: {} features compared; not compared (accelerator's own, optional vmx-*): {}",
            view.intersection(&universe).len(),
            outside.len()
        );
        match differs(
            &view.intersection(&universe),
            &theirs.intersection(&universe),
        ) {
            None => agree.push(case),
            Some(d) => failures.push(format!("{case} [{json_xml}]: {d}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        agree.len(),
        19,
        "host-model cases with QEMU data: {agree:?}"
    );
}

/// `virsh capabilities` names the host CPU as a libvirt model plus features. libvirt's expected
/// host CPUs of the same cases (`-host.xml`, the `<cpu>` element `virsh capabilities` prints, put
/// in a `<capabilities><host>` document) import to the host CPU view raw CPUID decodes to.
#[test]
fn virsh_capabilities_host_cpus_import_as_their_raw_cpuid() {
    let map = CpuMap::load();
    let universe = libvirt_universe(&map);
    let (mut n, mut failures) = (0, Vec::new());
    for (case, xml, _, expected) in host_model_cases() {
        let host = expected
            .iter()
            .find(|f| f.ends_with("-host.xml"))
            .unwrap_or_else(|| panic!("{case}: no -host.xml"));
        let cpu_xml = read(host);
        let body: Vec<&str> = cpu_xml
            .lines()
            .filter(|l| !l.starts_with("<?xml"))
            .collect();
        let caps = format!(
            "<capabilities>\n  <host>\n{}\n  </host>\n</capabilities>\n",
            body.join("\n")
        );
        assert_eq!(detect(&caps), Some(Format::VirshCapabilities));
        let p = import(&caps, None, &case);
        let raw = parse_libvirt_cpudata(&read(&xml)).unwrap_or_else(|e| panic!("{case}: {e}"));
        let decoded = shared::decode::features(&raw.cpuid, &raw.msrs);
        let lv: LvCpu = parse_cpus(&cpu_xml)[0].clone();
        let cpu_map = expand(&map, &lv)
            .unwrap_or_else(|e| panic!("{case}: {e}"))
            .present;
        let ours = p.cpu.features.intersection(&universe);
        if let Some(d) = differs(&ours, &decoded.intersection(&universe)) {
            failures.push(format!("{case} [raw cpuid]: {d}"));
        }
        if let Some(d) = differs(&ours, &cpu_map.intersection(&universe)) {
            failures.push(format!("{case} [cpu_map]: {d}"));
        }
        let sig = shared::decode::signature(&raw.cpuid).unwrap_or_default();
        assert_eq!((p.cpu.family, p.cpu.model, p.cpu.stepping), sig, "{case}");
        // No QEMU data: the guest view is estimated from the host CPU, and a gap says so.
        guest_view(&p, GuestViewSource::EstimatedFromCpuid, &case);
        assert!(
            p.partial && p.gaps.iter().any(|g| g.what == "kvm"),
            "{case}"
        );
        n += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(n, 20);
}

/// Real `virsh domcapabilities` of four hosts (libvirt tests/domaincapsdata, QEMU 6.2 to 10.0):
/// the guest view is libvirt's host-model CPU, the named models keep libvirt's usable flags and
/// blockers, the machine type is recorded, and the missing QEMU version is a gap.
#[test]
fn virsh_domcapabilities_import_host_model_and_usable_models() {
    let map = CpuMap::load();
    let universe = libvirt_universe(&map);
    for v in ["6.2.0", "8.2.0", "9.2.0", "10.0.0"] {
        let file = format!("libvirt-qemucaps/domaincapsdata/qemu_{v}-q35.x86_64.xml");
        let text = common::read_shared(&file);
        assert_eq!(detect(&text), Some(Format::VirshDomCapabilities), "{file}");
        let p = import(&text, None, &file);
        let doc = roxmltree::Document::parse(&text).expect("xml");
        let mode = |name: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name("mode") && n.attribute("name") == Some(name))
                .unwrap_or_else(|| panic!("{file}: no {name} mode"))
        };
        let hm = mode("host-model");
        let lv = LvCpu {
            model: hm
                .children()
                .find(|c| c.has_tag_name("model"))
                .and_then(|c| c.text())
                .map(str::to_owned),
            vendor: None,
            match_: None,
            features: hm
                .children()
                .filter(|c| c.has_tag_name("feature"))
                .filter_map(|c| {
                    Some((
                        c.attribute("name")?.to_owned(),
                        c.attribute("policy").map(str::to_owned),
                    ))
                })
                .collect(),
        };
        let theirs = expand(&map, &lv)
            .unwrap_or_else(|e| panic!("{file}: {e}"))
            .present;
        let view = guest_view(&p, GuestViewSource::LibvirtDomainCapabilities, &file);
        if let Some(d) = differs(
            &view.intersection(&universe),
            &theirs.intersection(&universe),
        ) {
            panic!("{file}: {d}");
        }
        assert_eq!(p.cpu.vendor, "AuthenticAMD", "{file}");
        let q = &p.qemu[0];
        let usable = mode("custom")
            .children()
            .filter(|c| c.has_tag_name("model") && c.attribute("usable") == Some("yes"))
            .count();
        assert_eq!(
            q.cpu_models.iter().filter(|m| m.usable).count(),
            usable,
            "{file}"
        );
        assert!(
            q.cpu_models
                .iter()
                .filter(|m| !m.usable)
                .any(|m| !m.unavailable_features.is_empty()),
            "{file}: blockers kept"
        );
        let machine = format!("pc-q35-{}", v.strip_suffix(".0").unwrap_or(v));
        assert_eq!(q.machines[0].name, machine, "{file}");
        assert_eq!(
            (q.path.as_str(), q.accel.as_str()),
            ("/usr/bin/qemu-system-x86_64", "kvm")
        );
        assert!(
            p.gaps
                .iter()
                .any(|g| g.what == "qemu.version" && g.reason.contains(&machine)),
            "{file}: {:?}",
            p.gaps
        );
    }
}
