//! One change in a fleet of 100,000 hosts in 3,000 classes: the incremental graph
//! (`graph::Incremental::update`) after a change inside a class (the shape is kept) and after a
//! host moves to a new class and back (the changed class is judged again, the shape made again)
//! against `graph::build` from scratch, and the fleet's class numbers and labels. Results go to
//! BENCHMARKS.md ("Graph after a change").

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use shared::class::Interner;
use shared::featureset::FeatureSet;
use shared::graph::{Classes, Incremental, build};
use shared::profile::HostProfile;
use shared::testing::{Rng, distinct_sets, profile};
use shared::verdict::{GuestConfig, GuestCpu, Policy};

const HOSTS: usize = 100_000;
const CLASSES: usize = 3_000;

fn host(i: usize, set: FeatureSet) -> Arc<HostProfile> {
    let mut p = profile(&format!("host-{i:06}"), "GenuineIntel", set);
    p.labels
        .insert("cluster".into(), format!("cluster-{:03}", i / 1_000));
    p.labels
        .insert("rack".into(), format!("rack-{:04}", i / 40));
    Arc::new(p)
}

fn benches(c: &mut Criterion) {
    let sets = distinct_sets(CLASSES + 1, 7);
    let mut rng = Rng::new(3);
    let mut profiles: Vec<Arc<HostProfile>> = (0..HOSTS)
        .map(|i| host(i, sets[rng.below(CLASSES)]))
        .collect();
    let mut interner = Interner::default();
    let mut class_of: Vec<u32> = profiles.iter().map(|p| interner.intern(p)).collect();
    let guests = [
        ("host-passthrough", GuestConfig::default()),
        (
            "Skylake-Server-v4",
            GuestConfig {
                cpu: GuestCpu::Named {
                    model: "Skylake-Server-v4".into(),
                    enable: vec![],
                    disable: vec![],
                },
                ..GuestConfig::default()
            },
        ),
    ];
    let policy = Policy::default();
    let mut g = c.benchmark_group("graph after one change (100,000 hosts, 3,000 classes)");
    g.sample_size(10);
    for (name, guest) in &guests {
        let mut inc = Incremental::new(guest, &policy);
        let first = inc.update(&profiles, &class_of);
        eprintln!(
            "{name}: {} classes, {} edges, {} pools",
            first.classes.len(),
            first.edges.len(),
            first.pools.len()
        );
        // Each iteration: one host uploads a profile of its own class again (a label moved):
        // no judgement changes, the shape and host lists are kept.
        let i = 12_345;
        g.bench_function(format!("incremental, same class, {name}"), |bench| {
            bench.iter(|| {
                let mut p = (*profiles[i]).clone();
                p.labels.insert("rack".into(), "moved".into());
                profiles[i] = Arc::new(p);
                class_of[i] = interner.intern(&profiles[i]);
                black_box(inc.update(&profiles, &class_of))
            });
        });
        // Each iteration: one host moves between two classes (a new class, then back), as an
        // upload does; the class number is computed for that host only.
        let (a, b) = (sets[CLASSES], sets[0]);
        let mut flip = false;
        g.bench_function(format!("incremental, {name}"), |bench| {
            bench.iter(|| {
                flip = !flip;
                let i = 54_321;
                profiles[i] = host(i, if flip { a } else { b });
                class_of[i] = interner.intern(&profiles[i]);
                black_box(inc.update(&profiles, &class_of))
            });
        });
    }
    g.bench_function("class numbers to classes", |bench| {
        bench.iter(|| Classes::from_numbers(black_box(&class_of)));
    });
    g.bench_function("build from scratch, host-passthrough", |bench| {
        bench.iter(|| build(black_box(&profiles), &GuestConfig::default(), &policy));
    });
    g.finish();
}

criterion_group!(graph_change, benches);
criterion_main!(graph_change);
