//! Every fuzz target's corpus (`corpus/<target>/`, seeds from real data and what fuzzing kept)
//! and every crash found (`crashes/<target>/`) replayed through the target's function, on the
//! stable toolchain without the fuzzer: what was fixed stays fixed.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    out.sort();
    out
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Replays one folder; returns the files it read and the ones that panicked.
fn replay(target: &fuzz::Target, dir: &Path) -> (usize, Vec<String>) {
    let mut failed = Vec::new();
    let all = files(dir);
    for path in &all {
        let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if catch_unwind(AssertUnwindSafe(|| (target.run)(&data))).is_err() {
            failed.push(path.display().to_string());
        }
    }
    (all.len(), failed)
}

#[test]
fn every_corpus_and_crash_replays_without_a_panic() {
    let mut failed = Vec::new();
    for t in fuzz::TARGETS {
        let (seeds, mut bad) = replay(t, &root().join("corpus").join(t.name));
        assert!(
            seeds > 0,
            "target {} has no seeds in fuzz/corpus/{}",
            t.name,
            t.name
        );
        failed.append(&mut bad);
        let (_, mut bad) = replay(t, &root().join("crashes").join(t.name));
        failed.append(&mut bad);
    }
    assert!(failed.is_empty(), "these inputs panic: {failed:#?}");
}

#[test]
fn every_corpus_and_crash_folder_is_a_target() {
    for folder in ["corpus", "crashes"] {
        let Ok(entries) = std::fs::read_dir(root().join(folder)) else {
            continue;
        };
        for e in entries.filter_map(Result::ok) {
            if e.path().is_dir() {
                let name = e.file_name().to_string_lossy().into_owned();
                assert!(
                    fuzz::target(&name).is_some(),
                    "fuzz/{folder}/{name} is no fuzz target: rename it or add the target"
                );
            }
        }
    }
}

#[test]
fn the_fuzz_fleet_imports_whole() {
    let fleet = fuzz::fleet::fleet();
    assert_eq!(fleet.len(), fuzz::fleet::FLEET_HOSTS);
    // Real hosts with QEMU data: the API targets judge against a full guest view.
    assert!(fleet.iter().all(|p| p.kvm.is_some()));
}

#[test]
fn the_guest_bound_is_the_servers() {
    // A guest with more devices than the server takes never reaches the engine; the fuzz
    // targets must bound it the same way (src/guest.rs).
    assert_eq!(fuzz::guest::GUEST_DEVICES, backend::limits::GUEST_DEVICES);
    let over = format!(
        "-cpu host {}",
        "-device virtio-net-pci ".repeat(fuzz::guest::GUEST_DEVICES + 1)
    );
    let (_, g) = shared::guest::parse_guest(&over).expect("a plain command line");
    assert!(!fuzz::guest::accepted(&g));
    let under = format!(
        "-cpu host {}",
        "-device virtio-net-pci ".repeat(fuzz::guest::GUEST_DEVICES)
    );
    let (_, g) = shared::guest::parse_guest(&under).expect("a plain command line");
    assert!(fuzz::guest::accepted(&g));
}

/// The API targets' named seeds (`body-N.json`, fuzz/make-seeds.py) are bodies the routes take:
/// a seed that no longer reads as its request only exercises the JSON parser.
#[test]
fn the_api_seeds_are_requests_the_routes_take() {
    type Read = fn(&[u8]) -> Result<(), serde_json::Error>;
    fn reads(target: &str, read: Read) -> usize {
        let seeds: Vec<PathBuf> = files(&root().join("corpus").join(target))
            .into_iter()
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("body-"))
            })
            .collect();
        for path in &seeds {
            let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Err(e) = read(&data) {
                panic!("{}: not a request of its route: {e}", path.display());
            }
        }
        seeds.len()
    }
    use shared::api::{
        BaselineRequest, CompatRequest, GraphRequest, MasksRequest, PrecheckRequest,
    };
    let n = reads("api_precheck", |d| {
        serde_json::from_slice::<PrecheckRequest>(d).map(drop)
    }) + reads("api_baseline", |d| {
        serde_json::from_slice::<BaselineRequest>(d).map(drop)
    }) + reads("api_masks", |d| {
        serde_json::from_slice::<MasksRequest>(d).map(drop)
    }) + reads("api_compat", |d| {
        serde_json::from_slice::<CompatRequest>(d).map(drop)
    }) + reads("api_graph", |d| {
        serde_json::from_slice::<GraphRequest>(d).map(drop)
    });
    assert!(n >= 15, "{n} API seeds");
}
