//! Masks on real processors (libvirt v11.3.0 tests/cputestdata, `../shared/libvirt-cputestdata`):
//! the `vmx-*` features collapse into `vmx=off`, every flag is one QEMU accepts, identical hosts
//! get no mask, and a vendor change is said first.

mod common;

use shared::catalog::catalog;
use shared::featureset::FeatureSet;
use shared::flags::qemu_flags;
use shared::import::{ImportMeta, parse_libvirt_cpudata, profile_from_dump};
use shared::masks::{pair_masks, pool_masks};
use shared::profile::HostProfile;
use shared::verdict::{Layer, Policy, compare};

fn read(file: &str) -> String {
    common::read_shared(&format!("libvirt-cputestdata/{file}"))
}

fn meta(id: &str) -> ImportMeta {
    ImportMeta {
        host_id: id.into(),
        hostname: id.into(),
        ..ImportMeta::default()
    }
}

/// A host from its raw CPUID dump, with the guest view QEMU reported for it: the host-model
/// expansion (`NAME.json`), or what QEMU enabled (`NAME-enabled.xml`, CPUID and VMX MSRs).
fn host(name: &str, enabled: bool) -> HostProfile {
    let xml = read(&format!("x86_64-cpuid-{name}.xml"));
    if enabled {
        // The guest view libvirt's test recorded as enabled features, on the imported host.
        let e = parse_libvirt_cpudata(&read(&format!("x86_64-cpuid-{name}-enabled.xml")))
            .expect("enabled cpudata");
        let mut p = profile_from_dump(&xml, None, meta(name)).expect("cpudata");
        if let Some(k) = p.kvm.as_mut() {
            k.guest_features = shared::decode::features(&e.cpuid, &e.msrs);
            k.guest_features_source = shared::profile::GuestViewSource::QemuHostModel;
        }
        p
    } else {
        let qmp = read(&format!("x86_64-cpuid-{name}.json"));
        profile_from_dump(&xml, Some(&qmp), meta(name)).expect("cpudata with qmp")
    }
}

/// Every `name=off` of a `-cpu` line is a flag QEMU 10.0 accepts.
fn assert_qemu_flags(cpu: &str) {
    let flags = qemu_flags(None);
    for part in cpu.split(',').skip(1) {
        let name = part.strip_suffix("=off").expect("only =off in masks");
        let id = catalog()
            .lookup(name)
            .unwrap_or_else(|| panic!("{name} in {cpu}"));
        assert!(flags.contains(id), "QEMU has no flag {name}: {cpu}");
    }
}

#[test]
fn vmx_features_collapse_into_vmx_off_on_a_real_cascade_lake() {
    // Cascade Lake with nested VMX (what QEMU enabled: vmx and the VMX capability MSRs) and a
    // Skylake whose KVM offers no vmx.
    let csl = host("Xeon-Platinum-9242", true);
    let sky = host("Xeon-Gold-6148", false);
    let vmx = catalog().lookup("vmx").expect("vmx");
    let csl_view = csl.kvm.as_ref().expect("view").guest_features;
    let n_vmx = csl_view
        .names()
        .iter()
        .filter(|n| n.starts_with("vmx-"))
        .count();
    assert!(
        csl_view.contains(vmx) && n_vmx > 20,
        "{n_vmx} vmx-* features"
    );
    let m = pair_masks(&csl, &sky, &Policy::default()).expect("masks");
    let cpu = &m.source.qemu_cpu;
    assert!(cpu.contains(",vmx=off"), "{cpu}");
    assert!(!cpu.contains("vmx-"), "{cpu}");
    assert!(
        m.source.implied.len() >= n_vmx - 1,
        "{:?}",
        m.source.implied
    );
    assert!(!m.source.libvirt.contains("vmx-"), "{}", m.source.libvirt);
    assert_qemu_flags(cpu);
    assert_qemu_flags(&m.destination.qemu_cpu);
    // The masked guest moves: no CPU feature stands in the way any more.
    let v = compare(&csl, &sky, &m.source.guest);
    assert!(
        !v.reasons
            .iter()
            .any(|r| r.severity == shared::verdict::Severity::Blocker && r.message.contains("vmx")),
        "{:?}",
        v.reasons
    );
    assert!(
        m.unmaskable.iter().all(|r| !r.message.contains("vmx")),
        "{:?}",
        m.unmaskable
    );
}

#[test]
fn identical_real_hosts_get_no_mask() {
    for (name, enabled) in [
        ("Xeon-Platinum-9242", true),
        ("Ice-Lake-Server", false),
        ("Ryzen-9-3900X-12-Core", false),
    ] {
        let a = host(name, enabled);
        let mut b = a.clone();
        b.host_id = format!("{name}-twin");
        let m = pair_masks(&a, &b, &Policy::default()).expect("masks");
        assert_eq!(m.source.disable, FeatureSet::EMPTY, "{name}");
        assert_eq!(m.destination.qemu_cpu, "host", "{name}");
        let p = pool_masks(&[&a, &b], &Policy::default()).expect("pool");
        assert!(p.per_host.iter().all(|h| h.qemu_cpu == "host"), "{name}");
        assert!(p.unmaskable.is_empty(), "{name}");
    }
}

#[test]
fn a_vendor_change_is_said_first_on_real_intel_and_amd_hosts() {
    let intel = host("Xeon-Gold-6148", false);
    let icx = host("Ice-Lake-Server", false);
    let amd = host("Ryzen-9-3900X-12-Core", false);
    let m = pair_masks(&intel, &amd, &Policy::default()).expect("masks");
    assert!(!m.unmaskable.is_empty());
    assert_eq!(
        m.unmaskable[0].layer,
        Layer::Vendor,
        "{:?}",
        m.unmaskable[0]
    );
    assert_qemu_flags(&m.source.qemu_cpu);
    assert_qemu_flags(&m.destination.qemu_cpu);
    let p = pool_masks(&[&intel, &icx, &amd], &Policy::default()).expect("pool");
    assert_eq!(p.unmaskable.len(), 1);
    let r = &p.unmaskable[0];
    assert_eq!((r.layer, r.rule.as_str()), (Layer::Vendor, "vendor.change"));
    assert!(
        r.message
            .starts_with("masking cannot fix a cpu vendor change")
            && r.message.contains("GenuineIntel")
            && r.message.contains("AuthenticAMD"),
        "{}",
        r.message
    );
    // In the answer, what masking cannot fix comes before the masks.
    let json = serde_json::to_string(&p).expect("json");
    assert!(json.find("unmaskable") < json.find("per_host"), "{json}");
    let json = serde_json::to_string(&m).expect("json");
    assert!(json.find("unmaskable") < json.find("source"), "{json}");
    // Intel only: nothing masking cannot fix on the vendor side.
    let p = pool_masks(&[&intel, &icx], &Policy::default()).expect("pool");
    assert!(p.unmaskable.is_empty());
}
