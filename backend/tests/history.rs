//! History through the real binary: guests kept apart from hardware versions (an upload that
//! changes only guests is `changed` without a new version), retention flags of `serve`, and the
//! command line's `--db` on a PostgreSQL URL.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, agent, server_binary, start, start_with};
use shared::profile::HostProfile;
use shared::vms::{HostCapacity, HostGuests, Vm, VmDefinition, VmSource, VmState};

const TOKEN: &str = "history-token";

fn upload(server: &Server, p: &HostProfile) -> serde_json::Value {
    let mut resp = agent()
        .post(&format!("{}/api/v1/hosts", server.url))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .header("Content-Type", "application/json")
        .send(serde_json::to_string(p).expect("json").as_bytes())
        .expect("upload");
    assert!(resp.status().is_success(), "upload: {}", resp.status());
    serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json")
}

fn get(server: &Server, path: &str) -> serde_json::Value {
    let mut resp = agent()
        .get(&format!("{}{path}", server.url))
        .call()
        .expect("get");
    assert_eq!(resp.status(), 200, "{path}");
    serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json")
}

fn with_guests(mut p: HostProfile, vcpus: u32) -> HostProfile {
    p.guests = Some(HostGuests {
        capacity: HostCapacity {
            logical_cpus: 32,
            memory_mib: 131_072,
        },
        vms: vec![Vm {
            id: "6c7f0a4e-0000-4000-8000-000000000001".into(),
            name: "web".into(),
            source: VmSource::Libvirt,
            state: VmState::Running,
            vcpus,
            memory_mib: 4096,
            definition: VmDefinition::DomainXml(
                "<domain type='kvm'><name>web</name></domain>".into(),
            ),
        }],
    });
    p
}

fn demo_host() -> HostProfile {
    backend::demo::demo_profiles("2026-12-01T00:00:00Z").expect("demo")[0].clone()
}

#[test]
fn an_upload_that_changes_only_guests_is_changed_without_a_new_version() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = start(&dir.path().join("fleet.db"), TOKEN);
    let host = demo_host();
    let id = host.host_id.clone();
    let up = upload(&server, &with_guests(host.clone(), 2));
    assert_eq!(
        (up["version"].as_u64(), up["changed"].as_bool()),
        (Some(1), Some(true))
    );
    let mut later = with_guests(host.clone(), 4);
    later.collected_at = "2026-12-02T00:00:00Z".into();
    let up = upload(&server, &later);
    assert_eq!(
        (up["version"].as_u64(), up["changed"].as_bool()),
        (Some(1), Some(true))
    );
    let shown = get(&server, &format!("/api/v1/hosts/{id}"));
    assert_eq!(shown["guests"]["vms"][0]["vcpus"], 4, "{shown}");
    // Without guests: nothing changes, and the guests stay.
    let up = upload(&server, &host);
    assert_eq!(up["changed"].as_bool(), Some(false));
    assert_eq!(
        get(&server, &format!("/api/v1/hosts/{id}"))["guests"]["vms"][0]["vcpus"],
        4
    );
    let versions = get(&server, &format!("/api/v1/hosts/{id}/versions"));
    assert_eq!(
        versions.to_string().matches("\"version\"").count(),
        1,
        "{versions}"
    );
}

#[test]
fn serve_keeps_the_newest_versions_its_flags_ask_for() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fleet.db");
    let host = demo_host();
    let id = host.host_id.clone();
    {
        let server = start(&db, TOKEN);
        for n in 0..5 {
            let mut p = host.clone();
            p.labels.insert("n".into(), n.to_string());
            assert_eq!(upload(&server, &p)["version"].as_u64(), Some(n + 1));
        }
    }
    let server = start_with(&db, TOKEN, &["--keep-versions", "2"], None);
    let path = format!("/api/v1/hosts/{id}/versions");
    let t = Instant::now();
    loop {
        let v = get(&server, &path).to_string();
        if v.matches("\"version\"").count() == 2 {
            assert!(
                v.contains("\"version\":5") && v.contains("\"version\":4"),
                "{v}"
            );
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "retention did not run: {v}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        get(&server, &format!("/api/v1/hosts/{id}"))["labels"]["n"],
        "4"
    );
}

#[test]
fn the_command_line_reads_hosts_from_postgres() {
    let cluster = store::testing::PgCluster::start()
        .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let url = rt.block_on(cluster.fresh_database()).expect("database");
    let server = start(Path::new(&url), TOKEN);
    for p in backend::demo::demo_profiles("2026-11-22T00:00:00Z").expect("demo") {
        if p.host_id.starts_with("fra-sky-0") {
            upload(&server, &p);
        }
    }
    let out = Command::new(server_binary())
        .args([
            "compare",
            "fra-sky-01-01",
            "fra-sky-02-01",
            "--json",
            "--db",
            &url,
        ])
        .output()
        .expect("run fleetcompat compare");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("verdict json");
    assert_eq!(v["compatible"], false);
    // A wrong password is an error that names the database without the password.
    let bad = url
        .replace("fleetcompat@", "fleetcompat:hunter2@")
        .replace("/t0?", "/nope?");
    let out = Command::new(server_binary())
        .args(["compare", "a", "b", "--db", &bad])
        .output()
        .expect("run fleetcompat compare");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("hunter2"), "the password leaked: {err}");
    assert!(err.contains("nope"), "{err}");
}
