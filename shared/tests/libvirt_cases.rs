//! libvirt's CPU test cases (libvirt v11.3.0 tests/cputestdata, DEV split, `cases.tsv`) run
//! through fleetcompat's engine and compared as FEATURE SETS with libvirt's expected output, model
//! names expanded through libvirt's cpu_map. A case either agrees, or differs in a way this file
//! names and explains by a rule of the engine (see `explained_by_rule`, `check_model`); anything
//! else fails the test.

mod common;

use common::libvirt::{CpuMap, LvCpu, expand, libvirt_universe, parse_cpus, vendor_string};

use shared::baseline::{BaselineOptions, baseline};
use shared::catalog::catalog;
use shared::featureset::FeatureSet;
use shared::import::{parse_libvirt_cpudata, qmp_host_model_features};
use shared::testing::profile;
use shared::verdict::{GuestConfig, compare, without_non_migratable};

fn diff(ours: &FeatureSet, theirs: &FeatureSet) -> (Vec<String>, Vec<String>) {
    (
        ours.difference(theirs).names(),
        theirs.difference(ours).names(),
    )
}

/// Differences explained by a rule of fleetcompat rather than by a case: only features libvirt's
/// cpu_map marks `migratable='no'` missing from our host model or baseline. The issue and
/// DOMAIN.md define both as "minus non-migratable features"; libvirt's QEMU-probed host-model
/// trusts QEMU's own migratability (which keeps xsaves) and its baseline without
/// VIR_CONNECT_BASELINE_CPU_MIGRATABLE keeps them.
fn explained_by_rule(
    check: &str,
    extra: &FeatureSet,
    missing: &FeatureSet,
) -> Option<&'static str> {
    let non_migratable = shared::verdict::non_migratable();
    let modelled = matches!(
        check,
        "host-model" | "host-model-baseline" | "baseline" | "baseline-import"
    );
    if modelled && extra.is_empty() && missing.is_subset(&non_migratable) {
        return Some(
            "fleetcompat drops features libvirt's cpu_map marks migratable='no' (xsaves, invtsc) from host models and baselines; libvirt keeps them on its QEMU-probed host-model and on baselines without the MIGRATABLE flag",
        );
    }
    // The SVM leaf without svm: QEMU turns svm off for named models under KVM
    // (target/i386/kvm/kvm-cpu.c kvm_default_props) and then reads CPUID.8000000AH as zero
    // (target/i386/cpu.c cpu_x86_cpuid), so a guest on the baseline model never sees npt or
    // nrip-save; libvirt lists them from the host's CPUID regardless.
    let svm_leaf = FeatureSet::from_names([
        "npt",
        "nrip-save",
        "svm-lock",
        "vmcb-clean",
        "pause-filter",
        "pfthreshold",
        "tsc-scale",
        "decodeassists",
        "flushbyasid",
        "lbrv",
        "avic",
        "v-vmsave-vmload",
        "vgif",
    ])
    .0;
    (modelled && extra.is_empty() && !missing.is_empty() && missing.is_subset(&svm_leaf))
        .then_some(
            "QEMU hides the SVM leaf (npt, nrip-save...) from named-model guests under KVM, whose svm is off by default (kvm_default_props; cpu_x86_cpuid zeroes CPUID.8000000AH without svm); libvirt's baseline lists them from the host",
        )
}

struct Report {
    agree: Vec<String>,
    explained: Vec<String>,
    failures: Vec<String>,
    not_covered: Vec<String>,
}

impl Report {
    fn check(&mut self, case: &str, check: &str, ours: &FeatureSet, theirs: &FeatureSet) {
        let (extra, missing) = diff(ours, theirs);
        if extra.is_empty() && missing.is_empty() {
            self.agree.push(format!("{case} [{check}]"));
            return;
        }
        let why = explained_by_rule(check, &ours.difference(theirs), &theirs.difference(ours));
        match why {
            Some(why) => self.explained.push(format!(
                "{case} [{check}]: only fleetcompat {extra:?}; only libvirt {missing:?}: {why}"
            )),
            None => self.failures.push(format!(
                "{case} [{check}]: only fleetcompat {extra:?}; only libvirt {missing:?}"
            )),
        }
    }
}

impl Report {
    /// The model choice: the same QEMU model family as libvirt's, or a model whose family/model
    /// signature is the host's own where libvirt's is not (fleetcompat ranks a signature match
    /// first, as libvirt does, but over QEMU's model list, whose signatures differ from cpu_map's).
    fn check_model(
        &mut self,
        case: &str,
        ours: &str,
        theirs: Option<&str>,
        sig: Option<(u32, u32)>,
        target: &FeatureSet,
    ) {
        let db = shared::models::models();
        let Some(t) = theirs.and_then(|t| db.resolve(t)) else {
            self.failures.push(format!(
                "{case} [model]: libvirt model {theirs:?} unknown to QEMU 10.0"
            ));
            return;
        };
        let Some(o) = db.resolve(ours) else {
            self.failures
                .push(format!("{case} [model]: our model {ours} unknown"));
            return;
        };
        if o.family_name() == t.family_name() {
            self.agree
                .push(format!("{case} [model {ours} ~ {}]", t.name));
            return;
        }
        // libvirt's own ranking (signature match first, then fewest added + penalised removed
        // features) applied to QEMU's definitions of both models.
        let fo = shared::models::fit(o, target, sig);
        let ft = shared::models::fit(t, target, sig);
        if (fo.signature_match && !ft.signature_match)
            || (fo.signature_match == ft.signature_match && fo.score <= ft.score)
        {
            self.explained.push(format!(
                "{case} [model]: fleetcompat {ours}, libvirt {}: by QEMU 10.0's definitions {ours} fits better (signature match {} vs {}, score {} vs {}); libvirt ranks its own cpu_map definitions",
                t.name, fo.signature_match, ft.signature_match, fo.score, ft.score
            ));
        } else {
            self.failures.push(format!(
                "{case} [model]: fleetcompat {ours}, libvirt {}",
                t.name
            ));
        }
    }
}

/// Family and model from a CPUID.01H:EAX signature (libvirt's `.sig` files).
fn sig_family_model(eax: u32) -> (u32, u32) {
    let base_family = (eax >> 8) & 0xf;
    let family = base_family
        + if base_family == 0xf {
            (eax >> 20) & 0xff
        } else {
            0
        };
    (family, ((eax >> 4) & 0xf) | ((eax >> 12) & 0xf0))
}

fn read(file: &str) -> String {
    common::read_shared(&format!("libvirt-cputestdata/{file}"))
}

#[test]
fn libvirt_dev_cases_agree_as_feature_sets() {
    let map = CpuMap::load();
    let universe = libvirt_universe(&map);
    let cases = read("cases.tsv");
    let mut r = Report {
        agree: Vec::new(),
        explained: Vec::new(),
        failures: Vec::new(),
        not_covered: Vec::new(),
    };
    let mut n_cases = 0;
    for line in cases.lines().skip(1) {
        let cols: Vec<&str> = line.split('\t').collect();
        assert!(cols.len() >= 4, "bad cases.tsv line {line}");
        n_cases += 1;
        let (case, kind, inputs, expected) = (cols[0], cols[1], cols[2], cols[3]);
        let inputs: Vec<&str> = inputs.split(';').collect();
        match kind {
            "cpuid-host-model" => {
                let data = parse_libvirt_cpudata(&read(inputs[0])).expect("cpudata");
                let expected: Vec<&str> = expected.split(';').collect();
                // Signature.
                let sig_file = expected.iter().find(|f| f.ends_with(".sig")).expect("sig");
                let sig = read(sig_file);
                let want = u32::from_str_radix(sig.lines().next().unwrap_or("").trim(), 16)
                    .expect("sig hex");
                let (f, m, s) = shared::decode::signature(&data.cpuid).expect("signature");
                let (wf, wm) = sig_family_model(want);
                let want = (wf, wm, want & 0xf);
                if (f, m, s) == want {
                    r.agree.push(format!("{case} [signature]"));
                } else {
                    r.failures.push(format!("{case} [signature]: ours {:?} libvirt {want:?}", (f, m, s)));
                }
                // Host CPU view from raw CPUID.
                let host_file = expected.iter().find(|f| f.ends_with("-host.xml")).expect("host");
                let host_cpu = &parse_cpus(&read(host_file))[0];
                let theirs = expand(&map, host_cpu).expect("host cpu expands").present;
                let ours = shared::decode::features(&data.cpuid, &data.msrs);
                r.check(case, "host-cpu", &ours.intersection(&universe), &theirs.intersection(&universe));
                // The same CPU as libvirt writes it for a guest definition (model + require /
                // disable): the same feature set as the host CPU view.
                if let Some(guest_file) = expected.iter().find(|f| f.ends_with("-guest.xml")) {
                    let lv = &parse_cpus(&read(guest_file))[0];
                    let theirs = expand(&map, lv).expect("guest cpu expands").present;
                    let (ours_g, theirs_g) = (ours.intersection(&universe), theirs.intersection(&universe));
                    // libvirt builds guest CPUs of JSON_MODELS cases with QEMU's usable-model
                    // data: features KVM on that host does not offer (per the case's QMP host
                    // model) are left out there; fleetcompat's host view is CPUID as is.
                    let kvm_view = inputs
                        .get(1)
                        .filter(|f| f.ends_with(".json"))
                        .and_then(|f| qmp_host_model_features(&read(f)).ok());
                    let extra = ours_g.difference(&theirs_g);
                    match kvm_view {
                        Some(kv)
                            if theirs_g.is_subset(&ours_g)
                                && !extra.is_empty()
                                && extra.intersection(&kv).is_empty()
                                && cols.get(4).is_some_and(|x| x.contains("JSON_MODELS")) =>
                        {
                            r.explained.push(format!(
                                "{case} [guest-cpu]: only fleetcompat {:?}: the host has them but its KVM does not offer them (QMP host model); libvirt leaves them out of guest CPUs built from QEMU's usable-model data",
                                extra.names()
                            ));
                        }
                        _ => r.check(case, "guest-cpu", &ours_g, &theirs_g),
                    }
                }
                // Guest view (host-model) from QEMU's expansion of `host` under KVM.
                if let Some(json_xml) = expected.iter().find(|f| f.ends_with("-json.xml")) {
                    let qmp = read(inputs[1]);
                    let view = qmp_host_model_features(&qmp).expect("qmp host model");
                    let lv = &parse_cpus(&read(json_xml))[0];
                    let theirs = expand(&map, lv).expect("json cpu expands").present;
                    let ours = without_non_migratable(&view);
                    r.check(case, "host-model", &ours.intersection(&universe), &theirs.intersection(&universe));
                    // Our host model (baseline of the one host) keeps every feature of the view.
                    let vendor = vendor_string(lv.vendor.as_deref());
                    let mut p = profile(case, &vendor, view);
                    (p.cpu.family, p.cpu.model, p.cpu.stepping) = (f, m, s);
                    let hm = baseline(&[&p], &BaselineOptions::default()).expect("host model");
                    r.check(case, "host-model-baseline", &hm.features.intersection(&universe), &theirs.intersection(&universe));
                    r.check_model(case, &hm.model, lv.model.as_deref(), Some((f, m)), &ours);
                } else {
                    r.not_covered.push(format!("{case} [host-model]: no QEMU data in the case (json=JSON_NONE)"));
                }
            }
            "cpuid-baseline" | "baseline" => {
                let cpus: Vec<LvCpu> = if kind == "baseline" {
                    parse_cpus(&read(inputs[0]))
                } else {
                    inputs.iter().flat_map(|f| parse_cpus(&read(f))).collect()
                };
                let profiles: Vec<_> = cpus
                    .iter()
                    .enumerate()
                    .map(|(i, c)| {
                        let e = expand(&map, c).expect("baseline input expands");
                        let mut p = profile(&format!("h{i}"), &vendor_string(c.vendor.as_deref()), e.present);
                        // The host's signature where the case names the CPU, else unknown.
                        let sig = inputs
                            .get(i)
                            .filter(|_| kind == "cpuid-baseline")
                            .and_then(|f| f.strip_suffix("-json.xml"))
                            .map(|stem| read(&format!("{stem}.sig")))
                            .and_then(|t| u32::from_str_radix(t.lines().next().unwrap_or("").trim(), 16).ok())
                            .map_or((0, 0), sig_family_model);
                        (p.cpu.family, p.cpu.model) = sig;
                        p
                    })
                    .collect();
                let refs: Vec<_> = profiles.iter().collect();
                let ours = baseline(&refs, &BaselineOptions::default()).expect("baseline");
                let exp = &parse_cpus(&read(expected))[0];
                let theirs = expand(&map, exp).expect("expected baseline expands").present;
                r.check(case, "baseline", &ours.features.intersection(&universe), &theirs.intersection(&universe));
                // The same baseline through the import path: each host's raw `<cpudata>` with
                // its QMP replies, as `fleetcompat-collector import` reads them.
                if kind == "cpuid-baseline" {
                    let imported: Vec<_> = inputs
                        .iter()
                        .filter_map(|f| f.strip_suffix("-json.xml"))
                        .map(|stem| {
                            let meta = shared::import::ImportMeta {
                                host_id: stem.to_owned(),
                                hostname: stem.to_owned(),
                                ..shared::import::ImportMeta::default()
                            };
                            let qmp = read(&format!("{stem}.json"));
                            shared::import::profile_from_dump(&read(&format!("{stem}.xml")), Some(&qmp), meta)
                                .unwrap_or_else(|e| panic!("{case}: import of {stem}.xml: {e}"))
                        })
                        .collect();
                    assert_eq!(imported.len(), inputs.len(), "{case}: every input has its dump");
                    let refs: Vec<_> = imported.iter().collect();
                    let via_import = baseline(&refs, &BaselineOptions::default()).expect("baseline of imports");
                    r.check(
                        case,
                        "baseline-import",
                        &via_import.features.intersection(&universe),
                        &theirs.intersection(&universe),
                    );
                }
                if kind == "cpuid-baseline" {
                    let target = shared::baseline::common_features(&refs).expect("common");
                    r.check_model(case, &ours.model, exp.model.as_deref(), None, &without_non_migratable(&target));
                }
                // The baseline runs on every input.
                for p in &profiles {
                    let g = GuestConfig {
                        cpu: shared::GuestCpu::Named {
                            model: ours.base_model.clone(),
                            enable: ours.added.names(),
                            disable: ours.removed.names(),
                        },
                        ..GuestConfig::default()
                    };
                    let v = compare(p, p, &g);
                    assert!(
                        !v.reasons.iter().any(|r| r.rule == "cpu.model-not-runnable-on-source"),
                        "{case}: baseline {} does not run on {}: {:?}",
                        ours.exports.qemu,
                        p.host_id,
                        v.reasons
                    );
                }
            }
            "compare" => {
                let host = &parse_cpus(&read(inputs[0]))[0];
                let guest = &parse_cpus(&read(inputs[1]))[0];
                let h = expand(&map, host).expect("host expands");
                let ours = match expand(&map, guest) {
                    Err(_) => "ERROR",
                    Ok(g) => {
                        // The guest's required features on a source that offers exactly them,
                        // judged against the host by fleetcompat's verdict.
                        let vendor = vendor_string(host.vendor.as_deref());
                        let gv = guest.vendor.as_deref().map_or_else(|| vendor.clone(), |v| vendor_string(Some(v)));
                        let src = profile("guest", &gv, g.required);
                        let dst = profile("host", &vendor, h.present);
                        let v = compare(&src, &dst, &GuestConfig::default());
                        // libvirt guest-CPU policies fleetcompat's verdict has no notion of:
                        // forbid (the host must lack it) and match='strict' (no extra features).
                        let seen = g.required.union(&g.soft.intersection(&h.present));
                        let forbidden_present = !g.forbidden.intersection(&h.present).is_empty();
                        let strict_extra = guest.match_.as_deref() == Some("strict") && h.present != seen;
                        if !v.compatible || forbidden_present || strict_extra {
                            "INCOMPATIBLE"
                        } else if h.present == seen {
                            "IDENTICAL"
                        } else {
                            "SUPERSET"
                        }
                    }
                };
                if ours == expected {
                    r.agree.push(format!("{case} [compare {ours}]"));
                } else {
                    r.failures.push(format!("{case} [compare]: ours {ours}, libvirt {expected}"));
                }
            }
            "hasfeature" => {
                let host = &parse_cpus(&read(inputs[0]))[0];
                let h = expand(&map, host).expect("host expands").present;
                let feature = cols.get(4).and_then(|x| x.strip_prefix("feature=")).expect("feature=");
                let has = catalog().lookup(feature).is_some_and(|id| h.contains(id));
                let ours = if has { "YES" } else { "NO" };
                if ours == expected {
                    r.agree.push(format!("{case} [hasfeature]"));
                } else {
                    r.failures.push(format!("{case} [hasfeature]: ours {ours}, libvirt {expected}"));
                }
            }
            other => r.not_covered.push(format!(
                "{case} [{other}]: libvirt's guest-CPU update/model-list API, not a fleetcompat operation"
            )),
        }
    }
    println!(
        "\nlibvirt dev cases: {n_cases}; checks agreeing: {}; explained differences: {}; failures: {}; not covered: {}",
        r.agree.len(),
        r.explained.len(),
        r.failures.len(),
        r.not_covered.len()
    );
    for a in &r.agree {
        println!("  agree     {a}");
    }
    for e in &r.explained {
        println!("  explained {e}");
    }
    for n in &r.not_covered {
        println!("  skipped   {n}");
    }
    for f in &r.failures {
        println!("  FAIL      {f}");
    }
    assert!(
        r.failures.is_empty(),
        "{} checks differ from libvirt without an explanation:\n{}",
        r.failures.len(),
        r.failures.join("\n")
    );
    assert!(r.agree.len() > 40, "too few checks ran: {}", r.agree.len());
}
