//! InstLatx64 CPUID dumps (AIDA64/EVEREST text): every variant shares the line grammar
//! `CPUID <leaf:8 hex>[:] <EAX>-<EBX>-<ECX>-<EDX> [annotations]`, optionally with `[SL nn]`
//! subleaf tags, and `MSR <index:8 hex>: WWWW-XXXX-YYYY-ZZZZ` lines (64 bits in four 16-bit groups).

use std::collections::{BTreeMap, HashSet};

use super::{ImportError, four_words, is_hex, line_no};
use crate::profile::{CpuidEntry, MsrValue};

/// `[SL 0A]` -> 0x0a.
fn subleaf_tag(rest: &str) -> Option<u32> {
    let i = rest.find("[SL ")?;
    let tag = rest.get(i + 4..)?;
    let end = tag.find(']')?;
    u32::from_str_radix(tag.get(..end)?.trim(), 16).ok()
}

fn msr_value(text: &str) -> Option<u64> {
    let groups: Vec<&str> = text.split_whitespace().next()?.split('-').collect();
    if groups.len() != 4 || groups.iter().any(|g| g.len() != 4 || !is_hex(g)) {
        return None;
    }
    u64::from_str_radix(&groups.concat(), 16).ok()
}

/// Raw CPUID of each logical CPU in the dump (a new CPU starts at each leaf 0 line) and the
/// MSRs of the first CPU that lists them. Subleaves come from `[SL nn]` tags where present,
/// else from the order of repeated leaves within a CPU.
pub fn parse_instlatx64(text: &str) -> Result<(Vec<Vec<CpuidEntry>>, Vec<MsrValue>), ImportError> {
    let mut cpus: Vec<Vec<CpuidEntry>> = Vec::new();
    let mut cur: Vec<CpuidEntry> = Vec::new();
    let mut seen: HashSet<(u32, u32)> = HashSet::new();
    let mut next_sub: BTreeMap<u32, u32> = BTreeMap::new();
    let mut msrs: BTreeMap<u32, u64> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start();
        if let Some(rest) = t.strip_prefix("CPUID ") {
            let Some(leaf_hex) = rest.get(..8).filter(|s| is_hex(s)) else {
                continue; // header lines such as "CPUID Manufacturer : GenuineIntel"
            };
            let after = rest.get(8..).unwrap_or("");
            if !(after.starts_with(':') || after.starts_with(char::is_whitespace)) {
                continue;
            }
            let leaf = u32::from_str_radix(leaf_hex, 16).unwrap_or(0);
            let regs_text = after.trim_start_matches(':');
            let [eax, ebx, ecx, edx] =
                four_words(regs_text).ok_or_else(|| ImportError::Content {
                    line: line_no(i),
                    message: format!(
                        "CPUID {leaf_hex} line does not hold four hex registers EAX-EBX-ECX-EDX: '{}'",
                        t.trim_end()
                    ),
                })?;
            if leaf == 0 && !cur.is_empty() {
                cpus.push(std::mem::take(&mut cur));
                seen.clear();
                next_sub.clear();
            }
            let counter = next_sub.entry(leaf).or_insert(0);
            let subleaf = subleaf_tag(regs_text).unwrap_or(*counter);
            *counter = subleaf + 1;
            if seen.insert((leaf, subleaf)) {
                cur.push(CpuidEntry {
                    leaf,
                    subleaf,
                    eax,
                    ebx,
                    ecx,
                    edx,
                });
            }
        } else if let Some(rest) = t.strip_prefix("MSR ") {
            let Some((idx, val)) = rest.split_once(':') else {
                continue;
            };
            let idx = idx.trim();
            if idx.len() != 8 || !is_hex(idx) {
                continue;
            }
            // "< FAILED >" and annotated values that are not four groups are skipped.
            if let (Ok(index), Some(value)) = (u32::from_str_radix(idx, 16), msr_value(val.trim()))
            {
                msrs.entry(index).or_insert(value);
            }
        }
    }
    if !cur.is_empty() {
        cpus.push(cur);
    }
    if cpus.is_empty() {
        return Err(ImportError::Missing(
            "no 'CPUID <leaf>: EAX-EBX-ECX-EDX' lines: is this an InstLatx64/AIDA64 CPUID dump?"
                .into(),
        ));
    }
    Ok((
        cpus,
        msrs.into_iter()
            .map(|(index, value)| MsrValue { index, value })
            .collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_subleaves_and_msrs() {
        let text = "------[ CPUID Registers / Logical CPU #0 ]------\n\
CPUID Manufacturer : GenuineIntel\n\
CPUID 00000000: 0000000D-756E6547-6C65746E-49656E69 [GenuineIntel]\n\
CPUID 00000004: 3C004121-02C0003F-0000003F-00000000\n\
CPUID 00000004: 3C004122-01C0003F-0000003F-00000000\n\
CPUID 0000000D: 00000100-00000240-00000000-00000000 [SL 02] [AVX]\n\
MSR 0000010A: 0000-0000-0000-00EB\n\
MSR 00000048: < FAILED >\n\
CPUID 00000000: 0000000D-756E6547-6C65746E-49656E69\n\
CPUID 00000001: 000606C1-00200800-FFFAF387-BFEBFBFF\n";
        let (cpus, msrs) = parse_instlatx64(text).unwrap();
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].len(), 4);
        assert_eq!((cpus[0][2].leaf, cpus[0][2].subleaf), (4, 1));
        assert_eq!((cpus[0][3].leaf, cpus[0][3].subleaf), (0xd, 2));
        assert_eq!(
            msrs,
            vec![MsrValue {
                index: 0x10a,
                value: 0xeb
            }]
        );
        let bad = text.replace("3C004122-01C0003F", "3C00Z122-01C0003F");
        let err = parse_instlatx64(&bad).unwrap_err();
        assert!(matches!(err, ImportError::Content { line: 5, .. }), "{err}");
        assert!(parse_instlatx64("nothing here").is_err());
    }
}
