//! fleetcompat-collector: runs on each host, probes what live migration depends on, and writes a
//! versioned host profile to a file, stdout or the fleetcompat backend.
//!
//! Architecture Invariant: this is the only crate that touches the host (CPUID, /dev/kvm, /proc,
//! /sys, QEMU binaries). It holds no compatibility logic: decoding and verdicts live in `shared`.

mod output;
mod probe;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

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
    /// Probe this machine (CPUID, KVM, kernel) and write its host profile.
    Probe(ProbeArgs),
}

#[derive(clap::Args)]
struct ProbeArgs {
    /// Write the profile to this file ("-" for stdout, the default when no other output is given).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Send the profile to a fleetcompat backend, e.g. http://127.0.0.1:8080.
    #[arg(long, value_name = "URL", requires = "token")]
    post: Option<String>,
    /// Write token of the backend (printed by `fleetcompat serve` on first run).
    #[arg(
        long,
        env = "FLEETCOMPAT_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    token: Option<String>,
    /// Host id in the fleet (default: this machine's hostname).
    #[arg(long, value_name = "ID")]
    host_id: Option<String>,
    /// A label, KEY=VALUE (repeatable), e.g. --label cluster=c1 --label rack=r07.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    labels: Vec<(String, String)>,
    /// Print no warnings about what could not be read (they stay in the profile's `gaps`).
    #[arg(long)]
    quiet: bool,
}

fn parse_label(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
        _ => Err(format!(
            "label '{s}' is not KEY=VALUE: write it like --label cluster=c1"
        )),
    }
}

fn run_probe(args: ProbeArgs) -> Result<(), output::OutputError> {
    let labels: BTreeMap<String, String> = args.labels.into_iter().collect();
    if let Some(id) = &args.host_id {
        shared::profile::validate_host_id(id)
            .map_err(|problem| output::OutputError::BadHostId(problem))?;
    }
    let profile = probe::probe(args.host_id, labels);
    if !args.quiet {
        for gap in &profile.gaps {
            eprintln!("warning: could not read {}: {}", gap.what, gap.reason);
        }
    }
    let json = serde_json::to_string_pretty(&profile).map_err(output::OutputError::Encode)?;
    let to_stdout = args.out.as_deref().is_some_and(|p| p.as_os_str() == "-")
        || (args.out.is_none() && args.post.is_none());
    if let Some(path) = args.out.as_deref().filter(|p| p.as_os_str() != "-") {
        output::write_file(path, &json)?;
        eprintln!("wrote profile of {} to {}", profile.host_id, path.display());
    }
    if to_stdout {
        println!("{json}");
    }
    if let (Some(url), Some(token)) = (&args.post, &args.token) {
        let receipt = output::post(url, token, &json)?;
        eprintln!(
            "sent profile of {} to {url}: version {}{}",
            receipt.host_id,
            receipt.version,
            if receipt.changed { "" } else { " (unchanged)" }
        );
    }
    Ok(())
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
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
