//! Property tests of the engine over hosts derived from QEMU's real models with random features
//! added and removed.

use proptest::prelude::*;

use shared::baseline::{BaselineOptions, baseline};
use shared::catalog::{FeatureId, catalog};
use shared::featureset::FeatureSet;
use shared::graph::strongly_connected;
use shared::masks::pair_masks;
use shared::models::models;
use shared::profile::HostProfile;
use shared::testing::profile;
use shared::verdict::{
    GuestConfig, GuestCpu, HostFacts, Policy, compare, compare_with, non_migratable,
};

/// Versioned QEMU models of the three vendors fleets have.
fn base_models() -> Vec<&'static shared::models::NamedModel> {
    models()
        .versioned()
        .filter(|m| {
            matches!(
                m.vendor.as_deref(),
                Some("GenuineIntel" | "AuthenticAMD" | "HygonGenuine")
            )
        })
        .collect()
}

prop_compose! {
    /// A host: a real model's features, some removed, some catalog features added, maybe
    /// non-migratable ones, a TSC frequency and TSC scaling.
    fn host()(
        model in 0..base_models().len(),
        drop in proptest::collection::vec(any::<prop::sample::Index>(), 0..6),
        add in proptest::collection::vec(0..catalog().len(), 0..6),
        tsc in prop::option::of(2_000_000u64..2_002_000),
        scaling in prop::option::of(any::<bool>()),
    ) -> HostProfile {
        let m = base_models()[model];
        let mut set = m.features;
        let ids: Vec<FeatureId> = set.iter().collect();
        for d in drop {
            if !ids.is_empty() {
                set.remove(ids[d.index(ids.len())]);
            }
        }
        for a in add {
            set.insert(FeatureId(u16::try_from(a).unwrap_or(0)));
        }
        let mut p = profile(&m.name, m.vendor.as_deref().unwrap_or(""), set);
        p.cpu.family = m.family;
        p.cpu.model = m.model;
        p.cpu.tsc_khz = tsc;
        if let Some(k) = p.kvm.as_mut() {
            k.tsc_scaling = scaling;
        }
        p
    }
}

fn guest_modes() -> impl Strategy<Value = GuestConfig> {
    prop_oneof![
        Just(GuestConfig::default()),
        Just(GuestConfig {
            cpu: GuestCpu::HostModel,
            ..GuestConfig::default()
        }),
        (0..base_models().len()).prop_map(|i| GuestConfig {
            cpu: GuestCpu::Named {
                model: base_models()[i].name.clone(),
                enable: vec![],
                disable: vec![],
            },
            ..GuestConfig::default()
        }),
    ]
}

fn policies() -> impl Strategy<Value = Policy> {
    let qemu = prop_oneof![
        Just(None),
        Just(shared::models::QemuVersion::parse("6.2.0")),
        Just(shared::models::QemuVersion::parse("9.0.0")),
        Just(shared::models::QemuVersion::parse("10.0.2")),
    ];
    (
        any::<bool>(),
        prop::option::of(2_000_000u64..2_002_000),
        qemu,
    )
        .prop_map(|(vendor, tsc, dst_qemu)| Policy {
            allow_vendor_change: vendor,
            guest_tsc_khz: tsc,
            dst_qemu,
            ..Policy::default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn a_host_is_compatible_with_itself(h in host()) {
        // host-model drops the non-migratable features, so a host always takes its own guests.
        let v = compare(&h, &h, &GuestConfig { cpu: GuestCpu::HostModel, ..GuestConfig::default() });
        prop_assert!(v.compatible, "{:?}", v.reasons);
        // host-passthrough too: QEMU's default migratable=on leaves invtsc out, and what libvirt
        // alone marks non-migratable (xsaves) only warns.
        let v = compare(&h, &h, &GuestConfig::default());
        prop_assert_eq!(v.compatible, h.kvm.is_some(), "{:?}", v.reasons);
        // With migratable=off, a guest that sees invtsc cannot move without a fixed frequency.
        let keeps = GuestConfig {
            cpu_props: [("migratable".to_owned(), "off".to_owned())].into(),
            ..GuestConfig::default()
        };
        let invtsc = h.kvm.as_ref().map(|k| {
            k.guest_features
                .intersection(&shared::verdict::qemu_unmigratable())
        });
        let v = compare(&h, &h, &keeps);
        prop_assert_eq!(v.compatible, invtsc.is_some_and(|s| s.is_empty()), "{:?}", v.reasons);
    }

    #[test]
    fn adding_destination_features_never_breaks_compatibility(
        a in host(), b in host(), extra in proptest::collection::vec(0..catalog().len(), 1..8),
        guest in guest_modes(), policy in policies(),
    ) {
        let before = compare_with(&a, &b, &guest, &policy);
        let mut more = b.clone();
        if let Some(k) = more.kvm.as_mut() {
            for e in extra {
                k.guest_features.insert(FeatureId(u16::try_from(e).unwrap_or(0)));
            }
        }
        let after = compare_with(&a, &more, &guest, &policy);
        prop_assert!(!before.compatible || after.compatible, "before {:?}\nafter {:?}", before.reasons, after.reasons);
    }

    #[test]
    fn fast_edges_agree_with_full_verdicts(a in host(), b in host(), guest in guest_modes(), policy in policies()) {
        let named = matches!(guest.cpu, GuestCpu::Named { .. });
        let fa = HostFacts::new(&a, &guest, &policy);
        let fb = HostFacts::new(&b, &guest, &policy);
        let v = compare_with(&a, &b, &guest, &policy);
        prop_assert_eq!(fa.edge(&fb, named, &policy), v.compatible, "{:?}", v.reasons);
    }

    #[test]
    fn a_baseline_runs_on_every_member(hosts in proptest::collection::vec(host(), 1..5)) {
        let refs: Vec<&HostProfile> = hosts.iter().collect();
        match baseline(&refs, &BaselineOptions::default()) {
            Ok(b) => {
                let guest = GuestConfig { cpu: GuestCpu::Named {
                    model: b.base_model.clone(),
                    enable: b.added.names(),
                    disable: b.removed.names(),
                },
                    ..GuestConfig::default()};
                prop_assert!(b.features.intersection(&non_migratable()).is_empty());
                for h in &hosts {
                    let v = compare(h, h, &guest);
                    prop_assert!(v.compatible, "{} on {}: {:?}", b.exports.qemu, h.host_id, v.reasons);
                }
                // The guest sees the same CPU on every member, and it is the baseline's.
                for h in &hosts {
                    let seen = shared::verdict::guest_view(h, &guest).ok();
                    prop_assert_eq!(seen, Some(b.features), "on {}", h.host_id);
                }
            }
            // Only when the hosts' common features lack even x86-64-v1.
            Err(e) => prop_assert_eq!(e, shared::baseline::BaselineError::NoModel),
        }
    }

    #[test]
    fn suggested_masks_make_a_pair_compatible(a in host(), b in host()) {
        let m = pair_masks(&a, &b, &Policy::default()).expect("both have guest views");
        let there = compare(&a, &b, &m.source.guest);
        let back = compare(&b, &a, &m.destination.guest);
        if m.unmaskable.is_empty() {
            prop_assert!(there.compatible, "{:?}", there.reasons);
            prop_assert!(back.compatible, "{:?}", back.reasons);
        } else {
            // What masking cannot fix is the vendor (the profiles here have no TSC blockers
            // because the masks remove invtsc).
            prop_assert!(m.unmaskable.iter().all(|r| r.rule == "vendor.change"), "{:?}", m.unmaskable);
            prop_assert_ne!(&a.cpu.vendor, &b.cpu.vendor);
        }
        // Masked guests see the same features on both sides.
        let seen = |h: &HostProfile, g: &GuestConfig| shared::verdict::guest_view(h, g).ok();
        let hv: FeatureSet = FeatureSet::from_names(["hypervisor"]).0;
        prop_assert_eq!(
            seen(&a, &m.source.guest).map(|s| s.difference(&hv)),
            seen(&b, &m.destination.guest).map(|s| s.difference(&hv))
        );
    }

    #[test]
    fn tarjan_matches_mutual_reachability(edges in proptest::collection::vec((0usize..12, 0usize..12), 0..40)) {
        let n = 12;
        let mut adj = vec![Vec::new(); n];
        for (a, b) in &edges {
            adj[*a].push(*b);
        }
        // Transitive closure by Floyd-Warshall.
        let mut reach = vec![vec![false; n]; n];
        for (i, row) in reach.iter_mut().enumerate() {
            row[i] = true;
        }
        for (a, b) in &edges {
            reach[*a][*b] = true;
        }
        for k in 0..n {
            for i in 0..n {
                for j in 0..n {
                    if reach[i][k] && reach[k][j] {
                        reach[i][j] = true;
                    }
                }
            }
        }
        let comps = strongly_connected(&adj);
        let mut comp_of = vec![usize::MAX; n];
        for (c, members) in comps.iter().enumerate() {
            for &m in members {
                prop_assert_eq!(comp_of[m], usize::MAX);
                comp_of[m] = c;
            }
        }
        for i in 0..n {
            for j in 0..n {
                prop_assert_eq!(comp_of[i] == comp_of[j], reach[i][j] && reach[j][i]);
            }
        }
    }
}
