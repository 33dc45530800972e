//! Host classes: hosts whose profiles are equal in everything migration depends on.

use crate::profile::{Arch, HostProfile};

/// A stable id of a host's class: the same on every platform and release for equal inputs.
/// Today the class is (arch, vendor, guest view); later layers (KVM MSRs, QEMU machine types,
/// devices) join the key as the engine learns them.
pub fn class_id(p: &HostProfile) -> String {
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
    eat(match p.cpu.arch {
        Arch::X86_64 => b"x86_64",
        Arch::Aarch64 => b"aarch64",
    });
    eat(p.cpu.vendor.as_bytes());
    match &p.kvm {
        Some(k) => {
            for name in k.guest_features.names() {
                eat(name.as_bytes());
            }
        }
        None => eat(b"no-guest-view"),
    }
    format!("c{:012x}", h >> 16)
}
