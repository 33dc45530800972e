//! The guests of this host, read-only: every libvirt domain (defined or running) and every QEMU
//! process libvirt does not manage, with the host's capacity for guests.
//!
//! libvirt is asked through `virsh -r` (a read-only connection), not the `virt` crate: the
//! collector then links no C library (no libvirt headers to build it, none for the aarch64 cross
//! check, no libvirt.so needed on hosts without libvirt), and `virsh` is the interface operators
//! already use and trust; the cost is one short process per question.
//!
//! Nothing here fails the probe: libvirt absent or unreachable, a domain that vanishes between
//! the list and its XML, a definition the engine cannot parse, an unreadable /proc: each is a
//! [`ProbeGap`] and the probe goes on.

use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shared::profile::ProbeGap;
use shared::vms::{HostCapacity, HostGuests, Vm, VmDefinition, VmSource, VmState};

use super::gap;

/// What the guests probe reads.
#[derive(Clone, Debug)]
pub struct GuestsOptions {
    /// `virsh -c URI`; `None`: libvirt's own default (`LIBVIRT_DEFAULT_URI`, then its built-in
    /// choice), as `virsh` without `-c` does.
    pub libvirt_uri: Option<String>,
    /// Time one `virsh` call may take before it is killed (a hung libvirtd is a gap).
    pub timeout: Duration,
    /// `/proc` (tests point it elsewhere only for the capacity parsers).
    pub proc_root: PathBuf,
    /// `/sys/devices/system/cpu/online`.
    pub cpu_online: PathBuf,
}

impl Default for GuestsOptions {
    fn default() -> Self {
        Self {
            libvirt_uri: None,
            timeout: Duration::from_secs(30),
            proc_root: PathBuf::from("/proc"),
            cpu_online: PathBuf::from("/sys/devices/system/cpu/online"),
        }
    }
}

/// Read the guests and the capacity. Never fails: what cannot be read is a gap.
pub fn probe(opts: &GuestsOptions) -> (HostGuests, Vec<ProbeGap>) {
    let mut gaps = Vec::new();
    let capacity = capacity(&opts.cpu_online, &opts.proc_root.join("meminfo"), &mut gaps);
    // Every UUID libvirt listed, read or not: a domain that could not be read is still libvirt's.
    let (mut vms, libvirt_uuids) = libvirt_domains(opts, &mut gaps);
    let mut taken: BTreeSet<String> = libvirt_uuids.clone();
    for (pid, mut vm) in qemu_processes(&opts.proc_root, &libvirt_uuids, &mut gaps) {
        // Two processes with one `-uuid` (e.g. a local migration's source and destination):
        // the later one is known by its pid so both stay listed.
        if taken.contains(&vm.id) {
            vm.id = format!("pid-{pid}");
        }
        taken.insert(vm.id.clone());
        vms.push(vm);
    }
    vms.sort_by(|a, b| a.id.cmp(&b.id));
    (HostGuests { capacity, vms }, gaps)
}

// ---------------------------------------------------------------------------------------------
// Capacity

/// Online logical CPUs (`/sys/devices/system/cpu/online`, e.g. `0-3,6`) and `MemTotal`.
fn capacity(cpu_online: &Path, meminfo: &Path, gaps: &mut Vec<ProbeGap>) -> HostCapacity {
    let logical_cpus = match std::fs::read_to_string(cpu_online) {
        Ok(text) => match count_cpu_list(&text) {
            Some(n) => n,
            None => {
                gaps.push(gap(
                    "guests:capacity.cpus",
                    format!(
                        "{} is not a CPU list: '{}'",
                        cpu_online.display(),
                        text.trim()
                    ),
                ));
                0
            }
        },
        Err(e) => {
            gaps.push(gap(
                "guests:capacity.cpus",
                format!("cannot read {}: {e}", cpu_online.display()),
            ));
            0
        }
    };
    let memory_mib = match std::fs::read_to_string(meminfo) {
        Ok(text) => match mem_total_mib(&text) {
            Some(n) => n,
            None => {
                gaps.push(gap(
                    "guests:capacity.memory",
                    format!("{} has no MemTotal line in kB", meminfo.display()),
                ));
                0
            }
        },
        Err(e) => {
            gaps.push(gap(
                "guests:capacity.memory",
                format!("cannot read {}: {e}", meminfo.display()),
            ));
            0
        }
    };
    HostCapacity {
        logical_cpus,
        memory_mib,
    }
}

/// Count a kernel CPU list (`0-3,6,8-9`; Documentation/admin-guide/cputopology.rst).
pub fn count_cpu_list(text: &str) -> Option<u32> {
    let text = text.trim();
    if text.is_empty() {
        return Some(0);
    }
    let mut n: u32 = 0;
    for part in text.split(',') {
        let count = match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u32, u32) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                b.checked_sub(a)?.checked_add(1)?
            }
            None => {
                part.trim().parse::<u32>().ok()?;
                1
            }
        };
        n = n.checked_add(count)?;
    }
    Some(n)
}

/// `MemTotal:  24683520 kB` of /proc/meminfo, in MiB.
pub fn mem_total_mib(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut words = line["MemTotal:".len()..].split_whitespace();
    let kib: u64 = words.next()?.parse().ok()?;
    (words.next()? == "kB").then_some(kib / 1024)
}

// ---------------------------------------------------------------------------------------------
// libvirt

/// Why one `virsh` call gave no answer.
#[derive(Debug, thiserror::Error)]
enum VirshError {
    #[error(
        "virsh is not installed: install libvirt-clients to read libvirt's guests, or pass --no-guests"
    )]
    Missing,
    #[error("cannot run virsh: {0}")]
    Spawn(std::io::Error),
    #[error("virsh {args} did not answer in {secs} s and was stopped")]
    Timeout { args: String, secs: u64 },
    #[error("virsh {args} failed: {message}")]
    Failed { args: String, message: String },
}

fn virsh(opts: &GuestsOptions, args: &[&str]) -> Result<String, VirshError> {
    let mut cmd = Command::new("virsh");
    // `-r`: a read-only connection; libvirt refuses every change over it (src/libvirt-domain.c,
    // virCheckReadOnlyGoto in each mutating entry point).
    cmd.arg("-r");
    if let Some(uri) = &opts.libvirt_uri {
        cmd.args(["-c", uri]);
    }
    cmd.args(args)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => VirshError::Missing,
        _ => VirshError::Spawn(e),
    })?;
    // Read both pipes on threads so a large dumpxml cannot fill a pipe while we wait.
    let reader = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = reader(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = reader(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let deadline = Instant::now() + opts.timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(VirshError::Timeout {
                    args: args.join(" "),
                    secs: opts.timeout.as_secs(),
                });
            }
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    if status.success() {
        Ok(String::from_utf8_lossy(&stdout).into_owned())
    } else {
        let message = String::from_utf8_lossy(&stderr)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join(" / ");
        Err(VirshError::Failed {
            args: args.join(" "),
            message: if message.is_empty() {
                format!("exit status {status}")
            } else {
                message
            },
        })
    }
}

/// What `virsh dominfo` says of one domain (virDomainGetInfo: state, nrVirtCpu, memory).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DomInfo {
    pub name: Option<String>,
    pub state: Option<VmState>,
    pub vcpus: Option<u32>,
    pub memory_mib: Option<u64>,
}

/// Parse `virsh dominfo` (`LC_ALL=C`): `Name:`, `State:`, `CPU(s):`, `Used memory: N KiB`.
pub fn parse_dominfo(text: &str) -> DomInfo {
    let mut info = DomInfo::default();
    for line in text.lines() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "Name" => info.name = Some(value.to_owned()),
            "State" => info.state = Some(state_from_virsh(value)),
            "CPU(s)" => info.vcpus = value.parse().ok(),
            "Used memory" => info.memory_mib = kib_to_mib(value),
            _ => {}
        }
    }
    info
}

/// `65536 KiB` -> 64.
fn kib_to_mib(value: &str) -> Option<u64> {
    let mut w = value.split_whitespace();
    let n: u64 = w.next()?.parse().ok()?;
    match w.next() {
        Some("KiB") | None => Some(n / 1024),
        _ => None,
    }
}

/// virsh's state words (tools/virsh-domain-monitor.c, virshDomainStateToString).
pub fn state_from_virsh(s: &str) -> VmState {
    match s {
        "running" => VmState::Running,
        "paused" => VmState::Paused,
        "shut off" => VmState::ShutOff,
        // "idle", "in shutdown", "crashed", "pmsuspended", "no state"
        _ => VmState::Other,
    }
}

/// Every libvirt domain, defined or running, and every UUID libvirt listed (lower case).
/// libvirt unreachable is one gap and no VM.
fn libvirt_domains(opts: &GuestsOptions, gaps: &mut Vec<ProbeGap>) -> (Vec<Vm>, BTreeSet<String>) {
    let where_ = opts
        .libvirt_uri
        .as_deref()
        .map(|u| format!(" at {u}"))
        .unwrap_or_default();
    let list = match virsh(opts, &["list", "--all", "--uuid"]) {
        Ok(l) => l,
        Err(e) => {
            gaps.push(gap(
                "guests:libvirt",
                format!("cannot list libvirt's domains{where_}: {e}"),
            ));
            return (Vec::new(), BTreeSet::new());
        }
    };
    let uuids: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let mut vms = Vec::new();
    for uuid in &uuids {
        match libvirt_domain(opts, uuid) {
            Ok((vm, parse_error)) => {
                if let Some(e) = parse_error {
                    gaps.push(gap(
                        &format!("guest:{}", vm.name),
                        format!(
                            "the definition of libvirt domain {} ({uuid}) does not parse ({e}); it is listed, and judged stuck until it parses",
                            vm.name
                        ),
                    ));
                }
                vms.push(vm);
            }
            Err(e) => gaps.push(gap(
                &format!("guest:{uuid}"),
                format!(
                    "libvirt domain {uuid} was listed but could not be read (it may have been undefined meanwhile): {e}"
                ),
            )),
        }
    }
    let listed = uuids.iter().map(|u| u.to_ascii_lowercase()).collect();
    (vms, listed)
}

/// One domain: `dominfo` then `dumpxml`. The live XML (`dumpxml` without flags): libvirt
/// refuses `--migratable` (VIR_DOMAIN_XML_MIGRATABLE) and `--security-info` on a read-only
/// connection (src/libvirt-domain.c, virDomainGetXMLDesc: `conn->flags & VIR_CONNECT_RO` with
/// `VIR_DOMAIN_XML_SECURE | VIR_DOMAIN_XML_MIGRATABLE` is VIR_ERR_OPERATION_DENIED), so it is
/// never asked for.
fn libvirt_domain(opts: &GuestsOptions, uuid: &str) -> Result<(Vm, Option<String>), VirshError> {
    let info = parse_dominfo(&virsh(opts, &["dominfo", uuid])?);
    let xml = virsh(opts, &["dumpxml", uuid])?;
    let parsed = shared::guest::parse_guest(&xml);
    let (vcpus_xml, memory_xml) = match &parsed {
        Ok((_, g)) => (g.smp.as_ref().map(|s| s.cpus), g.memory_mib),
        Err(_) => (None, None),
    };
    let vm = Vm {
        id: uuid.to_ascii_lowercase(),
        name: info.name.clone().unwrap_or_else(|| uuid.to_owned()),
        source: VmSource::Libvirt,
        state: info.state.unwrap_or(VmState::Other),
        vcpus: info.vcpus.or(vcpus_xml).unwrap_or(0),
        memory_mib: info.memory_mib.or(memory_xml).unwrap_or(0),
        definition: VmDefinition::DomainXml(xml),
    };
    Ok((vm, parsed.err().map(|e| e.to_string())))
}

// ---------------------------------------------------------------------------------------------
// QEMU processes

/// Is this argv[0] a QEMU system emulator (`qemu-system-x86_64`, RHEL's `qemu-kvm`)?
pub fn is_qemu(argv0: &str) -> bool {
    let base = argv0.rsplit('/').next().unwrap_or(argv0);
    base.starts_with("qemu-system-") || base == "qemu-kvm"
}

/// The value of the first `-OPT` / `--OPT` word.
fn option<'a>(args: &'a [String], opt: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| {
            a.strip_prefix('-')
                .map(|a| a.strip_prefix('-').unwrap_or(a))
                == Some(opt)
        })
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

/// The guest name of `-name guest=NAME,debug-threads=on` (libvirt's spelling) or `-name NAME`.
fn name_of(value: &str) -> Option<String> {
    let (first, pairs) = shared::guest::cmdline::split_opts(value);
    pairs
        .into_iter()
        .find(|(k, _)| k == "guest")
        .map(|(_, v)| v)
        .or(first)
}

/// A process with `-machine none` is no guest: QEMU's (and libvirt's, and this collector's own)
/// capability probes run that way (libvirt src/qemu/qemu_capabilities.c,
/// virQEMUCapsInitQMPCommandNew: `-machine none`).
fn is_probe(args: &[String]) -> bool {
    ["machine", "M"].iter().any(|o| {
        option(args, o).is_some_and(|v| {
            let (first, pairs) = shared::guest::cmdline::split_opts(v);
            first.as_deref() == Some("none")
                || pairs.iter().any(|(k, v)| k == "type" && v == "none")
        })
    })
}

/// Words joined by spaces, each quoted for a POSIX shell when it needs it, so
/// `shared::guest::cmdline::split_words` gives the same words back.
pub fn join_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_=,.:/@%+".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// vCPUs and memory of a command line: the engine's own parser; where the whole line does not
/// parse, `-smp` and `-m` alone; absent, QEMU's defaults: one vCPU (hw/core/machine.c,
/// machine_initfn: `smp.cpus = mc->default_cpus`, 1) and 128 MiB (hw/core/machine.c,
/// machine_class_init: `mc->default_ram_size = 128 * MiB`; x86's pc and q35 keep it).
fn size_of(args: &[String], parsed: Option<&shared::policy::GuestConfig>) -> (u32, u64) {
    let (smp, mem) = match parsed {
        Some(g) => (g.smp.as_ref().map(|s| s.cpus), g.memory_mib),
        None => {
            let mut words = Vec::new();
            for o in ["smp", "m"] {
                if let Some(v) = option(args, o) {
                    words.push(format!("-{o}"));
                    words.push(v.to_owned());
                }
            }
            match shared::guest::cmdline::parse_command_line(&join_words(&words)) {
                Ok(g) => (g.smp.map(|s| s.cpus), g.memory_mib),
                Err(_) => (None, None),
            }
        }
    };
    (smp.unwrap_or(1), mem.unwrap_or(128))
}

/// Every QEMU process whose `-uuid` is not one of libvirt's domains. libvirt gives every QEMU
/// it starts `-uuid` of its domain (src/qemu/qemu_command.c, qemuBuildCommandLine:
/// `virCommandAddArgList(cmd, "-uuid", uuid, NULL)`), and daemonizes it (qemu_process.c,
/// qemuProcessLaunch: virCommandDaemonize), so its parent is not libvirtd: the UUID is the mark.
fn qemu_processes(
    proc_root: &Path,
    libvirt_uuids: &BTreeSet<String>,
    gaps: &mut Vec<ProbeGap>,
) -> Vec<(u32, Vm)> {
    let rd = match std::fs::read_dir(proc_root) {
        Ok(rd) => rd,
        Err(e) => {
            gaps.push(gap(
                "guests:processes",
                format!(
                    "cannot list {} to find QEMU processes started without libvirt: {e}",
                    proc_root.display()
                ),
            ));
            return Vec::new();
        }
    };
    let mut pids: Vec<u32> = rd
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let mut vms = Vec::new();
    for pid in pids {
        // A process that ends meanwhile, or a kernel thread (empty cmdline), is no guest.
        let Ok(raw) = std::fs::read(proc_root.join(pid.to_string()).join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .filter(|w| !w.is_empty())
            .map(|w| String::from_utf8_lossy(w).into_owned())
            .collect();
        let Some(argv0) = args.first() else { continue };
        if !is_qemu(argv0) || is_probe(&args) {
            continue;
        }
        let uuid = option(&args, "uuid").map(str::to_ascii_lowercase);
        if uuid.as_ref().is_some_and(|u| libvirt_uuids.contains(u)) {
            continue;
        }
        let text = join_words(&args);
        let parsed = shared::guest::parse_guest(&text);
        let name = option(&args, "name")
            .and_then(name_of)
            .unwrap_or_else(|| format!("pid-{pid}"));
        if let Err(e) = &parsed {
            gaps.push(gap(
                &format!("guest:{name}"),
                format!(
                    "the command line of QEMU process {pid} does not parse ({e}); it is listed, and judged stuck until it parses"
                ),
            ));
        }
        let (vcpus, memory_mib) = size_of(&args, parsed.as_ref().ok().map(|(_, g)| g));
        vms.push((
            pid,
            Vm {
                id: uuid.unwrap_or_else(|| format!("pid-{pid}")),
                name,
                source: VmSource::Process,
                state: VmState::Running,
                vcpus,
                memory_mib,
                definition: VmDefinition::CommandLine(text),
            },
        ));
    }
    vms
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split(' ').map(str::to_owned).collect()
    }

    #[test]
    fn cpu_lists_count_like_the_kernel_writes_them() {
        assert_eq!(count_cpu_list("0-3\n"), Some(4));
        assert_eq!(count_cpu_list("0-3,6,8-9"), Some(7));
        assert_eq!(count_cpu_list("0"), Some(1));
        assert_eq!(count_cpu_list("3-1"), None);
        assert_eq!(count_cpu_list("a-b"), None);
    }

    #[test]
    fn mem_total_is_read_in_mib() {
        let m = "MemTotal:       24683520 kB\nMemFree:  1 kB\n";
        assert_eq!(mem_total_mib(m), Some(24105));
        assert_eq!(mem_total_mib("MemFree: 1 kB"), None);
        assert_eq!(mem_total_mib("MemTotal: 12 MB"), None);
    }

    #[test]
    fn dominfo_gives_name_state_vcpus_and_memory() {
        let text = "Id:             1\nName:           web 1\nUUID:           6d1c2cbe-2b1c-4b8c-9a55-3e5a2f2d9d10\nOS Type:        hvm\nState:          shut off\nCPU(s):         2\nMax memory:     131072 KiB\nUsed memory:    65536 KiB\n";
        assert_eq!(
            parse_dominfo(text),
            DomInfo {
                name: Some("web 1".into()),
                state: Some(VmState::ShutOff),
                vcpus: Some(2),
                memory_mib: Some(64),
            }
        );
        assert_eq!(state_from_virsh("pmsuspended"), VmState::Other);
    }

    #[test]
    fn quoted_words_split_back_to_the_same_words() {
        let args = vec![
            "/usr/bin/qemu-system-x86_64".to_owned(),
            "-object".to_owned(),
            r#"{"qom-type":"secret","id":"k","file":"/a b/it's"}"#.to_owned(),
            "-name".to_owned(),
            "guest=x,debug-threads=on".to_owned(),
            String::new(),
        ];
        let back = shared::guest::cmdline::split_words(&join_words(&args)).expect("splits");
        assert_eq!(back, args);
    }

    #[test]
    fn names_and_probes_are_recognised() {
        assert_eq!(
            name_of("guest=vm1,debug-threads=on").as_deref(),
            Some("vm1")
        );
        assert_eq!(name_of("vm2,process=q").as_deref(), Some("vm2"));
        assert!(is_qemu("/usr/libexec/qemu-kvm"));
        assert!(is_qemu("qemu-system-aarch64"));
        assert!(!is_qemu("/usr/bin/qemu-img"));
        assert!(is_probe(&words(
            "qemu-system-x86_64 -machine none -qmp stdio"
        )));
        assert!(is_probe(&words("qemu-system-x86_64 -M type=none")));
        assert!(!is_probe(&words("qemu-system-x86_64 -machine q35 -m 64")));
    }

    #[test]
    fn sizes_fall_back_to_smp_and_m_then_to_qemu_defaults() {
        let a = words("qemu-system-x86_64 -smp 3 -m 2G");
        let g = shared::guest::cmdline::parse_command_line(&join_words(&a)).expect("parses");
        assert_eq!(size_of(&a, Some(&g)), (3, 2048));
        // The whole line does not parse (a stray word), -smp and -m still count.
        let b = words("qemu-system-x86_64 stray -smp 2 -m 96");
        assert_eq!(size_of(&b, None), (2, 96));
        let c = words("qemu-system-x86_64 -nodefaults");
        assert_eq!(size_of(&c, None), (1, 128));
    }
}
