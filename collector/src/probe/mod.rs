//! `fleetcompat-collector probe`: this machine's host profile.

#[cfg(target_arch = "x86_64")]
mod cpuid;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
mod kvm;

use std::collections::BTreeMap;
use std::fs;

use shared::profile::{
    Arch, CpuInfo, HostProfile, OriginKind, ProbeGap, ProfileOrigin, SCHEMA_VERSION,
};

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

/// Probe this host. Never fails: what cannot be read becomes a gap in the profile.
pub fn probe(host_id: Option<String>, labels: BTreeMap<String, String>) -> HostProfile {
    let mut gaps: Vec<ProbeGap> = Vec::new();
    let hostname = read_trimmed("/proc/sys/kernel/hostname").unwrap_or_else(|| {
        gaps.push(ProbeGap {
            what: "hostname".into(),
            reason: "cannot read /proc/sys/kernel/hostname".into(),
        });
        "unknown-host".into()
    });
    let kernel_release = read_trimmed("/proc/sys/kernel/osrelease");

    #[cfg(target_arch = "x86_64")]
    let raw_cpuid = cpuid::dump();
    #[cfg(not(target_arch = "x86_64"))]
    let raw_cpuid = Vec::new();

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    let (kvm, tsc_khz) = {
        let k = kvm::probe();
        gaps.extend(k.gaps);
        (k.info, k.tsc_khz)
    };
    #[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
    let (kvm, tsc_khz) = {
        gaps.push(ProbeGap {
            what: "kvm".into(),
            reason: "KVM probing is implemented for x86_64 Linux only in this release".into(),
        });
        (None, None)
    };

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
        microcode: microcode(),
        tsc_khz,
        features: shared::decode::features(&raw_cpuid, &[]),
        raw_cpuid,
        raw_msrs: Vec::new(),
    };

    HostProfile {
        schema_version: SCHEMA_VERSION,
        host_id: host_id.unwrap_or_else(|| sanitize_host_id(&hostname)),
        hostname,
        collected_at: crate::now_rfc3339(),
        origin: ProfileOrigin {
            kind: OriginKind::Probe,
            tool: format!("fleetcompat-collector {}", env!("CARGO_PKG_VERSION")),
            detail: String::new(),
        },
        labels,
        cpu,
        kvm,
        kernel_release,
        gaps,
    }
}

/// A hostname made safe as a host id: other characters become '-'.
pub fn sanitize_host_id(hostname: &str) -> String {
    let id: String = hostname
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .take(shared::profile::MAX_HOST_ID_LEN)
        .collect();
    if id.is_empty() {
        "unknown-host".into()
    } else {
        id
    }
}
