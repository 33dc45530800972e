//! Reading hosts: profile or dump files, fleet files and folders of them, on every core.

use std::path::{Path, PathBuf};

use shared::import::ImportMeta;
use shared::profile::HostProfile;

use super::db::host_by_id;
use super::error::CliError;
use super::fleet_file::{FLEET_FILE_EXTENSIONS, HostSink, is_fleet_file, read_fleet_file};

/// Read one host: a profile JSON document, or a dump in any format `shared::import` detects
/// (`cpuid -r` output, InstLatx64 text, libvirt `<cpudata>` XML or QMP JSON, lscpu, `virsh
/// capabilities` or `virsh domcapabilities`), made a profile by
/// `shared::import::profile_from_dump` with the QMP json beside a `<cpudata>` xml when there is
/// one. Dumps without QEMU or KVM data get a guest view estimated from the host CPU, and say so
/// in a gap.
pub(super) fn read_host(path: &Path) -> Result<HostProfile, CliError> {
    if let Some(from_db) = host_by_id(path) {
        return from_db;
    }
    let text = std::fs::read_to_string(path).map_err(|e| CliError::read(path, e))?;
    if text.trim_start().starts_with('{') && text.contains("\"schema_version\"") {
        return HostProfile::from_json(&text).map_err(|e| CliError::invalid(path, e));
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
    .map_err(|e| CliError::NotAHost {
        path: path.to_owned(),
        message: e.to_string(),
    })
}

/// Files a parsing thread takes at a time: small enough to balance the cores, large enough that
/// handing out work costs nothing next to reading and parsing a profile.
const FILES_PER_TASK: usize = 64;

/// Read single-host files on every core into `sink`, in their order. A file named on the
/// command line must read; one found in a folder is skipped with a warning (a README).
fn read_host_files<S: HostSink>(files: &[(PathBuf, bool)], sink: &mut S) -> Result<(), CliError> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    // A task's hosts and the errors of its files (whether each was found in a folder).
    type Task<S> = (S, Vec<(bool, CliError)>);
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
pub(super) fn read_hosts(paths: &[PathBuf]) -> Result<Vec<HostProfile>, CliError> {
    gather_hosts(paths)
}

/// [`read_hosts`] into any [`HostSink`].
pub(super) fn gather_hosts<S: HostSink>(paths: &[PathBuf]) -> Result<S, CliError> {
    // Files named on the command line must read; files found in a folder are skipped with a
    // warning when they are not hosts (a README, a manifest).
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| CliError::List {
                    path: p.clone(),
                    source: e,
                })?
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
        return Err(CliError::NoHosts);
    }
    Ok(sink)
}
