//! `POST /api/v1/what-if/graph` and `POST /api/v1/what-if/baseline`: the what-if page's fleet
//! after a change (hosts retired, features turned off for every guest), sized for 100,000 hosts
//! (issue 12). The request names the hosts retired, not the hosts kept (`POST /api/v1/graph`
//! takes those: every host id of the fleet but a few), and the graph comes back as the graph
//! page's [`super::graph_view::GraphView`], not as every host and edge.

use serde::{Deserialize, Serialize};

/// The change: hosts left out and features turned off for every guest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatIfRequest {
    /// Host ids retired (left out of the fleet); none: every host is kept.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retire: Vec<String>,
    /// Feature names turned off for every guest (`host-passthrough` with these disabled); none:
    /// plain `host-passthrough`. The baseline does not read it (it is the hosts' baseline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mask: Vec<String>,
}

/// `POST /api/v1/what-if/baseline`: the baseline of the hosts kept, as the what-if page shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WhatIfBaseline {
    /// Hosts kept (the baseline's hosts).
    pub n_hosts: usize,
    /// The model's name ([`crate::baseline::Baseline::model`]).
    pub model: String,
    /// Its `-cpu` value for QEMU ([`crate::baseline::Exports::qemu`]).
    pub qemu: String,
}
