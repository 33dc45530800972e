//! Several replicas, one PostgreSQL: two real `fleetcompat serve --db postgres://…` processes on
//! one database (a throwaway cluster of Debian's `postgresql`, started here); an upload to one is
//! in the other's graph and verdicts within a second, without restarting or polling it harder.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Server, agent, start};
use store::testing::PgCluster;

const TOKEN: &str = "replica-token";

fn upload(server: &Server, profile: &shared::profile::HostProfile) -> serde_json::Value {
    let mut resp = agent()
        .post(&format!("{}/api/v1/hosts", server.url))
        .header("Authorization", &format!("Bearer {TOKEN}"))
        .header("Content-Type", "application/json")
        .send(serde_json::to_string(profile).expect("json").as_bytes())
        .expect("upload");
    assert!(resp.status().is_success(), "upload: {}", resp.status());
    serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json")
}

fn get(server: &Server, path: &str) -> (u16, serde_json::Value) {
    let mut resp = agent()
        .get(&format!("{}{path}", server.url))
        .call()
        .expect("get");
    let status = resp.status().as_u16();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&body).unwrap_or_default())
}

/// Polls `check` on `server` until it holds; panics after `within`. Returns the time it took.
fn until(within: Duration, what: &str, mut check: impl FnMut() -> bool) -> Duration {
    let t = Instant::now();
    while !check() {
        assert!(t.elapsed() < within, "{what}: not seen within {within:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
    t.elapsed()
}

#[test]
fn an_upload_to_one_replica_is_in_the_other_replicas_graph_and_verdicts_within_a_second() {
    let cluster = PgCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let url = rt.block_on(cluster.fresh_database()).expect("database");
    let a = start(Path::new(&url), TOKEN);
    let b = start(Path::new(&url), TOKEN);

    let demo = backend::demo::demo_profiles("2026-12-01T00:00:00Z").expect("demo");
    // Two hosts of different processors, so the verdict has something to say.
    let first = demo[0].clone();
    let second = demo
        .iter()
        .find(|p| shared::class::class_id(p) != shared::class::class_id(&first))
        .expect("a second class in the demo fleet")
        .clone();

    // B answers its graph first, so its fleet cache is warm and must be refreshed, not built.
    let (status, graph) = get(&b, "/api/v1/graph");
    assert_eq!(status, 200);
    assert_eq!(graph["n_hosts"], 0);

    assert_eq!(upload(&a, &first)["version"], 1);
    let took = until(
        Duration::from_secs(1),
        "the first host in B's graph",
        || get(&b, "/api/v1/graph").1["n_hosts"] == 1,
    );
    eprintln!("B's graph had A's upload after {took:?}");

    upload(&a, &second);
    let path = format!(
        "/api/v1/compat?from={}&to={}",
        first.host_id, second.host_id
    );
    let mut verdict_on_b = serde_json::Value::Null;
    until(
        Duration::from_secs(1),
        "a verdict on B for A's hosts",
        || {
            let (status, v) = get(&b, &path);
            verdict_on_b = v;
            status == 200
        },
    );
    until(Duration::from_secs(1), "both hosts in B's graph", || {
        get(&b, "/api/v1/graph").1["n_hosts"] == 2
    });
    // Both replicas say the same.
    let (status, verdict_on_a) = get(&a, &path);
    assert_eq!(status, 200);
    assert_eq!(verdict_on_a, verdict_on_b);
    assert!(verdict_on_b["compatible"].is_boolean());
    let (_, pools_a) = get(&a, "/api/v1/pools");
    let (_, pools_b) = get(&b, "/api/v1/pools");
    assert_eq!(pools_a, pools_b);

    // The other way round, and a new version of a known host.
    let mut changed = first.clone();
    changed.labels.insert("rack".into(), "r9".into());
    assert_eq!(upload(&b, &changed)["version"], 2);
    until(Duration::from_secs(1), "B's new version on A", || {
        let (status, host) = get(&a, &format!("/api/v1/hosts/{}", first.host_id));
        status == 200 && host.to_string().contains("r9")
    });
    until(
        Duration::from_secs(1),
        "B's new version in A's graph",
        || get(&a, "/api/v1/graph").1.to_string().contains("r9"),
    );
}
