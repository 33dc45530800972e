//! Every bound the server puts on a request: body sizes per route, host lists, devices, labels,
//! answer sizes, and the timeouts of connections, bodies and engine work. Errors name the limit.

use std::time::Duration;

/// A profile upload (`POST /api/v1/hosts`): a profile with every CPU's raw CPUID is well under.
pub const PROFILE_BODY_BYTES: usize = 4 * 1024 * 1024;
/// `POST /api/v1/precheck`: a VM definition (libvirt XML or a QEMU command line) and its options.
pub const GUEST_BODY_BYTES: usize = 1024 * 1024;
/// The other JSON bodies (`compat`, `graph`, `baseline`, `masks`): a guest, a policy, host ids.
pub const QUERY_BODY_BYTES: usize = 1024 * 1024;
/// Host ids one request may name (after duplicates are dropped): the fleet size the engine is
/// measured for (BENCHMARKS.md).
pub const REQUEST_HOSTS: usize = 10_000;
/// Hosts of one masks request: each host gets its own mask and is listed per blocking feature.
pub const MASK_HOSTS: usize = 1_000;
/// Devices of one guest definition (libvirt's largest real domains have a few hundred).
pub const GUEST_DEVICES: usize = 512;
/// A label name in a query (`GET /api/v1/clusters?label=`).
pub const LABEL_KEY_BYTES: usize = 256;
/// Labels of one host profile.
pub const HOST_LABELS: usize = 64;
/// VMs of one page of `GET /api/v1/vms` (and its default page size).
pub const VM_PAGE: usize = 10_000;
pub const VM_PAGE_DEFAULT: usize = 1_000;
/// Hosts in one page of `GET /api/v1/hosts` (`limit=`); without `limit=` every host is listed.
pub const HOST_PAGE: usize = 10_000;
/// An engine answer written by the server (a precheck against every host of the fleet).
pub const ANSWER_BYTES: usize = 32 * 1024 * 1024;
/// `GET /api/v1/fleet.jsonl` is sent in blocks of about this many bytes (four at most wait for
/// the client), never as one body.
pub const FLEET_FILE_BLOCK: usize = 256 * 1024;
/// Graphs kept per store generation (one per guest configuration and policy asked for), and
/// their estimated bytes: a graph of 100,000 hosts in 3,000 classes is 5-60 MB (host ids, and
/// up to millions of edges). The least recently used go first.
pub const GRAPH_CACHE_ENTRIES: usize = 16;
pub const GRAPH_CACHE_BYTES: usize = 512 * 1024 * 1024;
/// Guest configurations and policies whose incremental graph state is kept between generations
/// (`shared::graph::Incremental`: class facts, edge bits, and the shape, whose edge list alone is
/// about 20 MB at 1.2 million edges). The least recently used go first; a policy asked for again
/// after that is built from scratch once (a third of a second at 100,000 hosts).
pub const INCREMENTAL_GRAPHS: usize = 6;
/// The JSON of graphs' edges kept while the graphs keep their edges (a change that moves no
/// judgement keeps them: `shared::graph::Incremental`), and its bytes: 1,000,000 edges are about
/// 25 MB of JSON. The least recently used go first.
pub const EDGES_JSON_ENTRIES: usize = 4;
pub const EDGES_JSON_BYTES: usize = 128 * 1024 * 1024;
/// Other derived answers kept per generation (coverage, names, cluster cards per label), as
/// JSON, and their bytes.
pub const DERIVED_CACHE_ENTRIES: usize = 64;
pub const DERIVED_CACHE_BYTES: usize = 128 * 1024 * 1024;

/// The timeouts of a server; tests shorten them.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A request body must arrive whole within this (else 408).
    pub body_timeout: Duration,
    /// Engine work (verdicts, graphs, baselines, masks) is abandoned after this (503); it counts
    /// the wait for a free engine thread.
    pub engine_deadline: Duration,
    /// Engine work running at once; more waits for a free thread.
    pub engine_threads: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_timeout: Duration::from_secs(20),
            engine_deadline: Duration::from_secs(20),
            engine_threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

/// Drop repeated host ids (keeping the first of each, in order) and refuse more than `limit`.
pub fn unique_hosts(
    field: &str,
    ids: &[String],
    limit: usize,
) -> Result<Vec<String>, crate::error::ApiError> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len().min(limit + 1));
    let mut out = Vec::new();
    for id in ids {
        if seen.insert(id.as_str()) {
            out.push(id.clone());
            if out.len() > limit {
                return Err(crate::error::ApiError::too_many(
                    &format!("'{field}' names more different hosts than allowed"),
                    ids.iter().collect::<std::collections::HashSet<_>>().len(),
                    limit,
                    "split the request, or pick hosts with a label selector",
                ));
            }
        }
    }
    Ok(out)
}
