//! fleetcompat-collector: runs on each host, probes what live migration depends on, and writes a
//! versioned host profile to a file, stdout, a database or the fleetcompat backend.
//!
//! Architecture Invariant: this is the only crate that touches the host (CPUID, /dev/kvm, /proc,
//! /sys, QEMU binaries). It holds no compatibility logic: decoding and verdicts live in `shared`.

mod import;
mod output;
mod probe;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use shared::profile::HostProfile;

#[derive(Parser)]
#[command(
    name = "fleetcompat-collector",
    version,
    about = "Probe this host for live-migration compatibility and write its fleetcompat profile"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Probe this machine (CPUID on every CPU, KVM, kernel, QEMU, devices) and write its profile.
    Probe(ProbeArgs),
    /// Turn dumps of other hosts into profiles: `cpuid -r` output, InstLatx64 CPUID dumps,
    /// libvirt <cpudata> xml and its QMP json, lscpu reports (flags only: partial profiles).
    Import(ImportArgs),
}

/// Where profiles go.
#[derive(clap::Args, Clone)]
struct Sink {
    /// Store into this SQLite database (the backend's schema; created if missing).
    #[arg(long, value_name = "PATH")]
    db: Option<PathBuf>,
    /// Send to a fleetcompat backend, e.g. http://127.0.0.1:8080 (through the spool).
    #[arg(long, value_name = "URL", requires = "token")]
    post: Option<String>,
    /// Write token of the backend: a scoped token for this host (`fleetcompat token create`) or
    /// the admin token `fleetcompat serve` printed on first run.
    #[arg(
        long,
        env = "FLEETCOMPAT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// PEM certificate(s) to trust for an https:// --post instead of the built-in Mozilla roots:
    /// the server's self-signed certificate or its private CA.
    #[arg(long, value_name = "FILE")]
    ca: Option<PathBuf>,
    /// Spool folder for profiles not yet sent [default: /var/lib/fleetcompat/spool as root,
    /// else ~/.local/state/fleetcompat/spool].
    #[arg(long, value_name = "DIR")]
    spool: Option<PathBuf>,
    /// Attempts per profile before it stays in the spool.
    #[arg(long, value_name = "N", default_value_t = 4)]
    retries: u32,
    /// First delay between attempts in milliseconds, doubled each time.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    retry_delay_ms: u64,
    /// A label, KEY=VALUE (repeatable), e.g. --label cluster=c1 --label rack=r07.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// A file of KEY=VALUE label lines (`#` comments); --label wins over it.
    #[arg(long, value_name = "FILE")]
    label_file: Option<PathBuf>,
    /// Print no warnings about what could not be read (they stay in the profile's `gaps`).
    #[arg(long)]
    quiet: bool,
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// Write the profile to this file ("-" for stdout, the default when no other output is given).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Host id in the fleet (default: this machine's hostname).
    #[arg(long, value_name = "ID")]
    host_id: Option<String>,
    /// Also probe this QEMU binary (repeatable).
    #[arg(long = "qemu", value_name = "PATH")]
    qemu: Vec<PathBuf>,
    /// Do not look for qemu-system-* on PATH: probe only the --qemu binaries.
    #[arg(long)]
    no_qemu_discovery: bool,
    /// Do not probe QEMU at all.
    #[arg(long, conflicts_with_all = ["qemu", "no_qemu_discovery", "check_cpu"])]
    no_qemu: bool,
    /// Also try this named CPU model with `enforce` in a stopped start of each QEMU under KVM
    /// and record whether it starts and QEMU's error (repeatable), e.g. --check-cpu Haswell-v1.
    #[arg(long = "check-cpu", value_name = "MODEL", value_parser = parse_cpu_model)]
    check_cpu: Vec<String>,
    /// Seconds one QMP session may take.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    qemu_timeout: u64,
    /// Cache of QMP answers [default: $XDG_CACHE_HOME/fleetcompat or ~/.cache/fleetcompat].
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Ask every QEMU again instead of using cached answers.
    #[arg(long)]
    no_cache: bool,
    /// Do not read PCI devices from sysfs.
    #[arg(long)]
    no_devices: bool,
    #[command(flatten)]
    sink: Sink,
}

#[derive(clap::Args)]
struct ImportArgs {
    /// Dump files; the format of each is detected.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Write one <host-id>.json per file into this folder (default: one json line per profile on stdout).
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Prefix for host ids (which are the file names without extension otherwise).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    host_prefix: String,
    #[command(flatten)]
    sink: Sink,
}

fn parse_cpu_model(s: &str) -> Result<String, String> {
    if s.is_empty() || s.starts_with(',') || s.contains(char::is_whitespace) {
        return Err(format!(
            "cpu model '{s}' is not a QEMU -cpu value: write it like --check-cpu Haswell-v1"
        ));
    }
    Ok(s.to_owned())
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!(
            "label '{s}' is not KEY=VALUE: write it like --label cluster=c1"
        )),
    }
}

/// Labels from --label-file then --label.
fn labels(sink: &Sink) -> Result<BTreeMap<String, String>, output::OutputError> {
    let mut out = BTreeMap::new();
    if let Some(path) = &sink.label_file {
        let text = std::fs::read_to_string(path).map_err(|e| {
            output::OutputError::Input(format!("cannot read label file {}: {e}", path.display()))
        })?;
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = parse_label(line).map_err(|e| {
                output::OutputError::Input(format!("{}:{}: {e}", path.display(), i + 1))
            })?;
            out.insert(k, v);
        }
    }
    out.extend(sink.labels.iter().cloned());
    Ok(out)
}

/// Deliver to the database and/or the backend.
fn sink_out(sink: &Sink, profiles: &[HostProfile]) -> Result<(), output::OutputError> {
    if let Some(db) = &sink.db {
        for (id, version, changed) in output::store_db(db, profiles)? {
            eprintln!(
                "stored profile of {id} in {}: version {version}{}",
                db.display(),
                if changed { "" } else { " (unchanged)" }
            );
        }
    }
    if let (Some(url), Some(token)) = (&sink.post, &sink.token) {
        if url.starts_with("http://") && !is_loopback_url(url) {
            eprintln!(
                "warning: {url} is plain http: the token and the profile cross the network in clear; use https:// (`fleetcompat serve --tls-cert`, or a TLS proxy)"
            );
        }
        let d = output::Delivery {
            agent: output::agent(sink.ca.as_deref())?,
            url: url.clone(),
            token: token.clone(),
            spool: sink.spool.clone().unwrap_or_else(output::default_spool),
            attempts: sink.retries.max(1),
            backoff: Duration::from_millis(sink.retry_delay_ms),
        };
        output::deliver(&d, profiles)?;
    }
    Ok(())
}

/// `http://127.0.0.1...`, `http://localhost...`, `http://[::1]...`: no network crossed.
fn is_loopback_url(url: &str) -> bool {
    let rest = url.trim_start_matches("http://");
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn run_probe(args: ProbeArgs) -> Result<(), output::OutputError> {
    let labels = labels(&args.sink)?;
    if let Some(id) = &args.host_id {
        shared::profile::validate_host_id(id).map_err(output::OutputError::BadHostId)?;
    }
    let opts = probe::ProbeOptions {
        qemu: (!args.no_qemu).then(|| probe::qemu::QemuOptions {
            extra: args.qemu.clone(),
            discover: !args.no_qemu_discovery,
            cache_dir: if args.no_cache {
                None
            } else {
                args.cache_dir
                    .clone()
                    .or_else(probe::qemu::default_cache_dir)
            },
            timeout: Duration::from_secs(args.qemu_timeout.max(1)),
            check_cpus: args.check_cpu.clone(),
        }),
        devices: !args.no_devices,
    };
    let profile = probe::probe(args.host_id, labels, &opts);
    if !args.sink.quiet {
        for gap in &profile.gaps {
            eprintln!("warning: could not read {}: {}", gap.what, gap.reason);
        }
    }
    let json = serde_json::to_string_pretty(&profile).map_err(output::OutputError::Encode)?;
    let to_stdout = args.out.as_deref().is_some_and(|p| p.as_os_str() == "-")
        || (args.out.is_none() && args.sink.post.is_none() && args.sink.db.is_none());
    if let Some(path) = args.out.as_deref().filter(|p| p.as_os_str() != "-") {
        output::write_file(path, &json)?;
        eprintln!("wrote profile of {} to {}", profile.host_id, path.display());
    }
    if to_stdout {
        output::write_stdout(&json)?;
    }
    sink_out(&args.sink, std::slice::from_ref(&profile))
}

/// Now, RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    shared::time::rfc3339(secs)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Probe(args) => run_probe(args),
        Command::Import(args) => import::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
