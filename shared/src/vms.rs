//! The guests of a host as the collector reads them (read-only): libvirt domains and QEMU
//! processes started without libvirt, with what they use of the host. Part of the profile upload;
//! the store keeps them in a table of their own with history.

use serde::{Deserialize, Serialize};

/// What runs on a host, and what the host has to give.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostGuests {
    pub capacity: HostCapacity,
    /// Every defined or running guest, sorted by `id`.
    #[serde(default)]
    pub vms: Vec<Vm>,
}

/// The host's resources for guests: logical CPUs (`/sys/devices/system/cpu/online`) and memory
/// (`MemTotal` of `/proc/meminfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostCapacity {
    pub logical_cpus: u32,
    pub memory_mib: u64,
}

/// One guest of a host.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Vm {
    /// Unique on its host: the libvirt domain UUID, or `pid-<PID>` (or the `-uuid`/`-name` given
    /// on its command line) for a QEMU process started without libvirt.
    pub id: String,
    /// The domain name, or `-name` of a bare QEMU process.
    pub name: String,
    pub source: VmSource,
    pub state: VmState,
    /// vCPUs the guest has now (libvirt's current count; `-smp` for a bare process).
    pub vcpus: u32,
    /// Memory the guest has now, in MiB.
    pub memory_mib: u64,
    pub definition: VmDefinition,
}

/// Where the collector found the guest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VmSource {
    /// A libvirt domain (`virsh -r dumpxml`).
    Libvirt,
    /// A QEMU process libvirt does not manage (its command line from `/proc/PID/cmdline`).
    Process,
}

/// libvirt's domain states (`virDomainState`); a bare QEMU process is `running`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VmState {
    Running,
    Paused,
    ShutOff,
    Other,
}

/// The guest's definition as read, unparsed, so the engine can parse it with the same parsers as
/// `fleetcompat compare --guest` (and a definition that fails to parse is a reason, not a loss).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", tag = "kind", content = "text")]
pub enum VmDefinition {
    /// libvirt domain XML: the live XML of `virsh -r dumpxml` (for a running domain, what QEMU
    /// really gave it). libvirt refuses `--migratable` on the collector's read-only connection
    /// (src/libvirt-domain.c, virDomainGetXMLDesc), so it is never that form.
    DomainXml(String),
    /// A QEMU command line, words joined by single spaces with shell quoting where needed.
    CommandLine(String),
}
