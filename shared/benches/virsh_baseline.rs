//! The baseline of 10,000 hosts, fleetcompat against `virsh -c test:///default cpu-baseline`
//! (Debian's libvirt-clients), side by side on the same hosts, end to end:
//! - fleetcompat: read 10,000 host profile JSON files, compute the baseline, write it as JSON;
//! - virsh: one process reading the 10,000 hosts as `<cpu>` elements, `--features` to expand.
//!
//! The feature sets must be identical, except for the non-migratable features that fleetcompat
//! leaves out by definition (libvirt's test driver does not support `--migratable`).
//! Run: `cargo bench -p shared --bench virsh_baseline` (needs `virsh`; says SKIPPED without it).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use shared::baseline::{BaselineOptions, baseline};
use shared::catalog::{FeatureId, FeatureLocation, catalog};
use shared::featureset::FeatureSet;
use shared::models::{models, not_model_controlled};
use shared::profile::HostProfile;
use shared::testing::{Rng, profile};
use shared::verdict::non_migratable;

const N_HOSTS: usize = 10_000;
const RUNS: usize = 3;

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

fn main() {
    if Command::new("virsh").arg("--version").output().is_err() {
        println!("SKIPPED: virsh not installed (apt-get install libvirt-clients)");
        return;
    }
    let Some(known) = installed_libvirt_features() else {
        println!("SKIPPED: /usr/share/libvirt/cpu_map/x86_features.xml not found");
        return;
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
        return;
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
        return;
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
        return;
    }
    let mut xml = String::new();
    for h in &hosts {
        let json = serde_json::to_string(h).unwrap_or_default();
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
    let _ = std::fs::write(&xml_path, &xml);

    // fleetcompat, end to end: read every profile, baseline, JSON out.
    let ours = |dir: &Path| -> Option<(shared::baseline::Baseline, String)> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path())
            .collect();
        files.sort();
        let profiles: Vec<HostProfile> = files
            .iter()
            .filter_map(|f| HostProfile::from_json(&std::fs::read_to_string(f).ok()?).ok())
            .collect();
        let refs: Vec<&HostProfile> = profiles.iter().collect();
        let b = baseline(&refs, &BaselineOptions::default()).ok()?;
        let json = serde_json::to_string_pretty(&b).ok()?;
        (profiles.len() == N_HOSTS).then_some((b, json))
    };
    // Where the time goes: reading the files, parsing them, the engine.
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
            "  fleetcompat breakdown: read {read:?}, parse {parse:?}, engine {engine:?} ({} bytes of JSON)",
            texts.iter().map(String::len).sum::<usize>()
        );
        // The same hosts as one fleet file (JSON Lines), parsed straight into the struct.
        let jsonl = texts.join("\n");
        let path = dir.join("fleet.jsonl");
        let _ = std::fs::write(&path, &jsonl);
        let t = Instant::now();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let parsed: Vec<HostProfile> = text
            .lines()
            .filter_map(|l| serde_json::from_str::<HostProfile>(l).ok())
            .filter(|p| p.schema_version == shared::SCHEMA_VERSION && p.validate().is_ok())
            .collect();
        let refs: Vec<&HostProfile> = parsed.iter().collect();
        let b = baseline(&refs, &BaselineOptions::default());
        let json = b
            .as_ref()
            .ok()
            .and_then(|b| serde_json::to_string_pretty(b).ok());
        println!(
            "  fleetcompat, one JSON Lines fleet file, direct parse: {:?} ({} hosts, {} bytes out)",
            t.elapsed(),
            parsed.len(),
            json.map_or(0, |j| j.len())
        );
    }
    let mut ours_times = Vec::new();
    let mut our_result = None;
    for _ in 0..RUNS {
        let t = Instant::now();
        our_result = ours(&profiles_dir);
        ours_times.push(t.elapsed());
    }
    let Some((ours_b, _)) = our_result else {
        println!("FAILED: fleetcompat could not read the profiles or compute a baseline");
        return;
    };

    let mut virsh_times = Vec::new();
    let mut virsh_out = String::new();
    for _ in 0..RUNS {
        let t = Instant::now();
        let out = Command::new("virsh")
            .args(["-c", "test:///default", "cpu-baseline", "--features"])
            .arg(&xml_path)
            .output();
        virsh_times.push(t.elapsed());
        match out {
            Ok(o) if o.status.success() => {
                virsh_out = String::from_utf8_lossy(&o.stdout).into_owned()
            }
            Ok(o) => {
                println!("FAILED: virsh: {}", String::from_utf8_lossy(&o.stderr));
                return;
            }
            Err(e) => {
                println!("FAILED: virsh: {e}");
                return;
            }
        }
    }
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
    let ours_set = ours_b.features.intersection(&usable);
    let virsh_cmp = virsh_set.difference(&non_migratable());
    let identical = ours_set == virsh_cmp && unknown.is_empty();
    let (o, v) = (median(ours_times), median(virsh_times));
    println!("baseline of {N_HOSTS} hosts, median of {RUNS} runs, end to end");
    println!(
        "  fleetcompat (read {N_HOSTS} profile JSON files, baseline, JSON out): {o:?}  -> {}",
        ours_b.model
    );
    println!(
        "  virsh -c test:///default cpu-baseline --features (one process):      {v:?}  -> {virsh_model}"
    );
    println!(
        "  speed-up: {:.1}x",
        v.as_secs_f64() / o.as_secs_f64().max(1e-9)
    );
    println!(
        "  feature sets identical (virsh's minus the non-migratable {:?} fleetcompat leaves out): {identical}",
        virsh_set.intersection(&non_migratable()).names()
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
