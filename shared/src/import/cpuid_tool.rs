//! `cpuid -r` output (Debian package cpuid, by Todd Allen): `CPU N:` headers, then one line per
//! leaf and subleaf: `   0x00000007 0x00: eax=0x00000001 ebx=0xf1bf07ab ecx=0x00405fc6 edx=0x00000010`.

use super::{ImportError, line_no};
use crate::profile::CpuidEntry;

fn hex_field(s: &str, name: &str) -> Option<u32> {
    let v = s.strip_prefix(name)?.strip_prefix('=')?;
    let v = v.strip_prefix("0x")?;
    u32::from_str_radix(v, 16).ok()
}

/// One leaf line, trimmed; `None` when the line is not of that shape.
pub(super) fn parse_line(t: &str) -> Option<CpuidEntry> {
    let mut it = t.split_whitespace();
    let leaf = u32::from_str_radix(it.next()?.strip_prefix("0x")?, 16).ok()?;
    let sub = it.next()?.strip_suffix(':')?.strip_prefix("0x")?;
    let subleaf = u32::from_str_radix(sub, 16).ok()?;
    Some(CpuidEntry {
        leaf,
        subleaf,
        eax: hex_field(it.next()?, "eax")?,
        ebx: hex_field(it.next()?, "ebx")?,
        ecx: hex_field(it.next()?, "ecx")?,
        edx: hex_field(it.next()?, "edx")?,
    })
}

/// Raw CPUID of each CPU in a `cpuid -r` dump.
pub fn parse_cpuid_tool(text: &str) -> Result<Vec<Vec<CpuidEntry>>, ImportError> {
    let mut cpus: Vec<Vec<CpuidEntry>> = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.is_empty() {
            continue;
        }
        if t.starts_with("CPU ") && t.ends_with(':') {
            cpus.push(Vec::new());
            continue;
        }
        if t.starts_with("0x") {
            let e = parse_line(t).ok_or_else(|| ImportError::Content {
                line: line_no(i),
                message: format!(
                    "expected '0xLEAF 0xSUB: eax=0x.. ebx=0x.. ecx=0x.. edx=0x..', found '{t}'"
                ),
            })?;
            if cpus.is_empty() {
                cpus.push(Vec::new());
            }
            if let Some(cur) = cpus.last_mut() {
                cur.push(e);
            }
        }
        // Other lines (e.g. a header of `cpuid -r -1`) carry no data.
    }
    cpus.retain(|c| !c.is_empty());
    if cpus.is_empty() {
        return Err(ImportError::Missing(
            "no CPUID lines: expected the output of `cpuid -r`".into(),
        ));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_names_the_bad_line() {
        let t = "CPU 0:\n   0x00000000 0x00: eax=0x0000001c ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\n   0x00000007 0x01: eax=0x00000020 ebx=0x00000000 ecx=0x00000000 edx=0x00000000\nCPU 1:\n   0x00000000 0x00: eax=0x0000001c ebx=0x68747541 ecx=0x444d4163 edx=0x69746e65\n";
        let cpus = parse_cpuid_tool(t).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(
            (cpus[0][1].leaf, cpus[0][1].subleaf, cpus[0][1].eax),
            (7, 1, 0x20)
        );
        // `cpuid -1 -r` (one CPU) heads its dump with "CPU:".
        let one = parse_cpuid_tool("CPU:\n   0x00000000 0x00: eax=0x1 ebx=0x2 ecx=0x3 edx=0x4\n")
            .unwrap();
        assert_eq!(one.len(), 1);
        let bad = t.replace("ecx=0x00000000 edx", "ecx=0xZZ edx");
        assert!(matches!(
            parse_cpuid_tool(&bad),
            Err(ImportError::Content { line: 3, .. })
        ));
    }
}
