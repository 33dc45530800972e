//! The libFuzzer binary of `cargo xtask fuzz`: one binary for every target, chosen by the
//! environment variable `FLEETCOMPAT_FUZZ_TARGET` (xtask sets it); every other argument is
//! libFuzzer's.
#![no_main]

use std::sync::OnceLock;

fn chosen() -> fn(&[u8]) {
    static RUN: OnceLock<fn(&[u8])> = OnceLock::new();
    *RUN.get_or_init(|| {
        let name = std::env::var("FLEETCOMPAT_FUZZ_TARGET").unwrap_or_default();
        match fuzz::target(&name) {
            Some(t) => t.run,
            None => {
                let names: Vec<&str> = fuzz::TARGETS.iter().map(|t| t.name).collect();
                eprintln!(
                    "fleetcompat-fuzz: set FLEETCOMPAT_FUZZ_TARGET to one of {} (got '{name}'); `cargo xtask fuzz` does",
                    names.join(", ")
                );
                std::process::exit(2)
            }
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    chosen()(data);
});
