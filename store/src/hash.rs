//! The content hash that tells a re-sent profile from a new hardware version.

use sha2::{Digest, Sha256};
use shared::profile::HostProfile;

/// The profile as stored and as hashed: `p` without its guests (the caller takes them first:
/// they are kept apart, with their own history), then without its collection time, so neither
/// makes a new hardware version. Returns `(stored, hashed, collected_at)`; `p` is left without
/// its collection time. Two serialisations, no copy of the profile.
pub(crate) fn hardware_json(
    p: &mut HostProfile,
) -> Result<(String, String, String), serde_json::Error> {
    debug_assert!(p.guests.is_none(), "the guests are taken first");
    let stored = serde_json::to_string(&*p)?;
    let collected_at = std::mem::take(&mut p.collected_at);
    let hashed = serde_json::to_string(&*p)?;
    Ok((stored, hashed, collected_at))
}

/// SHA-256 of the hashed text, 64 lower-case hex digits.
pub(crate) fn sha256_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut out = String::with_capacity(64);
    for b in digest {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0xf)]));
    }
    out
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// The 64-bit FNV-1a of schema 1 (16 hex digits), only to compare with rows written before
/// SHA-256: a re-upload of an unchanged profile still finds its old version.
pub(crate) fn legacy_fnv_hex(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// Whether a stored hash (SHA-256, or FNV-1a from schema 1) is the one of `hashed`.
pub(crate) fn same_content(stored: &str, sha256: &str, hashed: &str) -> bool {
    match stored.len() {
        16 => stored == legacy_fnv_hex(hashed),
        _ => stored == sha256,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_is_the_standard_one() {
        // FIPS 180-2 appendix B.1: SHA-256("abc").
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn legacy_rows_still_compare() {
        let text = "{\"host_id\":\"a\"}";
        let legacy = legacy_fnv_hex(text);
        assert_eq!(legacy.len(), 16);
        assert!(same_content(&legacy, &sha256_hex(text), text));
        assert!(!same_content(&legacy, &sha256_hex("x"), "x"));
        assert!(same_content(&sha256_hex(text), &sha256_hex(text), text));
    }
}
