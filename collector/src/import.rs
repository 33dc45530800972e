//! `fleetcompat-collector import FILE...`: dumps of other hosts into profiles. The parsing is
//! pure (`shared::import`); this module reads files, reports progress and delivers.

use std::collections::{BTreeMap, BTreeSet};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use shared::import::{Format, ImportMeta};
use shared::profile::HostProfile;

use crate::output::OutputError;
use crate::{ImportArgs, labels, sink_out};

/// The host a file names: its stem, or for `virsh capabilities` / `domcapabilities` files the
/// host both halves name (`web01-caps.xml` -> `web01`).
fn host_id(prefix: &str, path: &Path, format: Format) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let host = match shared::import::virsh_pair_key(&file_name(path)) {
        Some((key, _))
            if matches!(
                format,
                Format::VirshCapabilities | Format::VirshDomCapabilities
            ) =>
        {
            if key.is_empty() {
                "host".to_owned()
            } else {
                key
            }
        }
        _ => stem,
    };
    shared::profile::sanitize_host_id(&format!("{prefix}{host}"))
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
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

fn read_text(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read it: {e}"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Read one file, and the QEMU data of the same host when there is some: a `<cpudata>` xml's
/// sibling `<stem>.json`, or the `virsh domcapabilities` file paired with a `virsh capabilities`
/// one. The profile itself is `shared::import::profile_from_dump`'s.
fn import_one(
    path: &Path,
    qemu_data: Option<&Path>,
    meta: impl FnOnce(Format, Option<&Path>) -> ImportMeta,
) -> Result<HostProfile, String> {
    let text = read_text(path)?;
    let sibling = qemu_data.map(Path::to_path_buf).or_else(|| {
        shared::import::sibling_qmp_name(&file_name(path), &text)
            .map(|n| path.with_file_name(n))
            .filter(|p| p.is_file())
    });
    let qemu_text = match &sibling {
        Some(p) => Some(read_text(p).map_err(|e| format!("{}: {e}", p.display()))?),
        None => None,
    };
    let format = shared::import::detect(&text).unwrap_or(Format::CpuidTool);
    let meta = meta(format, sibling.as_deref());
    shared::import::profile_from_dump(&text, qemu_text.as_deref(), meta).map_err(|e| e.to_string())
}

pub fn run(args: &ImportArgs) -> Result<(), OutputError> {
    let labels = labels(&args.sink)?;
    let total = args.files.len();
    let tty = std::io::stderr().is_terminal();
    // A QMP json whose cpudata xml is imported too is merged into that profile, and so is a
    // `virsh domcapabilities` file into the `virsh capabilities` file of the same host.
    let xmls: BTreeSet<PathBuf> = args
        .files
        .iter()
        .filter(|p| p.extension().is_some_and(|x| x == "xml"))
        .cloned()
        .collect();
    let mut domcaps: BTreeMap<(PathBuf, String), PathBuf> = BTreeMap::new();
    let mut caps: BTreeSet<(PathBuf, String)> = BTreeSet::new();
    for p in &args.files {
        let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
        match shared::import::virsh_pair_key(&file_name(p)) {
            Some((key, Format::VirshDomCapabilities)) => {
                domcaps.insert((dir, key), p.clone());
            }
            Some((key, _)) => {
                caps.insert((dir, key));
            }
            None => {}
        }
    }
    let paired = |p: &Path| -> Option<(bool, PathBuf)> {
        let dir = p.parent().map(Path::to_path_buf).unwrap_or_default();
        let (key, format) = shared::import::virsh_pair_key(&file_name(p))?;
        let k = (dir, key);
        match format {
            // The domcapabilities half is read with its capabilities half.
            Format::VirshDomCapabilities => caps.contains(&k).then(|| (true, p.to_path_buf())),
            _ => domcaps.get(&k).map(|d| (false, d.clone())),
        }
    };
    let mut profiles: Vec<HostProfile> = Vec::new();
    let mut failed = 0usize;
    for (n, path) in args.files.iter().enumerate() {
        if path.extension().is_some_and(|x| x == "json")
            && xmls.contains(&path.with_extension("xml"))
        {
            continue;
        }
        let pair = paired(path);
        if pair.as_ref().is_some_and(|(skip, _)| *skip) {
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
        let qemu_data = pair.map(|(_, d)| d);
        let meta = |format: Format, sibling: Option<&Path>| ImportMeta {
            host_id: host_id(&args.host_prefix, path, format),
            hostname: host_id(&args.host_prefix, path, format),
            collected_at: crate::now_rfc3339(),
            labels: labels.clone(),
            detail: match sibling {
                Some(s) => format!("{}; QEMU data: {}", attribution(path, format), s.display()),
                None => attribution(path, format),
            },
            tool: format!("fleetcompat-collector {} import", env!("CARGO_PKG_VERSION")),
        };
        match import_one(path, qemu_data.as_deref(), meta) {
            Ok(p) => profiles.push(p),
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
