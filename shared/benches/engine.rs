//! Engine benchmarks: one verdict; the compatibility graph of 10,000 hosts in 300 classes and of
//! 10,000 distinct profiles; the baseline of 10,000 hosts. Results go to BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shared::baseline::{BaselineOptions, baseline};
use shared::featureset::FeatureSet;
use shared::graph::build;
use shared::profile::HostProfile;
use shared::testing::{distinct_sets, profile, profile_of_model};
use shared::verdict::{GuestConfig, Policy, compare};

fn fleet(n_hosts: usize, classes: &[FeatureSet]) -> Vec<HostProfile> {
    (0..n_hosts)
        .map(|i| profile(&format!("h{i}"), "GenuineIntel", classes[i % classes.len()]))
        .collect()
}

fn benches(c: &mut Criterion) {
    let (Some(a), Some(b)) = (
        profile_of_model("a", "Cascadelake-Server-v5"),
        profile_of_model("b", "Skylake-Server-v5"),
    ) else {
        return;
    };
    c.bench_function("compare one pair (host-passthrough)", |bench| {
        bench.iter(|| compare(black_box(&a), black_box(&b), &GuestConfig::default()));
    });

    let mut g = c.benchmark_group("graph");
    g.sample_size(10);
    let classes300 = fleet(10_000, &distinct_sets(300, 7));
    g.bench_function("10,000 hosts in 300 classes", |bench| {
        bench.iter(|| {
            build(
                black_box(&classes300),
                &GuestConfig::default(),
                &Policy::default(),
            )
        });
    });
    let distinct = fleet(10_000, &distinct_sets(10_000, 11));
    g.bench_function("10,000 distinct profiles", |bench| {
        bench.iter(|| {
            build(
                black_box(&distinct),
                &GuestConfig::default(),
                &Policy::default(),
            )
        });
    });
    g.finish();

    let mut g = c.benchmark_group("baseline");
    g.sample_size(10);
    let refs: Vec<&HostProfile> = distinct.iter().collect();
    g.bench_function("10,000 distinct hosts", |bench| {
        bench.iter(|| baseline(black_box(&refs), &BaselineOptions::default()));
    });
    g.finish();
}

criterion_group!(engine, benches);
criterion_main!(engine);
