//! cpr-transfer ("[PATCH V5 ...] migration: cpr-transfer mode", qemu-devel 2024/2025):
//! moves a guest to a new QEMU process on the same host, keeping guest RAM and device
//! descriptors. It needs `-machine aux-ram-share=on`, memory backends with `share=on` (not
//! `memory-backend-epc`), and a QEMU that has the mode (10.0 and later). Never to another host.

use super::{qemu_version, reason, values};
use crate::guest::{MigrationMode, parse_bool};
use crate::models::QemuVersion;
use crate::policy::{GuestConfig, Policy};
use crate::profile::HostProfile;
use crate::reason::{Layer, Reason, Severity};

/// First QEMU release with cpr-transfer.
pub const CPR_TRANSFER_SINCE: QemuVersion = QemuVersion::new(10, 0, 0);

/// `cpr.other-host`, `cpr.aux-ram-share-missing`, `cpr.ram-not-shared`, `cpr.backend-not-shared`,
/// `cpr.epc-backend`, `cpr.qemu-too-old` (blockers); `cpr.qemu-version-unknown` (warning).
pub fn cpr_rule(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    if guest.migration_mode != MigrationMode::CprTransfer {
        return;
    }
    let mut block = |rule: &str, message: String, s: String, d: String| {
        reasons.push(reason(
            Layer::Cpr,
            Severity::Blocker,
            rule,
            message,
            values(s, d),
        ));
    };
    if src.host_id != dst.host_id {
        block(
            "cpr.other-host",
            format!(
                "cpr-transfer keeps guest RAM and device descriptors on one host: it cannot go from {} to {}",
                src.host_id, dst.host_id
            ),
            src.host_id.clone(),
            dst.host_id.clone(),
        );
    }
    let aux = guest.machine_props.get("aux-ram-share").map(String::as_str);
    if aux.and_then(parse_bool) != Some(true) {
        block(
            "cpr.aux-ram-share-missing",
            "cpr-transfer needs -machine aux-ram-share=on on the old QEMU so anonymous RAM can be handed over".into(),
            aux.unwrap_or("unset").into(),
            "on".into(),
        );
    }
    if guest.memory_backends.is_empty() {
        block(
            "cpr.ram-not-shared",
            "cpr-transfer needs guest RAM in a memory backend with share=on (-object memory-backend-memfd,id=ram0,share=on,... -machine memory-backend=ram0); plain -m RAM is private to the old process".into(),
            "anonymous -m RAM".into(),
            "memory backend share=on".into(),
        );
    }
    for b in &guest.memory_backends {
        if b.kind == "memory-backend-epc" {
            block(
                "cpr.epc-backend",
                format!(
                    "memory backend '{}' is memory-backend-epc, which cpr-transfer does not support",
                    b.id
                ),
                b.kind.clone(),
                "not supported".into(),
            );
        } else if b.share != Some(true) {
            block(
                "cpr.backend-not-shared",
                format!(
                    "memory backend '{}' ({}) lacks share=on, which cpr-transfer needs",
                    b.id, b.kind
                ),
                b.share
                    .map_or("unset", |s| if s { "on" } else { "off" })
                    .into(),
                "on".into(),
            );
        }
    }
    let mut unknown = Vec::new();
    for (side, host, v) in [
        ("source", src, policy.src_qemu),
        ("destination", dst, policy.dst_qemu),
    ] {
        match qemu_version(host, v) {
            Some(v) if v < CPR_TRANSFER_SINCE => block(
                "cpr.qemu-too-old",
                format!(
                    "the {side}'s QEMU {v} has no cpr-transfer mode (QEMU {CPR_TRANSFER_SINCE} and later)"
                ),
                v.to_string(),
                CPR_TRANSFER_SINCE.to_string(),
            ),
            Some(_) => {}
            None => unknown.push(side),
        }
    }
    for side in unknown {
        reasons.push(reason(
            Layer::Cpr,
            Severity::Warning,
            "cpr.qemu-version-unknown",
            format!("the {side}'s QEMU version is unknown: cpr-transfer needs {CPR_TRANSFER_SINCE} or later"),
            values("unknown", CPR_TRANSFER_SINCE.to_string()),
        ));
    }
}
