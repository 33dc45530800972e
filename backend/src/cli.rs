//! `fleetcompat compare | baseline | masks | graph`: the engine on the command line.
//!
//! Inputs are host profile JSON files (from `fleetcompat-collector`), fleet files (JSON Lines, one
//! profile a line, from `GET /api/v1/fleet.jsonl`), or CPUID dumps (whose guest view is then
//! estimated from the raw CPUID, and said so). Files are read and parsed on every core.
//! Output is human-readable, or JSON with `--json` (a stable contract for scripts).
//! Exit codes: 0 compatible (or success), 1 incompatible, 2 error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use shared::baseline::{BaselineHost, BaselineHosts, BaselineOptions, baseline, baseline_of};
use shared::graph;
use shared::import::ImportMeta;
use shared::masks::pair_masks;
use shared::models::QemuVersion;
use shared::profile::{HostProfile, ProfileError};
use shared::verdict::{GuestConfig, GuestCpu, Policy, Severity, compare_with};

/// `println!` for results: a closed stdout (`fleetcompat graph ... | head`) ends the process
/// quietly, as a reader that has what it wanted is no error; other write errors exit 2.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            $crate::cli::stdout_failed(&e)
        }
    }};
}

/// `print!` for results, as [`outln!`].
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout().lock(), $($arg)*) {
            $crate::cli::stdout_failed(&e)
        }
    }};
}

/// Stdout failed: quiet success when the reader went away, else say so and exit 2.
pub fn stdout_failed(e: &std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write to stdout: {e}");
    std::process::exit(i32::from(EXIT_ERROR));
}

/// Exit code: compatible, or the command succeeded.
pub const EXIT_OK: u8 = 0;
/// Exit code: incompatible (a blocker remains).
pub const EXIT_INCOMPATIBLE: u8 = 1;
/// Exit code: the inputs could not be read or judged.
pub const EXIT_ERROR: u8 = 2;

/// How guests are configured, for `compare` and `graph`.
#[derive(clap::Args, Debug, Clone)]
pub struct GuestArgs {
    /// Guest CPU mode: host-passthrough, host-model, or a QEMU model name (e.g. Skylake-Server-v4).
    #[arg(long, default_value = "host-passthrough")]
    cpu: String,
    /// Features turned on for a named model (comma-separated QEMU names).
    #[arg(long, value_delimiter = ',')]
    enable: Vec<String>,
    /// Features turned off (comma-separated QEMU names); with host-passthrough this masks them.
    #[arg(long, value_delimiter = ',')]
    disable: Vec<String>,
    /// Allow a change of CPU vendor for guests on a named model.
    #[arg(long)]
    allow_vendor_change: bool,
    /// The guest runs with this fixed TSC frequency (kHz), so invtsc can migrate.
    #[arg(long, value_name = "KHZ")]
    tsc_khz: Option<u64>,
    /// TSC difference accepted without scaling, in ppm.
    #[arg(long, default_value_t = shared::verdict::DEFAULT_TSC_TOLERANCE_PPM)]
    tsc_tolerance_ppm: u32,
    /// QEMU release on the destination(s), e.g. 8.2.0: named models it lacks are blockers.
    #[arg(long, value_name = "VERSION")]
    dst_qemu: Option<String>,
    /// host-passthrough: QEMU's `migratable` (on by default, as QEMU's; off lets the guest see
    /// invtsc too, which then needs --tsc-khz to migrate).
    #[arg(long, value_name = "on|off", default_value = "on", value_parser = ["on", "off"])]
    migratable: String,
    /// Who starts the destination: qemu (QEMU filters what the destination lacks and starts the
    /// guest; a lost microcode-class feature warns) or libvirt (check='partial' refuses a
    /// destination that lacks any feature of the definition). Default: libvirt for libvirt XML
    /// guests and host-model, qemu otherwise.
    #[arg(long, value_name = "qemu|libvirt", value_parser = ["qemu", "libvirt"])]
    stack: Option<String>,
}

impl GuestArgs {
    fn guest(&self) -> GuestConfig {
        let cpu = match self.cpu.as_str() {
            "host-passthrough" | "host" if self.disable.is_empty() => GuestCpu::HostPassthrough,
            "host-passthrough" | "host" => GuestCpu::HostPassthroughMasked {
                disable: self.disable.clone(),
            },
            "host-model" => GuestCpu::HostModel,
            model => GuestCpu::Named {
                model: model.to_owned(),
                enable: self.enable.clone(),
                disable: self.disable.clone(),
            },
        };
        let mut guest = GuestConfig::with_cpu(cpu);
        if self.migratable == "off" {
            guest.cpu_props.insert("migratable".into(), "off".into());
        }
        guest
    }

    fn policy(&self) -> Result<Policy, String> {
        let dst_qemu = match &self.dst_qemu {
            Some(v) => Some(
                QemuVersion::parse(v)
                    .ok_or_else(|| format!("--dst-qemu '{v}' is not a qemu version like 10.0.2"))?,
            ),
            None => None,
        };
        Ok(Policy {
            allow_vendor_change: self.allow_vendor_change,
            tsc_tolerance_ppm: self.tsc_tolerance_ppm,
            guest_tsc_khz: self.tsc_khz,
            src_qemu: None,
            dst_qemu,
            stack: self.stack.as_deref().map(|s| match s {
                "libvirt" => shared::verdict::ManagementStack::Libvirt,
                _ => shared::verdict::ManagementStack::Qemu,
            }),
            ..Policy::default()
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct CompareArgs {
    /// Source host: profile JSON or a dump (cpuid -r, InstLatx64, libvirt xml/json, lscpu).
    src: PathBuf,
    /// Destination host: profile JSON or a dump (cpuid -r, InstLatx64, libvirt xml/json, lscpu).
    dst: PathBuf,
    #[command(flatten)]
    guest: GuestArgs,
    #[command(flatten)]
    defs: GuestFileArgs,
    /// Print the verdict as JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(clap::Args, Debug)]
pub struct BaselineArgs {
    /// Hosts: profile JSON or dump files, fleet files (*.jsonl, one profile a line, as
    /// GET /api/v1/fleet.jsonl writes them), or folders of those (one host gives its host model).
    #[arg(required = true)]
    hosts: Vec<PathBuf>,
    /// The oldest QEMU release among the hosts: models it lacks are not used.
    #[arg(long, value_name = "VERSION")]
    qemu: Option<String>,
    /// The libvirt release that reads the libvirt, Nova and KubeVirt exports (e.g. 9.0.0): they
    /// name only models and features its cpu_map has. Default: the oldest libvirt the profiles
    /// recorded, 9.0.0 (Debian 12) for profiles without one.
    #[arg(long, value_name = "VERSION")]
    libvirt_version: Option<String>,
    /// Print the baseline as JSON (`model`, `features`, `exports`...).
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(clap::Args, Debug)]
pub struct MasksArgs {
    src: PathBuf,
    dst: PathBuf,
    /// More hosts: masks for the whole pool (blocking features, hosts holding it back, costs).
    more: Vec<PathBuf>,
    /// The guest runs with a fixed TSC frequency (kHz), for the TSC checks (invtsc is never
    /// masked: -cpu host leaves it out while migratable=on, QEMU's default).
    #[arg(long, value_name = "KHZ")]
    tsc_khz: Option<u64>,
    /// The hosts' libvirt release (e.g. 9.0.0), for the libvirt forms of the masks and of the
    /// named alternative. Default: what each profile recorded, 9.0.0 (Debian 12) otherwise.
    #[arg(long, value_name = "VERSION")]
    libvirt_version: Option<String>,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(clap::Args, Debug)]
pub struct GraphArgs {
    /// Host files, fleet files (*.jsonl), or folders of them (*.json, *.xml, *.txt, *.jsonl).
    #[arg(required = true)]
    hosts: Vec<PathBuf>,
    #[command(flatten)]
    guest: GuestArgs,
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

/// Read one host: a profile JSON document, or a dump in any format `shared::import` detects
/// (`cpuid -r` output, InstLatx64 text, libvirt `<cpudata>` XML or QMP JSON, lscpu, `virsh
/// capabilities` or `virsh domcapabilities`), made a profile by
/// `shared::import::profile_from_dump` with the QMP json beside a `<cpudata>` xml when there is
/// one. Dumps without QEMU or KVM data get a guest view estimated from the host CPU, and say so
/// in a gap.
pub fn read_host(path: &Path) -> Result<HostProfile, String> {
    if let Some(from_db) = host_from_db(path) {
        return from_db;
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if text.trim_start().starts_with('{') && text.contains("\"schema_version\"") {
        return HostProfile::from_json(&text).map_err(|e| format!("{}: {e}", path.display()));
    }
    let file_name = path
        .file_name()
        .and_then(|s| s.to_str())
        .unwrap_or_default();
    let qemu_data = shared::import::sibling_qmp_name(file_name, &text)
        .map(|n| path.with_file_name(n))
        .and_then(|p| std::fs::read_to_string(p).ok());
    let stem = shared::profile::sanitize_host_id(
        path.file_stem().and_then(|s| s.to_str()).unwrap_or("host"),
    );
    let format = shared::import::detect(&text).map_or("dump", shared::import::Format::name);
    shared::import::profile_from_dump(
        &text,
        qemu_data.as_deref(),
        ImportMeta {
            host_id: stem.clone(),
            hostname: stem,
            collected_at: String::new(),
            labels: Default::default(),
            detail: format!("{format} {}", path.display()),
            tool: format!("fleetcompat {}", env!("CARGO_PKG_VERSION")),
        },
    )
    .map_err(|e| {
        format!(
            "{}: not a host profile (JSON) nor a dump fleetcompat can read: {e}",
            path.display()
        )
    })
}

/// File extensions of fleet files: one profile JSON document a line (JSON Lines), as
/// `GET /api/v1/fleet.jsonl` writes them.
const FLEET_FILE_EXTENSIONS: [&str; 2] = ["jsonl", "ndjson"];

fn is_fleet_file(path: &Path) -> bool {
    path.extension().is_some_and(|x| {
        FLEET_FILE_EXTENSIONS
            .iter()
            .any(|known| x.eq_ignore_ascii_case(known))
    })
}

/// Where hosts go as they are read, in input order: a `Vec` keeps them; a baseline folds each
/// into [`BaselineHosts`] and lets the profile go, so a fleet of any size streams through.
/// Each parsing thread fills sinks of its own, which are then appended in order.
trait HostSink: Default + Send {
    /// What a line of a fleet file is read into: all of a profile, or what the sink needs.
    type Line: Send;
    fn parse_line(json: &str) -> Result<Self::Line, ProfileError>;
    fn add_line(&mut self, host: Self::Line);
    /// A host read from a file of its own (a profile or a dump).
    fn add(&mut self, host: HostProfile);
    /// The hosts of `later`, which come after these.
    fn append(&mut self, later: Self);
    fn is_empty(&self) -> bool;
}

impl HostSink for Vec<HostProfile> {
    type Line = HostProfile;
    fn parse_line(json: &str) -> Result<HostProfile, ProfileError> {
        HostProfile::from_json(json)
    }
    fn add_line(&mut self, host: HostProfile) {
        self.push(host);
    }
    fn add(&mut self, host: HostProfile) {
        self.push(host);
    }
    fn append(&mut self, mut later: Self) {
        Vec::append(self, &mut later);
    }
    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

/// A baseline reads only its part of each line of a fleet file ([`BaselineHost`]), in half the
/// time of a whole profile; the rest of the line is not checked.
impl HostSink for BaselineHosts {
    type Line = BaselineHost;
    fn parse_line(json: &str) -> Result<BaselineHost, ProfileError> {
        BaselineHost::from_json(json)
    }
    fn add_line(&mut self, host: BaselineHost) {
        self.add_host(&host);
    }
    fn add(&mut self, host: HostProfile) {
        BaselineHosts::add(self, &host);
    }
    fn append(&mut self, later: Self) {
        BaselineHosts::append(self, later);
    }
    fn is_empty(&self) -> bool {
        BaselineHosts::is_empty(self)
    }
}

/// Bytes of a fleet file a parsing thread takes at a time: the file is streamed through a few
/// reused buffers of this size.
const FLEET_BLOCK_BYTES: usize = 256 << 10;

/// Every host of a fleet file, in its order; a line that is not a profile is an error naming
/// the file and line (a fleet file is written by a tool, so nothing is skipped silently).
///
/// This thread reads the file in blocks of whole lines (raw bytes, nothing scanned but for the
/// last newline) while one thread per core parses them into a sink of the block's own. Parsed
/// blocks come back with their buffer, which is read into again, and join `sink` in file order
/// as soon as their turn comes. Fresh memory is what costs most on a VM: see BENCHMARKS.md,
/// baseline against virsh.
fn read_fleet_file<S: HostSink>(path: &Path, sink: &mut S) -> Result<(), String> {
    use std::io::Read;
    use std::sync::{Arc, Mutex, mpsc};

    /// A parsed block: its hosts, how many, and how many lines it has; or the line (counted
    /// within the block, from 1) and what is wrong with it.
    type Block<S> = Result<(S, usize, usize), (usize, String)>;
    let parse_block = |block: &[u8]| -> Block<S> {
        let mut hosts = S::default();
        let (mut n_hosts, mut n_lines) = (0, 0);
        let text = std::str::from_utf8(block).map_err(|e| {
            let line = 1 + block[..e.valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            (line, format!("not UTF-8 text ({e})"))
        })?;
        // Blocks end with a newline, but for the file's last line.
        let body = text.strip_suffix('\n').unwrap_or(text);
        for line in body.split('\n') {
            n_lines += 1;
            if !line.trim().is_empty() {
                let host = S::parse_line(line).map_err(|e| (n_lines, e.to_string()))?;
                hosts.add_line(host);
                n_hosts += 1;
            }
        }
        Ok((hosts, n_hosts, n_lines))
    };

    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let n_threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let mut waiting: std::collections::BTreeMap<usize, Block<S>> = Default::default();
    let (mut n_joined, mut n_hosts, mut n_lines) = (0, 0, 0);
    let mut join = |index: usize, parsed: Block<S>| -> Result<(), String> {
        waiting.insert(index, parsed);
        while let Some(next) = waiting.remove(&n_joined) {
            let (hosts, n, lines) = next
                .map_err(|(line, e)| format!("{} line {}: {e}", path.display(), n_lines + line))?;
            sink.append(hosts);
            n_hosts += n;
            n_lines += lines;
            n_joined += 1;
        }
        Ok(())
    };
    let (to_parse, blocks) = mpsc::sync_channel::<(usize, Vec<u8>)>(n_threads);
    // Only the parsing threads hold the receiver: were they all gone, sending fails, not hangs.
    let blocks = Arc::new(Mutex::new(blocks));
    let (to_join, parsed) = mpsc::channel::<(usize, Block<S>, Vec<u8>)>();
    std::thread::scope(|s| {
        for _ in 0..n_threads {
            let (to_join, blocks) = (to_join.clone(), Arc::clone(&blocks));
            let parse_block = &parse_block;
            s.spawn(move || {
                loop {
                    // The lock is held only to take the next block.
                    let next = blocks.lock().map(|b| b.recv());
                    let Ok(Ok((index, block))) = next else {
                        break;
                    };
                    let result = parse_block(&block);
                    if to_join.send((index, result, block)).is_err() {
                        break;
                    }
                }
            });
        }
        drop((to_join, blocks));
        // Leaving early (an error) drops `to_parse`: the parsing threads stop after their block.
        let mut spare: Vec<Vec<u8>> = Vec::new();
        // The start of a line that did not fit in the previous block.
        let mut carry: Vec<u8> = Vec::new();
        for index in 0.. {
            for (i, result, block) in parsed.try_iter() {
                join(i, result)?;
                spare.push(block);
            }
            let mut block = spare
                .pop()
                .unwrap_or_else(|| Vec::with_capacity(FLEET_BLOCK_BYTES));
            block.clear();
            block.append(&mut carry);
            let mut at_end = false;
            // At least one whole line, however long (only new bytes are searched for its end).
            let (mut scanned, mut has_newline) = (0, false);
            while block.len() < FLEET_BLOCK_BYTES || !has_newline {
                let want = (FLEET_BLOCK_BYTES.saturating_sub(block.len())).max(1 << 16) as u64;
                match (&mut file).take(want).read_to_end(&mut block) {
                    Ok(0) => {
                        at_end = true;
                        break;
                    }
                    Ok(_) => {}
                    Err(e) => {
                        return Err(format!("cannot read {}: {e}", path.display()));
                    }
                }
                has_newline = has_newline || block[scanned..].contains(&b'\n');
                scanned = block.len();
            }
            if !at_end && let Some(last_newline) = block.iter().rposition(|&b| b == b'\n') {
                carry.extend_from_slice(&block[last_newline + 1..]);
                block.truncate(last_newline + 1);
            }
            if block.is_empty() || to_parse.send((index, block)).is_err() {
                break;
            }
        }
        drop(to_parse);
        for (i, result, _) in parsed.iter() {
            join(i, result)?;
        }
        Ok(())
    })?;
    if n_hosts == 0 {
        return Err(format!(
            "{} holds no hosts: a fleet file has one profile JSON document a line",
            path.display()
        ));
    }
    Ok(())
}

/// Files a parsing thread takes at a time: small enough to balance the cores, large enough that
/// handing out work costs nothing next to reading and parsing a profile.
const FILES_PER_TASK: usize = 64;

/// Read single-host files on every core into `sink`, in their order. A file named on the
/// command line must read; one found in a folder is skipped with a warning (a README).
fn read_host_files<S: HostSink>(files: &[(PathBuf, bool)], sink: &mut S) -> Result<(), String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A task's hosts and the errors of its files (whether each was found in a folder).
    type Task<S> = (S, Vec<(bool, String)>);
    let read_task = |task: &[(PathBuf, bool)]| -> Task<S> {
        let mut hosts = S::default();
        let mut errors = Vec::new();
        for (file, from_folder) in task {
            match read_host(file) {
                Ok(h) => hosts.add(h),
                Err(e) => errors.push((*from_folder, e)),
            }
        }
        (hosts, errors)
    };
    let tasks: Vec<&[(PathBuf, bool)]> = files.chunks(FILES_PER_TASK).collect();
    let n_threads = std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(tasks.len());
    let mut done: Vec<(usize, Task<S>)> = if n_threads <= 1 {
        tasks.iter().map(|t| read_task(t)).enumerate().collect()
    } else {
        let next = AtomicUsize::new(0);
        std::thread::scope(|s| {
            let workers: Vec<_> = (0..n_threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(task) = tasks.get(i) else { break };
                            out.push((i, read_task(task)));
                        }
                        out
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        })
    };
    done.sort_unstable_by_key(|(i, _)| *i);
    for (_, (hosts, errors)) in done {
        for (from_folder, e) in errors {
            if !from_folder {
                return Err(e);
            }
            eprintln!("warning: skipped {e}");
        }
        sink.append(hosts);
    }
    Ok(())
}

/// Every host of the arguments, in their order: profile or dump files, fleet files (`.jsonl`),
/// folders of those, and with `--db` host ids. Files are read and parsed on every core.
fn read_hosts(paths: &[PathBuf]) -> Result<Vec<HostProfile>, String> {
    gather_hosts(paths)
}

/// [`read_hosts`] into any [`HostSink`].
fn gather_hosts<S: HostSink>(paths: &[PathBuf]) -> Result<S, String> {
    // Files named on the command line must read; files found in a folder are skipped with a
    // warning when they are not hosts (a README, a manifest).
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot list {}: {e}", p.display()))?
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|f| {
                    f.extension().is_some_and(|x| {
                        ["json", "xml", "txt"]
                            .iter()
                            .chain(&FLEET_FILE_EXTENSIONS)
                            .any(|known| x.eq_ignore_ascii_case(known))
                    })
                })
                .collect();
            entries.sort();
            files.extend(entries.into_iter().map(|f| (f, true)));
        } else {
            files.push((p.clone(), false));
        }
    }
    let mut sink = S::default();
    // Runs of single-host files are read together; a fleet file streams its lines; host ids of
    // `--db` (arguments that are no file) are looked up one by one.
    let mut rest = files.as_slice();
    while let Some(((first, from_folder), after)) = rest.split_first() {
        // Files listed from a folder exist: no `stat` each (10,000 of them cost 20 ms).
        let single = |(f, listed): &(PathBuf, bool)| !is_fleet_file(f) && (*listed || f.exists());
        let n_single = rest.iter().take_while(|f| single(f)).count();
        let result = if n_single > 0 {
            let (run, after) = rest.split_at(n_single);
            rest = after;
            read_host_files(run, &mut sink)
        } else {
            rest = after;
            let mut one = S::default();
            let read = if is_fleet_file(first) {
                read_fleet_file(first, &mut one)
            } else {
                read_host(first).map(|h| one.add(h))
            };
            read.map(|()| sink.append(one))
        };
        match result {
            Err(e) if *from_folder && n_single == 0 => eprintln!("warning: skipped {e}"),
            other => other?,
        }
    }
    if sink.is_empty() {
        return Err("no host files given (or none of them could be read)".into());
    }
    Ok(sink)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), String> {
    let text =
        serde_json::to_string_pretty(value).map_err(|e| format!("cannot write json: {e}"))?;
    outln!("{text}");
    Ok(())
}

fn finish(result: Result<u8, String>) -> ExitCode {
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

pub fn compare(args: &CompareArgs) -> ExitCode {
    finish(run_compare(args))
}

fn run_compare(args: &CompareArgs) -> Result<u8, String> {
    {
        let src = read_host(&args.src)?;
        let dst = read_host(&args.dst)?;
        let v = compare_defs(&src, &dst, &args.guest, &args.defs)?;
        if args.json {
            print_json(&v)?;
        } else {
            outln!(
                "{} {} -> {} (guest cpu: {})",
                if v.compatible {
                    "COMPATIBLE"
                } else {
                    "INCOMPATIBLE"
                },
                v.from,
                v.to,
                v.guest.cpu.describe()
            );
            for r in &v.reasons {
                let ev = r.evidence.summary();
                outln!(
                    "  [{}] {}: {}{}",
                    r.severity.name(),
                    r.rule,
                    r.message,
                    if ev.is_empty() {
                        String::new()
                    } else {
                        format!(" ({ev})")
                    }
                );
            }
        }
        Ok(if v.compatible {
            EXIT_OK
        } else {
            EXIT_INCOMPATIBLE
        })
    }
}

pub fn baseline_cmd(args: &BaselineArgs) -> ExitCode {
    finish(run_baseline(args))
}

fn run_baseline(args: &BaselineArgs) -> Result<u8, String> {
    {
        let qemu = match &args.qemu {
            Some(v) => Some(
                QemuVersion::parse(v)
                    .ok_or_else(|| format!("--qemu '{v}' is not a qemu version like 10.0.2"))?,
            ),
            None => None,
        };
        let libvirt_version = parse_libvirt_version(args.libvirt_version.as_deref())?;
        // Streamed: each profile is folded in as it is parsed, none is kept.
        let hosts: BaselineHosts = gather_hosts(&args.hosts)?;
        let b = match baseline_of(
            hosts,
            &BaselineOptions {
                qemu,
                libvirt_version,
                ..BaselineOptions::default()
            },
        ) {
            Ok(b) => b,
            Err(shared::baseline::BaselineError::NoModel) => {
                eprintln!("no baseline: {}", shared::baseline::BaselineError::NoModel);
                return Ok(EXIT_INCOMPATIBLE);
            }
            Err(e) => return Err(e.to_string()),
        };
        if args.json {
            print_json(&b)?;
        } else {
            outln!(
                "baseline of {} host(s): {} (guest view; {} features)",
                b.hosts.len(),
                b.model,
                b.features.len()
            );
            outln!("  qemu:     -cpu {}", b.exports.qemu);
            outln!(
                "  nova:     cpu_mode = custom, cpu_models = {}, cpu_model_extra_flags = {}",
                b.exports.nova.cpu_models.join(","),
                b.exports.nova.cpu_model_extra_flags.join(",")
            );
            if !b.dropped_non_migratable.is_empty() {
                outln!(
                    "  left out (never migrate): {}",
                    b.dropped_non_migratable.names().join(", ")
                );
            }
            outln!(
                "  libvirt (model {}, names of libvirt {}'s cpu_map):\n{}",
                b.exports.libvirt_model,
                b.exports.libvirt_checked,
                indent(&b.exports.libvirt)
            );
            outln!(
                "  kubevirt spec.domain:\n{}",
                indent(&b.exports.kubevirt_yaml)
            );
            for n in &b.notes {
                outln!("  note: {n}");
            }
        }
        Ok(EXIT_OK)
    }
}

/// `--libvirt-version`, checked.
fn parse_libvirt_version(
    v: Option<&str>,
) -> Result<Option<shared::libvirt::LibvirtVersion>, String> {
    v.map(|v| {
        shared::libvirt::LibvirtVersion::parse(v)
            .ok_or_else(|| format!("--libvirt-version '{v}' is not a libvirt version like 9.0.0"))
    })
    .transpose()
}

fn indent(s: &str) -> String {
    s.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub fn masks(args: &MasksArgs) -> ExitCode {
    finish(run_masks(args))
}

fn run_masks(args: &MasksArgs) -> Result<u8, String> {
    {
        let libvirt_version = parse_libvirt_version(args.libvirt_version.as_deref())?;
        let mut src = read_host(&args.src)?;
        let mut dst = read_host(&args.dst)?;
        let policy = Policy {
            guest_tsc_khz: args.tsc_khz,
            ..Policy::default()
        };
        let mut more = if args.more.is_empty() {
            Vec::new()
        } else {
            read_hosts(&args.more)?
        };
        if let Some(v) = libvirt_version {
            for h in [&mut src, &mut dst].into_iter().chain(more.iter_mut()) {
                h.libvirt_version = Some(v.to_string());
            }
        }
        if !more.is_empty() {
            let mut hosts = vec![src, dst];
            hosts.append(&mut more);
            return run_pool_masks(&hosts, &policy, args.json);
        }
        let m = pair_masks(&src, &dst, &policy).map_err(|e| e.to_string())?;
        if args.json {
            print_json(&m)?;
        } else {
            // What masking cannot fix comes first: the masks below do not help with it.
            if !m.unmaskable.is_empty() {
                outln!("masking cannot fix:");
            }
            for r in &m.unmaskable {
                outln!("  [blocker, not maskable] {}: {}", r.rule, r.message);
            }
            for h in [&m.source, &m.destination] {
                if h.disable.is_empty() {
                    outln!("guests started on {}: -cpu host (nothing to mask)", h.host);
                } else {
                    outln!("guests started on {}: -cpu {}", h.host, h.qemu_cpu);
                }
            }
            if let Some(b) = &m.named_alternative {
                outln!("or on both: -cpu {}", b.exports.qemu);
            }
        }
        Ok(if m.unmaskable.is_empty() {
            EXIT_OK
        } else {
            EXIT_INCOMPATIBLE
        })
    }
}

fn run_pool_masks(hosts: &[HostProfile], policy: &Policy, json: bool) -> Result<u8, String> {
    let refs: Vec<&HostProfile> = hosts.iter().collect();
    let m = shared::masks::pool_masks(&refs, policy).map_err(|e| e.to_string())?;
    if json {
        print_json(&m)?;
    } else {
        // What masking cannot fix (a vendor change) first: the masks below do not help with it.
        for r in &m.unmaskable {
            outln!("[blocker, not maskable] {}: {}", r.rule, r.message);
        }
        outln!(
            "pool of {} hosts: guests can share {} features",
            m.hosts.len(),
            m.common.len()
        );
        for h in &m.per_host {
            outln!("  guests started on {}: -cpu {}", h.host, h.qemu_cpu);
        }
        for b in m.blocking_features.iter().take(20) {
            outln!(
                "  blocking: {} ({}) lacked by {}",
                b.feature,
                b.citation,
                b.hosts_without.join(" ")
            );
        }
        if !m.non_migratable.is_empty() {
            outln!(
                "  never given to -cpu host guests (migratable=on): {}",
                m.non_migratable.names().join(", ")
            );
        }
        for h in &m.holding_back {
            outln!(
                "  {} holds the pool back by {} features: {}",
                h.host,
                h.lacks.len(),
                h.lacks.names().join(", ")
            );
        }
        for o in &m.options {
            outln!(
                "  option: {} ({} features, up to {} lost per host, {} hosts left out)",
                o.description,
                o.n_features,
                o.max_features_lost,
                o.hosts_left_out.len()
            );
        }
    }
    Ok(if m.unmaskable.is_empty() {
        EXIT_OK
    } else {
        EXIT_INCOMPATIBLE
    })
}

pub fn graph_cmd(args: &GraphArgs) -> ExitCode {
    finish(run_graph(args))
}

fn run_graph(args: &GraphArgs) -> Result<u8, String> {
    {
        let hosts = read_hosts(&args.hosts)?;
        let g = graph::build(&hosts, &args.guest.guest(), &args.guest.policy()?);
        if args.json {
            print_json(&g)?;
        } else {
            outln!(
                "{} hosts, {} classes, {} pools (guest cpu: {})",
                g.n_hosts,
                g.classes.len(),
                g.pools.len(),
                args.guest.cpu
            );
            let names = names_of(&g, &hosts);
            for (i, p) in g.pools.iter().enumerate() {
                outln!(
                    "  pool {i}: {}{}{}",
                    names.pools[i],
                    if p.internally_compatible {
                        ""
                    } else {
                        " (not even among themselves)"
                    },
                    if p.drains_to.is_empty() {
                        String::new()
                    } else {
                        format!(", guests can move one way to pools {:?}", p.drains_to)
                    },
                );
                for &c in &p.classes {
                    outln!("    {}: {}", names.classes[c], g.classes[c].hosts.join(" "));
                }
            }
        }
        Ok(
            if g.pools.len() == 1 && g.pools.iter().all(|p| p.internally_compatible) {
                EXIT_OK
            } else {
                EXIT_INCOMPATIBLE
            },
        )
    }
}

// ---- Hosts from the database (`--db PATH` with host ids) and `fleetcompat export`. ----

/// `--db PATH`: host arguments that are not files are host ids in this fleetcompat database.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct DbArgs {
    /// A fleetcompat database (SQLite file or postgres:// URL): host arguments that are not
    /// files are host ids stored there.
    #[arg(long = "db", value_name = "PATH|URL")]
    pub path: Option<PathBuf>,
}

static DB: std::sync::OnceLock<(tokio::runtime::Runtime, backend::Store)> =
    std::sync::OnceLock::new();

/// Open the database of `--db` (if given) for [`read_host`], then run `f`.
pub fn with_db(db: &DbArgs, f: impl FnOnce() -> ExitCode) -> ExitCode {
    if let Some(path) = &db.path
        && let Err(e) = open_db(path)
    {
        eprintln!("error: {e}");
        return ExitCode::from(EXIT_ERROR);
    }
    f()
}

fn open_db(path: &Path) -> Result<(), String> {
    // A postgres:// URL is no file; a SQLite path must be one (opening would create it).
    let target = backend::store::DbTarget::parse(path);
    if matches!(target, backend::store::DbTarget::Sqlite(_)) && !path.is_file() {
        return Err(format!(
            "database {} does not exist: give the file `fleetcompat serve --db` uses",
            path.display()
        ));
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    let store = rt
        .block_on(backend::Store::connect(target))
        .map_err(|e| e.to_string())?;
    let _ = DB.set((rt, store));
    Ok(())
}

/// With `--db`, a host argument that is not a file is a host id in the database.
fn host_from_db(arg: &Path) -> Option<Result<HostProfile, String>> {
    let (rt, store) = DB.get()?;
    if arg.exists() {
        return None;
    }
    let id = arg.to_string_lossy();
    Some(match rt.block_on(store.latest_profile(&id)) {
        Ok(Some(s)) => Ok(s.profile),
        Ok(None) => Err(format!(
            "'{id}' is neither a file nor a host id in the database"
        )),
        Err(e) => Err(e.to_string()),
    })
}

/// What `fleetcompat export` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFormat {
    /// Baseline as a QEMU `-cpu` argument.
    Qemu,
    /// Baseline as a libvirt `<cpu mode='custom'>` element.
    Libvirt,
    /// Baseline as Nova `[libvirt]` options.
    Nova,
    /// Baseline as KubeVirt `spec.domain.cpu` (YAML).
    Kubevirt,
    /// Baseline (or, with --graph, the class graph) as JSON.
    Json,
    /// The class graph as Graphviz DOT (needs --graph).
    Dot,
}

#[derive(clap::Args, Debug)]
pub struct ExportArgs {
    /// Hosts: profile or fleet files (*.jsonl), folders of them, or host ids with --db.
    #[arg(required = true)]
    hosts: Vec<PathBuf>,
    #[arg(long, value_enum, default_value = "qemu")]
    format: ExportFormat,
    /// Export the class graph and pools (json or dot) instead of the baseline.
    #[arg(long)]
    graph: bool,
    #[command(flatten)]
    pub db: DbArgs,
}

pub fn export(args: &ExportArgs) -> ExitCode {
    finish(run_export(args))
}

fn run_export(args: &ExportArgs) -> Result<u8, String> {
    let hosts = read_hosts(&args.hosts)?;
    if args.graph {
        let g = graph::build(&hosts, &GuestConfig::default(), &Policy::default());
        match args.format {
            ExportFormat::Json => print_json(&g)?,
            ExportFormat::Dot => out!("{}", graph_dot(&g, &names_of(&g, &hosts))),
            other => {
                return Err(format!(
                    "--graph exports json or dot, not {other:?}: use --format json or --format dot"
                ));
            }
        }
        return Ok(EXIT_OK);
    }
    let refs: Vec<&HostProfile> = hosts.iter().collect();
    let b = if let [one] = refs.as_slice() {
        shared::baseline::host_model(one, &BaselineOptions::default())
    } else {
        baseline(&refs, &BaselineOptions::default())
    }
    .map_err(|e| e.to_string())?;
    match args.format {
        ExportFormat::Qemu => outln!("-cpu {}", b.exports.qemu),
        ExportFormat::Libvirt => outln!("{}", b.exports.libvirt),
        ExportFormat::Nova => {
            outln!("[libvirt]\ncpu_mode = {}", b.exports.nova.cpu_mode);
            outln!("cpu_models = {}", b.exports.nova.cpu_models.join(","));
            outln!(
                "cpu_model_extra_flags = {}",
                b.exports.nova.cpu_model_extra_flags.join(",")
            );
        }
        ExportFormat::Kubevirt => out!("{}", b.exports.kubevirt_yaml),
        ExportFormat::Json => print_json(&b)?,
        ExportFormat::Dot => {
            return Err("dot is a graph format: add --graph".into());
        }
    }
    Ok(EXIT_OK)
}

/// The names of a graph's classes and pools (as the web UI shows them).
fn names_of(g: &graph::CompatGraph, hosts: &[HostProfile]) -> shared::naming::Names {
    let by_id: std::collections::HashMap<&str, &HostProfile> =
        hosts.iter().map(|h| (h.host_id.as_str(), h)).collect();
    shared::naming::fleet_names(g, |id| by_id.get(id).copied())
}

/// The class graph as Graphviz DOT: a node per class (its name and id), an edge per allowed
/// direction, a cluster per pool (its name).
pub fn graph_dot(g: &graph::CompatGraph, names: &shared::naming::Names) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("digraph fleet {\n  rankdir=LR;\n  node [shape=box];\n");
    for (p, pool) in g.pools.iter().enumerate() {
        let _ = writeln!(
            out,
            "  subgraph cluster_pool{p} {{\n    label=\"pool {p}: {}\";",
            dot_escape(&names.pools[p])
        );
        for &c in &pool.classes {
            let class = &g.classes[c];
            let _ = writeln!(
                out,
                "    c{c} [label=\"{}\\n{}\"];",
                dot_escape(&names.classes[c]),
                class.class_id
            );
        }
        out.push_str("  }\n");
    }
    for e in &g.edges {
        let _ = writeln!(out, "  c{} -> c{};", e.from, e.to);
    }
    out.push_str("}\n");
    out
}

fn dot_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(subcommand)]
        c: C,
    }

    #[derive(clap::Subcommand)]
    enum C {
        Compare(CompareArgs),
        Baseline(BaselineArgs),
        Masks(MasksArgs),
        Graph(GraphArgs),
    }

    fn write_profile(dir: &Path, id: &str, model: &str) -> PathBuf {
        let p = shared::testing::profile_of_model(id, model).expect("model");
        let path = dir.join(format!("{id}.json"));
        std::fs::write(&path, serde_json::to_string(&p).expect("json")).expect("write");
        path
    }

    fn run(argv: &[&str]) -> Result<u8, String> {
        let t = T::try_parse_from(std::iter::once("fleetcompat").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?;
        match t.c {
            C::Compare(a) => run_compare(&a),
            C::Baseline(a) => run_baseline(&a),
            C::Masks(a) => run_masks(&a),
            C::Graph(a) => run_graph(&a),
        }
    }

    #[test]
    fn host_passthrough_is_migratable_unless_told_otherwise() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = shared::testing::profile_named("inv", "GenuineIntel", &["sse2", "invtsc"]);
        let path = dir.path().join("inv.json");
        std::fs::write(&path, serde_json::to_string(&p).expect("json")).expect("write");
        let f = path.to_str().expect("utf-8");
        assert_eq!(run(&["compare", f, f]), Ok(EXIT_OK));
        assert_eq!(
            run(&["compare", f, f, "--migratable", "off"]),
            Ok(EXIT_INCOMPATIBLE)
        );
        assert_eq!(
            run(&[
                "compare",
                f,
                f,
                "--migratable",
                "off",
                "--tsc-khz",
                "2100000"
            ]),
            Ok(EXIT_OK)
        );
        assert!(run(&["compare", f, f, "--migratable", "maybe"]).is_err());
    }

    #[test]
    fn masks_over_mixed_vendors_exit_1_and_libvirt_versions_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sky = write_profile(dir.path(), "sky", "Skylake-Server-v4");
        let csl = write_profile(dir.path(), "csl", "Cascadelake-Server-v4");
        let rome = write_profile(dir.path(), "rome", "EPYC-Rome-v4");
        let (sky, csl, rome) = (
            sky.to_str().expect("path"),
            csl.to_str().expect("path"),
            rome.to_str().expect("path"),
        );
        assert_eq!(run(&["masks", sky, csl, rome]), Ok(EXIT_INCOMPATIBLE));
        assert_eq!(run(&["masks", sky, rome, "--json"]), Ok(EXIT_INCOMPATIBLE));
        assert_eq!(run(&["masks", sky, sky]), Ok(EXIT_OK));
        assert_eq!(
            run(&["masks", sky, csl, "--libvirt-version", "11.3.0"]),
            Ok(EXIT_OK)
        );
        let err = run(&["masks", sky, csl, "--libvirt-version", "new"]).expect_err("bad");
        assert_eq!(
            err,
            "--libvirt-version 'new' is not a libvirt version like 9.0.0"
        );
        assert_eq!(
            run(&["baseline", sky, csl, "--libvirt-version", "9.0.0"]),
            Ok(EXIT_OK)
        );
        assert!(run(&["baseline", sky, "--libvirt-version", "x"]).is_err());
    }

    #[test]
    fn exit_codes_follow_the_verdicts() {
        let dir = tempfile::tempdir().expect("tempdir");
        let sky = write_profile(dir.path(), "sky", "Skylake-Server-v4");
        let csl = write_profile(dir.path(), "csl", "Cascadelake-Server-v4");
        let (sky, csl) = (sky.to_str().expect("path"), csl.to_str().expect("path"));
        assert_eq!(run(&["compare", sky, csl, "--json"]), Ok(EXIT_OK));
        assert_eq!(run(&["compare", csl, sky]), Ok(EXIT_INCOMPATIBLE));
        assert_eq!(
            run(&["compare", csl, sky, "--cpu", "Skylake-Server-v4"]),
            Ok(EXIT_OK)
        );
        let err = run(&[
            "compare",
            csl,
            sky,
            "--cpu",
            "Skylake-Server-v4",
            "--dst-qemu",
            "nope",
        ])
        .expect_err("bad version");
        assert!(err.contains("not a qemu version"), "{err}");
        let err = run(&["compare", csl, sky, "--cpu", "Bogus-Model"]).expect_err("unknown model");
        assert!(err.contains("unknown cpu model 'Bogus-Model'"), "{err}");
        assert_eq!(run(&["masks", csl, sky]), Ok(EXIT_OK));
        assert_eq!(run(&["masks", csl, sky, csl, "--json"]), Ok(EXIT_OK));
        assert_eq!(run(&["baseline", csl, sky, "--json"]), Ok(EXIT_OK));
        let d = dir.path().to_str().expect("path");
        assert_eq!(run(&["graph", d]), Ok(EXIT_INCOMPATIBLE));
        assert_eq!(
            run(&["graph", d, "--cpu", "Skylake-Server-v4"]),
            Ok(EXIT_OK)
        );
        let missing = dir.path().join("missing.json");
        assert!(run(&["compare", missing.to_str().expect("path"), sky]).is_err());
        let bad = dir.path().join("bad.txt");
        std::fs::write(&bad, "CPUID 00000000: 0-0-0-0").expect("write");
        let err = run(&["compare", bad.to_str().expect("path"), sky]).expect_err("bad input");
        assert!(err.contains("not a host profile"), "{err}");
    }

    #[test]
    fn cpudata_dumps_get_an_estimated_guest_view() {
        let dir = tempfile::tempdir().expect("tempdir");
        let xml = "<cpudata arch='x86'>\n  <cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x00000016' ebx='0x756e6547' ecx='0x6c65746e' edx='0x49656e69'/>\n  <cpuid eax_in='0x00000001' ecx_in='0x00' eax='0x00050654' ebx='0x00000800' ecx='0x7ffefbff' edx='0xbfebfbff'/>\n</cpudata>\n";
        let path = dir.path().join("x86_64-cpuid-test.xml");
        std::fs::write(&path, xml).expect("write");
        let p = read_host(&path).expect("cpudata reads");
        assert_eq!(p.host_id, "x86_64-cpuid-test");
        assert_eq!((p.cpu.family, p.cpu.model), (6, 85));
        let view = p
            .kvm
            .as_ref()
            .expect("estimated view")
            .guest_features
            .names();
        assert!(view.contains(&"avx".to_owned()) && !view.contains(&"monitor".to_owned()));
        assert!(p.gaps.iter().any(|g| g.reason.contains("estimated")));
    }

    #[test]
    fn cpuid_tool_dumps_read_like_profiles() {
        // A real `cpuid -r` dump of the development machine (collector's golden input).
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../collector/tests/data/cpuid-r-this-machine.txt"
        ));
        let p = read_host(path).expect("cpuid -r dump reads");
        assert_eq!(p.cpu.vendor, "AuthenticAMD");
        assert_eq!(
            p.kvm.as_ref().map(|k| k.guest_features_source),
            Some(shared::profile::GuestViewSource::EstimatedFromCpuid)
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let junk = dir.path().join("junk.txt");
        std::fs::write(&junk, "hello\n").expect("write");
        let err = read_host(&junk).expect_err("junk is refused");
        assert!(
            err.contains("junk.txt") && err.contains("unknown format"),
            "{err}"
        );
    }
}

/// Guest definitions and operator data files, for `compare` and `targets`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct GuestFileArgs {
    /// The guest's definition: a libvirt domain XML, a QEMU command line or a guest JSON
    /// (detected); its CPU replaces --cpu/--enable/--disable.
    #[arg(long, value_name = "FILE")]
    guest: Option<PathBuf>,
    /// The definition the destination will be started from: also check ABI stability against --guest.
    #[arg(long, value_name = "FILE", requires = "guest")]
    dst_guest: Option<PathBuf>,
    /// More QEMU errata (the TSV format of shared/data/qemu-errata.tsv).
    #[arg(long, value_name = "FILE")]
    errata: Option<PathBuf>,
    /// arm64 equivalence groups, JSON: [{"name": "...", "midrs": [...]}].
    #[arg(long, value_name = "FILE")]
    arm_groups: Option<PathBuf>,
    /// The QEMU release the guest was powered on with, when it has moved since (errata such as
    /// qemu-8.0.0's stay until the guest is powered off).
    #[arg(long, value_name = "VERSION")]
    started_on_qemu: Option<String>,
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Read a guest definition of any supported format.
pub fn read_guest(path: &Path) -> Result<GuestConfig, String> {
    shared::guest::parse_guest(&read_text(path)?)
        .map(|(_, g)| g)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn defs_policy(flags: &GuestArgs, defs: &GuestFileArgs) -> Result<Policy, String> {
    let mut policy = flags.policy()?;
    if let Some(f) = &defs.errata {
        policy.extra_errata = shared::rules::machine::parse_errata(&read_text(f)?)
            .map_err(|e| format!("{}: {e}", f.display()))?;
    }
    if let Some(f) = &defs.arm_groups {
        policy.arm_equivalence_groups = shared::rules::arm64::parse_groups(&read_text(f)?)
            .map_err(|e| format!("{}: {e}", f.display()))?;
    }
    Ok(policy)
}

fn compare_defs(
    src: &HostProfile,
    dst: &HostProfile,
    flags: &GuestArgs,
    defs: &GuestFileArgs,
) -> Result<shared::Verdict, String> {
    let policy = defs_policy(flags, defs)?;
    let mut guest = match &defs.guest {
        Some(f) => read_guest(f)?,
        None => flags.guest(),
    };
    if let Some(v) = &defs.started_on_qemu {
        guest.started_on_qemu =
            Some(QemuVersion::parse(v).ok_or_else(|| {
                format!("--started-on-qemu '{v}' is not a qemu version like 8.0.0")
            })?);
    }
    // A guest cpu that cannot be resolved (unknown model or feature) is a usage error (exit 2),
    // not an incompatibility.
    if let Err(e) = shared::verdict::guest_view(src, &guest)
        && e != shared::verdict::GuestCpuError::NoGuestView
    {
        return Err(format!("the guest cpu cannot be resolved: {e}"));
    }
    Ok(match &defs.dst_guest {
        Some(f) => shared::verdict::compare_definitions(src, dst, &guest, &read_guest(f)?, &policy),
        None => compare_with(src, dst, &guest, &policy),
    })
}

#[derive(clap::Args, Debug)]
pub struct TargetsArgs {
    /// The host the guest runs on: profile JSON or a dump.
    #[arg(long, value_name = "HOST")]
    from: PathBuf,
    /// Candidate hosts: profile or fleet files (*.jsonl), or folders of them.
    #[arg(required = true)]
    hosts: Vec<PathBuf>,
    #[command(flatten)]
    guest: GuestArgs,
    #[command(flatten)]
    defs: GuestFileArgs,
    #[arg(long)]
    json: bool,
}

/// `fleetcompat targets --guest FILE --from HOST HOSTS...`: every host the guest can go to, and
/// the blockers of the others. Exit 0 when at least one target exists.
pub fn targets_cmd(args: &TargetsArgs) -> ExitCode {
    finish(run_targets(args))
}

fn run_targets(args: &TargetsArgs) -> Result<u8, String> {
    let from = read_host(&args.from)?;
    let hosts = read_hosts(&args.hosts)?;
    let verdicts = hosts
        .iter()
        .filter(|h| h.host_id != from.host_id)
        .map(|h| compare_defs(&from, h, &args.guest, &args.defs))
        .collect::<Result<Vec<_>, _>>()?;
    let any = verdicts.iter().any(|v| v.compatible);
    if args.json {
        print_json(&verdicts)?;
    } else {
        for v in &verdicts {
            let blockers: Vec<&str> = v
                .with_severity(Severity::Blocker)
                .map(|r| r.rule.as_str())
                .collect();
            if blockers.is_empty() {
                outln!("{}: can go", v.to);
            } else {
                outln!("{}: cannot go ({})", v.to, blockers.join(", "));
            }
        }
    }
    Ok(if any { EXIT_OK } else { EXIT_INCOMPATIBLE })
}

#[cfg(test)]
mod guest_file_tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    enum C {
        Compare(CompareArgs),
        Targets(TargetsArgs),
    }

    fn run(argv: &[&str]) -> Result<u8, String> {
        match C::try_parse_from(std::iter::once("fleetcompat").chain(argv.iter().copied()))
            .map_err(|e| e.to_string())?
        {
            C::Compare(a) => run_compare(&a),
            C::Targets(a) => run_targets(&a),
        }
    }

    fn host(dir: &Path, id: &str, qemu: &str, machines: &[&str]) -> String {
        let mut p = shared::testing::profile_of_model(id, "EPYC-v4").expect("model");
        p.qemu.push(shared::profile::QemuInstall {
            version: qemu.into(),
            machines: machines
                .iter()
                .map(|m| shared::profile::QemuMachine {
                    name: (*m).into(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        });
        let path = dir.join(format!("{id}.json"));
        std::fs::write(&path, serde_json::to_string(&p).expect("json")).expect("write");
        path.to_string_lossy().into_owned()
    }

    #[test]
    fn guest_files_dst_guest_and_targets() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = host(dir.path(), "old", "7.2.22", &["pc-q35-7.2"]);
        let new = host(dir.path(), "new", "10.0.2", &["pc-q35-7.2", "pc-q35-10.0"]);
        let g = dir.path().join("g.cmdline");
        std::fs::write(
            &g,
            "qemu-system-x86_64 -machine pc-q35-10.0 -cpu EPYC-v4 -m 512",
        )
        .expect("w");
        let g = g.to_string_lossy().into_owned();
        assert_eq!(
            run(&["compare", &new, &old, "--guest", &g]),
            Ok(EXIT_INCOMPATIBLE)
        );
        assert_eq!(run(&["compare", &new, &new, "--guest", &g]), Ok(EXIT_OK));
        let d = dir.path().join("d.xml");
        std::fs::write(
            &d,
            "<domain><memory unit='MiB'>1024</memory><os><type machine='pc-q35-10.0'>hvm</type></os>\
             <cpu mode='custom'><model>EPYC-v4</model></cpu></domain>",
        )
        .expect("w");
        let d = d.to_string_lossy().into_owned();
        assert_eq!(
            run(&[
                "compare",
                &new,
                &new,
                "--guest",
                &g,
                "--dst-guest",
                &d,
                "--json"
            ]),
            Ok(EXIT_INCOMPATIBLE)
        );
        assert_eq!(
            run(&["targets", "--from", &new, "--guest", &g, &old, &new]),
            Ok(EXIT_INCOMPATIBLE)
        );
        // Errata follow the guest: started on 8.0.0, now moving 8.0.1 -> 8.2.0.
        let q801 = host(dir.path(), "q801", "8.0.1", &["pc-q35-7.2"]);
        let q820 = host(dir.path(), "q820", "8.2.0", &["pc-q35-7.2"]);
        let g72 = dir.path().join("g72.cmdline");
        std::fs::write(&g72, "-machine pc-q35-7.2 -cpu EPYC-v4").expect("w");
        let g72 = g72.to_string_lossy().into_owned();
        assert_eq!(
            run(&["compare", &q801, &q820, "--guest", &g72]),
            Ok(EXIT_OK)
        );
        let sticky = [
            "compare",
            &q801,
            &q820,
            "--guest",
            &g72,
            "--started-on-qemu",
            "8.0.0",
        ];
        assert_eq!(run(&sticky), Ok(EXIT_INCOMPATIBLE));
        let errata = dir.path().join("errata.tsv");
        std::fs::write(&errata, "ours\t8.0.1\t8.2.0\tpc-q35-*\t-\tnone\tour lab\n").expect("w");
        let errata = errata.to_string_lossy().into_owned();
        let with_errata = [
            "compare", &q801, &q820, "--guest", &g72, "--errata", &errata,
        ];
        assert_eq!(run(&with_errata), Ok(EXIT_INCOMPATIBLE));
        std::fs::write(&errata, "not a table").expect("w");
        assert!(
            run(&with_errata)
                .expect_err("bad errata")
                .contains("columns")
        );
        let bad = dir.path().join("bad.xml");
        std::fs::write(&bad, "<domain>").expect("w");
        let e = run(&["compare", &new, &old, "--guest", &bad.to_string_lossy()]).expect_err("bad");
        assert!(e.contains("libvirt domain xml"), "{e}");
    }
}
