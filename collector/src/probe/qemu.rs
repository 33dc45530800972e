//! Every installed QEMU, asked over QMP: version, machine types, named CPU models usable here.
//!
//! Each binary runs once as `-machine none -nodefaults -display none -qmp stdio` with `-accel kvm`
//! where /dev/kvm opens (else tcg); under KVM it is then started stopped (`-S`) with `-cpu host`
//! on its default machine, and with each `--check-cpu` model, to record whether it starts at all.
//! Answers are cached, keyed by the binary's sha256, the kernel release and the accelerator: the
//! kernel and KVM decide which models are usable and whether `-cpu host` starts.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use shared::import::qmp;
use shared::profile::{ProbeGap, QemuInstall, StartCheck};

/// Where and how to look for QEMU.
#[derive(Clone, Debug)]
pub struct QemuOptions {
    /// Binaries named on the command line (`--qemu`).
    pub extra: Vec<PathBuf>,
    /// Also look for `qemu-system-*` on PATH.
    pub discover: bool,
    /// Cache folder; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    pub timeout: Duration,
    /// Named models (`--check-cpu`) each QEMU tries in a stopped start with `enforce` under KVM.
    pub check_cpus: Vec<String>,
}

/// `qemu-system-*` executables on PATH, then the named ones; each real file once.
pub fn discover(opts: &QemuOptions) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = Vec::new();
    if opts.discover
        && let Some(path) = std::env::var_os("PATH")
    {
        for dir in std::env::split_paths(&path) {
            let Ok(rd) = std::fs::read_dir(&dir) else {
                continue;
            };
            let mut names: Vec<PathBuf> = rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with("qemu-system-"))
                        && is_executable(p)
                })
                .collect();
            names.sort();
            found.extend(names);
        }
    }
    found.extend(opts.extra.iter().cloned());
    let mut seen = BTreeSet::new();
    found.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    found
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The default cache folder: $XDG_CACHE_HOME/fleetcompat or ~/.cache/fleetcompat.
pub fn default_cache_dir() -> Option<PathBuf> {
    if let Some(x) = std::env::var_os("XDG_CACHE_HOME").filter(|x| !x.is_empty()) {
        return Some(PathBuf::from(x).join("fleetcompat"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/fleetcompat"))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// sha256 of the binary. A memo keyed by (path, size, mtime, inode) in the cache avoids
/// hashing an unchanged binary again.
fn binary_sha256(path: &Path, cache: Option<&Path>) -> std::io::Result<String> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path)?;
    let stamp = format!(
        "{}\n{}\n{}.{}\n{}",
        path.display(),
        m.size(),
        m.mtime(),
        m.mtime_nsec(),
        m.ino()
    );
    let memo = cache.map(|c| {
        c.join("sha256")
            .join(hex(&Sha256::digest(stamp.as_bytes())[..12]))
    });
    if let Some(memo) = &memo
        && let Ok(s) = std::fs::read_to_string(memo)
        && s.len() == 64
    {
        return Ok(s);
    }
    let mut h = Sha256::new();
    let mut f = std::fs::File::open(path)?;
    std::io::copy(&mut f, &mut h)?;
    let sum = hex(&h.finalize());
    if let Some(memo) = memo {
        let _ = crate::output::write_atomic(&memo, &sum);
    }
    Ok(sum)
}

/// Whether KVM can be used by QEMU here: /dev/kvm opens read-write.
pub fn kvm_usable() -> bool {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
        .is_ok()
}

/// Kills the child on every way out.
struct Reaper(Child);
impl Drop for Reaper {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A session that failed: what went wrong, and QEMU's stderr (its own error text) apart.
struct QmpError {
    what: String,
    stderr: String,
}

impl QmpError {
    /// One line: what went wrong, then the first lines QEMU wrote.
    fn message(&self) -> String {
        let stderr = self.stderr.trim();
        if stderr.is_empty() {
            self.what.clone()
        } else {
            format!(
                "{}; QEMU said: {}",
                self.what,
                stderr.lines().take(3).collect::<Vec<_>>().join(" / ")
            )
        }
    }
}

/// The `-machine none` session the models are asked in (no guest, no vCPU).
const NO_MACHINE: [&str; 2] = ["-machine", "none"];

/// One QMP session of `bin` started with `args` (plus `-nodefaults -display none -accel ACCEL
/// -qmp stdio`): `commands` in order, their `return` values, then `quit`; on failure QEMU's
/// stderr too.
fn qmp_session(
    bin: &Path,
    args: &[&str],
    accel: &str,
    commands: &[&str],
    timeout: Duration,
) -> Result<Vec<Value>, QmpError> {
    let fail = |what: String| QmpError {
        what,
        stderr: String::new(),
    };
    let child = Command::new(bin)
        .args(args)
        .args(["-nodefaults", "-display", "none", "-accel", accel])
        .args(["-qmp", "stdio"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| fail(format!("cannot start {}: {e}", bin.display())))?;
    let mut child = Reaper(child);
    let (Some(mut stdin), Some(stdout), Some(stderr)) = (
        child.0.stdin.take(),
        child.0.stdout.take(),
        child.0.stderr.take(),
    ) else {
        return Err(fail("cannot talk to QEMU over pipes".into()));
    };
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // stderr is collected on its own thread and waited for briefly only: a child of QEMU that
    // outlives it could hold the pipe open.
    let (etx, erx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = BufReader::new(stderr).take(8192).read_to_string(&mut s);
        let _ = etx.send(s);
    });
    let deadline = Instant::now() + timeout;
    let next = |what: &str| -> Result<Value, String> {
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = rx.recv_timeout(left).map_err(|e| match e {
                mpsc::RecvTimeoutError::Timeout => {
                    format!("QMP timed out after {timeout:?} waiting for {what}")
                }
                mpsc::RecvTimeoutError::Disconnected => {
                    format!("QEMU exited before answering {what}")
                }
            })?;
            let v: Value = serde_json::from_str(&line)
                .map_err(|e| format!("QMP sent a line that is not json ({e}): {line}"))?;
            if v.get("event").is_some() {
                continue;
            }
            return Ok(v);
        }
    };
    let result = (|| {
        next("the QMP greeting")?;
        let mut out = Vec::new();
        for cmd in std::iter::once("qmp_capabilities").chain(commands.iter().copied()) {
            // A command is sent as is when it is already a JSON object, else as {"execute": cmd}.
            let line = if cmd.starts_with('{') {
                cmd.to_owned()
            } else {
                format!("{{\"execute\":\"{cmd}\"}}")
            };
            writeln!(stdin, "{line}").map_err(|e| format!("cannot send {cmd}: {e}"))?;
            let v = next(cmd)?;
            if let Some(err) = v.get("error") {
                return Err(format!("{cmd} failed: {err}"));
            }
            if cmd != "qmp_capabilities" {
                out.push(v.get("return").cloned().unwrap_or(Value::Null));
            }
        }
        let _ = writeln!(stdin, "{{\"execute\":\"quit\"}}");
        Ok(out)
    })();
    drop(stdin);
    match result {
        Ok(replies) => Ok(replies),
        Err(what) => {
            drop(child); // kill, so stderr ends
            let stderr = erx
                .recv_timeout(Duration::from_millis(500))
                .unwrap_or_default();
            Err(QmpError { what, stderr })
        }
    }
}

/// A stopped start (`-S`) of `bin` with `-cpu CPU` on its default machine under KVM, no disk:
/// QMP `query-status` must answer `prelaunch`. QEMU realizes the vCPUs at machine creation, before
/// QMP answers, so a CPU it refuses (`enforce` with features KVM lacks: QEMU target/i386/cpu.c
/// `x86_cpu_realizefn` after `x86_cpu_filter_features`, "Host doesn't support requested
/// features") or KVM refuses (target/i386/kvm/kvm.c `kvm_arch_init_vcpu`, and the registers put
/// at reset) ends the process before the greeting.
fn start_check(bin: &Path, cpu: &str, timeout: Duration) -> StartCheck {
    let run = qmp_session(bin, &["-S", "-cpu", cpu], "kvm", &["query-status"], timeout);
    match run {
        Ok(replies) => {
            let status = replies
                .first()
                .and_then(|v| v.get("status"))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let ok = status == "prelaunch";
            StartCheck {
                ok,
                error: (!ok).then(|| {
                    format!("query-status answered '{status}' where a stopped start is 'prelaunch'")
                }),
            }
        }
        Err(e) => {
            // QEMU's own words: its last line says why it stopped, the ones before what it lacks.
            let said: Vec<&str> = e
                .stderr
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .collect();
            StartCheck {
                ok: false,
                error: Some(if said.is_empty() {
                    e.what
                } else {
                    said.join(" / ")
                }),
            }
        }
    }
}

/// The `-cpu` value `--check-cpu MODEL` tries: the model with `enforce`.
fn enforced(model: &str) -> String {
    if model
        .split(',')
        .any(|p| p == "enforce" || p == "enforce=on")
    {
        model.to_owned()
    } else {
        format!("{model},enforce")
    }
}

/// Ask one binary. `-accel kvm` when `kvm` is true, falling back to tcg if KVM refuses.
fn ask(bin: &Path, kvm: bool, timeout: Duration) -> Result<(QemuInstall, Option<String>), String> {
    let cmds = ["query-version", "query-machines", "query-cpu-definitions"];
    // Under KVM also QEMU's own `host` model (expanded, never realized: no vCPU is created).
    let expand = r#"{"execute":"query-cpu-model-expansion","arguments":{"type":"full","model":{"name":"host"}}}"#;
    let with_host = [cmds[0], cmds[1], cmds[2], expand];
    let (accel, replies, kvm_error) = if kvm {
        // A QEMU that refuses the expansion is asked again without it before giving up on KVM.
        match qmp_session(bin, &NO_MACHINE, "kvm", &with_host, timeout)
            .or_else(|_| qmp_session(bin, &NO_MACHINE, "kvm", &cmds, timeout))
        {
            Ok(r) => ("kvm", r, None),
            Err(e) => (
                "tcg",
                qmp_session(bin, &NO_MACHINE, "tcg", &cmds, timeout).map_err(|e| e.message())?,
                Some(e.message()),
            ),
        }
    } else {
        (
            "tcg",
            qmp_session(bin, &NO_MACHINE, "tcg", &cmds, timeout).map_err(|e| e.message())?,
            None,
        )
    };
    let (version, machines, cpus, host) = match replies.as_slice() {
        [v, m, c] => (v, m, c, None),
        [v, m, c, h] => (v, m, c, Some(h)),
        _ => return Err("QMP gave fewer answers than asked".into()),
    };
    let (version, package) = qmp::parse_version(version)
        .ok_or_else(|| format!("query-version answer has no qemu version: {version}"))?;
    Ok((
        QemuInstall {
            path: bin.display().to_string(),
            sha256: String::new(),
            version,
            package,
            accel: accel.into(),
            machines: qmp::parse_machines(machines).into(),
            cpu_models: qmp::parse_cpu_definitions(cpus).into(),
            host_model: host.map(qmp::expansion_features),
            // Under KVM: can this QEMU start `-cpu host` here at all?
            host_cpu_start: (accel == "kvm").then(|| start_check(bin, "host", timeout)),
            cpu_start_checks: Default::default(),
        },
        kvm_error,
    ))
}

/// Probe every QEMU; what fails becomes a gap named `qemu:<path>`.
pub fn probe(opts: &QemuOptions, kernel_release: &str) -> (Vec<QemuInstall>, Vec<ProbeGap>) {
    let mut installs = Vec::new();
    let mut gaps = Vec::new();
    let bins = discover(opts);
    if bins.is_empty() {
        gaps.push(ProbeGap {
            what: "qemu".into(),
            reason: if opts.discover {
                "no qemu-system-* on PATH (install qemu-system-x86, or name binaries with --qemu PATH)".into()
            } else {
                "QEMU discovery is off and no --qemu PATH was given".into()
            },
        });
        return (installs, gaps);
    }
    let kvm = kvm_usable();
    let cache = opts.cache_dir.as_deref();
    for bin in bins {
        let what = format!("qemu:{}", bin.display());
        if !is_executable(&bin) {
            gaps.push(ProbeGap {
                what,
                reason: "not an executable file".into(),
            });
            continue;
        }
        let sha = match binary_sha256(&bin, cache) {
            Ok(s) => s,
            Err(e) => {
                gaps.push(ProbeGap {
                    what,
                    reason: format!("cannot read the binary: {e}"),
                });
                continue;
            }
        };
        let accel = if kvm { "kvm" } else { "tcg" };
        // v2: entries carry the host model expansion; v3 also the `-cpu host` start check.
        let key = format!("v3-{sha}-{}-{accel}.json", sanitize(kernel_release));
        let cached = cache
            .map(|c| c.join("qemu").join(&key))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .and_then(|s| serde_json::from_str::<QemuInstall>(&s).ok());
        let mut install = match cached {
            Some(c) => c,
            None => match ask(&bin, kvm, opts.timeout) {
                Ok((mut i, kvm_error)) => {
                    i.sha256 = sha.clone();
                    if let Some(e) = kvm_error {
                        gaps.push(ProbeGap {
                            what: format!("{what}:kvm"),
                            reason: format!(
                                "QEMU could not use KVM, models were checked under tcg: {e}"
                            ),
                        });
                    } else if let Some(c) = cache {
                        let json = serde_json::to_string(&i).unwrap_or_default();
                        let _ = crate::output::write_atomic(&c.join("qemu").join(&key), &json);
                    }
                    i
                }
                Err(reason) => {
                    gaps.push(ProbeGap { what, reason });
                    continue;
                }
            },
        };
        install.path = bin.display().to_string();
        install.sha256 = sha;
        // Asked every time (not cached): the models depend on the command line.
        if install.accel == "kvm" {
            for model in &opts.check_cpus {
                let cpu = enforced(model);
                let check = start_check(&bin, &cpu, opts.timeout);
                install.cpu_start_checks.insert(cpu, check);
            }
        }
        installs.push(install);
    }
    (installs, gaps)
}

fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::enforced;

    #[test]
    fn check_cpu_models_are_tried_with_enforce_once() {
        assert_eq!(enforced("Haswell-v1"), "Haswell-v1,enforce");
        assert_eq!(enforced("Haswell-v1,-pcid"), "Haswell-v1,-pcid,enforce");
        assert_eq!(enforced("qemu64,enforce"), "qemu64,enforce");
        assert_eq!(enforced("qemu64,enforce=on"), "qemu64,enforce=on");
    }
}
