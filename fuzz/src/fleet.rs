//! The fleet the API targets are judged against: four real processors of the demo fleet (libvirt
//! v11.3.0 tests/cputestdata, LGPL-2.1-or-later, see assets/demo/SOURCE.md), each with the QEMU
//! data of the same host, made into profiles the way the collector's import makes them.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use shared::import::{ImportMeta, profile_from_dump};
use shared::profile::HostProfile;

/// (host id, cluster label, `<cpudata>` xml, QMP json).
const HOSTS: [(&str, &str, &str, &str); 4] = [
    (
        "snb-1",
        "old",
        include_str!("../../assets/demo/cpus/x86_64-cpuid-Core-i7-2600.xml"),
        include_str!("../../assets/demo/cpus/x86_64-cpuid-Core-i7-2600.json"),
    ),
    (
        "skx-1",
        "new",
        include_str!("../../assets/demo/cpus/x86_64-cpuid-Xeon-Gold-6148.xml"),
        include_str!("../../assets/demo/cpus/x86_64-cpuid-Xeon-Gold-6148.json"),
    ),
    (
        "icx-1",
        "new",
        include_str!("../../assets/demo/cpus/x86_64-cpuid-Ice-Lake-Server.xml"),
        include_str!("../../assets/demo/cpus/x86_64-cpuid-Ice-Lake-Server.json"),
    ),
    (
        "zen2-1",
        "amd",
        include_str!("../../assets/demo/cpus/x86_64-cpuid-Ryzen-9-3900X-12-Core.xml"),
        include_str!("../../assets/demo/cpus/x86_64-cpuid-Ryzen-9-3900X-12-Core.json"),
    ),
];

/// The four hosts (built once). A dump that no longer imports is a bug the regression test
/// names; the fuzzer then runs with the hosts that do.
pub fn fleet() -> &'static [HostProfile] {
    static FLEET: OnceLock<Vec<HostProfile>> = OnceLock::new();
    FLEET.get_or_init(|| {
        HOSTS
            .iter()
            .filter_map(|(id, cluster, xml, json)| {
                let meta = ImportMeta {
                    host_id: (*id).to_owned(),
                    hostname: (*id).to_owned(),
                    labels: BTreeMap::from([("cluster".to_owned(), (*cluster).to_owned())]),
                    detail: "fuzz fleet".to_owned(),
                    tool: "fleetcompat fuzz".to_owned(),
                    ..ImportMeta::default()
                };
                profile_from_dump(xml, Some(json), meta).ok()
            })
            .collect()
    })
}

/// How many hosts [`fleet`] should have.
pub const FLEET_HOSTS: usize = HOSTS.len();

/// The host of that id, as the API's `resolve` finds it.
pub fn host(id: &str) -> Option<&'static HostProfile> {
    fleet().iter().find(|p| p.host_id == id)
}
