//! Graph edges equal pair verdicts: for fleets of rich generated profiles (KVM MSR lists,
//! kernels, several QEMU releases with machine types, named models QEMU filters, `-cpu host`
//! start checks, TSC), the class graph says "can take guests from" exactly when
//! `compare_with(..).compatible` does, for every ordered pair of hosts.

use proptest::prelude::*;

use shared::graph::build;
use shared::profile::HostProfile;
use shared::verdict::compare_with;

mod rich;
use rich::{guests, policies, rich_host};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(160))]

    #[test]
    fn graph_edges_equal_pair_verdicts(
        fleet in proptest::collection::vec(rich_host(), 2..6),
        guest in guests(),
        policy in policies(),
    ) {
        // A twin of the first host on another kernel: facts outside the class key must not
        // change a verdict between the twins (the kernel decides arm64's writable ID registers).
        let mut fleet = fleet;
        let mut twin = fleet[0].clone();
        twin.kernel_release = Some(
            if twin.kernel_release.as_deref() == Some("6.12.9-amd64") {
                "5.10.0-30-amd64"
            } else {
                "6.12.9-amd64"
            }
            .to_owned(),
        );
        fleet.push(twin);
        // Distinct ids: the generator names hosts by model.
        let fleet: Vec<HostProfile> = fleet
            .into_iter()
            .enumerate()
            .map(|(i, mut h)| {
                h.host_id = format!("h{i}");
                h
            })
            .collect();
        let g = build(&fleet, &guest, &policy);
        let class_of = |id: &str| {
            g.classes
                .iter()
                .position(|c| c.hosts.iter().any(|h| h == id))
                .expect("host in a class")
        };
        for a in &fleet {
            for b in &fleet {
                let (ca, cb) = (class_of(&a.host_id), class_of(&b.host_id));
                let edge = if ca == cb {
                    g.classes[ca].self_compatible
                } else {
                    g.edges.iter().any(|e| (e.from, e.to) == (ca, cb))
                };
                let v = compare_with(a, b, &guest, &policy);
                prop_assert_eq!(
                    edge,
                    v.compatible,
                    "{} -> {} (classes {} -> {}), guest {:?}: {:?}",
                    &a.host_id, &b.host_id, ca, cb, &guest, v.reasons
                );
            }
        }
    }
}
