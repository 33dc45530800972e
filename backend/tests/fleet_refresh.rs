//! The fleet cache against a real SQLite database: after uploads, changes, deletions and new
//! hosts, the refreshed fleet holds exactly the store's newest profiles, its incremental graphs
//! equal `graph::build` from scratch, its names equal `naming::fleet_names`; and a request that
//! goes away while the fleet loads does not lose the load.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;

use backend::fleetgen::FleetGen;
use backend::{AppState, Store};
use shared::graph::build;
use shared::verdict::{GuestConfig, GuestCpu, Policy};

const AT: &str = "2026-12-06T00:00:00Z";

async fn state_with(hosts: &[shared::profile::HostProfile]) -> AppState {
    let store = Store::in_memory().await.expect("in-memory store");
    for p in hosts {
        store.upsert(p, AT).await.expect("upsert");
    }
    AppState::new(store)
}

fn guests() -> Vec<GuestConfig> {
    vec![
        GuestConfig::default(),
        GuestConfig {
            cpu: GuestCpu::HostModel,
            ..GuestConfig::default()
        },
        GuestConfig {
            cpu: GuestCpu::Named {
                model: "Skylake-Server-v4".into(),
                enable: vec![],
                disable: vec![],
            },
            ..GuestConfig::default()
        },
    ]
}

/// The fleet, graphs and names the cache gives equal what the store holds, built from scratch.
async fn check(state: &AppState, step: &str) {
    let fleet = state.cache.fleet(&state.store).await.expect("fleet");
    let stored = state.store.latest_profiles().await.expect("profiles");
    let ids: Vec<&str> = fleet.profiles.iter().map(|p| p.host_id.as_str()).collect();
    let want: Vec<&str> = stored.iter().map(|s| s.profile.host_id.as_str()).collect();
    assert_eq!(ids, want, "{step}: hosts");
    for (p, s) in fleet.profiles.iter().zip(&stored) {
        assert_eq!(**p, s.profile, "{step}: profile of {}", s.profile.host_id);
    }
    for (i, s) in stored.iter().enumerate() {
        assert_eq!(fleet.position(&s.profile.host_id), Some(i));
    }
    assert_eq!(fleet.position("no-such-host"), None);
    // Class ids kept per class number are every host's own.
    for (i, p) in fleet.profiles.iter().enumerate() {
        let id = shared::class::class_id(p);
        assert_eq!(
            *state.cache.class_id(&fleet, i),
            *id,
            "{step}: class id of {}",
            p.host_id
        );
        let first = state
            .cache
            .host_of_class(&fleet, &id)
            .expect("a host of the class");
        assert_eq!(shared::class::class_id(&fleet.profiles[first]), id);
        assert!(first <= i, "{step}: the first host of the class");
    }
    // The cache holds equal QEMU CPU model lists once (shared::intern), on the first load and
    // on every refresh: hosts with equal lists point at one list.
    let mut seen: Vec<&shared::intern::SharedList<shared::profile::QemuCpuModel>> = Vec::new();
    for q in fleet.profiles.iter().flat_map(|p| &p.qemu) {
        match seen.iter().find(|l| ***l == q.cpu_models) {
            Some(l) => assert!(
                shared::intern::SharedList::ptr_eq(l, &q.cpu_models),
                "{step}: an equal CPU model list held twice"
            ),
            None => seen.push(&q.cpu_models),
        }
    }
    assert!(
        seen.len() < fleet.profiles.len() / 4,
        "{step}: {} lists",
        seen.len()
    );
    // Cluster cards and model coverage, kept per cluster and per class across generations,
    // equal the ones made from scratch.
    let hosts: Vec<&shared::profile::HostProfile> = fleet.profiles.iter().map(|p| &**p).collect();
    let cards = backend::api::clusters::cards(state, &fleet, "cluster");
    let scratch = shared::clusters::cluster_cards(&hosts, "cluster", &Policy::default());
    assert_eq!(cards, scratch, "{step}: cluster cards");
    let coverage = backend::api::baseline::compute_coverage(state, &fleet).expect("coverage");
    let classes = shared::graph::group(&fleet.profiles);
    assert!(
        coverage.models.iter().any(|e| e.n_hosts > 0),
        "{step}: coverage"
    );
    for e in &coverage.models {
        let n: usize = classes
            .members
            .iter()
            .filter(|m| {
                shared::verdict::can_run_model(&fleet.profiles[m[0]], &e.model, &Policy::default())
            })
            .map(Vec::len)
            .sum();
        assert_eq!(e.n_hosts, n, "{step}: hosts running {}", e.model);
    }
    for guest in guests() {
        let policy = Policy::default();
        let g = state.cache.graph(&fleet, &guest, &policy);
        let scratch = build(&fleet.profiles, &guest, &policy);
        assert_eq!(*g, scratch, "{step}: graph for {guest:?}");
        let names = backend::api::graph::names_of(state, &fleet, &g);
        let fresh = shared::naming::fleet_names(&scratch, |h| fleet.get(h));
        assert_eq!(names, fresh, "{step}: names for {guest:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incremental_refresh_equals_the_fleet_from_scratch() {
    let store = Store::in_memory().await.expect("in-memory store");
    changes_then_check(store).await;
}

/// The same on PostgreSQL (a throwaway cluster of Debian's `postgresql`, started here).
#[test]
fn incremental_refresh_equals_the_fleet_from_scratch_on_postgresql() {
    let cluster = store::testing::PgCluster::start()
        .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let url = cluster.fresh_database().await.expect("database");
        let store = Store::open(&url).await.expect("store");
        changes_then_check(store).await;
    });
}

async fn changes_then_check(store: Store) {
    let fleetgen = FleetGen::new(11).expect("generator");
    let hosts: Vec<_> = (0..400).map(|i| fleetgen.host(i)).collect();
    for p in &hosts {
        store.upsert(p, AT).await.expect("upsert");
    }
    let state = AppState::new(store);
    check(&state, "first load").await;
    // A host takes another host's hardware (its class changes; maybe a class appears).
    let mut moved = fleetgen.host(3_001);
    moved.host_id = hosts[17].host_id.clone();
    state.store.upsert(&moved, AT).await.expect("upsert");
    check(&state, "a host changed").await;
    // The first host of its class changes (the class's representative moves).
    let mut first = hosts[0].clone();
    first.labels.insert("cluster".into(), "moved".into());
    state.store.upsert(&first, AT).await.expect("upsert");
    check(&state, "a first host changed").await;
    // A host that is not first in its class moves to another cluster: its class keeps its
    // members and first host, but its labels, its name and its pool's name change.
    let mut relabelled = hosts[123].clone();
    relabelled
        .labels
        .insert("cluster".into(), "somewhere-else".into());
    state.store.upsert(&relabelled, AT).await.expect("upsert");
    check(&state, "a label changed").await;
    // A host takes a processor of the other vendor and stays in its cluster: the cluster keeps
    // its members (the same ids), its card changes (its vendors).
    let stays = &hosts[30];
    let mut other = (30_000..)
        .map(|n| fleetgen.host(n))
        .find(|p| p.cpu.vendor != stays.cpu.vendor)
        .expect("a host of the other vendor");
    other.host_id = stays.host_id.clone();
    other.labels = stays.labels.clone();
    state.store.upsert(&other, AT).await.expect("upsert");
    check(&state, "a host's processor changed in its cluster").await;
    // New hosts, between others and at the end, some of new classes.
    for (i, at) in [(5_000, "host-000100a"), (7_777, "host-zzz")] {
        let mut p = fleetgen.host(i);
        p.host_id = at.into();
        state.store.upsert(&p, AT).await.expect("upsert");
    }
    check(&state, "hosts added").await;
    // Deleted hosts (a class may vanish).
    for h in [&hosts[1], &hosts[250]] {
        assert!(state.store.delete_host(&h.host_id).await.expect("delete"));
    }
    state.store.delete_host("host-zzz").await.expect("delete");
    check(&state, "hosts deleted").await;
    // Everything at once.
    for i in 0..40 {
        let mut p = fleetgen.host(10_000 + i);
        p.host_id = hosts[i * 9].host_id.clone();
        state.store.upsert(&p, AT).await.expect("upsert");
    }
    check(&state, "40 hosts changed").await;
    // In one refresh: hosts deleted next to changed and added ones, a host deleted and sent
    // again, and the fleet's first and last hosts.
    let ids: Vec<String> = state
        .store
        .latest_profiles()
        .await
        .expect("profiles")
        .into_iter()
        .map(|s| s.profile.host_id)
        .collect();
    let (first, last) = (ids[0].clone(), ids[ids.len() - 1].clone());
    for id in [&first, &ids[20], &ids[22]] {
        assert!(state.store.delete_host(id).await.expect("delete"));
    }
    for (n, id) in [(20_000, &ids[21]), (20_001, &ids[22]), (20_002, &last)] {
        let mut p = fleetgen.host(n);
        p.host_id = id.clone();
        state.store.upsert(&p, AT).await.expect("upsert");
    }
    let mut p = fleetgen.host(20_003);
    p.host_id = format!("{}a", ids[20]);
    state.store.upsert(&p, AT).await.expect("upsert");
    check(&state, "deleted, changed and added at once").await;
    // A host with several versions, then, before one refresh: deleted, sent again as many
    // times (its versions numbered from 1 to the same number again) and pruned by one version.
    // Its newest version has the number and the guests it had; its version count went down, as
    // a prune alone does; only its content hash says it is another profile.
    let id = ids[40].clone();
    for n in 0..3 {
        let mut p = fleetgen.host(21_000 + n);
        p.host_id = id.clone();
        state.store.upsert(&p, AT).await.expect("upsert");
    }
    check(&state, "a host with several versions").await;
    let versions = state
        .store
        .latest_versions()
        .await
        .expect("versions")
        .into_iter()
        .find(|lv| lv.host_id == id)
        .expect("the host")
        .version;
    assert!(versions >= 3, "{versions} versions");
    assert!(state.store.delete_host(&id).await.expect("delete"));
    for n in 0..versions {
        let mut p = fleetgen.host(22_000 + n as usize);
        p.host_id = id.clone();
        let up = state.store.upsert(&p, AT).await.expect("upsert");
        assert_eq!(up.version, n + 1, "sent again, version {}", n + 1);
    }
    let keep = store::Retention {
        keep_versions: Some(versions - 1),
        keep_days: None,
        keep_guest_events: None,
    };
    state.store.prune(&keep, 0).await.expect("prune");
    check(
        &state,
        "deleted, sent again and pruned back to its version number",
    )
    .await;
}

/// A request that goes away while the fleet loads (its client left, the request timeout fired)
/// does not cancel the load: it finishes once, and the next request finds it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_request_does_not_lose_the_load() {
    let fleetgen = FleetGen::new(5).expect("generator");
    let hosts: Vec<_> = (0..300).map(|i| fleetgen.host(i)).collect();
    let state = state_with(&hosts).await;
    assert_eq!(state.cache.refreshes(), 0);
    let (cache, store) = (Arc::clone(&state.cache), state.store.clone());
    let request = tokio::spawn(async move { cache.fleet(&store).await.map(|f| f.generation) });
    // The request goes away once the load started, before it can have finished.
    while !state.cache.refreshing() {
        tokio::task::yield_now().await;
    }
    request.abort();
    assert!(
        request.await.is_err_and(|e| e.is_cancelled()),
        "the request was still loading when it was dropped"
    );
    let started = Instant::now();
    let fleet = loop {
        if let Some(f) = state.cache.current(&state.store) {
            break f;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the load did not finish"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(fleet.profiles.len(), 300);
    assert_eq!(state.cache.refreshes(), 1, "the load ran once");
    // Many requests for one generation share one refresh.
    state
        .store
        .upsert(&fleetgen.host(9_999), AT)
        .await
        .expect("upsert");
    let waiting: Vec<_> = (0..8)
        .map(|_| {
            let (cache, store) = (Arc::clone(&state.cache), state.store.clone());
            tokio::spawn(async move { cache.fleet(&store).await.map(|f| f.profiles.len()) })
        })
        .collect();
    for w in waiting {
        assert_eq!(w.await.expect("task").expect("fleet"), 301);
    }
    assert_eq!(state.cache.refreshes(), 2, "eight requests, one refresh");
}

/// The counter of finished fleet refreshes on `/metrics`.
fn refreshes(server: &common::Server) -> u64 {
    let text = common::agent()
        .get(&format!("{}/metrics", server.url))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("fleetcompat_fleet_refreshes_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::MAX)
}

/// Through the real server: a client that gives up while the fleet loads does not lose the
/// load; it runs once, and the next requests are answered from it without loading again.
#[test]
fn through_the_server_a_client_that_gives_up_does_not_lose_the_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("fleet.db");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let fleetgen = Arc::new(FleetGen::new(9).expect("generator"));
    // Enough profiles that reading, numbering and judging them takes the server well over the
    // client's 100 ms: 800 in a debug build; a release build reads them ten times as fast (800
    // took it under 100 ms, and the test's premise failed).
    let hosts = if cfg!(debug_assertions) { 800 } else { 8_000 };
    rt.block_on(async {
        let store = Store::open(&db).await.expect("database");
        // Uploads in flight together: the store commits them in batches.
        let tasks: Vec<_> = (0..64)
            .map(|t| {
                let (store, fleetgen) = (store.clone(), Arc::clone(&fleetgen));
                tokio::spawn(async move {
                    for i in (t..hosts).step_by(64) {
                        store.upsert(&fleetgen.host(i), AT).await.expect("upsert");
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("task");
        }
    });
    let server = common::start(&db, "refresh-test-token");
    // The client gives up long before the profiles can be read, numbered and judged.
    let impatient = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_millis(100)))
        .build()
        .new_agent();
    let gave_up = impatient
        .get(&format!("{}/api/v1/pools", server.url))
        .call()
        .is_err();
    assert!(gave_up, "the client was meant to give up before the answer");
    // `/metrics` reads the fleet too: it waits for the load under way rather than starting
    // another (a load cancelled with its request would have to start over).
    assert_eq!(refreshes(&server), 1, "one load, shared");
    let r = common::agent()
        .get(&format!("{}/api/v1/pools", server.url))
        .call()
        .expect("pools");
    assert_eq!(r.status(), 200);
    assert_eq!(
        refreshes(&server),
        1,
        "the next request found the load done"
    );
}
