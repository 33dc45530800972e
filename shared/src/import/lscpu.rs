//! `lscpu` reports and `/proc/cpuinfo` stanzas: `Key: value` lines whose `Flags`/`flags` line
//! holds the kernel's feature names. Flags only: no raw CPUID, so profiles from them are partial.

use std::collections::HashMap;

use super::{Identity, ImportError, line_no};
use crate::catalog::catalog;
use crate::featureset::FeatureSet;

/// What an lscpu report says about the processor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lscpu {
    pub identity: Identity,
    pub features: FeatureSet,
    /// Kernel flags that are not CPUID/MSR features (`constant_tsc`, `rep_good`...).
    pub unknown_flags: Vec<String>,
    pub microcode: Option<String>,
}

fn number(v: &str, key: &str, line: u32) -> Result<u32, ImportError> {
    let v = v.trim();
    let parsed = match v.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => v.parse(),
    };
    parsed.map_err(|e| ImportError::Content {
        line,
        message: format!("{key} '{v}' is not a number: {e}"),
    })
}

/// Parse an lscpu report (or one /proc/cpuinfo processor stanza).
pub fn parse_lscpu(text: &str) -> Result<Lscpu, ImportError> {
    let mut id = Identity::default();
    let mut flags: Option<&str> = None;
    let mut microcode = None;
    for (i, line) in text.lines().enumerate() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let key = k.trim().to_ascii_lowercase().replace('_', " ");
        let v = v.trim();
        let ln = line_no(i);
        match key.as_str() {
            "architecture" if !v.is_empty() && v != "x86_64" && v != "i686" && v != "i386" => {
                return Err(ImportError::Content {
                    line: ln,
                    message: format!(
                        "architecture {v}: only x86 lscpu reports can be imported (flags name x86 CPUID bits)"
                    ),
                });
            }
            "vendor id" if id.vendor.is_empty() => id.vendor = v.to_owned(),
            "model name" if id.brand.is_empty() => id.brand = v.to_owned(),
            "cpu family" => id.family = number(v, "CPU family", ln)?,
            "model" => id.model = number(v, "Model", ln)?,
            "stepping" => id.stepping = number(v, "Stepping", ln).unwrap_or(0),
            "microcode" if microcode.is_none() => microcode = Some(v.to_owned()),
            "flags" if flags.is_none() => flags = Some(v),
            _ => {}
        }
    }
    // Old lscpu releases print no Flags line: the identity is still worth a (partial) profile.
    if flags.is_none() && id.vendor.is_empty() {
        return Err(ImportError::Missing(
            "no 'Flags:' or 'Vendor ID:' line: is this lscpu or /proc/cpuinfo output?".into(),
        ));
    }
    let flags = flags.unwrap_or("");
    let c = catalog();
    let by_linux: HashMap<&str, _> = c
        .features()
        .iter()
        .filter_map(|f| f.linux_name.as_deref().map(|n| (n, f.id)))
        .collect();
    let mut features = FeatureSet::EMPTY;
    let mut unknown_flags = Vec::new();
    for flag in flags.split_whitespace() {
        match by_linux.get(flag).copied().or_else(|| c.lookup(flag)) {
            Some(f) => features.insert(f),
            None => unknown_flags.push(flag.to_owned()),
        }
    }
    Ok(Lscpu {
        identity: id,
        features,
        unknown_flags,
        microcode,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_become_features() {
        let t = "Architecture:  x86_64\nVendor ID:  AuthenticAMD\nCPU family:  23\nModel:  1\nModel name:  AMD EPYC 3201 8-Core Processor\nStepping:  2\nFlags:  fpu sse4_1 avx2 rep_good\n";
        let l = parse_lscpu(t).unwrap();
        assert_eq!(l.identity.family, 23);
        assert_eq!(l.identity.vendor, "AuthenticAMD");
        let names = l.features.names();
        assert!(names.contains(&"sse4.1".to_owned()), "{names:?}");
        assert!(names.contains(&"avx2".to_owned()));
        assert_eq!(l.unknown_flags, vec!["rep_good"]);
        assert!(matches!(
            parse_lscpu("Model: x\nFlags: fpu"),
            Err(ImportError::Content { line: 1, .. })
        ));
        assert!(parse_lscpu("Architecture: aarch64\nFlags: fp").is_err());
        assert!(parse_lscpu("nothing").is_err());
        assert!(parse_lscpu("Vendor ID: GenuineIntel\nCPU family: 6").is_ok());
    }
}
