//! Writes the `profile` and `fleet` seeds of fuzz/corpus/ from the fuzz fleet (real libvirt
//! CPUID dumps, see src/fleet.rs) and from the `lscpu` seed (a partial profile), as the
//! server writes profiles: `cargo run -p fuzz --example seed-profiles`.

use std::path::Path;

fn main() -> Result<(), String> {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let hosts = fuzz::fleet::fleet();
    if hosts.len() != fuzz::fleet::FLEET_HOSTS {
        return Err("a host of the fuzz fleet does not import: run cargo test -p fuzz".into());
    }
    let json = |p: &shared::HostProfile| {
        serde_json::to_string(p).map_err(|e| format!("writing {}: {e}", p.host_id))
    };
    let write = |target: &str, name: &str, text: &str| -> Result<(), String> {
        let dir = corpus.join(target);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
    };
    for p in hosts.iter().take(2) {
        write("profile", &format!("{}.json", p.host_id), &json(p)?)?;
    }
    let lscpu_seed = corpus.join("lscpu").join("linux-rhel7-zen");
    let text = std::fs::read_to_string(&lscpu_seed).map_err(|e| {
        format!(
            "{}: {e} (run fuzz/make-seeds.py first)",
            lscpu_seed.display()
        )
    })?;
    let meta = shared::import::ImportMeta {
        host_id: "zen-lscpu".into(),
        ..Default::default()
    };
    let partial =
        shared::import::profile_from_dump(&text, None, meta).map_err(|e| e.to_string())?;
    write("profile", "zen-lscpu.json", &json(&partial)?)?;
    let mut lines = String::new();
    for p in hosts.iter().chain([&partial]) {
        lines.push_str(&json(p)?);
        lines.push('\n');
    }
    write("fleet", "fleet.jsonl", &lines)
}
