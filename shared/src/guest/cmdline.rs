//! QEMU command lines (`qemu-system-x86_64 -machine pc-q35-7.2 -cpu EPYC-v4,-lm -smp 2 ...`) to a
//! [`GuestConfig`]. Shell quoting (`'...'`, `"..."`, backslash) and line continuations are
//! understood; QEMU's `,,` escape inside option values too. Options that do not shape the
//! guest's virtual hardware (`-display`, `-qmp`, `-name`...) are skipped.

use std::collections::BTreeMap;

use super::{
    Confidential, GuestDevice, GuestParseError, MemoryBackend, MigrationMode, Smp, VfioSource,
    normalise_addr, parse_bool, parse_size_mib,
};
use crate::catalog::catalog;
use crate::verdict::{GuestConfig, GuestCpu};

fn err(m: impl Into<String>) -> GuestParseError {
    GuestParseError::CommandLine(m.into())
}

/// Split a command line into words as a POSIX shell would (no expansion).
pub fn split_words(text: &str) -> Result<Vec<String>, GuestParseError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(n) => {
                    cur.push(n);
                    in_word = true;
                }
                None => return Err(err("the command line ends with a lone backslash")),
            },
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(n) => cur.push(n),
                        None => return Err(err("unterminated single quote")),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(n @ ('"' | '\\' | '$' | '`')) => cur.push(n),
                            Some('\n') => {}
                            Some(n) => {
                                cur.push('\\');
                                cur.push(n);
                            }
                            None => return Err(err("unterminated double quote")),
                        },
                        Some(n) => cur.push(n),
                        None => return Err(err("unterminated double quote")),
                    }
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Split a QEMU option value at commas (`,,` is a literal comma): `virtio-blk-pci,num-queues=4`.
/// Returns the leading bare word (if any) and the `key=value` pairs; a bare `key` is `key=on`.
pub fn split_opts(value: &str) -> (Option<String>, Vec<(String, String)>) {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                cur.push(',');
            } else {
                parts.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    let mut first = None;
    let mut pairs = Vec::new();
    for (i, p) in parts.into_iter().enumerate() {
        if p.is_empty() {
            continue;
        }
        match p.split_once('=') {
            Some((k, v)) => pairs.push((k.to_owned(), v.to_owned())),
            None if i == 0 => first = Some(p),
            None => pairs.push((p, "on".to_owned())),
        }
    }
    (first, pairs)
}

/// Options that take no argument; every other `-option` takes one.
const FLAGS: &[&str] = &[
    "-enable-kvm",
    "-nodefaults",
    "-no-user-config",
    "-no-reboot",
    "-no-shutdown",
    "-S",
    "-daemonize",
    "-snapshot",
    "-nographic",
    "-no-hpet",
    "-no-acpi",
    "-s",
    "-full-screen",
    "-version",
    "-help",
];

/// Parse a QEMU command line.
pub fn parse_command_line(text: &str) -> Result<GuestConfig, GuestParseError> {
    let words = split_words(text)?;
    let mut g = GuestConfig {
        managed_by: Some(crate::policy::ManagementStack::Qemu),
        ..GuestConfig::default()
    };
    let mut it = words.iter().peekable();
    // The binary, when given.
    if let Some(w) = it.peek()
        && !w.starts_with('-')
    {
        it.next();
    }
    let mut saw_option = false;
    while let Some(w) = it.next() {
        let Some(opt) = w.strip_prefix('-') else {
            return Err(err(format!(
                "'{w}' is not an option: a qemu command line is options (-machine, -cpu, -device...) and their values"
            )));
        };
        saw_option = true;
        let opt = opt.strip_prefix('-').unwrap_or(opt);
        if FLAGS.contains(&format!("-{opt}").as_str()) {
            continue;
        }
        let value = it
            .next()
            .ok_or_else(|| err(format!("option -{opt} needs a value")))?;
        match opt {
            "machine" | "M" => machine(&mut g, value),
            "accel" => {}
            "cpu" => cpu(&mut g, value)?,
            "smp" => g.smp = Some(smp(value)?),
            "m" => {
                let (first, pairs) = split_opts(value);
                let size = first.or_else(|| {
                    pairs
                        .iter()
                        .find(|(k, _)| k == "size")
                        .map(|(_, v)| v.clone())
                });
                if let Some(s) = size {
                    g.memory_mib = Some(
                        parse_size_mib(&s, true)
                            .ok_or_else(|| err(format!("-m '{s}' is not a memory size")))?,
                    );
                }
            }
            "object" => object(&mut g, value)?,
            "device" => g.devices.push(device(value)?),
            "global" => {
                let (k, v) = value
                    .split_once('=')
                    .ok_or_else(|| err(format!("-global '{value}' is not DRIVER.PROP=VALUE")))?;
                g.globals.insert(k.to_owned(), v.to_owned());
            }
            // A second `-incoming` with a cpr channel means the guest arrives by cpr-transfer.
            "incoming" if value.contains("cpr") => g.migration_mode = MigrationMode::CprTransfer,
            _ => {}
        }
    }
    if !saw_option {
        return Err(err("no options found"));
    }
    Ok(g)
}

fn machine(g: &mut GuestConfig, value: &str) {
    let (first, pairs) = split_opts(value);
    if let Some(t) = first {
        g.machine = Some(t);
    }
    for (k, v) in pairs {
        match k.as_str() {
            "type" => g.machine = Some(v),
            "accel" => {}
            _ => {
                g.machine_props.insert(k, v);
            }
        }
    }
}

fn cpu(g: &mut GuestConfig, value: &str) -> Result<(), GuestParseError> {
    let (model, pairs) = split_opts(value);
    let model = model.ok_or_else(|| err(format!("-cpu '{value}' names no cpu model")))?;
    let mut enable = Vec::new();
    let mut disable = Vec::new();
    for (k, v) in pairs {
        // `+feat`/`-feat` is the legacy spelling.
        let (name, on) = if let Some(n) = k.strip_prefix('+') {
            (n.to_owned(), Some(true))
        } else if let Some(n) = k.strip_prefix('-') {
            (n.to_owned(), Some(false))
        } else {
            (k.clone(), parse_bool(&v))
        };
        if name == "tsc-frequency" {
            let hz: u64 = v
                .parse()
                .map_err(|_| err(format!("tsc-frequency '{v}' is not a number of hertz")))?;
            g.tsc_khz = Some(hz / 1000);
        }
        match (catalog().lookup(&name).is_some(), on) {
            (true, Some(true)) => enable.push(name),
            (true, Some(false)) => disable.push(name),
            _ => {
                g.cpu_props.insert(name, v);
            }
        }
    }
    // `-cpu host` is migratable=on by default: QEMU leaves out what it cannot migrate (invtsc,
    // the engine's `qemu_unmigratable`) unless asked for by name or with migratable=off.
    let host = matches!(model.as_str(), "host" | "max");
    if host && enable.iter().any(|e| e == "invtsc") {
        g.cpu_props.insert("invtsc".into(), "on".into());
    }
    g.cpu = match model.as_str() {
        "host" | "max" if disable.is_empty() => GuestCpu::HostPassthrough,
        "host" | "max" => GuestCpu::HostPassthroughMasked { disable },
        _ => GuestCpu::Named {
            model,
            enable,
            disable,
        },
    };
    Ok(())
}

fn num(k: &str, v: &str) -> Result<u32, GuestParseError> {
    v.parse()
        .map_err(|_| err(format!("-smp {k}='{v}' is not a number")))
}

fn smp(value: &str) -> Result<Smp, GuestParseError> {
    let (first, pairs) = split_opts(value);
    let mut s = Smp::default();
    let mut cpus = first.as_deref().map(|f| num("cpus", f)).transpose()?;
    for (k, v) in pairs {
        let n = num(&k, &v)?;
        match k.as_str() {
            "cpus" => cpus = Some(n),
            "maxcpus" => s.maxcpus = Some(n),
            "sockets" => s.sockets = Some(n),
            "dies" => s.dies = Some(n),
            "clusters" => s.clusters = Some(n),
            "cores" => s.cores = Some(n),
            "threads" => s.threads = Some(n),
            _ => {}
        }
    }
    s.cpus = match cpus {
        Some(c) => c,
        None => [s.sockets, s.dies, s.clusters, s.cores, s.threads]
            .iter()
            .map(|x| x.unwrap_or(1))
            .product(),
    };
    if s.cpus == 0 {
        return Err(err("-smp gives 0 vcpus"));
    }
    Ok(s)
}

fn object(g: &mut GuestConfig, value: &str) -> Result<(), GuestParseError> {
    let (kind, pairs) = split_opts(value);
    let Some(kind) = kind else {
        return Ok(());
    };
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    match kind.as_str() {
        k if k.starts_with("memory-backend-") => {
            let size_mib = match get("size") {
                Some(s) => Some(
                    parse_size_mib(s, false)
                        .ok_or_else(|| err(format!("{k} size '{s}' is not a size")))?,
                ),
                None => None,
            };
            g.memory_backends.push(MemoryBackend {
                kind: kind.clone(),
                id: get("id").unwrap_or_default().to_owned(),
                share: get("share").and_then(parse_bool),
                size_mib,
            });
        }
        "sev-guest" => {
            // SEV-ES is sev-guest with policy bit 2 (0x4) set.
            let es = get("policy")
                .and_then(|p| {
                    let p = p.trim();
                    match p.strip_prefix("0x") {
                        Some(h) => u64::from_str_radix(h, 16).ok(),
                        None => p.parse().ok(),
                    }
                })
                .is_some_and(|p| p & 0x4 != 0);
            g.confidential = Some(if es {
                Confidential::SevEs
            } else {
                Confidential::Sev
            });
        }
        "sev-snp-guest" => g.confidential = Some(Confidential::SevSnp),
        "tdx-guest" => g.confidential = Some(Confidential::Tdx),
        _ => {}
    }
    Ok(())
}

/// Properties that name host-side backends, not what the guest sees.
pub const BACKEND_PROPS: &[&str] = &[
    "drive",
    "netdev",
    "chardev",
    "iothread",
    "host",
    "sysfsdev",
    "werror",
    "rerror",
    "write-cache",
    "share-rw",
    "x-enable-migration",
    "fd",
];

fn device(value: &str) -> Result<GuestDevice, GuestParseError> {
    let (driver, pairs) = split_opts(value);
    let driver = driver.ok_or_else(|| err(format!("-device '{value}' names no device type")))?;
    let mut d = GuestDevice {
        driver,
        ..GuestDevice::default()
    };
    let mut props = BTreeMap::new();
    for (k, v) in pairs {
        match k.as_str() {
            "id" => d.id = Some(v),
            "bus" => d.bus = Some(v),
            "addr" => {
                d.addr = Some(
                    normalise_addr(&v)
                        .ok_or_else(|| err(format!("device addr '{v}' is not SLOT[.FN]")))?,
                );
            }
            _ => {
                props.insert(k, v);
            }
        }
    }
    if d.driver.starts_with("vfio-") {
        let uuid = props
            .get("sysfsdev")
            .and_then(|p| p.rsplit('/').find(|s| !s.is_empty()))
            .filter(|_| props.get("sysfsdev").is_some_and(|p| p.contains("mdev")))
            .map(str::to_owned);
        d.vfio = Some(VfioSource {
            host_address: props.get("host").cloned(),
            mdev_type: props.get("x-mdev-type").cloned(),
            mdev_uuid: uuid,
        });
    }
    d.props = props;
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guest::Confidential;

    #[test]
    fn words_and_opts() {
        let w = split_words("qemu -name 'a b' -device \"x,y=1\" \\\n -m 1G").expect("words");
        assert_eq!(w, ["qemu", "-name", "a b", "-device", "x,y=1", "-m", "1G"]);
        assert!(split_words("qemu 'open").is_err());
        let (first, pairs) = split_opts("virtio-blk-pci,serial=a,,b,num-queues=4,x-flag");
        assert_eq!(first.as_deref(), Some("virtio-blk-pci"));
        assert_eq!(
            pairs,
            [
                ("serial".to_owned(), "a,b".to_owned()),
                ("num-queues".to_owned(), "4".to_owned()),
                ("x-flag".to_owned(), "on".to_owned())
            ]
        );
    }

    #[test]
    fn a_full_command_line() {
        let g = parse_command_line(
            "/usr/bin/qemu-system-x86_64 -enable-kvm -machine pc-q35-7.2,accel=kvm,aux-ram-share=on \
             -cpu EPYC-v4,-lm,+invtsc,tsc-frequency=2000000000,phys-bits=43 -smp 4,sockets=1,cores=2,threads=2 \
             -m 2G -object memory-backend-memfd,id=mem0,size=2G,share=on \
             -device virtio-blk-pci,drive=d0,id=disk0,bus=pcie.0,addr=0x5,num-queues=4,serial=S1 \
             -device virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,mq=on,romfile= \
             -device vfio-pci,host=0000:65:00.0,id=gpu0 \
             -global ICH9-LPC.disable_s3=1 -object sev-snp-guest,id=sev0,cbitpos=51 -display none -S",
        )
        .expect("parses");
        assert_eq!(g.machine.as_deref(), Some("pc-q35-7.2"));
        assert_eq!(
            g.machine_props.get("aux-ram-share").map(String::as_str),
            Some("on")
        );
        assert_eq!(
            g.cpu,
            GuestCpu::Named {
                model: "EPYC-v4".into(),
                enable: vec!["invtsc".into()],
                disable: vec!["lm".into()]
            }
        );
        assert_eq!(g.tsc_khz, Some(2_000_000));
        assert_eq!(g.cpu_props.get("phys-bits").map(String::as_str), Some("43"));
        let smp = g.smp.as_ref().expect("smp");
        assert_eq!((smp.cpus, smp.cores, smp.threads), (4, Some(2), Some(2)));
        assert_eq!(g.memory_mib, Some(2048));
        assert_eq!(g.memory_backends[0].share, Some(true));
        assert_eq!(g.devices.len(), 3);
        assert_eq!(g.devices[0].addr.as_deref(), Some("0x5.0"));
        assert_eq!(g.devices[0].prop("num-queues"), Some("4"));
        assert_eq!(g.devices[1].prop("romfile"), Some(""));
        assert!(g.devices[2].is_vfio());
        assert_eq!(
            g.devices[2]
                .vfio
                .as_ref()
                .and_then(|v| v.host_address.as_deref()),
            Some("0000:65:00.0")
        );
        assert_eq!(
            g.globals.get("ICH9-LPC.disable_s3").map(String::as_str),
            Some("1")
        );
        assert_eq!(g.confidential, Some(Confidential::SevSnp));
    }

    #[test]
    fn host_cpu_and_errors() {
        let g = parse_command_line("-cpu host,arch-capabilities=off -smp sockets=2,cores=2")
            .expect("parses");
        assert_eq!(
            g.cpu,
            GuestCpu::HostPassthroughMasked {
                disable: vec!["arch-capabilities".into()]
            }
        );
        // QEMU's default migratable=on leaves invtsc out; migratable=off or +invtsc keep it.
        let host = crate::testing::profile_named("h", "GenuineIntel", &["sse2", "invtsc"]);
        let invtsc = catalog().lookup("invtsc").expect("catalog");
        let view = |g: &GuestConfig| crate::verdict::guest_view(&host, g).expect("view");
        assert!(!view(&g).contains(invtsc));
        let plain = parse_command_line("-cpu host").expect("parses");
        assert_eq!(plain.cpu, GuestCpu::HostPassthrough);
        assert!(!view(&plain).contains(invtsc));
        let all = parse_command_line("-cpu host,migratable=off").expect("parses");
        assert_eq!(all.cpu, GuestCpu::HostPassthrough);
        assert!(view(&all).contains(invtsc));
        let inv = parse_command_line("-cpu host,+invtsc").expect("parses");
        assert_eq!(inv.cpu, GuestCpu::HostPassthrough);
        assert!(view(&inv).contains(invtsc));
        assert_eq!(g.smp.map(|s| s.cpus), Some(4));
        let e = parse_command_line("-m").expect_err("needs a value");
        assert!(e.to_string().contains("-m needs a value"), "{e}");
        assert!(parse_command_line("-m lots").is_err());
        assert!(parse_command_line("qemu stray").is_err());
        assert!(parse_command_line("-device vfio-pci,addr=zz").is_err());
        let sev = parse_command_line("-object sev-guest,id=s,policy=0x5").expect("sev-es");
        assert_eq!(sev.confidential, Some(Confidential::SevEs));
        let cpr = parse_command_line("-incoming tcp:0:4444 -incoming cpr,addr.transport=socket")
            .expect("cpr");
        assert_eq!(cpr.migration_mode, MigrationMode::CprTransfer);
    }
}
