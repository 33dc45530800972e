//! Durability: kill -9 the real `fleetcompat serve` while 100 concurrent clients upload; after a
//! restart every upload that got a 2xx is there and the store's integrity check is ok. On SQLite
//! (a file) and on PostgreSQL (a throwaway cluster of Debian's `postgresql`, started here).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use std::path::Path;

use common::{agent, start};

#[test]
fn kill_9_during_100_concurrent_uploads_loses_no_acknowledged_upload() {
    let dir = tempfile::tempdir().expect("temp dir");
    kill_9_during_uploads(&dir.path().join("fleet.db"));
}

#[test]
fn kill_9_during_100_concurrent_uploads_loses_no_acknowledged_upload_on_postgres() {
    let cluster = store::testing::PgCluster::start()
        .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let url = rt.block_on(cluster.fresh_database()).expect("database");
    drop(rt);
    kill_9_during_uploads(Path::new(&url));
}

fn kill_9_during_uploads(db: &Path) {
    let token = "durability-token";
    let template = backend::demo::demo_profiles("2026-11-22T00:00:00Z").expect("demo")[0].clone();
    let mut server = start(db, token);

    let acked: Arc<Mutex<Vec<(String, u32)>>> = Arc::default();
    let done = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..100)
        .map(|c| {
            let (acked, done, url) = (Arc::clone(&acked), Arc::clone(&done), server.url.clone());
            let mut p = template.clone();
            std::thread::spawn(move || {
                let agent = agent();
                for i in 0..1000 {
                    p.host_id = format!("durable-{c:03}-{i:04}");
                    let body = serde_json::to_string(&p).expect("json");
                    let Ok(mut resp) = agent
                        .post(&format!("{url}/api/v1/hosts"))
                        .header("Authorization", &format!("Bearer {token}"))
                        .header("Content-Type", "application/json")
                        .send(body.as_bytes())
                    else {
                        return; // the server is gone
                    };
                    if resp.status().is_success() {
                        let v: serde_json::Value = serde_json::from_str(
                            &resp.body_mut().read_to_string().unwrap_or_default(),
                        )
                        .unwrap_or_default();
                        let version = v["version"].as_u64().and_then(|v| u32::try_from(v).ok());
                        acked
                            .lock()
                            .expect("lock")
                            .push((p.host_id.clone(), version.unwrap_or(0)));
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                }
            })
        })
        .collect();
    // Let uploads run, then kill -9 in the middle of them.
    let deadline = Instant::now() + Duration::from_secs(60);
    while done.load(Ordering::SeqCst) < 300 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    server.child.kill().expect("kill -9 the server");
    let _ = server.child.wait();
    for c in clients {
        c.join().expect("client thread");
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(
        acked.len() >= 300,
        "only {} uploads succeeded before the kill",
        acked.len()
    );

    // Restart on the same database: every acknowledged upload is there.
    let server = start(db, token);
    let agent = agent();
    for (host, version) in &acked {
        assert_eq!(*version, 1, "{host}");
        let resp = agent
            .get(&format!("{}/api/v1/hosts/{host}", server.url))
            .call()
            .expect("get");
        assert_eq!(resp.status(), 200, "acknowledged upload of {host} is lost");
    }
    let mut resp = agent
        .get(&format!("{}/api/v1/stats", server.url))
        .call()
        .expect("stats");
    let stats: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    let n = stats["n_hosts"].as_u64().expect("n_hosts");
    assert!(n >= acked.len() as u64, "{n} < {}", acked.len());
    drop(server);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let check = rt.block_on(async {
        let store = backend::Store::open(db).await.expect("reopen");
        store.integrity_check().await.expect("integrity_check")
    });
    assert_eq!(check, "ok");
}
