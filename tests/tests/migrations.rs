//! Real migrations under KVM between two QEMU releases side by side (Debian's 7.2 and
//! bookworm-backports' 10.0, unpacked by tests/qemu-setup.sh), compared with the verdict a user
//! gets for the same two definitions: each host profile comes from the real
//! `fleetcompat-collector probe --qemu PATH --no-qemu-discovery` (once per QEMU release) and each
//! verdict from the real `fleetcompat compare SRC DST --guest --dst-guest --json`.
//!
//! Success is judged on the destination (query-status `running`; a load error makes it exit),
//! because the source reports "completed" before the destination has loaded the state.
//! For CPU changes QEMU lets through (CPUID is neither migrated nor compared), the engine must
//! give a blocker although QEMU reports success: those cases say so (`stricter`).
//! Cases whose verdict waits for an engine fix say which (`engine_fix`): they still fail, and the
//! failure says so first.
//!
//! The binaries are not built by this test: `cargo build -p backend -p collector` first (`cargo
//! xtask test` does); a binary older than the engine's sources is refused.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use e2e::{
    CliVerdict, MigrationOutcome, QemuRelease, boot_sector, collector_probe, fleetcompat_compare,
    qemu_release, run_cpr_transfer, run_migration,
};
use serde_json::Value;

/// What QEMU does with a case, measured here; asserted so a change shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qemu {
    Migrates,
    /// The destination refuses the stream or its definition.
    Refuses,
    /// The source QEMU does not start the guest at all (nothing to migrate).
    SourceCannotStart,
}

/// A reason the verdict must hold.
#[derive(Clone, Debug)]
enum Want {
    Nothing,
    /// A reason with exactly this rule, any severity.
    Rule(&'static str),
    /// A blocker whose rule contains one of these words (the rule's name is the engine's to
    /// choose; what it must be about is not).
    BlockerNaming(&'static [&'static str]),
    /// The guest loses exactly these features: the CPU rules for missing features
    /// (`cpu.*-missing`) name each of them (the severity is the engine's: a microcode-class bit
    /// may be a warning), block on at least one, and block on no other.
    Loses(BTreeSet<String>),
}

struct Case {
    name: String,
    src: &'static str,
    dst: &'static str,
    src_args: String,
    dst_args: String,
    qemu: Qemu,
    /// The engine's verdict: compatible or not.
    engine_compatible: bool,
    want: Want,
    /// Why the engine blocks what QEMU lets through (CPUID, MAC, extra devices are not compared
    /// by QEMU); `None` when QEMU and the engine must agree.
    stricter: Option<&'static str>,
    /// The engine change this case waits for, when the engine is wrong today (issue 11).
    engine_fix: Option<&'static str>,
}

fn case(
    name: impl Into<String>,
    src: &'static str,
    dst: &'static str,
    args: (String, String),
) -> Case {
    Case {
        name: name.into(),
        src,
        dst,
        src_args: args.0,
        dst_args: args.1,
        qemu: Qemu::Migrates,
        engine_compatible: true,
        want: Want::Nothing,
        stricter: None,
        engine_fix: None,
    }
}

impl Case {
    fn refused(mut self, want: Want) -> Self {
        self.qemu = Qemu::Refuses;
        self.engine_compatible = false;
        self.want = want;
        self
    }
    fn source_cannot_start(mut self, want: Want) -> Self {
        self.qemu = Qemu::SourceCannotStart;
        self.engine_compatible = false;
        self.want = want;
        self
    }
    fn stricter(mut self, want: Want, why: &'static str) -> Self {
        self.engine_compatible = false;
        self.want = want;
        self.stricter = Some(why);
        self
    }
    fn want(mut self, want: Want) -> Self {
        self.want = want;
        self
    }
    #[expect(
        dead_code,
        reason = "every case agrees today; a case the engine gets wrong is marked with it"
    )]
    fn engine_fix(mut self, what: &'static str) -> Self {
        self.engine_fix = Some(what);
        self
    }
}

/// Named models this host's KVM cannot fully give (`unavailable-features` of both releases are
/// not empty here); the collector is asked to try them with `enforce`.
const CHECK_CPUS: [&str; 2] = ["Haswell-v1", "qemu64"];

/// The collector's profiles of this host, one per QEMU release, made once per test binary.
struct Probed {
    r72: QemuRelease,
    r100: QemuRelease,
    p72: PathBuf,
    p100: PathBuf,
    j72: Value,
    j100: Value,
    probe_time: (Duration, Duration),
}

impl Probed {
    fn release(&self, n: &str) -> &QemuRelease {
        if n == "7.2" { &self.r72 } else { &self.r100 }
    }
    fn profile(&self, n: &str) -> &Path {
        if n == "7.2" { &self.p72 } else { &self.p100 }
    }
    fn json(&self, n: &str) -> &Value {
        if n == "7.2" { &self.j72 } else { &self.j100 }
    }
    /// QEMU's own `host` expansion in the profile (`host_model`).
    fn host_model(&self, n: &str) -> BTreeSet<String> {
        names(&self.json(n)["qemu"][0]["host_model"])
    }
    /// The features of a named model this QEMU reported unavailable here (it filters them out,
    /// or refuses to start with `enforce`).
    fn unavailable(&self, n: &str, model: &str) -> BTreeSet<String> {
        self.json(n)["qemu"][0]["cpu_models"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["name"] == model)
            .map(|m| names(&m["unavailable_features"]))
            .unwrap_or_default()
    }
    /// What the collector recorded about starting `-cpu CPU` with the profile's only QEMU:
    /// `host_cpu_start` for `host`, `cpu_start_checks` for the `--check-cpu` models.
    fn recorded_start(&self, n: &str, cpu: &str) -> Option<&Value> {
        let q = &self.json(n)["qemu"][0];
        let c = if cpu == "host" {
            &q["host_cpu_start"]
        } else {
            &q["cpu_start_checks"][cpu]
        };
        (!c.is_null()).then_some(c)
    }
}

fn probed() -> &'static Probed {
    static PROBED: OnceLock<Probed> = OnceLock::new();
    PROBED.get_or_init(|| {
        assert!(
            Path::new("/dev/kvm").exists(),
            "/dev/kvm is missing: the migration suite runs under KVM"
        );
        let r72 = qemu_release("7.2");
        let r100 = qemu_release("10.0");
        // The wrappers and profiles, kept for the whole run (both tests read them); a few KB.
        let dir = tempfile::tempdir().expect("tempdir").keep();
        let probe = |r: &QemuRelease| {
            let wrapper = r.wrapper(&dir);
            let id = format!("here-qemu-{}", r.name.replace('.', "-"));
            collector_probe(&wrapper, &id, &CHECK_CPUS, &dir)
        };
        let ((p72, t72), (p100, t100)) = std::thread::scope(|s| {
            let a = s.spawn(|| probe(&r72));
            let b = s.spawn(|| probe(&r100));
            (a.join().expect("probe 7.2"), b.join().expect("probe 10.0"))
        });
        let read = |p: &Path| -> Value {
            serde_json::from_str(&std::fs::read_to_string(p).expect("profile")).expect("json")
        };
        let (j72, j100) = (read(&p72), read(&p100));
        for (j, r) in [(&j72, &r72), (&j100, &r100)] {
            let q = j["qemu"].as_array().expect("qemu list");
            assert_eq!(
                q.len(),
                1,
                "the probe of QEMU {} lists one QEMU: {}",
                r.name,
                j["gaps"]
            );
            assert_eq!(q[0]["accel"], "kvm", "QEMU {}: {}", r.name, j["gaps"]);
        }
        Probed {
            r72,
            r100,
            p72,
            p100,
            j72,
            j100,
            probe_time: (t72, t100),
        }
    })
}

/// A JSON array of names as a set.
fn names(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|x| x.as_str().map(str::to_owned))
        .collect()
}

fn minus(a: &BTreeSet<String>, b: &BTreeSet<String>) -> BTreeSet<String> {
    a.difference(b).cloned().collect()
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn outcome_text(o: &MigrationOutcome) -> String {
    match o {
        MigrationOutcome::Running => "running".to_owned(),
        o => format!("{o:?}").chars().take(160).collect(),
    }
}

fn verdict_text(v: &CliVerdict) -> String {
    let warnings = v.rules("warning");
    let w = if warnings.is_empty() {
        String::new()
    } else {
        format!(" (warnings: {})", warnings.join(", "))
    };
    if v.compatible() {
        format!("compatible{w}")
    } else {
        let blockers: BTreeSet<String> = v.rules("blocker").into_iter().collect();
        format!(
            "blocked: {}{w}",
            blockers.into_iter().collect::<Vec<_>>().join(", ")
        )
    }
}

/// Whether the verdict holds what the case wants.
fn holds(v: &CliVerdict, want: &Want) -> bool {
    match want {
        Want::Nothing => true,
        Want::Rule(rule) => v.reasons().iter().any(|(r, _)| r == rule),
        Want::BlockerNaming(words) => v
            .rules("blocker")
            .iter()
            .any(|r| words.iter().any(|w| r.contains(w))),
        Want::Loses(features) => {
            let named = |severity: Option<&str>| -> BTreeSet<String> {
                v.json["reasons"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|r| severity.is_none_or(|s| r["severity"] == s))
                    .filter(|r| {
                        r["rule"]
                            .as_str()
                            .is_some_and(|n| n.starts_with("cpu.") && n.ends_with("-missing"))
                    })
                    .filter_map(|r| r["evidence"]["feature"].as_str().map(str::to_owned))
                    .collect()
            };
            let blocked = named(Some("blocker"));
            named(None).is_superset(features) && !blocked.is_empty() && blocked.is_subset(features)
        }
    }
}

/// The reasons in a few lines: each (severity, rule) once, with the features it names.
fn reasons_text(v: &CliVerdict) -> String {
    let mut by_rule: std::collections::BTreeMap<(String, String), Vec<String>> = Default::default();
    for r in v.json["reasons"].as_array().into_iter().flatten() {
        let key = (
            r["severity"].as_str().unwrap_or("?").to_owned(),
            r["rule"].as_str().unwrap_or("?").to_owned(),
        );
        let names = by_rule.entry(key).or_default();
        match r["evidence"]["feature"].as_str() {
            Some(f) => names.push(f.to_owned()),
            None => names.push(
                r["message"]
                    .as_str()
                    .unwrap_or("")
                    .chars()
                    .take(140)
                    .collect(),
            ),
        }
    }
    by_rule
        .into_iter()
        .map(|((sev, rule), names)| {
            let shown: Vec<&str> = names.iter().take(8).map(String::as_str).collect();
            let more = names.len().saturating_sub(shown.len());
            format!(
                "[{sev}] {rule}: {}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" (+{more} more)")
                } else {
                    String::new()
                }
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[test]
fn real_migrations_agree_with_the_verdicts() {
    let started = Instant::now();
    let p = probed();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let boot = dir.join("boot.img");
    std::fs::write(&boot, boot_sector()).expect("boot image");
    let data = dir.join("data.img");
    std::fs::write(&data, vec![0u8; 1 << 20]).expect("data image");
    // KVM_GET_TSC_KHZ as the collector recorded it; QEMU's `tsc-frequency` is the same in Hz.
    let tsc_hz = p.j100["cpu"]["tsc_khz"].as_u64().unwrap_or(0) * 1000;
    assert!(tsc_hz > 0, "the collector recorded no TSC frequency");

    // The guest: the boot sector on an IDE disk, a virtio-blk data disk, nothing else by default.
    // An empty machine leaves `-machine` out: QEMU runs its default machine type (`pc`).
    let guest = |machine: &str, cpu: &str, extra: &str| {
        let machine = if machine.is_empty() {
            "-accel kvm".to_owned()
        } else {
            format!("-machine {machine},accel=kvm")
        };
        format!(
            "{machine} -cpu {cpu} -m 128 -smp 1 -nodefaults \
             -drive file={},format=raw,if=none,id=boot,file.locking=off -device ide-hd,drive=boot,bus=ide.0,bootindex=0 \
             -drive file={},format=raw,if=none,id=d0,file.locking=off {extra}",
            boot.display(),
            data.display()
        )
    };
    let blk = "-device virtio-blk-pci,drive=d0,id=vd0,addr=0x5";
    let base = |machine: &str| guest(machine, "pentium3", blk);
    let same = |a: String| (a.clone(), a);
    let cpu = |c: &str| same(guest("pc-q35-7.2", c, blk));
    // The base guest on the source, with one edit on the destination.
    let edited = |from: &str, to: &str| (base("pc-q35-7.2"), base("pc-q35-7.2").replace(from, to));
    let cpuid_not_compared = "QEMU neither migrates nor compares CPUID";
    // A guest with the same `-cpu` on both sides, whose expectations come from what each QEMU
    // itself reported in the collector's profiles: whether the source starts it, and what its
    // CPUID loses when the destination's QEMU computes it afresh (CPUID is not migrated).
    let cpu_case = |src: &'static str, dst: &'static str, cpu_value: &str| -> Case {
        let mut parts = cpu_value.split(',');
        let model = parts.next().unwrap_or("");
        let enforce = parts.any(|p| p == "enforce");
        // Whether the source starts; what the guest loses and gains at the destination; what
        // the source's QEMU filters out of a named model.
        let (starts, lost, gained, filtered) = if model == "host" {
            let starts = p
                .recorded_start(src, "host")
                .and_then(|c| c["ok"].as_bool())
                .unwrap_or(true);
            let (hs, hd) = (p.host_model(src), p.host_model(dst));
            (starts, minus(&hs, &hd), minus(&hd, &hs), BTreeSet::new())
        } else {
            // The guest sees the model minus what its QEMU reports unavailable.
            let (us, ud) = (p.unavailable(src, model), p.unavailable(dst, model));
            (
                !enforce || us.is_empty(),
                minus(&ud, &us),
                minus(&us, &ud),
                us,
            )
        };
        let name = format!(
            "-cpu {cpu_value}, {src} -> {dst}: {}",
            if !starts {
                "the source does not start".to_owned()
            } else if !lost.is_empty() {
                format!("the guest loses {}", join(&lost))
            } else if !gained.is_empty() {
                format!("the guest gains {}", join(&gained))
            } else if filtered.is_empty() {
                "the same CPU on both sides".to_owned()
            } else {
                format!(
                    "QEMU filters the same {} of the model's features on both sides",
                    filtered.len()
                )
            }
        );
        let c = case(name, src, dst, cpu(cpu_value));
        match (starts, lost.is_empty()) {
            (false, _) if model == "host" => c.source_cannot_start(Want::BlockerNaming(&["start"])),
            (false, _) => c.source_cannot_start(Want::BlockerNaming(&["enforce", "start"])),
            (true, false) if model == "host" => c.stricter(Want::Loses(lost), cpuid_not_compared),
            (true, false) => c.stricter(Want::Loses(lost), cpuid_not_compared),
            (true, true) => c,
        }
    };
    let cases = vec![
        case(
            "seed-002: 7.2 -> 10.0 with pc-q35-7.2 (older to newer)",
            "7.2",
            "10.0",
            same(base("pc-q35-7.2")),
        )
        .want(Want::Rule("qemu.older-to-newer")),
        case(
            "seed-002: 10.0 -> 7.2 with pc-q35-7.2 (newer to older)",
            "10.0",
            "7.2",
            same(base("pc-q35-7.2")),
        )
        .want(Want::Rule("qemu.newer-to-older")),
        case(
            "machine type the destination lacks: 10.0 pc-q35-10.0 -> 7.2",
            "10.0",
            "7.2",
            same(base("pc-q35-10.0")),
        )
        .refused(Want::Rule("qemu.machine-missing")),
        case(
            "mismatched machine types: pc-q35-7.2 -> pc-q35-10.0",
            "10.0",
            "10.0",
            (base("pc-q35-7.2"), base("pc-q35-10.0")),
        )
        .refused(Want::Rule("abi.machine-type")),
        case(
            "virtio-blk num-queues 1 -> 4",
            "10.0",
            "10.0",
            (
                guest("pc-q35-7.2", "pentium3", &format!("{blk},num-queues=1")),
                guest("pc-q35-7.2", "pentium3", &format!("{blk},num-queues=4")),
            ),
        )
        .refused(Want::Rule("abi.virtio-blk-num-queues")),
        case(
            "-smp 1 -> 2 with virtio-blk (num-queues follows -smp)",
            "10.0",
            "10.0",
            edited("-smp 1", "-smp 2"),
        )
        .refused(Want::Rule("abi.virtio-blk-num-queues")),
        case(
            "device at another address",
            "10.0",
            "10.0",
            edited("addr=0x5", "addr=0x6"),
        )
        .refused(Want::Rule("abi.device-address")),
        case(
            "RAM size 128 -> 256 MiB",
            "10.0",
            "10.0",
            edited("-m 128", "-m 256"),
        )
        .refused(Want::Rule("abi.memory-size")),
        case(
            "missing option ROM (virtio-net romfile= on the destination)",
            "10.0",
            "10.0",
            (
                guest(
                    "pc-q35-7.2",
                    "pentium3",
                    &format!("{blk} -device virtio-net-pci,id=net0,addr=0x6"),
                ),
                guest(
                    "pc-q35-7.2",
                    "pentium3",
                    &format!("{blk} -device virtio-net-pci,id=net0,addr=0x6,romfile="),
                ),
            ),
        )
        .refused(Want::Rule("abi.option-rom")),
        case(
            "invtsc without tsc-frequency",
            "10.0",
            "10.0",
            cpu("pentium3,+invtsc"),
        )
        .refused(Want::Rule("cpu.invtsc-without-tsc-frequency")),
        case(
            "invtsc with tsc-frequency",
            "10.0",
            "10.0",
            cpu(&format!("pentium3,+invtsc,tsc-frequency={tsc_hz}")),
        ),
        case(
            "CPU model EPYC-v4 -> EPYC-v1: QEMU lets it through, the engine blocks",
            "10.0",
            "10.0",
            (
                guest("pc-q35-7.2", "EPYC-v4", blk),
                guest("pc-q35-7.2", "EPYC-v1", blk),
            ),
        )
        .stricter(Want::Rule("abi.cpu-model"), cpuid_not_compared),
        case(
            "CPU feature removed (7.2 EPYC-v3 -> 10.0 EPYC-v3,-lm): QEMU lets it through, the engine blocks",
            "7.2",
            "10.0",
            (
                guest("pc-q35-7.2", "EPYC-v3", blk),
                guest("pc-q35-7.2", "EPYC-v3,-lm", blk),
            ),
        )
        .stricter(Want::Rule("abi.cpu-model"), cpuid_not_compared),
        case(
            "MAC address change: QEMU lets it through, the engine blocks",
            "10.0",
            "10.0",
            (
                guest(
                    "pc-q35-7.2",
                    "pentium3",
                    &format!(
                        "{blk} -device virtio-net-pci,id=net0,addr=0x6,mac=52:54:00:00:00:01"
                    ),
                ),
                guest(
                    "pc-q35-7.2",
                    "pentium3",
                    &format!(
                        "{blk} -device virtio-net-pci,id=net0,addr=0x6,mac=52:54:00:00:00:02"
                    ),
                ),
            ),
        )
        .stricter(
            Want::Rule("abi.device-property"),
            "the MAC is not in the migration state",
        ),
        case(
            "extra device on the destination: QEMU lets it through, the engine blocks",
            "10.0",
            "10.0",
            (
                base("pc-q35-7.2"),
                guest(
                    "pc-q35-7.2",
                    "pentium3",
                    &format!("{blk} -device virtio-rng-pci,id=rng0,addr=0x7"),
                ),
            ),
        )
        .stricter(
            Want::Rule("abi.device-extra"),
            "QEMU ignores devices the stream does not mention; libvirt's ABI check refuses them",
        ),
        case(
            "virtio-blk legacy+modern -> modern only (disable-legacy=on)",
            "10.0",
            "10.0",
            (
                guest(
                    "pc-i440fx-7.2",
                    "pentium3",
                    &format!("{blk},disable-legacy=off"),
                ),
                guest(
                    "pc-i440fx-7.2",
                    "pentium3",
                    &format!("{blk},disable-legacy=on"),
                ),
            ),
        )
        .refused(Want::Rule("abi.device-property")),
        case(
            "-cpu host,arch-capabilities=off (migratable=on leaves invtsc out), same host",
            "10.0",
            "10.0",
            cpu("host,arch-capabilities=off"),
        ),
        case(
            "-cpu host,migratable=off (invtsc included, no tsc-frequency)",
            "10.0",
            "10.0",
            cpu("host,arch-capabilities=off,migratable=off"),
        )
        .refused(Want::Rule("cpu.invtsc-without-tsc-frequency")),
        // Plain `-cpu host`: whether the source starts is what the collector's stopped start
        // recorded (`host_cpu_start`; the suite checks below that the two agree). Across releases
        // each QEMU computes the guest's CPUID from its own `host` expansion (here QEMU 10.0's
        // has erms and fsrm, which this nested KVM_GET_SUPPORTED_CPUID leaves out and QEMU 7.2
        // does not add).
        cpu_case("10.0", "10.0", "host"),
        cpu_case("7.2", "7.2", "host"),
        cpu_case("7.2", "10.0", "host"),
        cpu_case("10.0", "7.2", "host"),
        // Named models this host's KVM cannot fully give. Without `enforce` QEMU filters the
        // missing features out with a warning and starts (QEMU target/i386/cpu.c
        // x86_cpu_filter_features, "host doesn't support requested feature"): the guest sees the
        // model minus them, each QEMU computing its own (`unavailable-features` of
        // query-cpu-definitions, recorded per QEMU by the collector).
        cpu_case("10.0", "10.0", "qemu64"),
        cpu_case("10.0", "10.0", "Haswell-v1"),
        cpu_case("7.2", "10.0", "Haswell-v1"),
        cpu_case("10.0", "7.2", "Haswell-v1"),
        // With `enforce` QEMU refuses to start the source ("Host doesn't support requested
        // features": QEMU target/i386/cpu.c x86_cpu_realizefn after x86_cpu_filter_features).
        cpu_case("10.0", "10.0", "Haswell-v1,enforce"),
        cpu_case("7.2", "10.0", "qemu64,enforce"),
        case(
            "pentium3,enforce (KVM gives all of it), same host",
            "10.0",
            "10.0",
            cpu("pentium3,enforce"),
        ),
        // No machine type: each QEMU runs its own default (`pc`, an alias of pc-i440fx-7.2 in
        // 7.2 and of pc-i440fx-10.0 in 10.0; QEMU hw/i386/pc_piix.c DEFINE_I440FX_MACHINE), and
        // the destination checks the name in the stream's configuration section (QEMU
        // migration/savevm.c configuration_post_load: "Machine type received is ... and local
        // is ...").
        case(
            "no machine type, same QEMU (10.0 -> 10.0)",
            "10.0",
            "10.0",
            same(base("")),
        ),
        case(
            "no machine type, 7.2 -> 10.0 (pc-i440fx-7.2 becomes pc-i440fx-10.0)",
            "7.2",
            "10.0",
            same(base("")),
        )
        .refused(Want::BlockerNaming(&["machine"])),
        case(
            "no machine type, 10.0 -> 7.2 (pc-i440fx-10.0 becomes pc-i440fx-7.2)",
            "10.0",
            "7.2",
            same(base("")),
        )
        .refused(Want::BlockerNaming(&["machine"])),
        case(
            "no machine type on the 7.2 source, pc-i440fx-7.2 on the 10.0 destination (the same machine)",
            "7.2",
            "10.0",
            (base(""), base("pc-i440fx-7.2")),
        ),
        // The alias names a different machine in each release, like no machine type at all.
        case(
            "machine alias pc, 7.2 -> 10.0 (pc-i440fx-7.2 becomes pc-i440fx-10.0)",
            "7.2",
            "10.0",
            same(base("pc")),
        )
        .refused(Want::BlockerNaming(&["machine"])),
    ];

    let migrations_started = Instant::now();
    let outcomes: Vec<MigrationOutcome> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (sa, da) = (words(&c.src_args), words(&c.dst_args));
                let (rs, rd) = (p.release(c.src), p.release(c.dst));
                s.spawn(move || run_migration((rs, &sa), (rd, &da), dir, &format!("case{i}")))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("migration thread"))
            .collect()
    });
    let migrations_took = migrations_started.elapsed();

    let verdicts_started = Instant::now();
    let verdicts: Vec<CliVerdict> = cases
        .iter()
        .enumerate()
        .map(|(i, c)| {
            fleetcompat_compare(
                p.profile(c.src),
                p.profile(c.dst),
                &c.src_args,
                &c.dst_args,
                dir,
                &format!("case{i}"),
            )
        })
        .collect();
    let verdicts_took = verdicts_started.elapsed();

    let mut table =
        String::from("case | QEMU on the destination | engine | agree | the case's checks\n");
    let mut failures = Vec::new();
    for ((c, outcome), v) in cases.iter().zip(&outcomes).zip(&verdicts) {
        let qemu_ok = outcome.succeeded();
        let agree = qemu_ok == v.compatible();
        let mut problems = Vec::new();
        let measured = match outcome {
            MigrationOutcome::Running => Qemu::Migrates,
            MigrationOutcome::SourceDidNotStart(_) => Qemu::SourceCannotStart,
            _ => Qemu::Refuses,
        };
        if measured != c.qemu {
            problems.push(format!("QEMU expected {:?}, got {outcome:?}", c.qemu));
        }
        if v.compatible() != c.engine_compatible {
            problems.push(format!(
                "engine expected compatible={}, got {}",
                c.engine_compatible,
                reasons_text(v)
            ));
        }
        if !holds(v, &c.want) {
            problems.push(format!(
                "the verdict lacks {:?}: {}",
                c.want,
                reasons_text(v)
            ));
        }
        // The engine may only be stricter where QEMU does not look, never more lenient.
        if !agree && (c.stricter.is_none() || v.compatible()) {
            problems.push(format!(
                "QEMU ({}) and the engine ({}) disagree",
                outcome_text(outcome),
                verdict_text(v)
            ));
        }
        // The collector's stopped start must have seen what the migration's source saw.
        let cpu_value = c
            .src_args
            .split_whitespace()
            .skip_while(|w| *w != "-cpu")
            .nth(1)
            .unwrap_or("");
        if let Some(rec) = p.recorded_start(c.src, cpu_value) {
            let started = !matches!(outcome, MigrationOutcome::SourceDidNotStart(_));
            if rec["ok"].as_bool() != Some(started) {
                problems.push(format!(
                    "the collector recorded {rec} for -cpu {cpu_value} on QEMU {}, the source {}",
                    c.src,
                    if started { "started" } else { "did not start" }
                ));
            }
        }
        let agreement = match (agree, c.stricter) {
            (true, _) => "yes".to_owned(),
            (false, Some(why)) if !v.compatible() => format!("stricter by design: {why}"),
            (false, _) => "NO".to_owned(),
        };
        let verdict = if problems.is_empty() {
            match c.engine_fix {
                Some(_) => {
                    "ok (the engine fix it waited for is in: drop its engine_fix)".to_owned()
                }
                None => "ok".to_owned(),
            }
        } else {
            let label = match c.engine_fix {
                Some(fix) => format!("ENGINE BUG (waits for: {fix})"),
                None => "FAIL".to_owned(),
            };
            failures.push(format!("{label}: {}: {}", c.name, problems.join("; ")));
            label
        };
        table.push_str(&format!(
            "{} ({} -> {}) | {} | {} | {agreement} | {verdict}\n",
            c.name,
            c.src,
            c.dst,
            outcome_text(outcome),
            verdict_text(v),
        ));
    }
    let elapsed = started.elapsed();
    let (t72, t100) = p.probe_time;
    let start = |n: &str| {
        p.recorded_start(n, "host")
            .map_or("absent".to_owned(), Value::to_string)
    };
    table.push_str(&format!(
        "collector probe (--qemu, fresh cache, {} --check-cpu): 7.2 {:.2} s, 10.0 {:.2} s\n\
         recorded -cpu host start: 7.2 {}, 10.0 {}\n\
         migrations {:.1} s, {} compare runs {:.1} s, suite time {:.1} s\n",
        CHECK_CPUS.len(),
        t72.as_secs_f64(),
        t100.as_secs_f64(),
        start("7.2"),
        start("10.0"),
        migrations_took.as_secs_f64(),
        verdicts.len(),
        verdicts_took.as_secs_f64(),
        elapsed.as_secs_f64()
    ));
    println!("{table}");
    let out = e2e::artifacts_dir().join("migrations.txt");
    let _ = std::fs::write(&out, &table);
    assert!(failures.is_empty(), "{}\n\n{table}", failures.join("\n"));
    assert!(
        elapsed.as_secs() < 600,
        "the suite must run in under 10 minutes"
    );
}

/// cpr-transfer (seed 004) on this host: QEMU 10.0 with the requirements met, and each one
/// missing; QEMU 7.2, which lacks the mode. The verdict comes from `fleetcompat compare` with the
/// definition the new process is started from (its second `-incoming` names the cpr channel).
#[test]
fn cpr_transfer_agrees_with_the_verdicts() {
    let p = probed();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let boot = dir.join("boot.img");
    std::fs::write(&boot, boot_sector()).expect("boot image");
    let guest = |machine: &str, memory: &str| {
        format!(
            "-machine {machine},accel=kvm -cpu pentium3 -m 128 {memory} -nodefaults \
             -drive file={},format=raw,if=none,id=boot,file.locking=off -device ide-hd,drive=boot,bus=ide.0",
            boot.display()
        )
    };
    let shared_ram =
        "-object memory-backend-memfd,id=ram0,size=128M,share=on -machine memory-backend=ram0";
    // (name, release, args, QEMU runs the guest afterwards, a rule the verdict must hold)
    let cases = [
        (
            "cpr-transfer with aux-ram-share=on and a share=on memfd backend",
            "10.0",
            guest("pc-q35-7.2,aux-ram-share=on", shared_ram),
            true,
            "",
        ),
        (
            "cpr-transfer without aux-ram-share",
            "10.0",
            guest("pc-q35-7.2", shared_ram),
            false,
            "cpr.aux-ram-share-missing",
        ),
        (
            "cpr-transfer with plain -m RAM",
            "10.0",
            guest("pc-q35-7.2,aux-ram-share=on", ""),
            false,
            "cpr.ram-not-shared",
        ),
        (
            "cpr-transfer with a share=off backend",
            "10.0",
            guest(
                "pc-q35-7.2,aux-ram-share=on",
                &shared_ram.replace("share=on", "share=off"),
            ),
            false,
            "cpr.backend-not-shared",
        ),
        (
            "cpr-transfer on QEMU 7.2",
            "7.2",
            guest("pc-q35-7.2", ""),
            false,
            "cpr.qemu-too-old",
        ),
    ];
    let outcomes: Vec<MigrationOutcome> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, (_, rel, args, _, _))| {
                let r = p.release(rel);
                let a = words(args);
                s.spawn(move || run_cpr_transfer(r, &a, dir, &format!("cpr{i}")))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("cpr thread"))
            .collect()
    });
    let mut failures = Vec::new();
    let mut table = String::from("case | QEMU (new process) | engine | agree\n");
    for (i, ((name, rel, args, runs, rule), outcome)) in cases.iter().zip(&outcomes).enumerate() {
        // The new process's definition: the same guest arriving over a cpr channel.
        let incoming = format!(
            "{args} -incoming unix:/tmp/cpr-main.sock \
             -incoming cpr,addr.transport=socket,addr.type=unix,addr.path=/tmp/cpr.sock"
        );
        let host = p.profile(rel);
        let v = fleetcompat_compare(host, host, &incoming, &incoming, dir, &format!("cpr{i}"));
        let agree = outcome.succeeded() == v.compatible();
        table.push_str(&format!(
            "{name} | {} | {} | {}\n",
            outcome_text(outcome),
            verdict_text(&v),
            if agree { "yes" } else { "NO" }
        ));
        if outcome.succeeded() != *runs {
            failures.push(format!(
                "{name}: QEMU expected running={runs}, got {outcome:?}"
            ));
        }
        if !agree {
            failures.push(format!(
                "{name}: engine {} vs QEMU {outcome:?}",
                reasons_text(&v)
            ));
        }
        if !rule.is_empty() && !holds(&v, &Want::Rule(rule)) {
            failures.push(format!(
                "{name}: the verdict lacks {rule}: {}",
                reasons_text(&v)
            ));
        }
    }
    println!("{table}");
    let _ = std::fs::write(e2e::artifacts_dir().join("cpr-transfer.txt"), &table);
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}
