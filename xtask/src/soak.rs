//! `cargo xtask soak [--clients N] [--seconds S]`: build the release server and the soak client
//! (`backend/examples/soak/`), then run it: N concurrent clients for S seconds against a real
//! `fleetcompat serve` on loopback, kill -9 in the middle, restart, every acknowledged upload
//! checked afterwards. Exits non-zero on any error or loss. Results go in BENCHMARKS.md ("Soak").

use super::{Result, done, run, step, target_dir};

/// Numeric options passed through to the soak program (`--mix` takes kind=weight pairs,
/// `--keep` nothing).
const VALUE_OPTIONS: [&str; 5] = [
    "--clients",
    "--seconds",
    "--kill-at",
    "--down-ms",
    "--think-ms",
];

pub fn cmd_soak(args: &[String]) -> Result<()> {
    let mut pass = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--keep" {
            pass.push(a.clone());
        } else if a == "--mix" {
            // kind=weight,...: checked by the soak program, which names the kinds.
            let v = it
                .next()
                .ok_or("--mix needs kind=weight pairs, e.g. graph=0,pools=0")?;
            pass.extend([a.clone(), v.clone()]);
        } else if VALUE_OPTIONS.contains(&a.as_str()) {
            let v = it
                .next()
                .ok_or_else(|| format!("{a} needs a number, e.g. {a} 60"))?;
            if v.parse::<u64>().is_err() {
                return Err(format!("{a} takes a whole number, not '{v}'"));
            }
            pass.extend([a.clone(), v.clone()]);
        } else {
            return Err(format!("unknown option '{a}' for soak\n\n{}", super::USAGE));
        }
    }
    let t = step("building the release server and the soak client");
    super::build_release_server(Some("soak"))?;
    done(t);
    let release = target_dir().join("release");
    let t = step("soak: clients against a real server on 127.0.0.1, kill -9 in the middle");
    run(std::process::Command::new(release.join("examples/soak"))
        .arg("--bin")
        .arg(release.join("fleetcompat"))
        .args(&pass))
    .map_err(|e| format!("{e}: the soak found errors or lost uploads (its report is above)"))?;
    done(t);
    eprintln!(
        "\nrecord the figures in BENCHMARKS.md (Soak) with the machine, the date and the load"
    );
    Ok(())
}
