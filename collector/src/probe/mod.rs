//! `fleetcompat-collector probe`: this machine's host profile.

#[cfg(any(target_arch = "aarch64", test))]
mod arm;
#[cfg(target_arch = "x86_64")]
pub mod cpuid;
pub mod devices;
pub mod guests;
#[cfg(all(
    target_os = "linux",
    any(target_arch = "x86_64", target_arch = "aarch64")
))]
mod kvm;
pub mod qemu;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use shared::profile::{
    Arch, CpuInfo, HostProfile, OriginKind, ProbeGap, ProfileOrigin, SCHEMA_VERSION,
};

/// What to probe beyond CPU and KVM.
#[derive(Clone, Debug)]
pub struct ProbeOptions {
    /// `None`: no QEMU probing at all.
    pub qemu: Option<qemu::QemuOptions>,
    pub devices: bool,
    /// `None`: guests are not read (`--no-guests`).
    pub guests: Option<guests::GuestsOptions>,
}

fn read_trimmed(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_owned())
}

/// The first `microcode` line of /proc/cpuinfo.
fn microcode() -> Option<String> {
    let text = fs::read_to_string("/proc/cpuinfo").ok()?;
    text.lines()
        .find(|l| l.starts_with("microcode"))
        .and_then(|l| l.split(':').nth(1))
        .map(|v| v.trim().to_owned())
}

/// /sys/devices/system/cpu/vulnerabilities: file -> state line.
pub fn vulnerabilities(dir: &Path) -> BTreeMap<String, String> {
    let Ok(rd) = fs::read_dir(dir) else {
        return BTreeMap::new();
    };
    rd.filter_map(Result::ok)
        .filter_map(|e| {
            let v = fs::read_to_string(e.path()).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                v.trim().to_owned(),
            ))
        })
        .collect()
}

/// This host's libvirt release: what `virsh -v` prints (the client library, no daemon asked),
/// else `libvirtd --version` (`libvirtd (libvirt) 9.0.0`). `None` without libvirt: not a gap, a
/// host may run QEMU without it.
pub fn libvirt_version() -> Option<String> {
    [
        ("virsh", "-v"),
        ("libvirtd", "--version"),
        ("/usr/sbin/libvirtd", "--version"),
    ]
    .iter()
    .find_map(|(cmd, arg)| {
        let out = std::process::Command::new(cmd)
            .arg(arg)
            .env("LC_ALL", "C")
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        shared::libvirt::LibvirtVersion::parse(&String::from_utf8_lossy(&out.stdout))
            .map(|v| v.to_string())
    })
}

fn gap(what: &str, reason: impl Into<String>) -> ProbeGap {
    ProbeGap {
        what: what.into(),
        reason: reason.into(),
    }
}

/// Probe this host. Never fails: what cannot be read becomes a gap in the profile.
pub fn probe(
    host_id: Option<String>,
    labels: BTreeMap<String, String>,
    opts: &ProbeOptions,
) -> HostProfile {
    let mut gaps: Vec<ProbeGap> = Vec::new();
    let hostname = read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| {
        gaps.push(gap("hostname", "cannot read /proc/sys/kernel/hostname"));
        "unknown-host".into()
    });
    let kernel_release = read_trimmed("/proc/sys/kernel/osrelease");
    if kernel_release.is_none() {
        gaps.push(gap(
            "kernel_release",
            "cannot read /proc/sys/kernel/osrelease",
        ));
    }
    let microcode = microcode();
    if microcode.is_none() && cfg!(target_arch = "x86_64") {
        gaps.push(gap("cpu.microcode", "/proc/cpuinfo has no microcode line"));
    }
    let vulnerabilities = vulnerabilities(Path::new("/sys/devices/system/cpu/vulnerabilities"));
    if vulnerabilities.is_empty() {
        gaps.push(gap(
            "vulnerabilities",
            "cannot read /sys/devices/system/cpu/vulnerabilities",
        ));
    }

    #[cfg(target_arch = "x86_64")]
    let cpus: Vec<Vec<shared::profile::CpuidEntry>> = {
        let (cpus, g) = cpuid::dump_all();
        gaps.extend(g);
        cpus.into_iter().map(|(_, d)| d).collect()
    };
    #[cfg(not(target_arch = "x86_64"))]
    let cpus: Vec<Vec<shared::profile::CpuidEntry>> = Vec::new();

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    let (kvm, tsc_khz) = {
        let k = kvm::probe();
        gaps.extend(k.gaps);
        (k.info, k.tsc_khz)
    };
    // aarch64: the guest view is the vCPU's ID registers as KVM gives them, and KVM's
    // capabilities (writable ID registers among them); the host's registers are the fallback.
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    let (kvm, tsc_khz, arm_id_registers, arm_source) = {
        let sys_cpu = Path::new("/sys/devices/system/cpu");
        match kvm::open() {
            Ok(k) => {
                let (regs, g, source) = arm::guest_view(arm::kvm_id_registers(&k), sys_cpu);
                gaps.extend(g);
                let info = shared::profile::KvmInfo {
                    api_version: Some(k.get_api_version()),
                    capabilities: kvm::capabilities(&k),
                    ..Default::default()
                };
                (Some(info), None, regs, Some(source.describe()))
            }
            Err(g) => {
                let why = g.reason.clone();
                gaps.push(g);
                let (regs, g, source) = arm::guest_view(Err(why), sys_cpu);
                gaps.extend(g);
                (None, None, regs, Some(source.describe()))
            }
        }
    };
    #[cfg(all(not(target_os = "linux"), target_arch = "aarch64"))]
    let (arm_id_registers, arm_source) = {
        let (regs, g, source) = arm::guest_view(
            Err("KVM is Linux only".into()),
            Path::new("/sys/devices/system/cpu"),
        );
        gaps.extend(g);
        (regs, Some(source.describe()))
    };
    #[cfg(not(target_arch = "aarch64"))]
    let (arm_id_registers, arm_source): (BTreeMap<String, u64>, Option<&'static str>) =
        (BTreeMap::new(), None);
    #[cfg(not(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "aarch64")
    )))]
    let (kvm, tsc_khz) = {
        gaps.push(gap(
            "kvm",
            "KVM probing is implemented for x86_64 and aarch64 Linux only in this release",
        ));
        (None, None)
    };

    let qemu = match &opts.qemu {
        Some(q) => {
            let (installs, g) = qemu::probe(q, kernel_release.as_deref().unwrap_or("unknown"));
            gaps.extend(g);
            installs
        }
        None => Vec::new(),
    };
    let devices = if opts.devices {
        let (d, g) = devices::probe(Path::new("/sys"));
        gaps.extend(g);
        d
    } else {
        Default::default()
    };

    let guests = opts.guests.as_ref().map(|g| {
        let (found, g) = guests::probe(g);
        gaps.extend(g);
        found
    });

    let raw_cpuid = cpus.first().cloned().unwrap_or_default();
    let (features, cpu_variants) = shared::import::cpu_variants(&cpus, &[]);
    let (family, model, stepping) = shared::decode::signature(&raw_cpuid).unwrap_or_default();
    let cpu = CpuInfo {
        arch: if cfg!(target_arch = "aarch64") {
            Arch::Aarch64
        } else {
            Arch::X86_64
        },
        vendor: shared::decode::vendor(&raw_cpuid).unwrap_or_default(),
        family,
        model,
        stepping,
        brand: shared::decode::brand(&raw_cpuid).unwrap_or_default(),
        microcode,
        tsc_khz,
        features,
        raw_cpuid,
        raw_msrs: Vec::new(),
    };

    HostProfile {
        schema_version: SCHEMA_VERSION,
        host_id: host_id.unwrap_or_else(|| shared::profile::sanitize_host_id(&hostname)),
        hostname,
        collected_at: crate::now_rfc3339(),
        origin: ProfileOrigin {
            kind: OriginKind::Probe,
            tool: format!("fleetcompat-collector {}", env!("CARGO_PKG_VERSION")),
            // Where `arm_id_registers` came from (aarch64 only).
            detail: arm_source.map(str::to_owned).unwrap_or_default(),
        },
        labels,
        cpu,
        kvm,
        kernel_release,
        gaps,
        partial: false,
        logical_cpus: u32::try_from(cpus.len()).unwrap_or(u32::MAX),
        cpu_variants,
        vulnerabilities,
        arm_id_registers,
        qemu,
        devices,
        libvirt_version: libvirt_version(),
        guests,
    }
}
