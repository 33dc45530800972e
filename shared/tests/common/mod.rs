//! Helpers shared by the integration tests: the project's reference data lives outside the
//! repository, in `../shared` next to the checkout (see `shared/DATA-INDEX.md` there).

#![allow(dead_code, clippy::allow_attributes)]

pub mod libvirt;

use std::path::PathBuf;

/// The reference-data folder (`<repo>/../shared`). Panics with a clear message when it is missing:
/// a test that cannot read its data must fail, not pass.
pub fn shared_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared"));
    assert!(
        dir.join("DATA-INDEX.md").is_file(),
        "reference data folder {} is missing: these tests read the project's shared data \
         (qemu-cpu-models, libvirt-cputestdata, libvirt-cpu-map, cpuid-corpus) from the folder \
         that holds the repository checkout",
        dir.display()
    );
    dir
}

/// Read a file under the reference-data folder, panicking with its path on failure.
pub fn read_shared(rel: &str) -> String {
    let path = shared_dir().join(rel);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read reference data {}: {e}", path.display()))
}
