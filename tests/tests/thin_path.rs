//! The walking skeleton's thin path without a browser: the real collector probes this machine and
//! posts to the real server; a script reads the host list and a verdict.

use e2e as support;

use support::{Server, agent};

#[test]
fn collector_posts_and_a_script_reads_hosts_and_a_verdict() {
    let server = Server::start(true);
    let out = server.collector_post("e2e-this-host");
    assert!(
        out.status.success(),
        "collector failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (status, hosts) = server.get_json("/api/v1/hosts");
    assert_eq!(status, 200);
    let n_hosts = hosts["n_hosts"].as_u64().expect("n_hosts");
    let list = hosts["hosts"].as_array().expect("hosts");
    assert_eq!(n_hosts as usize, list.len());
    // The demo fleet (about 200 hosts) plus this machine.
    assert!(n_hosts > 150, "only {n_hosts} hosts");
    let me = list
        .iter()
        .find(|h| h["host_id"] == "e2e-this-host")
        .expect("this machine is listed");
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("/proc/cpuinfo");
    let vendor = me["vendor"].as_str().expect("vendor");
    assert!(
        cpuinfo.contains(vendor),
        "vendor {vendor} not in /proc/cpuinfo"
    );
    assert_eq!(me["labels"]["cluster"], "e2e");

    // A known incompatible pair of the demo fleet: Skylake hosts whose microcode disabled TSX.
    let (status, v) = server.get_json("/api/v1/compat?from=fra-sky-01-01&to=fra-sky-02-01");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["compatible"], false);
    let features: Vec<&str> = v["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|r| r["evidence"]["feature"].as_str())
        .collect();
    assert!(
        features.contains(&"rtm") && features.contains(&"hle"),
        "{features:?}"
    );
    // The other way round works: the TSX-less hosts offer a subset.
    let (_, back) = server.get_json("/api/v1/compat?from=fra-sky-02-01&to=fra-sky-01-01");
    assert_eq!(back["compatible"], true, "{back}");

    // This machine against itself: a host-model guest (what never migrates left out) can move.
    let (_, own) =
        server.get_json("/api/v1/compat?from=e2e-this-host&to=e2e-this-host&cpu=host-model");
    assert_eq!(own["compatible"], true, "{own}");
    // So can a host-passthrough guest: QEMU's default migratable=on leaves invtsc out.
    let rules_of = |v: &serde_json::Value| -> Vec<String> {
        v["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .filter_map(|r| r["rule"].as_str().map(str::to_owned))
            .collect()
    };
    let (_, raw) = server.get_json("/api/v1/compat?from=e2e-this-host&to=e2e-this-host");
    let (_, profile) = server.get_json("/api/v1/hosts/e2e-this-host");
    let offers_invtsc = profile["kvm"]["guest_features"]
        .as_array()
        .expect("guest_features")
        .iter()
        .any(|f| f == "invtsc");
    assert_eq!(raw["compatible"], true, "{raw}");
    assert_eq!(
        rules_of(&raw),
        if offers_invtsc {
            vec!["cpu.non-migratable-left-out"]
        } else {
            vec![]
        },
        "a host against itself has no other reason"
    );
    // With migratable=off the guest sees invtsc, if the host offers it, and QEMU refuses to
    // migrate that without a fixed tsc-frequency.
    let (_, all) =
        server.get_json("/api/v1/compat?from=e2e-this-host&to=e2e-this-host&migratable=false");
    assert_eq!(all["compatible"], !offers_invtsc, "{all}");
    assert_eq!(
        rules_of(&all),
        if offers_invtsc {
            vec!["cpu.invtsc-without-tsc-frequency"]
        } else {
            vec![]
        }
    );
}

#[test]
fn uploads_need_the_token_and_bad_requests_are_named() {
    let server = Server::start(false);
    let body = r#"{"schema_version": 1}"#;
    let resp = agent()
        .post(&format!("{}/api/v1/hosts", server.url))
        .header("content-type", "application/json")
        .send(body)
        .expect("request");
    assert_eq!(resp.status(), 401);

    let mut resp = agent()
        .post(&format!("{}/api/v1/hosts", server.url))
        .header("authorization", &format!("Bearer {}", server.token))
        .send(r#"{"schema_version": 99, "host_id": "x"}"#)
        .expect("request");
    assert_eq!(resp.status(), 400);
    let err: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    assert_eq!(err["error"]["code"], "unsupported_schema_version");
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("99")
    );

    let (status, err) = server.get_json("/api/v1/compat?from=nope&to=nope");
    assert_eq!(status, 404);
    assert!(
        err["error"]["message"]
            .as_str()
            .expect("message")
            .contains("nope")
    );
    let (_, hosts) = server.get_json("/api/v1/hosts");
    assert_eq!(hosts["n_hosts"], 0, "nothing was stored by refused uploads");
}
