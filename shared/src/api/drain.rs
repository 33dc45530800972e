//! The VMs of the fleet and "can I drain this host?": `GET /api/v1/vms`, `GET /api/v1/vms/{id}`,
//! `GET /api/v1/hosts/{id}/drain` and `fleetcompat drain --json`. Plain data (names, counts,
//! feature names as strings), no engine type, so the web UI decodes them as they are; the engine
//! that fills them is [`crate::drain`].

use serde::{Deserialize, Serialize};

use crate::verdict::{Layer, Severity};
use crate::vms::{VmSource, VmState};

/// The separator of a VM's API id, `HOST:VM`: host ids never contain it
/// ([`crate::profile::validate_host_id`]: letters, digits, `.`, `-`, `_`).
pub const VM_ID_SEPARATOR: char = ':';

/// A VM's id in the API: `HOST:VM`, where `VM` is the VM's id on its host (libvirt domain UUID,
/// `pid-N` of a bare QEMU process) or its name. Percent-encode it in a URL path when the VM part
/// has characters a path cannot hold (`/`, `?`, `#`, `%`, spaces).
pub fn vm_ref(host_id: &str, vm_id: &str) -> String {
    format!("{host_id}{VM_ID_SEPARATOR}{vm_id}")
}

/// `HOST:VM` split at the first `:`; `None` without one or with an empty side.
pub fn split_vm_ref(r: &str) -> Option<(&str, &str)> {
    let (h, v) = r.split_once(VM_ID_SEPARATOR)?;
    (!h.is_empty() && !v.is_empty()).then_some((h, v))
}

/// One VM in a listing (`GET /api/v1/vms`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VmSummary {
    /// The API id, `HOST:VM` ([`vm_ref`]).
    #[serde(rename = "ref")]
    pub vm_ref: String,
    pub host_id: String,
    /// The VM's id on its host: libvirt domain UUID, or `pid-N` for a bare QEMU process.
    pub id: String,
    pub name: String,
    pub source: VmSource,
    pub state: VmState,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// `domain_xml` or `command_line`.
    pub definition_kind: String,
}

/// `GET /api/v1/vms`: VMs ordered by host, then VM id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VmList {
    /// VMs in the fleet (after `host=`), whatever the page.
    pub total: usize,
    /// Hosts whose profile carries guest data; hosts without it list no VM.
    pub n_hosts_with_guests: usize,
    pub offset: usize,
    pub limit: usize,
    pub vms: Vec<VmSummary>,
}

/// A class of hosts named for people, as it appears in a drain answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DrainClass {
    /// The class id every other route accepts ([`crate::class::class_id`]).
    pub class_id: String,
    /// "Xeon Gold 6148 · Skylake-SP · cluster=fra-sky-01 · 16 hosts" ([`crate::naming`]).
    pub name: String,
    /// Hosts of the class other than the drained host.
    pub n_hosts: usize,
    /// Of those, hosts whose profile has guest data (known free capacity).
    pub n_hosts_with_capacity: usize,
}

/// A blocker, without its evidence (the pair route has it: `GET /api/v1/compat`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DrainReason {
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub layer: Layer,
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub severity: Severity,
    pub rule: String,
    pub message: String,
}

/// The blockers of one VM towards one class of hosts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ClassBlockers {
    /// Index into the answer's `classes`.
    pub class: usize,
    pub blockers: Vec<DrainReason>,
}

/// A reason that blocks a VM towards several classes, counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CommonReason {
    pub rule: String,
    /// The message of its first occurrence (the same rule names other features elsewhere).
    pub message: String,
    pub n_classes: usize,
    pub n_hosts: usize,
}

/// Where a VM stands in a drain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VmOutcome {
    /// Its definition could not be read: nothing can be judged.
    Unreadable,
    /// No other host of the fleet can take it: compatibility stops it.
    Stuck,
    /// Compatible hosts exist, but none of known capacity has room left: capacity stops it.
    NoCapacity,
    /// Compatible hosts exist, but none has guest data, so their free capacity is unknown.
    CapacityUnknown,
    /// It has a place: `placement`.
    Placed,
}

impl VmOutcome {
    pub fn has_place(self) -> bool {
        self == Self::Placed
    }
}

/// The smallest change found to a stuck VM's definition that gives it targets, checked by
/// judging the changed definition again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaskAdvice {
    /// `features_off`, `named_model`, `machine_type`, or two of them joined by `+`.
    pub kind: String,
    /// For people: "turn off avx512f, avx512bw in -cpu host" / "use -cpu Skylake-Server-v4".
    pub change: String,
    /// The guest's `-cpu` after the change (`host-passthrough,-pcid`, `Skylake-Server-v4,+pcid`).
    pub cpu: String,
    /// The machine type after the change, when it changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// What it costs the guest: CPU features it sees now on its host and would not after.
    pub features_lost: Vec<String>,
    /// The classes the changed definition can go to (indexes into the answer's `classes`).
    pub target_classes: Vec<usize>,
    pub n_target_hosts: usize,
    /// The change takes effect when the guest is next started from the changed definition.
    pub needs_restart: bool,
}

/// One VM of a drained host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VmDrain {
    #[serde(rename = "ref")]
    pub vm_ref: String,
    pub id: String,
    pub name: String,
    pub source: VmSource,
    pub state: VmState,
    pub vcpus: u32,
    pub memory_mib: u64,
    /// The guest's `-cpu` as read from its definition (`host-passthrough`, `Skylake-Server-v4`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// The machine type as written in its definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    pub outcome: VmOutcome,
    /// One sentence: where it goes, or what stops it.
    pub summary: String,
    /// Classes it can go to (indexes into the answer's `classes`), its host's own class first.
    pub target_classes: Vec<usize>,
    /// Hosts of those classes, the drained host left out.
    pub n_target_hosts: usize,
    /// The host the first-fit placement puts it on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<String>,
    /// Stuck: the blockers per class, largest classes first (at most [`MAX_BLOCKER_CLASSES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<ClassBlockers>,
    /// Stuck: its most common blockers (a rule and the feature it names) over the 32 largest
    /// classes, most hosts first (at most 3).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub common_reasons: Vec<CommonReason>,
    /// Stuck: classes whose blockers are not listed (beyond [`MAX_BLOCKER_CLASSES`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub n_classes_not_listed: usize,
    /// Stuck: the smallest change found that gives it targets; absent when none was found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advice: Option<MaskAdvice>,
}

#[expect(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Classes of blockers listed per stuck VM; the others are counted in `n_classes_not_listed`.
pub const MAX_BLOCKER_CLASSES: usize = 8;

/// `GET /api/v1/hosts/{id}/drain` and `fleetcompat drain --json`: every VM of the host with
/// where it can go, stuck VMs first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DrainPlan {
    pub host_id: String,
    /// The drained host's class.
    pub host_class: DrainClass,
    /// False when the host's profile carries no guest data (the collector did not look): the
    /// plan then has no VM and says nothing about them.
    pub has_guest_data: bool,
    /// True when every VM has a place.
    pub drainable: bool,
    pub n_vms: usize,
    pub n_placed: usize,
    pub n_stuck: usize,
    pub n_unreadable: usize,
    pub n_no_capacity: usize,
    pub n_capacity_unknown: usize,
    /// How the placement was made, in words.
    pub placement_rule: String,
    /// Every class a VM of the plan can go to, or is blocked from.
    pub classes: Vec<DrainClass>,
    /// Unreadable and stuck VMs first, then those capacity stops, then placed ones.
    pub vms: Vec<VmDrain>,
}

/// `GET /api/v1/vms/{id}`: one VM with its current targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VmDetail {
    pub host_id: String,
    pub host_class: DrainClass,
    /// `domain_xml` or `command_line`.
    pub definition_kind: String,
    /// The definition as the collector read it.
    pub definition: String,
    /// The VM as a drain of its host sees it alone (placement ignores the host's other VMs).
    pub vm: VmDrain,
    pub classes: Vec<DrainClass>,
    /// Every host it can go to now, by host id (the classes' hosts).
    pub target_hosts: Vec<String>,
}
