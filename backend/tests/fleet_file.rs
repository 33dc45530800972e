//! Fleet files: `GET /api/v1/fleet.jsonl` writes every host's newest profile a line, and the
//! command line reads such files (and folders of profiles) on every core, in their order.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use backend::{AppState, Store, app, demo};
use shared::profile::HostProfile;
use tower::ServiceExt;

fn binary() -> PathBuf {
    std::env::var_os("FLEETCOMPAT_BIN_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_BIN_EXE_fleetcompat")),
        |d| PathBuf::from(d).join("fleetcompat"),
    )
}

fn fleetcompat(args: &[&str], inputs: &[&Path]) -> Output {
    Command::new(binary())
        .args(args)
        .args(inputs)
        .output()
        .expect("run fleetcompat")
}

/// The JSON of a run that judged its hosts (exit 0, or 1 for `graph` with several pools).
fn stdout_json(out: &Output) -> serde_json::Value {
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "fleetcompat failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json on stdout")
}

/// The hosts of `fleetcompat baseline --json INPUT`, in its order.
fn baseline_hosts(input: &Path) -> Vec<String> {
    let b = stdout_json(&fleetcompat(&["baseline", "--json"], &[input]));
    b["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .filter_map(|h| h.as_str().map(str::to_owned))
        .collect()
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, Option<String>, String) {
    let resp = app(state.clone())
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    (
        status,
        content_type,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn the_api_writes_a_fleet_file_the_command_line_reads_like_a_folder() {
    let store = Store::in_memory().await.expect("in-memory store");
    let profiles = demo::demo_profiles("2026-11-22T00:00:00Z").expect("demo fleet");
    for p in &profiles {
        store
            .upsert(p, "2026-11-22T00:00:00Z")
            .await
            .expect("upsert");
    }
    let state = AppState::new(store);

    let (status, content_type, text) = get(&state, "/api/v1/fleet.jsonl").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type.as_deref(), Some("application/x-ndjson"));
    let exported: Vec<HostProfile> = text
        .lines()
        .map(|l| HostProfile::from_json(l).expect("each line is a profile"))
        .collect();
    assert_eq!(exported.len(), profiles.len());
    let mut ids: Vec<&str> = exported.iter().map(|p| p.host_id.as_str()).collect();
    assert!(ids.is_sorted(), "ordered by host id");
    ids.dedup();
    assert_eq!(ids.len(), profiles.len(), "one line a host");
    for p in &profiles {
        let e = exported
            .iter()
            .find(|e| e.host_id == p.host_id)
            .expect("every host exported");
        assert_eq!(e, p, "{} comes back unchanged", p.host_id);
    }

    let (status, _, sky) = get(&state, "/api/v1/fleet.jsonl?label=cluster=fra-sky-01").await;
    assert_eq!(status, StatusCode::OK);
    let n_sky = profiles
        .iter()
        .filter(|p| p.labels.get("cluster").map(String::as_str) == Some("fra-sky-01"))
        .count();
    assert!(n_sky > 0);
    assert_eq!(sky.lines().count(), n_sky);
    let (status, _, body) = get(&state, "/api/v1/fleet.jsonl?label=cluster").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("not key=value"), "{body}");

    // The same hosts as one fleet file and as a folder of profile files.
    let dir = tempfile::tempdir().expect("temp dir");
    let fleet_path = dir.path().join("fleet.jsonl");
    std::fs::write(&fleet_path, &text).expect("write fleet file");
    let folder = dir.path().join("profiles");
    std::fs::create_dir(&folder).expect("folder");
    for p in &exported {
        std::fs::write(
            folder.join(format!("{}.json", p.host_id)),
            serde_json::to_string(p).expect("json"),
        )
        .expect("write profile");
    }
    for cmd in [&["baseline", "--json"][..], &["graph", "--json"][..]] {
        let from_file = stdout_json(&fleetcompat(cmd, &[&fleet_path]));
        let from_folder = stdout_json(&fleetcompat(cmd, &[&folder]));
        assert_eq!(
            from_file, from_folder,
            "{cmd:?}: fleet file and folder agree"
        );
    }
    assert_eq!(
        baseline_hosts(&fleet_path),
        ids,
        "every host, in file order"
    );
}

/// A fleet file several times larger than the block a parsing thread takes: the hosts come back
/// complete and in file order.
#[test]
fn a_large_fleet_file_keeps_every_host_in_order() {
    let profiles = demo::demo_profiles("2026-11-22T00:00:00Z").expect("demo fleet");
    let mut text = String::new();
    let mut ids = Vec::new();
    // Descending ids, so that an order from sorting would differ from the file's.
    for copy in (0..4).rev() {
        for p in profiles.iter().rev() {
            let mut p = p.clone();
            p.host_id = format!("c{copy}-{}", p.host_id);
            text.push_str(&serde_json::to_string(&p).expect("json"));
            text.push('\n');
            if copy == 2 && ids.len() == 400 {
                text.push_str("\n  \n"); // blank lines are allowed
            }
            ids.push(p.host_id.clone());
            if copy == 1 && ids.len() == 500 {
                // One line longer than a parsing thread's block.
                let mut big = p.clone();
                big.host_id = "one-long-line".into();
                big.labels.insert("note".into(), "x".repeat(600 << 10));
                text.push_str(&serde_json::to_string(&big).expect("json"));
                text.push('\n');
                ids.push(big.host_id);
            }
        }
    }
    assert!(text.len() > 3 << 20, "{} bytes", text.len());
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("big.jsonl");
    std::fs::write(&path, &text).expect("write");
    assert_eq!(baseline_hosts(&path), ids);

    // An error deep in the file names its line exactly, counting blank lines.
    let mut lines: Vec<&str> = text.lines().collect();
    let bad_line = lines.len() - 7;
    lines[bad_line - 1] = "{\"schema_version\": 1, \"host_id\": \"broken\"";
    std::fs::write(&path, lines.join("\n")).expect("write");
    let out = fleetcompat(&["baseline"], &[&path]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("big.jsonl line {bad_line}:")),
        "{err}"
    );
}

/// `fleetcompat graph fleet.jsonl | head`: the reader goes away early; the command ends quietly
/// instead of panicking on the broken pipe.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fleet.jsonl");
    let profiles = demo::demo_profiles("2026-11-22T00:00:00Z").expect("demo fleet");
    let text: String = profiles
        .iter()
        .map(|p| serde_json::to_string(p).expect("json") + "\n")
        .collect();
    std::fs::write(&path, text).expect("write");
    for args in [
        &["graph"][..],
        &["baseline", "--json"][..],
        &["export", "--graph", "--format", "dot"][..],
    ] {
        let mut child = Command::new(binary())
            .args(args)
            .arg(&path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        drop(child.stdout.take()); // the reader is gone before the first line
        let out = child.wait_with_output().expect("wait");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}

#[test]
fn bad_fleet_files_are_refused_naming_the_file_and_line() {
    let dir = tempfile::tempdir().expect("temp dir");
    let profiles = demo::demo_profiles("2026-11-22T00:00:00Z").expect("demo fleet");
    let line = |i: usize| serde_json::to_string(&profiles[i]).expect("json");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        format!(
            "{}\n{}\n{{\"schema_version\": 1, \"host_id\": \"x\"}}\n",
            line(0),
            line(1)
        ),
    )
    .expect("write");
    let out = fleetcompat(&["baseline"], &[&bad]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl line 3"), "{err}");

    let newer = dir.path().join("newer.ndjson");
    std::fs::write(
        &newer,
        line(0).replacen("\"schema_version\":1", "\"schema_version\":9", 1),
    )
    .expect("write");
    let out = fleetcompat(&["graph"], &[&newer]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("newer.ndjson line 1") && err.contains('9'),
        "{err}"
    );

    let binary = dir.path().join("binary.jsonl");
    let mut bytes = format!("{}\n", line(0)).into_bytes();
    bytes.extend_from_slice(b"\xff\xfe{}\n");
    std::fs::write(&binary, bytes).expect("write");
    let out = fleetcompat(&["baseline"], &[&binary]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("binary.jsonl line 2: not UTF-8"), "{err}");

    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "\n\n").expect("write");
    let out = fleetcompat(&["baseline"], &[&empty]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no hosts"), "{err}");

    let missing = dir.path().join("missing.jsonl");
    let out = fleetcompat(&["baseline"], &[&missing]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing.jsonl"), "{err}");
}
