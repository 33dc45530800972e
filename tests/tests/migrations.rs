//! Real migrations under KVM between two QEMU releases side by side (Debian's 7.2 and
//! bookworm-backports' 10.0, unpacked by tests/qemu-setup.sh), compared with the engine's verdict
//! for the same two definitions on profiles built from what each QEMU binary reports.
//!
//! Success is judged on the destination (query-status `running`; a load error makes it exit),
//! because the source reports "completed" before the destination has loaded the state.
//! For CPU changes QEMU lets through (CPUID is neither migrated nor compared), the engine must
//! give a blocker although QEMU reports success: those cases say so.

use std::time::Instant;

use e2e::{
    MigrationOutcome, QemuProbe, QemuRelease, boot_sector, qemu_probe, qemu_release,
    run_cpr_transfer, run_migration,
};
use shared::guest::cmdline::parse_command_line;
use shared::import::qmp::{expansion_features, parse_machines, parse_version};
use shared::profile::{HostProfile, QemuInstall};
use shared::verdict::{Policy, Severity, Verdict, compare_definitions};

/// What QEMU does with a case, as DOMAIN.md measured it; asserted so a change shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Qemu {
    Migrates,
    Refuses,
}

struct Case {
    name: &'static str,
    src: &'static str,
    dst: &'static str,
    src_args: String,
    dst_args: String,
    qemu: Qemu,
    /// The engine's verdict: compatible or not.
    engine_compatible: bool,
    /// A rule the verdict must contain.
    rule: &'static str,
    /// Why the engine blocks what QEMU lets through (CPUID, MAC, extra devices are not compared
    /// by QEMU); `None` when QEMU and the engine must agree.
    stricter: Option<&'static str>,
}

fn profile(probe: &QemuProbe) -> HostProfile {
    let features = expansion_features(&probe.host_expansion);
    assert!(
        !features.is_empty(),
        "the host model expansion named no catalog feature"
    );
    let vendor = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("vendor_id"))
                .and_then(|l| l.split(':').nth(1))
                .map(|v| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into());
    let mut p = shared::testing::profile("localhost", &vendor, features);
    p.cpu.tsc_khz = Some(probe.tsc_hz / 1000);
    let (version, package) = parse_version(&probe.version).expect("query-version");
    p.qemu = vec![QemuInstall {
        path: "qemu-system-x86_64".into(),
        version,
        package,
        accel: "kvm".into(),
        machines: parse_machines(&probe.machines),
        ..QemuInstall::default()
    }];
    p
}

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn verdict(src: &HostProfile, dst: &HostProfile, c: &Case) -> Verdict {
    let g = parse_command_line(&c.src_args).unwrap_or_else(|e| panic!("{}: {e}", c.name));
    let d = parse_command_line(&c.dst_args).unwrap_or_else(|e| panic!("{}: {e}", c.name));
    compare_definitions(src, dst, &g, &d, &Policy::default())
}

#[test]
fn real_migrations_agree_with_the_verdicts() {
    let started = Instant::now();
    assert!(
        std::path::Path::new("/dev/kvm").exists(),
        "/dev/kvm is missing: the migration suite runs under KVM"
    );
    let r72 = qemu_release("7.2");
    let r100 = qemu_release("10.0");
    let dir = tempfile::tempdir().expect("tempdir");
    let boot = dir.path().join("boot.img");
    std::fs::write(&boot, boot_sector()).expect("boot image");
    let data = dir.path().join("data.img");
    std::fs::write(&data, vec![0u8; 1 << 20]).expect("data image");

    let (p72, p100) = std::thread::scope(|s| {
        let a = s.spawn(|| qemu_probe(&r72, dir.path()));
        let b = s.spawn(|| qemu_probe(&r100, dir.path()));
        (a.join().expect("probe 7.2"), b.join().expect("probe 10.0"))
    });
    let tsc_hz = p100.tsc_hz;
    assert!(tsc_hz > 0, "KVM reported no TSC frequency");
    let (h72, h100) = (profile(&p72), profile(&p100));

    // The guest: the boot sector on an IDE disk, a virtio-blk data disk, nothing else by default.
    let guest = |machine: &str, cpu: &str, extra: &str| {
        format!(
            "-machine {machine},accel=kvm -cpu {cpu} -m 128 -smp 1 -nodefaults \
             -drive file={},format=raw,if=none,id=boot,file.locking=off -device ide-hd,drive=boot,bus=ide.0,bootindex=0 \
             -drive file={},format=raw,if=none,id=d0,file.locking=off {extra}",
            boot.display(),
            data.display()
        )
    };
    let blk = "-device virtio-blk-pci,drive=d0,id=vd0,addr=0x5";
    let base = |machine: &str| guest(machine, "pentium3", blk);
    let cases = vec![
        Case {
            name: "seed-002: 7.2 -> 10.0 with pc-q35-7.2 (older to newer)",
            src: "7.2",
            dst: "10.0",
            src_args: base("pc-q35-7.2"),
            dst_args: base("pc-q35-7.2"),
            qemu: Qemu::Migrates,
            engine_compatible: true,
            rule: "qemu.older-to-newer",
            stricter: None,
        },
        Case {
            name: "seed-002: 10.0 -> 7.2 with pc-q35-7.2 (newer to older)",
            src: "10.0",
            dst: "7.2",
            src_args: base("pc-q35-7.2"),
            dst_args: base("pc-q35-7.2"),
            qemu: Qemu::Migrates,
            engine_compatible: true,
            rule: "qemu.newer-to-older",
            stricter: None,
        },
        Case {
            name: "machine type the destination lacks: 10.0 pc-q35-10.0 -> 7.2",
            src: "10.0",
            dst: "7.2",
            src_args: base("pc-q35-10.0"),
            dst_args: base("pc-q35-10.0"),
            qemu: Qemu::Refuses,
            engine_compatible: false,
            rule: "qemu.machine-missing",
            stricter: None,
        },
        Case {
            name: "mismatched machine types: pc-q35-7.2 -> pc-q35-10.0",
            src: "10.0",
            dst: "10.0",
            src_args: base("pc-q35-7.2"),
            dst_args: base("pc-q35-10.0"),
            qemu: Qemu::Refuses,
            engine_compatible: false,
            rule: "abi.machine-type",
            stricter: None,
        },
        Case {
            name: "virtio-blk num-queues 1 -> 4",
            src: "10.0",
            dst: "10.0",
            src_args: guest("pc-q35-7.2", "pentium3", &format!("{blk},num-queues=1")),
            dst_args: guest("pc-q35-7.2", "pentium3", &format!("{blk},num-queues=4")),
            qemu: Qemu::Refuses,
            engine_compatible: false,
            rule: "abi.virtio-blk-num-queues",
            stricter: None,
        },
        Case {
            name: "-smp 1 -> 2 with virtio-blk (num-queues follows -smp)",
            src: "10.0",
            dst: "10.0",
            src_args: base("pc-q35-7.2"),
            dst_args: base("pc-q35-7.2").replace("-smp 1", "-smp 2"),
            qemu: Qemu::Refuses,
            engine_compatible: false,
            rule: "abi.virtio-blk-num-queues",
            stricter: None,
        },
        Case {
            name: "device at another address",
            src: "10.0",
            dst: "10.0",
            src_args: base("pc-q35-7.2"),
            dst_args: base("pc-q35-7.2").replace("addr=0x5", "addr=0x6"),
            qemu: Qemu::Refuses,
            engine_compatible: false,
            rule: "abi.device-address",
            stricter: None,
        },
        Case {
            name: "RAM size 128 -> 256 MiB",
            src: "10.0",
            dst: "10.0",
            src_args: base("pc-q35-7.2"),
            dst_args: base("pc-q35-7.2").replace("-m 128", "-m 256"),
            qemu: Qemu::Refuses,
            engine_compatible: false,
            rule: "abi.memory-size",
            stricter: None,
        },
        Case {
            name: "missing option ROM (virtio-net romfile= on the destination)",
            src: "10.0",
            dst: "10.0",
            src_args: guest(
                "pc-q35-7.2",
                "pentium3",
                &format!("{blk} -device virtio-net-pci,id=net0,addr=0x6"),
            ),
            dst_args: guest(
                "pc-q35-7.2",
                "pentium3",
                &format!("{blk} -device virtio-net-pci,id=net0,addr=0x6,romfile="),
            ),
            qemu: Qemu::Refuses,
            engine_compatible: false,
            rule: "abi.option-rom",
            stricter: None,
        },
        Case {
            name: "invtsc without tsc-frequency",
            src: "10.0",
            dst: "10.0",
            src_args: guest("pc-q35-7.2", "pentium3,+invtsc", blk),
            dst_args: guest("pc-q35-7.2", "pentium3,+invtsc", blk),
            qemu: Qemu::Refuses,
            engine_compatible: false,
            rule: "cpu.invtsc-without-tsc-frequency",
            stricter: None,
        },
        Case {
            name: "invtsc with tsc-frequency",
            src: "10.0",
            dst: "10.0",
            src_args: guest(
                "pc-q35-7.2",
                &format!("pentium3,+invtsc,tsc-frequency={tsc_hz}"),
                blk,
            ),
            dst_args: guest(
                "pc-q35-7.2",
                &format!("pentium3,+invtsc,tsc-frequency={tsc_hz}"),
                blk,
            ),
            qemu: Qemu::Migrates,
            engine_compatible: true,
            rule: "",
            stricter: None,
        },
        Case {
            name: "CPU model EPYC-v4 -> EPYC-v1: QEMU lets it through, the engine blocks",
            src: "10.0",
            dst: "10.0",
            src_args: guest("pc-q35-7.2", "EPYC-v4", blk),
            dst_args: guest("pc-q35-7.2", "EPYC-v1", blk),
            qemu: Qemu::Migrates,
            engine_compatible: false,
            rule: "abi.cpu-model",
            stricter: Some("QEMU neither migrates nor compares CPUID"),
        },
        Case {
            name: "CPU feature removed (7.2 EPYC-v3 -> 10.0 EPYC-v3,-lm): QEMU lets it through, the engine blocks",
            src: "7.2",
            dst: "10.0",
            src_args: guest("pc-q35-7.2", "EPYC-v3", blk),
            dst_args: guest("pc-q35-7.2", "EPYC-v3,-lm", blk),
            qemu: Qemu::Migrates,
            engine_compatible: false,
            rule: "abi.cpu-model",
            stricter: Some("QEMU neither migrates nor compares CPUID"),
        },
        Case {
            name: "MAC address change: QEMU lets it through, the engine blocks",
            src: "10.0",
            dst: "10.0",
            src_args: guest(
                "pc-q35-7.2",
                "pentium3",
                &format!("{blk} -device virtio-net-pci,id=net0,addr=0x6,mac=52:54:00:00:00:01"),
            ),
            dst_args: guest(
                "pc-q35-7.2",
                "pentium3",
                &format!("{blk} -device virtio-net-pci,id=net0,addr=0x6,mac=52:54:00:00:00:02"),
            ),
            qemu: Qemu::Migrates,
            engine_compatible: false,
            rule: "abi.device-property",
            stricter: Some("the MAC is not in the migration state"),
        },
        Case {
            name: "extra device on the destination: QEMU lets it through, the engine blocks",
            src: "10.0",
            dst: "10.0",
            src_args: base("pc-q35-7.2"),
            dst_args: guest(
                "pc-q35-7.2",
                "pentium3",
                &format!("{blk} -device virtio-rng-pci,id=rng0,addr=0x7"),
            ),
            qemu: Qemu::Migrates,
            engine_compatible: false,
            rule: "abi.device-extra",
            stricter: Some(
                "QEMU ignores devices the stream does not mention; libvirt's ABI check refuses them",
            ),
        },
        Case {
            name: "virtio-blk legacy+modern -> modern only (disable-legacy=on)",
            src: "10.0",
            dst: "10.0",
            src_args: guest(
                "pc-i440fx-7.2",
                "pentium3",
                &format!("{blk},disable-legacy=off"),
            ),
            dst_args: guest(
                "pc-i440fx-7.2",
                "pentium3",
                &format!("{blk},disable-legacy=on"),
            ),
            qemu: Qemu::Refuses,
            engine_compatible: false,
            rule: "abi.device-property",
            stricter: None,
        },
        Case {
            name: "-cpu host (migratable=on leaves invtsc out), same host",
            src: "10.0",
            dst: "10.0",
            src_args: guest("pc-q35-7.2", "host,arch-capabilities=off", blk),
            dst_args: guest("pc-q35-7.2", "host,arch-capabilities=off", blk),
            qemu: Qemu::Migrates,
            engine_compatible: true,
            rule: "",
            stricter: None,
        },
        Case {
            name: "-cpu host,migratable=off (invtsc included, no tsc-frequency)",
            src: "10.0",
            dst: "10.0",
            src_args: guest(
                "pc-q35-7.2",
                "host,arch-capabilities=off,migratable=off",
                blk,
            ),
            dst_args: guest(
                "pc-q35-7.2",
                "host,arch-capabilities=off,migratable=off",
                blk,
            ),
            qemu: Qemu::Refuses,
            engine_compatible: false,
            rule: "cpu.invtsc-without-tsc-frequency",
            stricter: None,
        },
    ];

    let release = |n: &str| -> &QemuRelease { if n == "7.2" { &r72 } else { &r100 } };
    let host = |n: &str| -> &HostProfile { if n == "7.2" { &h72 } else { &h100 } };
    let outcomes: Vec<MigrationOutcome> = std::thread::scope(|s| {
        let handles: Vec<_> = cases
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let (sa, da) = (words(&c.src_args), words(&c.dst_args));
                let (rs, rd) = (release(c.src), release(c.dst));
                let dir = dir.path();
                s.spawn(move || run_migration((rs, &sa), (rd, &da), dir, &format!("case{i}")))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("migration thread"))
            .collect()
    });

    let mut table = String::from("case | QEMU on the destination | engine | agree\n");
    let mut failures = Vec::new();
    for (c, outcome) in cases.iter().zip(&outcomes) {
        let v = verdict(host(c.src), host(c.dst), c);
        let blockers: std::collections::BTreeSet<&str> = v
            .with_severity(Severity::Blocker)
            .map(|r| r.rule.as_str())
            .collect();
        let agree = outcome.succeeded() == v.compatible;
        table.push_str(&format!(
            "{} | {} | {} | {}\n",
            c.name,
            match outcome {
                MigrationOutcome::Running => "running".to_owned(),
                o => format!("{o:?}").chars().take(160).collect(),
            },
            if v.compatible {
                "compatible".to_owned()
            } else {
                format!(
                    "blocked: {}",
                    blockers.into_iter().collect::<Vec<_>>().join(", ")
                )
            },
            match (agree, c.stricter) {
                (true, _) => "yes".to_owned(),
                (false, Some(why)) => format!("no, by design: {why}"),
                (false, None) => "NO".to_owned(),
            }
        ));
        let qemu_ok = outcome.succeeded();
        if qemu_ok != (c.qemu == Qemu::Migrates) {
            failures.push(format!(
                "{}: QEMU expected {:?}, got {outcome:?}",
                c.name, c.qemu
            ));
        }
        if v.compatible != c.engine_compatible {
            failures.push(format!(
                "{}: engine expected compatible={}, got {:?}",
                c.name, c.engine_compatible, v.reasons
            ));
        }
        if !c.rule.is_empty() && !v.reasons.iter().any(|r| r.rule == c.rule) {
            failures.push(format!(
                "{}: the verdict lacks rule {}: {:?}",
                c.name, c.rule, v.reasons
            ));
        }
        // The engine may only be stricter where QEMU does not look, never more lenient.
        if !agree && (c.stricter.is_none() || v.compatible) {
            failures.push(format!("{}: QEMU and the engine disagree", c.name));
        }
    }
    let elapsed = started.elapsed();
    table.push_str(&format!("suite time: {:.1} s\n", elapsed.as_secs_f64()));
    println!("{table}");
    let out = e2e::artifacts_dir().join("migrations.txt");
    let _ = std::fs::write(&out, &table);
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
    assert!(
        elapsed.as_secs() < 600,
        "the suite must run in under 10 minutes"
    );
}

/// cpr-transfer (seed 004) on this host: QEMU 10.0 with the requirements met, and each one
/// missing; QEMU 7.2, which lacks the mode.
#[test]
fn cpr_transfer_agrees_with_the_verdicts() {
    let r72 = qemu_release("7.2");
    let r100 = qemu_release("10.0");
    let dir = tempfile::tempdir().expect("tempdir");
    let boot = dir.path().join("boot.img");
    std::fs::write(&boot, boot_sector()).expect("boot image");
    let (p72, p100) = std::thread::scope(|s| {
        let a = s.spawn(|| qemu_probe(&r72, dir.path()));
        let b = s.spawn(|| qemu_probe(&r100, dir.path()));
        (a.join().expect("probe 7.2"), b.join().expect("probe 10.0"))
    });
    let (h72, h100) = (profile(&p72), profile(&p100));
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
                let r = if *rel == "7.2" { &r72 } else { &r100 };
                let a = words(args);
                let dir = dir.path();
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
    for ((name, rel, args, runs, rule), outcome) in cases.iter().zip(&outcomes) {
        let host = if *rel == "7.2" { &h72 } else { &h100 };
        let mut g = parse_command_line(args).expect("cmdline");
        g.migration_mode = shared::guest::MigrationMode::CprTransfer;
        let v = shared::compare(host, host, &g);
        let agree = outcome.succeeded() == v.compatible;
        table.push_str(&format!(
            "{name} | {} | {} | {}\n",
            format!("{outcome:?}").chars().take(140).collect::<String>(),
            if v.compatible {
                "compatible".to_owned()
            } else {
                format!("blocked: {rule}")
            },
            if agree { "yes" } else { "NO" }
        ));
        if outcome.succeeded() != *runs {
            failures.push(format!(
                "{name}: QEMU expected running={runs}, got {outcome:?}"
            ));
        }
        if !agree {
            failures.push(format!(
                "{name}: engine {:?} vs QEMU {outcome:?}",
                v.reasons
            ));
        }
        if !rule.is_empty() && !v.reasons.iter().any(|r| r.rule == *rule) {
            failures.push(format!("{name}: the verdict lacks {rule}: {:?}", v.reasons));
        }
    }
    println!("{table}");
    let _ = std::fs::write(e2e::artifacts_dir().join("cpr-transfer.txt"), &table);
    assert!(failures.is_empty(), "{}\n{table}", failures.join("\n"));
}
