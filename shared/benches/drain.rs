//! Drain plans for every host of a 10,000-host fleet with 20 VMs each (200,000 VMs, issue 13):
//! libvirt domain XMLs and QEMU command lines of 36 shapes (named Intel and AMD models,
//! host-passthrough, host-model; machine types of QEMU 7.2 to 10.0), each VM with its own name
//! and UUID, so every definition is parsed. Target <= 2 s on 2 cores. Results in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use shared::drain::DrainFleet;
use shared::testing::guest_fleet;
use shared::verdict::Policy;

fn benches(c: &mut Criterion) {
    let fleet = guest_fleet(10_000, 20, 36, 0, 100, 42);
    let policy = Policy::default();
    let mut g = c.benchmark_group("drain");
    g.sample_size(10);
    g.bench_function("every host of 10,000 hosts x 20 VMs", |bench| {
        bench.iter(|| {
            let mut df = DrainFleet::new(black_box(&fleet), &policy);
            let mut stuck = 0usize;
            for h in 0..fleet.len() {
                let plan = df.plan(h);
                stuck += plan.n_stuck;
            }
            black_box(stuck)
        });
    });
    g.bench_function("one host's plan, fleet prepared once", |bench| {
        let mut df = DrainFleet::new(&fleet, &policy);
        let _ = df.plan(0);
        bench.iter(|| black_box(df.plan(black_box(1234))));
    });
    g.finish();
}

criterion_group!(drain, benches);
criterion_main!(drain);
