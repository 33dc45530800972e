//! Through the real server: the QEMU lists uploads repeat are decoded once
//! (`shared::intern::memo`), and what is stored is what was sent. Profiles of the fleet
//! generator (the demo's real processors, QEMU's real machine and CPU model lists) are uploaded
//! as the collector sends them, then again pretty-printed: the lists are then other texts, and
//! the server must still see the same hardware (the content hash of the same stored JSON).

mod common;

use std::time::Duration;

use backend::fleetgen::FleetGen;
use shared::profile::HostProfile;

const TOKEN: &str = "upload-lists-token";

fn upload(url: &str, body: &str) -> serde_json::Value {
    let mut resp = common::agent()
        .post(&format!("{url}/api/v1/hosts"))
        .header("Content-Type", "application/json")
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .send(body.as_bytes())
        .expect("post");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("receipt")
}

fn metric(url: &str, name: &str) -> u64 {
    let text = common::agent()
        .get(&format!("{url}/metrics"))
        .call()
        .expect("metrics")
        .body_mut()
        .read_to_string()
        .expect("metrics text");
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /metrics:\n{text}"))
}

#[test]
fn repeated_lists_are_decoded_once_and_stored_as_sent() {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = common::start(&dir.path().join("fleet.db"), TOKEN);
    let fleetgen = FleetGen::new(5).expect("generator");
    let hosts: Vec<HostProfile> = (0..60).map(|i| fleetgen.host(i)).collect();
    let with_lists = hosts
        .iter()
        .filter(|p| p.qemu.iter().any(|q| !q.cpu_models.is_empty()))
        .count();
    assert!(
        with_lists >= 30,
        "{with_lists} of 60 generated hosts have QEMU lists"
    );

    for p in &hosts {
        let r = upload(&server.url, &serde_json::to_string(p).expect("json"));
        assert_eq!(r["changed"], true, "{r}");
    }
    let hits = metric(&server.url, "fleetcompat_upload_list_hits_total");
    let misses = metric(&server.url, "fleetcompat_upload_list_misses_total");
    assert!(misses >= 1, "lists decoded: {misses}");
    // Sixty hosts of a few processors and QEMU releases repeat their lists.
    assert!(
        hits > misses,
        "lists found decoded: {hits}, decoded: {misses}"
    );
    assert!(metric(&server.url, "fleetcompat_upload_lists") >= 1);

    // The same hardware pretty-printed: other texts for every list, the same stored JSON.
    for p in &hosts {
        let r = upload(&server.url, &serde_json::to_string_pretty(p).expect("json"));
        assert_eq!(
            r["changed"], false,
            "{} re-sent pretty-printed: {r}",
            p.host_id
        );
    }
    // And what the server gives back is what was sent.
    for p in hosts.iter().step_by(7) {
        let mut resp = common::agent()
            .get(&format!("{}/api/v1/hosts/{}", server.url, p.host_id))
            .config()
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .call()
            .expect("get host");
        let stored = HostProfile::from_json(&resp.body_mut().read_to_string().expect("text"))
            .expect("stored profile");
        let mut sent = p.clone();
        sent.guests = None;
        let mut got = stored;
        got.guests = None;
        assert_eq!(got, sent, "{}", p.host_id);
    }
}
