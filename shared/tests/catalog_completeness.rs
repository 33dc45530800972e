//! Every CPUID/MSR feature name QEMU 10.0.2 uses in its named models resolves in the catalog.

mod common;

use shared::catalog::{FeatureClass, FeatureLocation, catalog};

#[test]
fn every_qemu_model_feature_is_in_the_catalog() {
    let text = common::read_shared("qemu-cpu-models/qemu-10.0.2-x86_64-cpu-models.json");
    let doc: serde_json::Value = serde_json::from_str(&text).expect("qemu model json parses");
    let models = doc["models"].as_object().expect("models object");
    assert!(models.len() > 100, "only {} models", models.len());
    let mut names = std::collections::BTreeSet::new();
    for m in models.values() {
        for f in m["cpuid_features"].as_array().expect("cpuid_features list") {
            names.insert(f.as_str().expect("feature name").to_owned());
        }
    }
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| catalog().lookup(n).is_none())
        .collect();
    assert!(missing.is_empty(), "not in the catalog: {missing:?}");
    // QEMU's spelling is the canonical name wherever QEMU knows the bit.
    let renamed: Vec<String> = names
        .iter()
        .filter_map(|n| {
            let f = catalog().get(catalog().lookup(n)?);
            (f.qemu_name.as_deref() != Some(n.as_str()))
                .then(|| format!("{n} -> {:?}", f.qemu_name))
        })
        .collect();
    assert!(renamed.is_empty(), "qemu names differ: {renamed:?}");
}

#[test]
fn added_rows_have_their_manual_locations_and_classes() {
    let c = catalog();
    let bhi = c.get(c.lookup("bhi-no").expect("bhi-no"));
    // IA32_ARCH_CAPABILITIES (MSR 10AH)[20] BHI_NO
    assert_eq!(
        bhi.location,
        FeatureLocation::Msr {
            index: 0x10a,
            mask: 1 << 20
        }
    );
    assert_eq!(bhi.class, FeatureClass::Microcode);
    // CPUID.(EAX=C0000001H):EDX[2] xstore, formerly only the Linux name 'rng'.
    let xstore = c.lookup("xstore").expect("xstore");
    assert_eq!(c.lookup("rng"), Some(xstore));
    assert_eq!(
        c.get(xstore).location.to_string(),
        "CPUID.(EAX=C0000001H,ECX=0):EDX[2]"
    );
    // CPUID.(EAX=40000001H):EAX[7] KVM_FEATURE_PV_UNHALT
    let unhalt = c.get(c.lookup("kvm-pv-unhalt").expect("kvm-pv-unhalt"));
    assert_eq!(
        unhalt.location.to_string(),
        "CPUID.(EAX=40000001H,ECX=0):EAX[7]"
    );
    // Names are unique: no two features share a canonical name.
    let mut seen = std::collections::HashSet::new();
    for f in c.features() {
        assert!(
            seen.insert(f.name.clone()),
            "duplicate feature name {}",
            f.name
        );
        assert_eq!(
            c.lookup(&f.name),
            Some(f.id),
            "{} does not resolve to itself",
            f.name
        );
    }
}
