//! The baseline of 10,000 hosts, fleetcompat against `virsh -c test:///default cpu-baseline`
//! (Debian's libvirt-clients), side by side on the same hosts, end to end: both are run as the
//! commands a user types, each a process of its own, timed from spawn to exit.
//! - `fleetcompat baseline --json fleet.jsonl`: one fleet file of 10,000 profiles (JSON Lines);
//! - `fleetcompat baseline --json profiles/`: the same hosts as 10,000 profile files;
//! - `virsh cpu-baseline --features hosts.xml`: one file of 10,000 `<cpu>` elements.
//!
//! The feature sets must be identical, except for the non-migratable features that fleetcompat
//! leaves out by definition (libvirt's test driver does not support `--migratable`).
//! Run: `cargo bench -p backend --bench virsh_baseline` (or `cargo xtask bench`, which installs
//! libvirt-clients); it says SKIPPED without `virsh` and FAILED (exit 1) when the sets differ.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use shared::baseline::{BaselineOptions, baseline};
use shared::catalog::{FeatureId, FeatureLocation, catalog};
use shared::featureset::FeatureSet;
use shared::models::{models, not_model_controlled};
use shared::profile::HostProfile;
use shared::testing::{Rng, profile};
use shared::verdict::non_migratable;

const N_HOSTS: usize = 10_000;
const RUNS: usize = 7;

/// Feature names the installed libvirt knows (its own cpu_map).
fn installed_libvirt_features() -> Option<BTreeSet<String>> {
    let text = std::fs::read_to_string("/usr/share/libvirt/cpu_map/x86_features.xml").ok()?;
    Some(
        text.split("<feature name='")
            .skip(1)
            .filter_map(|s| s.split('\'').next())
            .map(str::to_owned)
            .collect(),
    )
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() -> ExitCode {
    if Command::new("virsh").arg("--version").output().is_err() {
        println!("SKIPPED: virsh not installed (apt-get install libvirt-clients)");
        return ExitCode::SUCCESS;
    }
    let Some(known) = installed_libvirt_features() else {
        println!("SKIPPED: /usr/share/libvirt/cpu_map/x86_features.xml not found");
        return ExitCode::SUCCESS;
    };
    // CPUID features both QEMU and the installed libvirt name, that a model decides.
    let mut usable = FeatureSet::EMPTY;
    for f in catalog().features() {
        let cpuid = matches!(f.location, FeatureLocation::Cpuid { .. });
        if cpuid
            && f.qemu_name.is_some()
            && f.libvirt_name.as_ref().is_some_and(|n| known.contains(n))
        {
            usable.insert(f.id);
        }
    }
    usable = usable.difference(&not_model_controlled());
    let bases: Vec<FeatureSet> = [
        "Skylake-Server-v1",
        "Cascadelake-Server-v1",
        "Icelake-Server-v1",
        "Skylake-Server-v4",
    ]
    .iter()
    .filter_map(|m| models().get(m))
    .map(|m| m.features.intersection(&usable))
    .collect();
    // Hosts are written as libvirt's Haswell-noTSX plus their other features (virsh reads at most
    // 10 MB): its features are kept on every host.
    let Ok(haswell) = std::fs::read_to_string("/usr/share/libvirt/cpu_map/x86_Haswell-noTSX.xml")
    else {
        println!("SKIPPED: the installed libvirt has no Haswell-noTSX model");
        return ExitCode::SUCCESS;
    };
    let keep = FeatureSet::from_names(
        haswell
            .split("<feature name='")
            .skip(1)
            .filter_map(|s| s.split('\'').next()),
    )
    .0;
    if bases
        .iter()
        .any(|b| !keep.intersection(&usable).is_subset(b))
    {
        println!("FAILED: Haswell-noTSX is not a subset of every base model");
        return ExitCode::FAILURE;
    }
    let invtsc = catalog().lookup("invtsc");
    let mut rng = Rng::new(2026);
    let hosts: Vec<HostProfile> = (0..N_HOSTS)
        .map(|i| {
            let mut s = bases[rng.below(bases.len())];
            let ids: Vec<FeatureId> = s.difference(&keep).iter().collect();
            for _ in 0..rng.below(4) {
                if !ids.is_empty() {
                    s.remove(ids[rng.below(ids.len())]);
                }
            }
            if let Some(id) = invtsc {
                s.insert(id);
            }
            let mut p = profile(&format!("host{i:05}"), "GenuineIntel", s);
            p.cpu.family = 6;
            p.cpu.model = 85 + u32::try_from(i % 2).unwrap_or(0);
            p
        })
        .collect();

    let dir = std::env::temp_dir().join(format!("fleetcompat-virsh-bench-{}", std::process::id()));
    let profiles_dir = dir.join("profiles");
    if let Err(e) = std::fs::create_dir_all(&profiles_dir) {
        println!("SKIPPED: cannot create {}: {e}", profiles_dir.display());
        return ExitCode::FAILURE;
    }
    let mut xml = String::new();
    let mut fleet_file = String::new();
    for h in &hosts {
        let json = serde_json::to_string(h).unwrap_or_default();
        fleet_file.push_str(&json);
        fleet_file.push('\n');
        let _ = std::fs::write(profiles_dir.join(format!("{}.json", h.host_id)), json);
        xml.push_str("<cpu><arch>x86_64</arch><model>Haswell-noTSX</model><vendor>Intel</vendor>");
        for id in h.cpu.features.difference(&keep).iter() {
            if let Some(n) = &catalog().get(id).libvirt_name {
                xml.push_str(&format!("<feature name='{n}'/>"));
            }
        }
        xml.push_str("</cpu>\n");
    }
    let xml_path = dir.join("hosts.xml");
    let fleet_path = dir.join("fleet.jsonl");
    if let Err(e) = std::fs::write(&xml_path, &xml).and(std::fs::write(&fleet_path, &fleet_file)) {
        println!(
            "FAILED: cannot write the inputs under {}: {e}",
            dir.display()
        );
        return ExitCode::FAILURE;
    }

    // Where fleetcompat's time goes, in this process on one core: reading the files, parsing
    // them, the engine.
    {
        let t = Instant::now();
        let texts: Vec<String> = std::fs::read_dir(&profiles_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter_map(|e| std::fs::read_to_string(e.path()).ok())
                    .collect()
            })
            .unwrap_or_default();
        let read = t.elapsed();
        let t = Instant::now();
        let parsed: Vec<HostProfile> = texts
            .iter()
            .filter_map(|t| HostProfile::from_json(t).ok())
            .collect();
        let parse = t.elapsed();
        let t = Instant::now();
        let refs: Vec<&HostProfile> = parsed.iter().collect();
        let _ = baseline(&refs, &BaselineOptions::default());
        let engine = t.elapsed();
        println!(
            "  one core, in process: read {N_HOSTS} files {read:?}, parse {parse:?} ({} bytes of JSON), engine {engine:?}",
            texts.iter().map(String::len).sum::<usize>()
        );
    }

    // The three commands take turns, run after run, so that both tools meet the same moments
    // of a shared machine.
    let fleetcompat = Path::new(env!("CARGO_BIN_EXE_fleetcompat"));
    let run = |cmd: &mut Command| -> Result<(Duration, String), String> {
        let t = Instant::now();
        let out = cmd
            .output()
            .map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
        let time = t.elapsed();
        if !out.status.success() {
            return Err(format!(
                "{cmd:?}: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok((time, String::from_utf8_lossy(&out.stdout).into_owned()))
    };
    let (mut fleet_times, mut files_times, mut virsh_times) = (Vec::new(), Vec::new(), Vec::new());
    let (mut fleet_json, mut files_json, mut virsh_out) =
        (String::new(), String::new(), String::new());
    for _ in 0..RUNS {
        let command = |program: &Path, args: &[&str], input: &Path| {
            let mut c = Command::new(program);
            c.args(args).arg(input);
            c
        };
        let runs = [
            (
                &mut fleet_times,
                &mut fleet_json,
                command(fleetcompat, &["baseline", "--json"], &fleet_path),
            ),
            (
                &mut files_times,
                &mut files_json,
                command(fleetcompat, &["baseline", "--json"], &profiles_dir),
            ),
            (
                &mut virsh_times,
                &mut virsh_out,
                command(
                    Path::new("virsh"),
                    &["-c", "test:///default", "cpu-baseline", "--features"],
                    &xml_path,
                ),
            ),
        ];
        for (times, stdout, mut cmd) in runs {
            match run(&mut cmd) {
                Ok((time, out)) => {
                    times.push(time);
                    *stdout = out;
                }
                Err(e) => {
                    println!("FAILED: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
    }
    let (fleet_time, files_time) = (median(fleet_times.clone()), median(files_times.clone()));
    let _ = std::fs::remove_dir_all(&dir);

    let virsh_model = virsh_out
        .split("<model")
        .nth(1)
        .and_then(|s| s.split('>').nth(1))
        .and_then(|s| s.split('<').next())
        .unwrap_or("?")
        .to_owned();
    let mut virsh_set = FeatureSet::EMPTY;
    let mut unknown = Vec::new();
    for part in virsh_out.split("<feature ").skip(1) {
        let policy = part
            .split("policy='")
            .nth(1)
            .and_then(|s| s.split('\'').next());
        let name = part
            .split("name='")
            .nth(1)
            .and_then(|s| s.split('\'').next());
        if let (Some("require" | "force"), Some(n)) = (policy, name) {
            match catalog().lookup(n) {
                Some(id) => virsh_set.insert(id),
                None => unknown.push(n.to_owned()),
            }
        }
    }
    let virsh_cmp = virsh_set.difference(&non_migratable());
    let range = |t: &[Duration]| {
        let (lo, hi) = (t.iter().min(), t.iter().max());
        format!(
            "{:.0}-{:.0} ms",
            lo.map_or(0.0, |d| d.as_secs_f64() * 1e3),
            hi.map_or(0.0, |d| d.as_secs_f64() * 1e3)
        )
    };
    let v = median(virsh_times.clone());
    println!("baseline of {N_HOSTS} hosts, end to end (spawn to exit), median of {RUNS} runs");
    println!(
        "  virsh -c test:///default cpu-baseline --features hosts.xml: {v:?} ({}) -> {virsh_model}",
        range(&virsh_times)
    );
    let mut all_identical = true;
    for (what, time, times, json) in [
        (
            "fleetcompat baseline --json fleet.jsonl",
            fleet_time,
            &fleet_times,
            &fleet_json,
        ),
        (
            "fleetcompat baseline --json profiles/  ",
            files_time,
            &files_times,
            &files_json,
        ),
    ] {
        let answer: serde_json::Value = match serde_json::from_str(json) {
            Ok(a) => a,
            Err(e) => {
                println!("FAILED: {what} did not print a JSON baseline: {e}");
                return ExitCode::FAILURE;
            }
        };
        let model = answer["model"].as_str().unwrap_or("?");
        let n_hosts = answer["hosts"].as_array().map_or(0, Vec::len);
        let ours_set = serde_json::from_value::<FeatureSet>(answer["features"].clone())
            .unwrap_or(FeatureSet::EMPTY)
            .intersection(&usable);
        let identical = ours_set == virsh_cmp && unknown.is_empty() && n_hosts == N_HOSTS;
        all_identical &= identical;
        println!(
            "  {what}: {time:?} ({}) -> {model}, {n_hosts} hosts, {:.1}x faster (median over median), feature set identical: {identical}",
            range(times),
            v.as_secs_f64() / time.as_secs_f64().max(1e-9)
        );
        if !identical {
            println!(
                "    only fleetcompat: {:?}",
                ours_set.difference(&virsh_cmp).names()
            );
            println!(
                "    only virsh:       {:?}",
                virsh_cmp.difference(&ours_set).names()
            );
            println!("    unknown to the catalog: {unknown:?}");
        }
    }
    println!(
        "  (virsh's set minus the non-migratable {:?} fleetcompat leaves out)",
        virsh_set.intersection(&non_migratable()).names()
    );
    if all_identical {
        ExitCode::SUCCESS
    } else {
        println!("FAILED: the feature sets differ");
        ExitCode::FAILURE
    }
}
