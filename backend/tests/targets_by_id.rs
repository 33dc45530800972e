//! `fleetcompat targets --from ID`: the source host by id, from `--db`, from `--fleet`, or among
//! the candidates of a fleet file; the profile-file form still works. Each form must give the
//! verdicts `compare` gives for the same pairs.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use shared::profile::HostProfile;

fn binary() -> PathBuf {
    std::env::var_os("FLEETCOMPAT_BIN_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_fleetcompat")),
        |d| PathBuf::from(d).join("fleetcompat"),
    )
}

fn fleetcompat(args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .output()
        .expect("run fleetcompat")
}

/// `(to, compatible)` of each verdict of `targets --json`, and the exit code.
fn targets(args: &[&str]) -> (Vec<(String, bool)>, Option<i32>) {
    let out = fleetcompat(&[&["targets", "--json"], args].concat());
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "targets {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verdicts json");
    let verdicts = v
        .as_array()
        .expect("an array of verdicts")
        .iter()
        .map(|v| {
            assert_eq!(v["from"], FROM, "{v}");
            (
                v["to"].as_str().expect("to").to_owned(),
                v["compatible"].as_bool().expect("compatible"),
            )
        })
        .collect();
    (verdicts, out.status.code())
}

const FROM: &str = "fra-sky-02-01";

/// Demo hosts: two of each Skylake cluster (some with TSX, some without) and an AMD Zen 2, so
/// that some targets can be reached and some cannot.
fn hosts() -> Vec<HostProfile> {
    let hosts: Vec<HostProfile> = backend::demo::demo_profiles("2026-11-22T00:00:00Z")
        .expect("demo")
        .into_iter()
        .filter(|p| {
            let id = p.host_id.as_str();
            (id.starts_with("fra-sky-0") && (id.ends_with("-01") || id.ends_with("-02")))
                || id == "lon-zen2-01-01"
        })
        .collect();
    assert!(hosts.len() >= 3, "demo hosts: {}", hosts.len());
    assert!(hosts.iter().any(|h| h.host_id == FROM));
    hosts
}

fn write_fleet_file(path: &Path, hosts: &[HostProfile]) {
    let lines: Vec<String> = hosts
        .iter()
        .map(|h| serde_json::to_string(h).expect("profile json"))
        .collect();
    std::fs::write(path, lines.join("\n") + "\n").expect("write fleet file");
}

#[tokio::test]
async fn targets_from_an_id_in_the_database_or_a_fleet_file() {
    let dir = tempfile::tempdir().expect("temp dir");
    let hosts = hosts();
    let db = dir.path().join("fleet.db");
    {
        let store = backend::Store::open(&db).await.expect("open");
        for p in &hosts {
            store
                .upsert(p, "2026-11-22T00:00:00Z")
                .await
                .expect("upsert");
        }
    }
    let fleet = dir.path().join("fleet.jsonl");
    write_fleet_file(&fleet, &hosts);
    let (db, fleet) = (db.to_str().expect("path"), fleet.to_str().expect("path"));
    let ids: Vec<&str> = hosts.iter().map(|h| h.host_id.as_str()).collect();

    // What `compare` says of each pair: the reference every form of `targets` must give.
    let expected: Vec<(String, bool)> = ids
        .iter()
        .filter(|&&id| id != FROM)
        .map(|&to| {
            let code = fleetcompat(&["compare", FROM, to, "--db", db])
                .status
                .code();
            assert!(matches!(code, Some(0 | 1)), "compare {FROM} {to}: {code:?}");
            (to.to_owned(), code == Some(0))
        })
        .collect();
    assert!(
        expected.iter().any(|(_, ok)| *ok) && expected.iter().any(|(_, ok)| !*ok),
        "the hosts give both answers: {expected:?}"
    );

    // --from ID with --db, candidates by id too.
    let (by_db, code) = targets(&[&["--from", FROM, "--db", db], ids.as_slice()].concat());
    assert_eq!(by_db, expected);
    assert_eq!(code, Some(0));
    // --from ID among the hosts of a fleet file.
    assert_eq!(targets(&["--from", FROM, fleet]).0, expected);
    // --from ID with --fleet, candidates by id.
    let (by_fleet, _) = targets(&[&["--from", FROM, "--fleet", fleet], ids.as_slice()].concat());
    assert_eq!(by_fleet, expected);
    // The file form still works.
    let from_file = dir.path().join("from.json");
    let from = hosts.iter().find(|h| h.host_id == FROM).expect("from");
    std::fs::write(&from_file, serde_json::to_string(from).expect("json")).expect("write");
    assert_eq!(
        targets(&["--from", from_file.to_str().expect("path"), fleet]).0,
        expected
    );
    // `compare` takes ids from a fleet file too.
    let to = &expected[0];
    let out = fleetcompat(&["compare", FROM, &to.0, "--fleet", fleet]);
    assert_eq!(out.status.code(), Some(if to.1 { 0 } else { 1 }));

    // An id that is nowhere: exit 2, naming the id and where it was looked for.
    for (args, place) in [
        (vec!["--from", "no-such-host", fleet], "candidate hosts"),
        (vec!["--from", "no-such-host", "--db", db, FROM], "database"),
        (
            vec!["--from", "no-such-host", "--fleet", fleet, fleet],
            fleet,
        ),
    ] {
        let out = fleetcompat(&[&["targets"], args.as_slice()].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("'no-such-host' is neither a file nor a host id") && err.contains(place),
            "{args:?}: {err}"
        );
    }
}
