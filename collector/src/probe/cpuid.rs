//! Raw CPUID of every logical CPU, every leaf and subleaf (x86_64). Each CPU is read on a thread
//! pinned to it (sched_setaffinity); where pinning fails, through /dev/cpu/N/cpuid (cpuid driver).

use std::os::unix::fs::FileExt;

use shared::profile::{CpuidEntry, ProbeGap};

type Reader<'a> = &'a dyn Fn(u32, u32) -> Option<CpuidEntry>;

fn here(leaf: u32, subleaf: u32) -> Option<CpuidEntry> {
    let r = raw_cpuid::cpuid!(leaf, subleaf);
    Some(CpuidEntry {
        leaf,
        subleaf,
        eax: r.eax,
        ebx: r.ebx,
        ecx: r.ecx,
        edx: r.edx,
    })
}

fn is_zero(e: &CpuidEntry) -> bool {
    e.eax == 0 && e.ebx == 0 && e.ecx == 0 && e.edx == 0
}

/// Subleaves to read for `leaf`, given its subleaf 0 (Intel SDM Vol. 2A Table 3-8, AMD APM Vol. 3
/// Appendix E). Leaves without subleaves return just subleaf 0.
fn subleaves(read: Reader<'_>, leaf: u32, first: &CpuidEntry) -> Vec<CpuidEntry> {
    let mut out = vec![*first];
    let mut push_until = |max: u32, stop: &dyn Fn(&CpuidEntry) -> bool| {
        for s in 1..=max {
            let Some(e) = read(leaf, s) else { break };
            if stop(&e) {
                break;
            }
            out.push(e);
        }
    };
    match leaf {
        // CPUID.04H / 8000001DH: cache parameters, until cache type EAX[4:0] == 0.
        0x4 | 0x8000_001d => push_until(63, &|e| e.eax & 0x1f == 0),
        // CPUID.07H / 14H / 17H / 18H / 1DH / 20H / 23H / 24H: EAX of subleaf 0 is the max subleaf.
        0x7 | 0x14 | 0x17 | 0x18 | 0x1d | 0x20 | 0x23 | 0x24 => {
            push_until(first.eax.min(63), &|_| false);
        }
        // CPUID.0BH / 1FH / 80000026H: extended topology, until level type ECX[15:8] == 0.
        0xb | 0x1f | 0x8000_0026 => push_until(63, &|e| (e.ecx >> 8) & 0xff == 0),
        // CPUID.0DH (XSAVE components), 0FH/10H (RDT), 12H (SGX), 1BH: keep the non-empty ones.
        0xd | 0xf | 0x10 | 0x12 | 0x1b => {
            for s in 1..64 {
                match read(leaf, s) {
                    Some(e) if !is_zero(&e) => out.push(e),
                    Some(_) => {}
                    None => break,
                }
            }
        }
        _ => {}
    }
    out
}

/// Every basic, hypervisor and extended leaf the CPU reports.
fn dump_with(read: Reader<'_>) -> Vec<CpuidEntry> {
    let mut entries = Vec::new();
    for base in [0, 0x4000_0000, 0x8000_0000, 0xc000_0000] {
        let Some(first) = read(base, 0) else { continue };
        let max = first.eax;
        // A range is present when its max leaf lies inside it (hypervisor and Centaur leaves
        // are often absent; then the processor echoes an unrelated value).
        if base != 0 && !(base..base + 0x1000).contains(&max) {
            continue;
        }
        for leaf in base..=max.min(base + 0xff) {
            if let Some(e) = read(leaf, 0) {
                entries.extend(subleaves(read, leaf, &e));
            }
        }
    }
    entries
}

/// The CPU the calling thread runs on.
pub fn dump_current() -> Vec<CpuidEntry> {
    dump_with(&here)
}

/// Pin the calling thread to `cpu`.
#[expect(unsafe_code, reason = "sched_setaffinity has no safe wrapper in std")]
fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: cpu_set_t is a plain bitmask for which all-zero is a valid (empty) value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(std::io::Error::other(format!(
            "cpu {cpu} is beyond CPU_SETSIZE"
        )));
    }
    // SAFETY: `cpu` is below CPU_SETSIZE (checked above), so CPU_SET writes inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; the size and pointer describe `set`, which lives
    // for the whole call.
    let rc = unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), &raw const set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// CPUID through the cpuid driver: 16 bytes at offset (subleaf << 32) | leaf.
fn dev_cpu_reader(file: &std::fs::File) -> impl Fn(u32, u32) -> Option<CpuidEntry> + '_ {
    move |leaf, subleaf| {
        let mut b = [0u8; 16];
        let off = (u64::from(subleaf) << 32) | u64::from(leaf);
        file.read_exact_at(&mut b, off).ok()?;
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Some(CpuidEntry {
            leaf,
            subleaf,
            eax: w(0),
            ebx: w(4),
            ecx: w(8),
            edx: w(12),
        })
    }
}

/// Parse a sysfs CPU list such as `0-3,8,10-11`.
pub fn parse_cpu_list(s: &str) -> Vec<usize> {
    let mut out = Vec::new();
    for part in s.trim().split(',').filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.trim().parse::<usize>(), b.trim().parse::<usize>()) {
            out.extend(a..=b.min(a + 65_535));
        }
    }
    out
}

/// Raw CPUID of every online logical CPU, in CPU number order, and what could not be read.
pub fn dump_all() -> (Vec<(usize, Vec<CpuidEntry>)>, Vec<ProbeGap>) {
    let mut gaps = Vec::new();
    let cpus = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map(|s| parse_cpu_list(&s))
        .unwrap_or_default();
    if cpus.is_empty() {
        gaps.push(ProbeGap {
            what: "cpu.per_cpu_cpuid".into(),
            reason: "cannot read /sys/devices/system/cpu/online: only the current CPU was read"
                .into(),
        });
        return (vec![(0, dump_current())], gaps);
    }
    let results: Vec<(usize, Result<Vec<CpuidEntry>, String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = cpus
            .iter()
            .map(|&cpu| {
                (
                    cpu,
                    s.spawn(move || match pin_to(cpu) {
                        Ok(()) => Ok(dump_current()),
                        Err(pin) => {
                            let path = format!("/dev/cpu/{cpu}/cpuid");
                            let f = std::fs::File::open(&path).map_err(|e| {
                                format!("cannot pin a thread to it ({pin}) nor open {path} ({e}; `modprobe cpuid` and run as root)")
                            })?;
                            Ok(dump_with(&dev_cpu_reader(&f)))
                        }
                    }),
                )
            })
            .collect();
        handles
            .into_iter()
            .map(|(cpu, h)| {
                (
                    cpu,
                    h.join()
                        .unwrap_or_else(|_| Err("reader thread panicked".into())),
                )
            })
            .collect()
    });
    let mut out = Vec::new();
    for (cpu, r) in results {
        match r {
            Ok(d) if !d.is_empty() => out.push((cpu, d)),
            Ok(_) => gaps.push(ProbeGap {
                what: format!("cpu{cpu}.cpuid"),
                reason: "CPUID returned nothing".into(),
            }),
            Err(reason) => gaps.push(ProbeGap {
                what: format!("cpu{cpu}.cpuid"),
                reason,
            }),
        }
    }
    if out.is_empty() {
        out.push((0, dump_current()));
    }
    (out, gaps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists() {
        assert_eq!(parse_cpu_list("0-3,8,10-11\n"), vec![0, 1, 2, 3, 8, 10, 11]);
        assert_eq!(parse_cpu_list(""), Vec::<usize>::new());
        assert_eq!(parse_cpu_list("x,2"), vec![2]);
    }

    /// shared::decode and raw-cpuid's own decoders agree on this processor.
    #[test]
    fn decoding_agrees_with_raw_cpuid() {
        let d = dump_current();
        let c = raw_cpuid::CpuId::new();
        let vendor = c.get_vendor_info().map(|v| v.as_str().to_owned());
        assert_eq!(shared::decode::vendor(&d), vendor);
        let f = c.get_feature_info().expect("leaf 1");
        assert_eq!(
            shared::decode::signature(&d),
            Some((
                u32::from(f.family_id()),
                u32::from(f.model_id()),
                u32::from(f.stepping_id())
            ))
        );
        let brand = c
            .get_processor_brand_string()
            .map(|b| b.as_str().trim().to_owned());
        assert_eq!(shared::decode::brand(&d), brand);
    }

    #[test]
    fn every_online_cpu_is_read_and_agrees_with_dev_cpu() {
        let (cpus, gaps) = dump_all();
        let online = parse_cpu_list(
            &std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default(),
        );
        assert_eq!(cpus.len(), online.len(), "{gaps:?}");
        // Where the cpuid driver exists, pinned reads and /dev/cpu/N/cpuid must agree.
        for (cpu, entries) in &cpus {
            let Ok(f) = std::fs::File::open(format!("/dev/cpu/{cpu}/cpuid")) else {
                continue;
            };
            let via_dev = dump_with(&dev_cpu_reader(&f));
            let key = |v: &[CpuidEntry]| v.iter().map(|e| (e.leaf, e.subleaf)).collect::<Vec<_>>();
            assert_eq!(key(entries), key(&via_dev), "cpu {cpu}");
            let leaf1 = |v: &[CpuidEntry]| v.iter().find(|e| e.leaf == 1).map(|e| e.ebx >> 24);
            assert_eq!(
                leaf1(entries),
                leaf1(&via_dev),
                "cpu {cpu}: APIC ids differ"
            );
        }
    }
}
