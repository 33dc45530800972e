//! `fleetcompat-collector import FILE...`: dumps of other hosts into profiles. The parsing is
//! pure (`shared::import`); this module reads files, reports progress and delivers.

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use shared::import::{Format, ImportMeta, Imported};
use shared::profile::HostProfile;

use crate::output::OutputError;
use crate::{ImportArgs, labels, sink_out};

fn host_id(prefix: &str, path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    shared::profile::sanitize_host_id(&format!("{prefix}{stem}"))
}

fn attribution(path: &Path, format: Format) -> String {
    let p = path.display().to_string();
    let source = if p.contains("cpuid-corpus") || format == Format::InstLatx64 {
        "; data: InstLatX64 (instlatx64.atw.hu), AIDA64 dump format"
    } else if p.contains("libvirt") {
        "; data: libvirt tests/cputestdata (LGPL-2.1-or-later)"
    } else if p.contains("linuxhw") {
        "; data: linux-hardware.org (CC-BY-4.0)"
    } else {
        ""
    };
    format!("{} ({}){source}", path.display(), format.name())
}

/// Read and parse one file. A libvirt `<cpudata>` file takes the guest view (and CPU model
/// list) from its sibling `<stem>.json` when that exists.
fn import_one(path: &Path) -> Result<Imported, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let mut imp = shared::import::parse_any(&text).map_err(|e| e.to_string())?;
    if imp.format == Format::LibvirtCpudata {
        let json = path.with_extension("json");
        if let Ok(t) = std::fs::read_to_string(&json)
            && let Ok(q) = shared::import::parse(&t, Format::LibvirtQmpJson)
        {
            imp.guest_view = q.guest_view;
            imp.qemu = q.qemu;
        }
    }
    Ok(imp)
}

pub fn run(args: &ImportArgs) -> Result<(), OutputError> {
    let labels = labels(&args.sink)?;
    let total = args.files.len();
    let tty = std::io::stderr().is_terminal();
    // A QMP json whose cpudata xml is imported too is merged into that profile.
    let xmls: BTreeSet<PathBuf> = args
        .files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .cloned()
        .collect();
    let mut profiles: Vec<HostProfile> = Vec::new();
    let mut failed = 0usize;
    for (n, path) in args.files.iter().enumerate() {
        if path.extension().is_some_and(|x| x == "json")
            && xmls.contains(&path.with_extension("xml"))
        {
            continue;
        }
        if total > 1 && !args.sink.quiet {
            if tty {
                let width = 30;
                let done = (n + 1) * width / total;
                eprint!(
                    "\r[{}{}] {}/{total} {:<40.40}",
                    "#".repeat(done),
                    " ".repeat(width - done),
                    n + 1,
                    path.file_name()
                        .map(|f| f.to_string_lossy())
                        .unwrap_or_default()
                );
            } else if (n + 1) % 25 == 0 || n + 1 == total {
                eprintln!("imported {}/{total} files", n + 1);
            }
        }
        match import_one(path) {
            Ok(imp) => {
                let id = host_id(&args.host_prefix, path);
                let meta = ImportMeta {
                    host_id: id.clone(),
                    hostname: id,
                    collected_at: crate::now_rfc3339(),
                    labels: labels.clone(),
                    detail: attribution(path, imp.format),
                    tool: format!("fleetcompat-collector {} import", env!("CARGO_PKG_VERSION")),
                };
                profiles.push(shared::import::profile_from_import(&imp, meta));
            }
            Err(e) => {
                if tty {
                    eprintln!();
                }
                eprintln!("error: {}: {e}", path.display());
                failed += 1;
            }
        }
    }
    if tty && total > 1 && !args.sink.quiet {
        eprintln!();
    }
    if let Some(dir) = &args.out_dir {
        for p in &profiles {
            let json = serde_json::to_string_pretty(p).map_err(OutputError::Encode)?;
            crate::output::write_file(&dir.join(format!("{}.json", p.host_id)), &json)?;
        }
    } else if args.sink.db.is_none() && args.sink.post.is_none() {
        for p in &profiles {
            crate::output::write_stdout(&serde_json::to_string(p).map_err(OutputError::Encode)?)?;
        }
    }
    sink_out(&args.sink, &profiles)?;
    eprintln!(
        "imported {} profile(s) from {total} file(s){}",
        profiles.len(),
        if failed > 0 {
            format!(", {failed} file(s) failed")
        } else {
            String::new()
        }
    );
    if failed > 0 {
        return Err(OutputError::Input(format!(
            "{failed} of {total} file(s) could not be imported (named above)"
        )));
    }
    Ok(())
}
