//! The content hash that tells a re-sent profile from a new hardware version.

use sha2::{Digest, Sha256};
use shared::profile::HostProfile;

/// The profile as stored and as hashed: `p` without its guests (the caller takes them first:
/// they are kept apart, with their own history), then without its collection time, so neither
/// makes a new hardware version. Returns `(stored, hashed, collected_at)`; `p` is left without
/// its collection time.
///
/// One serialisation, not two: the hashed text is the stored one with the value of
/// `collected_at` emptied. serde writes a struct's fields in declaration order (the derived
/// `Serialize` calls `serialize_field` for each field in turn: serde_derive's `ser.rs`,
/// `serialize_struct_visitor`), so that value follows a prefix made of the three fields before
/// it, a number and two JSON strings (whose quotes are escaped, so nothing in them can end the
/// prefix early). When the stored text does not start as expected (the struct changed), the
/// profile is serialised a second time instead: the texts are the same either way
/// (`tests::one_serialisation_gives_the_texts_of_two`).
pub(crate) fn hardware_json(
    p: &mut HostProfile,
) -> Result<(String, Hashed, String), serde_json::Error> {
    debug_assert!(p.guests.is_none(), "the guests are taken first");
    // Most profiles are 10-20 KiB: one allocation instead of a dozen doublings.
    let mut buf = Vec::with_capacity(STORED_CAPACITY);
    serde_json::to_writer(&mut buf, &*p)?;
    // serde_json writes UTF-8 only (what `to_string` relies on); checking costs a fast scan.
    let stored = String::from_utf8(buf)
        .map_err(|e| <serde_json::Error as serde::ser::Error>::custom(e.utf8_error()))?;
    let collected_at = std::mem::take(&mut p.collected_at);
    let hashed = match emptied_collected_at(&stored, p, &collected_at)? {
        Some(cut) => Hashed::Cut(cut),
        None => Hashed::Own(serde_json::to_string(&*p)?),
    };
    Ok((stored, hashed, collected_at))
}

/// Capacity of the buffer a profile is serialised into.
const STORED_CAPACITY: usize = 16 * 1024;

/// The hashed text of a profile, told by its stored text: that text with the bytes of the
/// `collected_at` value replaced by `""` (no copy of 10-20 KiB per upload), or a text of its own
/// when the stored one is not laid out as expected.
#[derive(Debug)]
pub(crate) enum Hashed {
    Cut(std::ops::Range<usize>),
    Own(String),
}

impl Hashed {
    /// The hashed text as pieces, in order, of `stored` (the text it was made with).
    pub(crate) fn pieces<'a>(&'a self, stored: &'a str) -> [&'a str; 3] {
        match self {
            Self::Cut(cut) => [
                stored.get(..cut.start).unwrap_or(""),
                "\"\"",
                stored.get(cut.end..).unwrap_or(""),
            ],
            Self::Own(text) => [text, "", ""],
        }
    }

    /// The hashed text as one string.
    #[cfg(test)]
    pub(crate) fn text(&self, stored: &str) -> String {
        self.pieces(stored).concat()
    }
}

/// The byte range of the value of `stored`'s top-level `collected_at`, when the text starts
/// with the fields before it as `p` serialises them (`p.collected_at` already taken).
fn emptied_collected_at(
    stored: &str,
    p: &HostProfile,
    collected_at: &str,
) -> Result<Option<std::ops::Range<usize>>, serde_json::Error> {
    let prefix = format!(
        "{{\"schema_version\":{},\"host_id\":{},\"hostname\":{},\"collected_at\":",
        p.schema_version,
        serde_json::to_string(&p.host_id)?,
        serde_json::to_string(&p.hostname)?,
    );
    let value = serde_json::to_string(collected_at)?;
    let starts = stored
        .strip_prefix(prefix.as_str())
        .is_some_and(|r| r.starts_with(value.as_str()));
    Ok(starts.then(|| prefix.len()..prefix.len() + value.len()))
}

/// SHA-256 of the hashed text, 64 lower-case hex digits.
#[cfg(test)]
pub(crate) fn sha256_hex(text: &str) -> String {
    sha256_hex_of(&[text])
}

/// SHA-256 of the text made of `pieces` end to end, 64 lower-case hex digits.
pub(crate) fn sha256_hex_of(pieces: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for piece in pieces {
        hasher.update(piece.as_bytes());
    }
    let digest = hasher.finalize();
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
pub(crate) fn legacy_fnv_hex(pieces: &[&str]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in pieces.iter().flat_map(|p| p.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

/// A stored content hash as a number: its first 16 hex digits (SHA-256 and schema 1's FNV-1a
/// both are hex), else the FNV-1a of its text (a hash not written by this store).
pub(crate) fn tag(stored: &str) -> u64 {
    stored
        .get(..16)
        .and_then(|h| u64::from_str_radix(h, 16).ok())
        .unwrap_or_else(|| {
            let fnv = legacy_fnv_hex(&[stored]);
            u64::from_str_radix(&fnv, 16).unwrap_or(0)
        })
}

/// Whether a stored hash (SHA-256, or FNV-1a from schema 1) is the one of the text of `hashed`'s
/// pieces end to end.
pub(crate) fn same_content(stored: &str, sha256: &str, hashed: &[&str]) -> bool {
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

    /// What `hardware_json` stands for: the stored text, then the text with the collection
    /// time emptied, two serialisations.
    fn two_serialisations(p: &HostProfile) -> (String, String) {
        let stored = serde_json::to_string(p).expect("json");
        let mut q = p.clone();
        q.collected_at.clear();
        (stored, serde_json::to_string(&q).expect("json"))
    }

    fn profile(host_id: &str, hostname: &str, collected_at: &str) -> HostProfile {
        let mut p = shared::testing::profile_named(host_id, "GenuineIntel", &["sse2", "avx"]);
        p.hostname = hostname.into();
        p.collected_at = collected_at.into();
        // A label named like the field, before nothing but after it in the text.
        p.labels.insert("collected_at".into(), String::new());
        p
    }

    #[test]
    fn one_serialisation_gives_the_texts_of_two() {
        // Quotes, backslashes, the key itself and non-ASCII in the fields before and in
        // `collected_at`: the texts must not change, or stored hashes stop matching.
        let tricky = [
            ("plain", "plain", "2026-12-06T10:00:00Z"),
            (
                r#"a"b\c"#,
                r#"h","collected_at":"x"#,
                "2026-12-06T10:00:00Z",
            ),
            ("h\u{e9}te-\u{1f600}", "n\u{e9}", "\"\u{7}\\"),
            ("empty-time", "", ""),
        ];
        for (host_id, hostname, at) in tricky {
            let p = profile(host_id, hostname, at);
            let (want_stored, want_hashed) = two_serialisations(&p);
            let mut q = p.clone();
            let (stored, hashed, collected_at) = hardware_json(&mut q).expect("json");
            assert_eq!(stored, want_stored, "{host_id}");
            assert_eq!(hashed.text(&stored), want_hashed, "{host_id}");
            assert_eq!(
                sha256_hex_of(&hashed.pieces(&stored)),
                sha256_hex(&want_hashed),
                "{host_id}"
            );
            assert_eq!(collected_at, at);
            assert!(q.collected_at.is_empty());
            // The one-serialisation path is the one taken.
            assert!(matches!(hashed, Hashed::Cut(_)), "{host_id}");
        }
    }

    #[test]
    fn a_text_laid_out_otherwise_is_not_cut() {
        let p = profile("h", "h", "2026-12-06T10:00:00Z");
        let mut q = p.clone();
        q.collected_at.clear();
        let stored = serde_json::to_string(&p).expect("json");
        // Another collection time than the one in the text, or another layout: no shortcut.
        assert_eq!(
            emptied_collected_at(&stored, &q, "2026-12-06T10:00:01Z").expect("json"),
            None
        );
        let spaced = stored.replacen('{', "{ ", 1);
        assert_eq!(
            emptied_collected_at(&spaced, &q, &p.collected_at).expect("json"),
            None
        );
    }

    #[test]
    fn legacy_rows_still_compare() {
        let text = "{\"host_id\":\"a\"}";
        let legacy = legacy_fnv_hex(&[text]);
        assert_eq!(legacy.len(), 16);
        assert!(same_content(&legacy, &sha256_hex(text), &[text]));
        assert!(!same_content(&legacy, &sha256_hex("x"), &["x"]));
        assert!(same_content(&sha256_hex(text), &sha256_hex(text), &[text]));
        // Pieces hash as their text end to end.
        let (a, b) = text.split_at(5);
        assert!(same_content(&legacy, &sha256_hex(text), &[a, "", b]));
        assert_eq!(sha256_hex_of(&[a, b]), sha256_hex(text));
    }
}
