//! The inputs of a verdict besides the two hosts: the guest configuration and the operator policy.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::models::QemuVersion;

/// What the guest's CPU looks like to the guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum GuestCpu {
    /// `-cpu host` (libvirt's host-passthrough): what the source's KVM offers, less what QEMU's
    /// `host` model leaves out while `migratable=on`, its default ([`qemu_unmigratable`]:
    /// invtsc). `cpu_props` `migratable=off` (or `invtsc=on`) keeps those too.
    #[default]
    HostPassthrough,
    /// libvirt's host-model: the source's KVM offer less the non-migratable features.
    HostModel,
    /// `-cpu host` with features turned off (masking: `-cpu host,pcid=off,stibp=off`);
    /// the base is that of `HostPassthrough`.
    #[serde(rename = "host-passthrough-masked")]
    HostPassthroughMasked {
        #[serde(default)]
        disable: Vec<String>,
    },
    /// A named model with features turned on and off: `-cpu Skylake-Server-v4,pcid=on,hle=off`.
    Named {
        model: String,
        #[serde(default)]
        enable: Vec<String>,
        #[serde(default)]
        disable: Vec<String>,
    },
}

impl GuestCpu {
    /// For people: the `-cpu` option this mode stands for (`host-passthrough`, `host-model`,
    /// `Skylake-Server-v4,+pcid,-hle`).
    pub fn describe(&self) -> String {
        match self {
            Self::HostPassthrough => "host-passthrough".into(),
            Self::HostModel => "host-model".into(),
            Self::HostPassthroughMasked { disable } => {
                let mut s = "host-passthrough".to_owned();
                for d in disable {
                    s.push_str(",-");
                    s.push_str(d);
                }
                s
            }
            Self::Named {
                model,
                enable,
                disable,
            } => {
                let mut s = model.clone();
                for e in enable {
                    s.push_str(",+");
                    s.push_str(e);
                }
                for d in disable {
                    s.push_str(",-");
                    s.push_str(d);
                }
                s
            }
        }
    }
}

/// Who starts QEMU on the destination, which decides what a lost CPU feature does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagementStack {
    /// QEMU started directly: it filters what the destination's KVM lacks and starts the guest
    /// anyway (QEMU target/i386/cpu.c `x86_cpu_filter_features`, a warning without `enforce`).
    Qemu,
    /// libvirt: the migratable XML names every CPU feature the guest has, and with
    /// `check='partial'` (the default for custom models) libvirt compares them with the
    /// destination's host CPU before starting QEMU (libvirt src/qemu/qemu_process.c
    /// `qemuProcessUpdateGuestCPU` -> `virCPUCompare`: "Host CPU does not provide required
    /// features"); `check='full'` also checks what QEMU started (src/cpu/cpu_x86.c
    /// `virCPUx86UpdateLive`).
    Libvirt,
}

impl ManagementStack {
    pub fn name(self) -> &'static str {
        match self {
            Self::Qemu => "qemu",
            Self::Libvirt => "libvirt",
        }
    }
}

/// The guest configuration a verdict is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct GuestConfig {
    #[serde(default)]
    pub cpu: GuestCpu,
    /// `-cpu` properties that are not catalog features (`tsc-frequency`, `phys-bits`, `migratable`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cpu_props: BTreeMap<String, String>,
    /// Machine type as given (`pc-q35-7.2`, or an alias such as `q35` resolved per QEMU release).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// `-machine` properties other than the type (`aux-ram-share`, `confidential-guest-support`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub machine_props: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smp: Option<crate::guest::Smp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memory_backends: Vec<crate::guest::MemoryBackend>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub devices: Vec<crate::guest::GuestDevice>,
    /// `-global DRIVER.PROP=VALUE`, keyed `DRIVER.PROP`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub globals: BTreeMap<String, String>,
    /// Fixed guest TSC frequency in kHz (`-cpu ...,tsc-frequency=HZ`, libvirt `<timer name='tsc' frequency>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tsc_khz: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidential: Option<crate::guest::Confidential>,
    #[serde(
        default,
        skip_serializing_if = "crate::guest::MigrationMode::is_normal"
    )]
    pub migration_mode: crate::guest::MigrationMode,
    /// The QEMU release the guest was powered on with, when it differs from the source's (errata
    /// such as qemu-8.0.0's stay until the guest is powered off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_on_qemu: Option<QemuVersion>,
    /// Where the definition came from: `libvirt` for a domain XML, `qemu` for a command line;
    /// `None` when built by hand (the policy's stack, else QEMU's behaviour, applies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_by: Option<ManagementStack>,
    /// libvirt's `<cpu check='none'>`: libvirt then does not compare the guest's CPU with the
    /// destination's before starting QEMU there (libvirt src/qemu/qemu_process.c
    /// `qemuProcessUpdateGuestCPU` compares only when `check == VIR_CPU_CHECK_PARTIAL`), so
    /// QEMU's own filtering decides. libvirt's default is `partial` for custom and host-model
    /// CPUs (libvirt docs/formatdomain.rst, the `check` attribute of `<cpu>`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub libvirt_check_none: bool,
}

impl GuestConfig {
    /// A guest with only a CPU configuration (what earlier releases took as input).
    pub fn with_cpu(cpu: GuestCpu) -> Self {
        Self {
            cpu,
            ..Self::default()
        }
    }
}

/// Operator policy and per-host facts the profile does not carry. `Policy::default()` is what
/// [`compare`] uses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Policy {
    /// Allow a change of CPU vendor (Intel <-> AMD...) for guests on a named model both vendors
    /// can run. Never allowed for host-passthrough or host-model guests.
    pub allow_vendor_change: bool,
    /// TSC frequency difference accepted without TSC scaling, in parts per million (libvirt and
    /// Firecracker accept 250).
    pub tsc_tolerance_ppm: u32,
    /// The guest runs with a fixed `tsc-frequency` (kHz): QEMU then migrates `invtsc` guests.
    pub guest_tsc_khz: Option<u64>,
    /// QEMU release on the source and destination, where known: named models need a QEMU that has them.
    pub src_qemu: Option<QemuVersion>,
    pub dst_qemu: Option<QemuVersion>,
    /// Errata beyond the shipped table (`shared/data/qemu-errata.tsv`), e.g. parsed with
    /// [`crate::rules::machine::parse_errata`] from an operator's file.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_errata: Vec<crate::rules::machine::Erratum>,
    /// arm64: operator-kept groups of processors (MIDR values) close enough for host-passthrough
    /// guests to move between (that judgement belongs above QEMU: KVM and QEMU compare no MIDR).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arm_equivalence_groups: Vec<crate::rules::arm64::EquivalenceGroup>,
    /// VFIO device-version pairs beyond the shipped table (`shared/data/vfio-device-versions.tsv`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_vfio_versions: Vec<crate::rules::devices::VfioVersionRule>,
    /// The operator's stack migrates confidential guests (SEV/SEV-SNP/TDX) where KVM supports the
    /// VM type on the destination; off by default.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub allow_confidential_migration: bool,
    /// The management stack that starts the destination; `None`: the guest's own
    /// ([`GuestConfig::managed_by`]), else libvirt for host-model guests and QEMU otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<ManagementStack>,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            allow_vendor_change: false,
            tsc_tolerance_ppm: DEFAULT_TSC_TOLERANCE_PPM,
            guest_tsc_khz: None,
            src_qemu: None,
            dst_qemu: None,
            extra_errata: Vec::new(),
            arm_equivalence_groups: Vec::new(),
            extra_vfio_versions: Vec::new(),
            allow_confidential_migration: false,
            stack: None,
        }
    }
}

impl Policy {
    /// The stack whose rules judge a lost feature for this guest.
    pub fn stack_for(&self, guest: &GuestConfig) -> ManagementStack {
        self.stack.or(guest.managed_by).unwrap_or(match guest.cpu {
            GuestCpu::HostModel => ManagementStack::Libvirt,
            _ => ManagementStack::Qemu,
        })
    }
}

/// TSC frequency tolerance of libvirt and Firecracker.
pub const DEFAULT_TSC_TOLERANCE_PPM: u32 = 250;
