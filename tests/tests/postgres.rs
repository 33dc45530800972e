//! The collector and the server on one PostgreSQL, through the binaries as the README shows
//! them: `fleetcompat serve --db postgres://…` runs, `fleetcompat-collector import DUMP --db
//! postgres://…` stores beside it, and the running server's graph has the new hosts within a
//! second. PostgreSQL is a throwaway cluster of Debian's `postgresql`, started by the test.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{agent, free_port, fresh_binary, spawn_grouped};

fn n_hosts(url: &str) -> Option<u64> {
    let mut resp = agent().get(&format!("{url}/api/v1/graph")).call().ok()?;
    let v: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().ok()?).ok()?;
    v["n_hosts"].as_u64()
}

#[test]
fn collector_db_on_postgres_reaches_a_running_server_within_a_second() {
    let cluster = store::testing::PgCluster::start()
        .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let db = rt.block_on(cluster.fresh_database()).expect("database");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let _server = spawn_grouped(
        Command::new(fresh_binary("fleetcompat"))
            .args([
                "serve",
                "--db",
                &db,
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--token", "pg-e2e-token"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit()),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while n_hosts(&url) != Some(0) {
        assert!(
            Instant::now() < deadline,
            "fleetcompat serve did not answer on {url}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo/cpus");
    let out = Command::new(fresh_binary("fleetcompat-collector"))
        .arg("import")
        .arg(demo.join("x86_64-cpuid-A10-5800K.xml"))
        .arg(demo.join("x86_64-cpuid-Core-i5-650.xml"))
        .args(["--db", &db])
        .output()
        .expect("run fleetcompat-collector import");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "collector import --db failed: {stderr}"
    );
    assert_eq!(stderr.matches("version 1").count(), 2, "{stderr}");
    let stored = Instant::now();
    while n_hosts(&url) != Some(2) {
        assert!(
            stored.elapsed() < Duration::from_secs(1),
            "the server did not see the collector's hosts within 1 s"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}
