//! Host classes: hosts whose profiles are equal in everything migration depends on.

use crate::profile::{Arch, HostProfile};

/// A stable id of a host's class: the same on every platform and release for equal inputs.
/// Today the class is (arch, vendor, guest view); later layers (KVM MSRs, QEMU machine types,
/// devices) join the key as the engine learns them.
pub fn class_id(p: &HostProfile) -> String {
    let guest = p.kvm.as_ref().map(|k| k.guest_features.names());
    class_id_of(p.cpu.arch, &p.cpu.vendor, guest.as_deref())
}

/// [`class_id`] from its parts: the guest view as feature names in catalog order (as a profile's
/// JSON lists them), `None` without a guest view. The web UI computes it from a profile's JSON
/// without the catalog.
pub fn class_id_of(arch: Arch, vendor: &str, guest_features: Option<&[String]>) -> String {
    // FNV-1a, 64 bit: deterministic, no dependency, identical on native and wasm32.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        h ^= 0xff;
        h = h.wrapping_mul(0x0100_0000_01b3);
    };
    eat(match arch {
        Arch::X86_64 => b"x86_64",
        Arch::Aarch64 => b"aarch64",
    });
    eat(vendor.as_bytes());
    match guest_features {
        Some(names) => {
            for name in names {
                eat(name.as_bytes());
            }
        }
        None => eat(b"no-guest-view"),
    }
    format!("c{:012x}", h >> 16)
}
