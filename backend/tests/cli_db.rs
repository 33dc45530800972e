//! The engine subcommands read hosts from the database (`--db PATH` with host ids); `export`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn binary() -> PathBuf {
    std::env::var_os("FLEETCOMPAT_BIN_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_fleetcompat")),
        |d| PathBuf::from(d).join("fleetcompat"),
    )
}

fn run(db: &Path, args: &[&str]) -> Output {
    Command::new(binary())
        .args(args)
        .arg("--db")
        .arg(db)
        .output()
        .expect("run fleetcompat")
}

#[tokio::test]
async fn compare_and_export_read_host_ids_from_the_database() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fleet.db");
    {
        let store = backend::Store::open(&db).await.expect("open");
        for p in backend::demo::demo_profiles("2026-11-22T00:00:00Z").expect("demo") {
            if p.host_id.starts_with("fra-sky-0") {
                store
                    .upsert(&p, "2026-11-22T00:00:00Z")
                    .await
                    .expect("upsert");
            }
        }
    }
    let out = run(
        &db,
        &["compare", "fra-sky-01-01", "fra-sky-02-01", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verdict json");
    assert_eq!(v["compatible"], false);
    assert!(v["reasons"].to_string().contains("rtm"));
    let out = run(&db, &["compare", "fra-sky-02-01", "fra-sky-01-01"]);
    assert_eq!(out.status.code(), Some(0));

    let out = run(
        &db,
        &[
            "export",
            "fra-sky-01-01",
            "fra-sky-02-01",
            "--format",
            "qemu",
        ],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.starts_with("-cpu ") && text.contains("Skylake"),
        "{text}"
    );
    let out = run(
        &db,
        &[
            "export",
            "fra-sky-01-01",
            "fra-sky-02-01",
            "--format",
            "libvirt",
        ],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("<cpu mode='custom'"));
    let out = run(
        &db,
        &[
            "export",
            "--graph",
            "--format",
            "dot",
            "fra-sky-01-01",
            "fra-sky-02-01",
        ],
    );
    let dot = String::from_utf8_lossy(&out.stdout);
    assert!(
        dot.starts_with("digraph") && (dot.contains("c1 -> c0") || dot.contains("c0 -> c1")),
        "{dot}"
    );

    let out = run(&db, &["compare", "fra-sky-01-01", "no-such-host"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-host"));
    let out = Command::new(binary())
        .args(["baseline", "a", "b", "--db", "/nonexistent/fleet.db"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}
