//! Fuzz targets: every parser fleetcompat reads user input with, each followed by the engine on
//! what parsed, as the command line, the collector and the API do.
//!
//! A target is a plain `fn(&[u8])` that panics only on a bug. `cargo xtask fuzz` runs them under
//! libFuzzer (`src/bin/fleetcompat-fuzz.rs`, built with coverage instrumentation on the stable
//! toolchain); `tests/regression.rs` replays `corpus/<target>/` and `crashes/<target>/` through
//! the same functions in a normal `cargo test`, so whatever a fuzzer found stays fixed.

mod api;
mod dumps;
mod engine;
pub mod fleet;
pub mod guest;
mod profiles;

/// One fuzz target: a name (`cargo xtask fuzz NAME`), what it reads, and its function.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    pub name: &'static str,
    pub about: &'static str,
    pub run: fn(&[u8]),
}

/// Every target (`cargo xtask fuzz` finds them by their seed folders, `corpus/<name>`).
pub const TARGETS: &[Target] = &[
    Target {
        name: "cpuid_r",
        about: "`cpuid -r` dumps (collector import, command line dumps)",
        run: dumps::cpuid_r,
    },
    Target {
        name: "instlatx64",
        about: "InstLatx64 / AIDA64 CPUID text dumps",
        run: dumps::instlatx64,
    },
    Target {
        name: "cpudata",
        about: "libvirt <cpudata> xml, optionally NUL and its QMP json sibling (merged QEMU data)",
        run: dumps::cpudata,
    },
    Target {
        name: "qmp",
        about: "libvirt's QMP json (query-cpu-model-expansion, query-cpu-definitions...)",
        run: dumps::qmp,
    },
    Target {
        name: "lscpu",
        about: "lscpu output and /proc/cpuinfo stanzas",
        run: dumps::lscpu,
    },
    Target {
        name: "virsh",
        about: "`virsh capabilities` xml, optionally NUL and `virsh domcapabilities` xml",
        run: dumps::virsh,
    },
    Target {
        name: "profile",
        about: "host profile JSON (POST /api/v1/hosts, profile files)",
        run: profiles::profile,
    },
    Target {
        name: "fleet",
        about: "fleet files (JSON Lines of profiles, as GET /api/v1/fleet.jsonl writes them)",
        run: profiles::fleet,
    },
    Target {
        name: "guest",
        about: "guest definitions: libvirt domain xml, QEMU command lines, guest json",
        run: guest::guest,
    },
    Target {
        name: "api_precheck",
        about: "POST /api/v1/precheck bodies, judged against a fleet of four real hosts",
        run: api::precheck,
    },
    Target {
        name: "api_baseline",
        about: "POST /api/v1/baseline bodies, on a fleet of four real hosts",
        run: api::baseline,
    },
    Target {
        name: "api_masks",
        about: "POST /api/v1/masks bodies, on a fleet of four real hosts",
        run: api::masks,
    },
    Target {
        name: "api_compat",
        about: "POST /api/v1/compat bodies, between two of a fleet of four real hosts",
        run: api::compat,
    },
    Target {
        name: "api_graph",
        about: "POST /api/v1/graph bodies: the class graph and names of a fleet of four real hosts",
        run: api::graph,
    },
    Target {
        name: "nodedev",
        about: "libvirt node-device xml of PCI functions (virsh nodedev-dumpxml)",
        run: dumps::nodedev,
    },
];

/// The target of that name.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The bytes as the command line and the collector read a file: UTF-8, invalid bytes replaced
/// (collector/src/import.rs `read_text`).
fn lossy(data: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// An input in two parts split at its first NUL byte (a dump and the QEMU data of the same host).
fn split_nul(text: &str) -> (&str, Option<&str>) {
    match text.split_once('\0') {
        Some((a, b)) => (a, Some(b)),
        None => (text, None),
    }
}
