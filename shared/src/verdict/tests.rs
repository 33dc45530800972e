use super::*;
use crate::catalog::{FeatureClass, catalog};
use crate::models::QemuVersion;
use crate::testing::{profile_named, profile_of_model};
use crate::view::id_of;

#[test]
fn a_host_runs_the_models_its_kvm_and_qemu_offer() {
    let mut sky = profile_of_model("sky", "Skylake-Server-v4").expect("model");
    let policy = Policy::default();
    assert!(can_run_model(&sky, "Skylake-Server-v4", &policy));
    assert!(can_run_model(&sky, "SandyBridge-v1", &policy));
    assert!(
        !can_run_model(&sky, "Skylake-Server-v1", &policy),
        "it has TSX, v4 not"
    );
    assert!(!can_run_model(&sky, "Icelake-Server-v1", &policy));
    assert!(!can_run_model(&sky, "no-such-model", &policy));
    // GraniteRapids-v1 first appears in QEMU 8.2: a host with QEMU 6.2 cannot start it,
    // whatever its CPU offers.
    let mut gnr = profile_of_model("gnr", "GraniteRapids-v1").expect("model");
    assert!(can_run_model(&gnr, "GraniteRapids-v1", &policy));
    gnr.qemu.push(crate::profile::QemuInstall {
        version: "6.2.0".into(),
        ..crate::profile::QemuInstall::default()
    });
    assert!(!can_run_model(&gnr, "GraniteRapids-v1", &policy));
    assert!(can_run_model(&gnr, "Skylake-Server-v4", &policy));
    sky.kvm = None;
    assert!(!can_run_model(&sky, "SandyBridge-v1", &policy));
}

fn rules(v: &Verdict) -> Vec<(&str, Severity)> {
    v.reasons
        .iter()
        .map(|r| (r.rule.as_str(), r.severity))
        .collect()
}

#[test]
fn missing_fixed_feature_blocks_and_microcode_feature_warns() {
    let src = profile_named("a", "GenuineIntel", &["sse2", "avx2", "md-clear", "taa-no"]);
    let dst = profile_named("b", "GenuineIntel", &["sse2"]);
    let v = compare(&src, &dst, &GuestConfig::default());
    assert!(!v.compatible);
    let r = rules(&v);
    assert!(
        r.contains(&("cpu.feature-missing", Severity::Blocker)),
        "{r:?}"
    );
    assert_eq!(
        r.iter()
            .filter(|x| x.0 == "cpu.microcode-feature-missing")
            .count(),
        2,
        "{r:?}"
    );
    let avx2 = v
        .reasons
        .iter()
        .find(|r| r.rule == "cpu.feature-missing")
        .expect("avx2");
    assert!(
        matches!(&avx2.evidence, Evidence::Feature { citation, .. } if citation == "CPUID.(EAX=07H,ECX=0):EBX[5]")
    );
    // The other way round only gains features: the destination's QEMU computes CPUID afresh,
    // a silent change under the running guest.
    let back = compare(&dst, &src, &GuestConfig::default());
    assert!(back.compatible, "{:?}", back.reasons);
    assert!(rules(&back).contains(&("cpu.feature-gained", Severity::Warning)));
}

#[test]
fn microcode_controls_block_and_enumeration_bits_warn() {
    let src = profile_named("a", "GenuineIntel", &["sse2", "spec-ctrl", "md-clear"]);
    let dst = profile_named("b", "GenuineIntel", &["sse2"]);
    let v = compare(&src, &dst, &GuestConfig::default());
    let r = rules(&v);
    assert!(
        r.contains(&("cpu.microcode-control-missing", Severity::Blocker)),
        "{r:?}"
    );
    assert!(
        r.contains(&("cpu.microcode-feature-missing", Severity::Warning)),
        "{r:?}"
    );
    let all_known = crate::catalog::MICROCODE_CONTROLS.iter().all(|n| {
        catalog()
            .lookup(n)
            .is_some_and(|id| catalog().get(id).class == FeatureClass::Microcode)
    });
    assert!(
        all_known,
        "every control is a known microcode-class feature"
    );
}

#[test]
fn vendor_change_blocks_unless_policy_and_named_model() {
    let src = profile_named("a", "GenuineIntel", &["sse2", "lm"]);
    let dst = profile_named("b", "AuthenticAMD", &["sse2", "lm"]);
    assert!(!compare(&src, &dst, &GuestConfig::default()).compatible);
    let policy = Policy {
        allow_vendor_change: true,
        ..Policy::default()
    };
    assert!(!compare_with(&src, &dst, &GuestConfig::default(), &policy).compatible);
    let mut src = profile_of_model("a", "qemu64-v1").expect("qemu64");
    src.cpu.vendor = "GenuineIntel".into();
    let dst = profile_of_model("b", "qemu64-v1").expect("qemu64");
    let named = GuestConfig {
        cpu: GuestCpu::Named {
            model: "qemu64-v1".into(),
            enable: vec![],
            disable: vec![],
        },
        ..GuestConfig::default()
    };
    let v = compare_with(&src, &dst, &named, &policy);
    assert!(v.compatible, "{:?}", v.reasons);
    assert!(rules(&v).contains(&("vendor.change-allowed", Severity::Warning)));
    assert!(!compare(&src, &dst, &named).compatible);
}

#[test]
fn named_model_needs_its_features_and_qemu_release() {
    let src = profile_of_model("a", "Cascadelake-Server-v5").expect("model");
    let dst = profile_of_model("b", "Skylake-Server-v5").expect("model");
    let guest = |model: &str, disable: &[&str]| GuestConfig {
        cpu: GuestCpu::Named {
            model: model.into(),
            enable: vec![],
            disable: disable.iter().map(|s| (*s).to_owned()).collect(),
        },
        ..GuestConfig::default()
    };
    assert!(compare(&src, &dst, &guest("Skylake-Server-v5", &[])).compatible);
    let v = compare(&src, &dst, &guest("Cascadelake-Server-v5", &[]));
    assert!(!v.compatible);
    let missing: Vec<_> = v
        .reasons
        .iter()
        .filter(|r| r.rule == "cpu.feature-missing")
        .collect();
    assert!(
        missing.iter().any(|r| r.message.contains("avx512vnni")),
        "{missing:?}"
    );
    let policy = Policy {
        dst_qemu: QemuVersion::parse("6.2.0"),
        ..Policy::default()
    };
    let sr = profile_of_model("c", "SapphireRapids-v3").expect("model");
    let v = compare_with(&sr, &sr, &guest("SapphireRapids-v3", &[]), &policy);
    assert!(
        rules(&v).contains(&("qemu.model-missing", Severity::Blocker)),
        "{:?}",
        v.reasons
    );
    let v = compare(&src, &dst, &guest("NoSuchModel", &[]));
    assert!(rules(&v).contains(&("cpu.invalid-guest-cpu", Severity::Blocker)));
}

#[test]
fn invtsc_needs_fixed_frequency_and_matching_tsc() {
    let mut src = profile_named("a", "GenuineIntel", &["sse2", "invtsc"]);
    let mut dst = src.clone();
    dst.host_id = "b".into();
    src.cpu.tsc_khz = Some(2_100_000);
    dst.cpu.tsc_khz = Some(2_100_400); // 190 ppm
    // QEMU's default host-passthrough (migratable=on) leaves invtsc out.
    let v = compare(&src, &dst, &GuestConfig::default());
    assert!(v.compatible, "{:?}", v.reasons);
    let keeps = GuestConfig {
        cpu_props: [("migratable".to_owned(), "off".to_owned())].into(),
        ..GuestConfig::default()
    };
    let v = compare(&src, &dst, &keeps);
    assert!(rules(&v).contains(&("cpu.invtsc-without-tsc-frequency", Severity::Blocker)));
    let fixed = Policy {
        guest_tsc_khz: Some(2_100_000),
        ..Policy::default()
    };
    assert!(compare_with(&src, &dst, &keeps, &fixed).compatible);
    dst.cpu.tsc_khz = Some(2_101_000); // 476 ppm
    let v = compare_with(&src, &dst, &keeps, &fixed);
    assert!(
        rules(&v).contains(&("tsc.frequency-mismatch", Severity::Blocker)),
        "{:?}",
        v.reasons
    );
    if let Some(k) = dst.kvm.as_mut() {
        k.tsc_scaling = Some(true);
    }
    let v = compare_with(&src, &dst, &keeps, &fixed);
    assert!(v.compatible && rules(&v).contains(&("tsc.scaled", Severity::Info)));
    // host-model drops invtsc, so no blocker there, and says so.
    let hm = GuestConfig {
        cpu: GuestCpu::HostModel,
        ..GuestConfig::default()
    };
    let v = compare(&src, &dst, &hm);
    assert!(v.compatible);
    assert!(rules(&v).contains(&("cpu.non-migratable-left-out", Severity::Info)));
}

#[test]
fn identical_hosts_give_no_warning_and_xsaves_is_info_only_when_asked_for() {
    let src = profile_named("a", "GenuineIntel", &["sse2", "xsave", "xsaves", "arat"]);
    for cpu in [GuestCpu::HostPassthrough, GuestCpu::HostModel] {
        let v = compare(&src, &src, &GuestConfig::with_cpu(cpu));
        assert!(v.compatible, "{:?}", v.reasons);
        assert!(
            !v.reasons.iter().any(|r| r.severity != Severity::Info),
            "{:?}",
            v.reasons
        );
        assert!(
            !rules(&v)
                .iter()
                .any(|r| r.0 == "cpu.non-migratable-feature")
        );
    }
    let named = GuestConfig::with_cpu(GuestCpu::Named {
        model: "Nehalem-v1".into(),
        enable: vec!["xsaves".into()],
        disable: Vec::new(),
    });
    let v = compare(&src, &src, &named);
    assert!(rules(&v).contains(&("cpu.non-migratable-feature", Severity::Info)));
}

#[test]
fn named_models_lose_what_the_hosts_qemu_filters_and_enforce_refuses() {
    // A host whose KVM lacks pni (this nested KVM does): QEMU filters it from qemu64 and the
    // guest runs without it; a migration between identical hosts works.
    let mut host = profile_of_model("h", "qemu64-v1").expect("model");
    let pni = id_of("pni").expect("pni");
    if let Some(k) = host.kvm.as_mut() {
        k.guest_features.remove(pni);
    }
    let qemu64 = GuestConfig::with_cpu(GuestCpu::Named {
        model: "qemu64-v1".into(),
        enable: Vec::new(),
        disable: Vec::new(),
    });
    let v = compare(&host, &host, &qemu64);
    assert!(v.compatible, "{:?}", v.reasons);
    assert!(rules(&v).contains(&("cpu.model-filtered-on-source", Severity::Info)));
    // svm is off under KVM whatever the model says (kvm_default_props), so never lost.
    let seen = guest_view(&host, &qemu64).expect("view");
    assert!(!seen.contains(id_of("svm").expect("svm")) && !seen.contains(pni));
    // With enforce QEMU refuses to start it on the source.
    let mut enforced = qemu64.clone();
    enforced.cpu_props.insert("enforce".into(), String::new());
    let v = compare(&host, &host, &enforced);
    assert!(rules(&v).contains(&("cpu.enforce-refuses-start", Severity::Blocker)));
    // To a host that has pni, the guest gains it (CPUID computed afresh): a warning.
    let full = profile_of_model("f", "qemu64-v1").expect("model");
    let v = compare(&host, &full, &qemu64);
    assert!(v.compatible, "{:?}", v.reasons);
    assert!(rules(&v).contains(&("cpu.feature-gained", Severity::Warning)));
    // And the other way it loses it: a blocker.
    let v = compare(&full, &host, &qemu64);
    assert!(!v.compatible);
    assert!(rules(&v).contains(&("cpu.feature-missing", Severity::Blocker)));
}

#[test]
fn guest_cpu_serde_uses_mode_tag() {
    let g: GuestConfig = serde_json::from_str(
        r#"{"cpu":{"mode":"named","model":"EPYC-Rome-v4","enable":["pcid"],"disable":["xsaves"]}}"#,
    )
    .expect("named guest parses");
    assert!(matches!(g.cpu, GuestCpu::Named { ref model, .. } if model == "EPYC-Rome-v4"));
    let j = serde_json::to_string(&GuestConfig::default()).expect("json");
    assert_eq!(j, r#"{"cpu":{"mode":"host-passthrough"}}"#);
}

#[test]
fn libvirt_refuses_a_lost_microcode_feature_that_qemu_only_warns_about() {
    // md-clear is microcode-class: QEMU filters it silently, libvirt's check='partial' refuses.
    let src = profile_named("a", "GenuineIntel", &["sse2", "md-clear"]);
    let dst = profile_named("b", "GenuineIntel", &["sse2"]);
    let named = |managed_by| GuestConfig {
        managed_by,
        ..GuestConfig::with_cpu(GuestCpu::Named {
            model: "Nehalem-v1".into(),
            enable: vec!["md-clear".into()],
            disable: Vec::new(),
        })
    };
    let v = compare(&src, &dst, &named(Some(ManagementStack::Qemu)));
    assert!(v.compatible, "{:?}", v.reasons);
    assert!(rules(&v).contains(&("cpu.microcode-feature-missing", Severity::Warning)));
    let v = compare(&src, &dst, &named(Some(ManagementStack::Libvirt)));
    assert!(!v.compatible);
    assert!(rules(&v).contains(&("cpu.libvirt-refuses-missing-feature", Severity::Blocker)));
    // The policy's stack wins over the definition's.
    let policy = Policy {
        stack: Some(ManagementStack::Qemu),
        ..Policy::default()
    };
    assert!(compare_with(&src, &dst, &named(Some(ManagementStack::Libvirt)), &policy).compatible);
    // host-model is libvirt's: refused by default.
    let v = compare(&src, &dst, &GuestConfig::with_cpu(GuestCpu::HostModel));
    assert!(rules(&v).contains(&("cpu.libvirt-refuses-missing-feature", Severity::Blocker)));
    // libvirt does not check host-passthrough's features: QEMU's rules.
    let hp = GuestConfig {
        managed_by: Some(ManagementStack::Libvirt),
        ..GuestConfig::default()
    };
    let v = compare(&src, &dst, &hp);
    assert!(v.compatible, "{:?}", v.reasons);
}

#[test]
fn libvirt_check_none_leaves_a_lost_feature_to_qemu() {
    // libvirt src/qemu/qemu_process.c qemuProcessUpdateGuestCPU compares the guest CPU with the
    // destination's only for check='partial'; with check='none' QEMU filters what is missing.
    let src = profile_named("a", "GenuineIntel", &["sse2", "md-clear"]);
    let dst = profile_named("b", "GenuineIntel", &["sse2"]);
    let xml = |check: &str| {
        format!(
            "<domain type='kvm'><name>g</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type machine='pc-q35-7.2'>hvm</type></os><cpu mode='custom' match='exact' check='{check}'><model fallback='forbid'>Nehalem-v1</model><feature policy='require' name='md-clear'/></cpu></domain>"
        )
    };
    let guest =
        |check: &str| crate::guest::libvirt::parse_domain_xml(&xml(check)).expect("domain xml");
    assert!(guest("none").libvirt_check_none);
    assert!(!guest("partial").libvirt_check_none);
    let v = compare(&src, &dst, &guest("none"));
    assert!(v.compatible, "{:?}", v.reasons);
    assert!(rules(&v).contains(&("cpu.microcode-feature-missing", Severity::Warning)));
    let v = compare(&src, &dst, &guest("partial"));
    assert!(rules(&v).contains(&("cpu.libvirt-refuses-missing-feature", Severity::Blocker)));
}
