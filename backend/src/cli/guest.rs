//! How the guest is given: `--cpu` and its flags, or definition files (`--guest`...).

use std::path::{Path, PathBuf};

use super::error::CliError;
use shared::models::QemuVersion;
use shared::profile::HostProfile;
use shared::verdict::{GuestConfig, GuestCpu, Policy, compare_with};

/// How guests are configured, for `compare` and `graph`.
#[derive(clap::Args, Debug, Clone)]
pub struct GuestArgs {
    /// Guest CPU mode: host-passthrough, host-model, or a QEMU model name (e.g. Skylake-Server-v4).
    #[arg(long, default_value = "host-passthrough")]
    pub(super) cpu: String,
    /// Features turned on for a named model (comma-separated QEMU names).
    #[arg(long, value_delimiter = ',')]
    enable: Vec<String>,
    /// Features turned off (comma-separated QEMU names); with host-passthrough this masks them.
    #[arg(long, value_delimiter = ',')]
    disable: Vec<String>,
    /// Allow a change of CPU vendor for guests on a named model.
    #[arg(long)]
    allow_vendor_change: bool,
    /// The guest runs with this fixed TSC frequency (kHz), so invtsc can migrate.
    #[arg(long, value_name = "KHZ")]
    tsc_khz: Option<u64>,
    /// TSC difference accepted without scaling, in ppm.
    #[arg(long, default_value_t = shared::verdict::DEFAULT_TSC_TOLERANCE_PPM)]
    tsc_tolerance_ppm: u32,
    /// QEMU release on the destination(s), e.g. 8.2.0: named models it lacks are blockers.
    #[arg(long, value_name = "VERSION")]
    dst_qemu: Option<String>,
    /// host-passthrough: QEMU's `migratable` (on by default, as QEMU's; off lets the guest see
    /// invtsc too, which then needs --tsc-khz to migrate).
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = ["on", "off"])]
    migratable: String,
    /// Who starts the destination: qemu (QEMU filters what the destination lacks and starts the
    /// guest; a lost microcode-class feature warns) or libvirt (check='partial' refuses a
    /// destination that lacks any feature of the definition). Default: libvirt for libvirt XML
    /// guests and host-model, qemu otherwise.
    #[arg(long, value_name = "qemu|libvirt", value_parser = ["qemu", "libvirt"])]
    stack: Option<String>,
}

impl GuestArgs {
    pub(super) fn guest(&self) -> GuestConfig {
        let cpu = match self.cpu.as_str() {
            "host-passthrough" | "host" if self.disable.is_empty() => GuestCpu::HostPassthrough,
            "host-passthrough" | "host" => GuestCpu::HostPassthroughMasked {
                disable: self.disable.clone(),
            },
            "host-model" => GuestCpu::HostModel,
            model => GuestCpu::Named {
                model: model.to_owned(),
                enable: self.enable.clone(),
                disable: self.disable.clone(),
            },
        };
        let mut guest = GuestConfig::with_cpu(cpu);
        if self.migratable == "off" {
            guest.cpu_props.insert("migratable".into(), "off".into());
        }
        guest
    }

    pub(super) fn policy(&self) -> Result<Policy, CliError> {
        let dst_qemu = match &self.dst_qemu {
            Some(v) => Some(QemuVersion::parse(v).ok_or_else(|| CliError::Version {
                flag: "--dst-qemu",
                value: v.clone(),
                kind: "qemu",
                example: "10.0.2",
            })?),
            None => None,
        };
        Ok(Policy {
            allow_vendor_change: self.allow_vendor_change,
            tsc_tolerance_ppm: self.tsc_tolerance_ppm,
            guest_tsc_khz: self.tsc_khz,
            src_qemu: None,
            dst_qemu,
            stack: self.stack.as_deref().map(|s| match s {
                "libvirt" => shared::verdict::ManagementStack::Libvirt,
                _ => shared::verdict::ManagementStack::Qemu,
            }),
            ..Policy::default()
        })
    }
}

/// Guest definitions and operator data files, for `compare` and `targets`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GuestFileArgs {
    /// The guest's definition: a libvirt domain XML, a QEMU command line or a guest JSON
    /// (detected); its CPU replaces --cpu/--enable/--disable.
    #[arg(long, value_name = "FILE")]
    guest: Option<PathBuf>,
    /// The definition the destination will be started from: also check ABI stability against --guest.
    #[arg(long, value_name = "FILE", requires = "guest")]
    dst_guest: Option<PathBuf>,
    /// More QEMU errata (the TSV format of shared/data/qemu-errata.tsv).
    #[arg(long, value_name = "FILE")]
    errata: Option<PathBuf>,
    /// arm64 equivalence groups, JSON: [{"name": "...", "midrs": [...]}].
    #[arg(long, value_name = "FILE")]
    arm_groups: Option<PathBuf>,
    /// The QEMU release the guest was powered on with, when it has moved since (errata such as
    /// qemu-8.0.0's stay until the guest is powered off).
    #[arg(long, value_name = "VERSION")]
    started_on_qemu: Option<String>,
}

fn read_text(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::read(path, e))
}

/// Read a guest definition of any supported format.
pub(super) fn read_guest(path: &Path) -> Result<GuestConfig, CliError> {
    shared::guest::parse_guest(&read_text(path)?)
        .map(|(_, g)| g)
        .map_err(|e| CliError::invalid(path, e))
}

fn defs_policy(flags: &GuestArgs, defs: &GuestFileArgs) -> Result<Policy, CliError> {
    let mut policy = flags.policy()?;
    if let Some(f) = &defs.errata {
        policy.extra_errata = shared::rules::machine::parse_errata(&read_text(f)?)
            .map_err(|e| CliError::invalid(f, e))?;
    }
    if let Some(f) = &defs.arm_groups {
        policy.arm_equivalence_groups = shared::rules::arm64::parse_groups(&read_text(f)?)
            .map_err(|e| CliError::invalid(f, e))?;
    }
    Ok(policy)
}

pub(super) fn compare_defs(
    src: &HostProfile,
    dst: &HostProfile,
    flags: &GuestArgs,
    defs: &GuestFileArgs,
) -> Result<shared::Verdict, CliError> {
    let policy = defs_policy(flags, defs)?;
    let mut guest = match &defs.guest {
        Some(f) => read_guest(f)?,
        None => flags.guest(),
    };
    if let Some(v) = &defs.started_on_qemu {
        guest.started_on_qemu = Some(QemuVersion::parse(v).ok_or_else(|| CliError::Version {
            flag: "--started-on-qemu",
            value: v.clone(),
            kind: "qemu",
            example: "8.0.0",
        })?);
    }
    // A guest cpu that cannot be resolved (unknown model or feature) is a usage error (exit 2),
    // not an incompatibility.
    if let Err(e) = shared::verdict::guest_view(src, &guest)
        && e != shared::verdict::GuestCpuError::NoGuestView
    {
        return Err(CliError::GuestCpu(e));
    }
    Ok(match &defs.dst_guest {
        Some(f) => shared::verdict::compare_definitions(src, dst, &guest, &read_guest(f)?, &policy),
        None => compare_with(src, dst, &guest, &policy),
    })
}
