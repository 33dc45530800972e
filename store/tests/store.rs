//! The store's behaviour, each scenario run on SQLite (a temporary file) and on PostgreSQL (a
//! throwaway cluster of Debian's `postgresql`, started by the test; missing binaries fail the
//! test with the package's name, they never skip it).

use std::time::{Duration, Instant};

use shared::profile::HostProfile;
use shared::vms::{HostCapacity, HostGuests, Vm, VmDefinition, VmSource, VmState};
use store::testing::PgCluster;
use store::{DbTarget, GuestEventKind, Retention, Store};

fn profile(host: &str) -> HostProfile {
    let mut p = shared::testing::profile_named(host, "GenuineIntel", &["sse2", "avx"]);
    p.collected_at = "2026-12-01T00:00:00Z".into();
    p
}

fn vm(id: &str, name: &str, vcpus: u32) -> Vm {
    Vm {
        id: id.into(),
        name: name.into(),
        source: VmSource::Libvirt,
        state: VmState::Running,
        vcpus,
        memory_mib: 1024,
        definition: VmDefinition::DomainXml(format!("<domain><name>{name}</name></domain>")),
    }
}

fn guests(vms: Vec<Vm>) -> Option<HostGuests> {
    Some(HostGuests {
        capacity: HostCapacity {
            logical_cpus: 16,
            memory_mib: 65_536,
        },
        vms,
    })
}

/// Runs each scenario `async fn NAME(db: Db)` on both databases.
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("temp dir");
                    let target = store::DbTarget::Sqlite(dir.path().join("fleet.db"));
                    super::$name(super::Db { target, _cluster: None }).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let cluster = super::PgCluster::start()
                        .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
                    let url = cluster.fresh_database().await.expect("database");
                    let target = store::DbTarget::Postgres(url);
                    super::$name(super::Db { target, _cluster: Some(cluster) }).await;
                }
            )*
        }
    };
}

struct Db {
    target: DbTarget,
    _cluster: Option<PgCluster>,
}

impl Db {
    async fn open(&self) -> Store {
        Store::connect(self.target.clone())
            .await
            .expect("open store")
    }
}

on_both!(
    versions_dedup_and_last_seen,
    guests_have_history_and_no_versions,
    settings_by_prefix_and_delete,
    delete_host_forgets_everything,
    retention_thins_old_versions_and_keeps_the_newest,
    rows_hashed_with_fnv_still_deduplicate,
    reopening_keeps_everything,
    nul_characters_are_refused_and_others_stored,
    changes_since_follows_versions_guests_retention_and_deletion,
    changes_since_skips_nothing_with_two_writers,
    reads_share_the_qemu_lists_profiles_repeat,
);

/// A profile with QEMU 9.2.0's machines and a CPU model list whose one model lacks `missing`.
fn with_qemu(host: &str, missing: &str) -> HostProfile {
    use shared::profile::QemuCpuModel;
    let mut p = profile(host);
    let mut q = shared::testing::qemu_with_machines("9.2.0");
    q.cpu_models = vec![
        QemuCpuModel {
            name: "Skylake-Server-v4".into(),
            usable: false,
            unavailable_features: vec![missing.into()],
            ..QemuCpuModel::default()
        },
        QemuCpuModel {
            name: "qemu64".into(),
            usable: true,
            ..QemuCpuModel::default()
        },
    ]
    .into();
    p.qemu.push(q);
    p
}

/// Reads decode the QEMU lists stored profiles repeat once (`shared::intern::memo`): hosts with
/// one QEMU build and processor hold one list in memory, whichever read gave them.
async fn reads_share_the_qemu_lists_profiles_repeat(db: Db) {
    use shared::intern::SharedList;
    let s = db.open().await;
    let sent = [
        with_qemu("a", "avx512f"),
        with_qemu("b", "avx512f"),
        with_qemu("c", "pku"),
    ];
    for p in &sent {
        s.upsert(p, "2026-12-07T00:00:00Z").await.expect("upsert");
    }
    let all = s.latest_profiles().await.expect("all");
    let [a, b, c] = [0, 1, 2].map(|i| &all[i].profile);
    assert_eq!([a, b, c], [&sent[0], &sent[1], &sent[2]]);
    let models = |p: &HostProfile| p.qemu[0].cpu_models.clone();
    let machines = |p: &HostProfile| p.qemu[0].machines.clone();
    assert!(SharedList::ptr_eq(&models(a), &models(b)));
    assert!(!SharedList::ptr_eq(&models(a), &models(c)));
    assert!(SharedList::ptr_eq(&machines(a), &machines(c)));
    // One host at a time (a fleet refresh), and an older version, share them too.
    let b1 = s.latest_profile("b").await.expect("read").expect("b");
    let c1 = s.profile_version("c", 1).await.expect("read").expect("c");
    assert_eq!(b1.profile, sent[1]);
    assert!(SharedList::ptr_eq(&models(&b1.profile), &models(a)));
    assert!(SharedList::ptr_eq(&models(&c1.profile), &models(c)));
}

async fn versions_dedup_and_last_seen(db: Db) {
    let s = db.open().await;
    assert_eq!(s.integrity_check().await.expect("check"), "ok");
    let g0 = s.generation();
    let mut p = profile("h1");
    let up = s.upsert(&p, "2026-12-01T00:00:01Z").await.expect("upsert");
    assert_eq!(
        (up.version, up.changed, up.hardware_changed),
        (1, true, true)
    );
    let g1 = s.generation();
    assert!(g1 > g0, "generation did not move: {g0} -> {g1}");

    // Re-sent, collected later: no new version, no new generation, but last_seen moves.
    p.collected_at = "2026-12-02T00:00:00Z".into();
    let up = s.upsert(&p, "2026-12-02T00:00:01Z").await.expect("upsert");
    assert_eq!((up.version, up.changed), (1, false));
    assert_eq!(s.generation(), g1);
    assert_eq!(
        s.last_seen("h1").await.expect("last_seen").as_deref(),
        Some("2026-12-02T00:00:01Z")
    );

    p.labels.insert("rack".into(), "r2".into());
    let up = s.upsert(&p, "2026-12-03T00:00:00Z").await.expect("upsert");
    assert_eq!((up.version, up.changed), (2, true));
    assert!(s.generation() > g1);
    s.upsert(&profile("h0"), "2026-12-03T00:00:00Z")
        .await
        .expect("upsert");

    let latest = s.latest_profile("h1").await.expect("read").expect("h1");
    assert_eq!((latest.version, latest.n_versions), (2, 2));
    assert_eq!(
        latest.profile.labels.get("rack").map(String::as_str),
        Some("r2")
    );
    let all = s.latest_profiles().await.expect("all");
    let ids: Vec<_> = all.iter().map(|s| s.profile.host_id.as_str()).collect();
    assert_eq!(ids, ["h0", "h1"]);
    let lv = s.latest_versions().await.expect("latest versions");
    assert_eq!((lv[1].version, lv[1].n_versions), (2, 2));
    let rows = s.versions("h1").await.expect("versions");
    assert_eq!(rows.iter().map(|r| r.version).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(rows[0].collected_at, "2026-12-01T00:00:00Z");
    let v1 = s.profile_version("h1", 1).await.expect("v1").expect("v1");
    assert!(!v1.profile.labels.contains_key("rack"));
    assert_eq!(s.n_hosts().await.expect("n"), 2);
    assert_eq!(s.n_versions().await.expect("n"), 3);
    assert!(s.latest_profile("nope").await.expect("read").is_none());
}

async fn guests_have_history_and_no_versions(db: Db) {
    let s = db.open().await;
    let mut p = profile("h1");
    p.guests = guests(vec![vm("a", "web", 2), vm("b", "db", 4)]);
    let up = s.upsert(&p, "2026-12-01T00:00:00Z").await.expect("upsert");
    assert_eq!(
        (up.version, up.hardware_changed, up.guests_changed),
        (1, true, true)
    );

    // Only a guest changes (and the collection time): the same hardware version, yet
    // `changed` and the generation move.
    let g = s.generation();
    p.collected_at = "2026-12-01T01:00:00Z".into();
    p.guests = guests(vec![vm("a", "web", 2), vm("b", "db", 8)]);
    let up = s.upsert(&p, "2026-12-01T01:00:00Z").await.expect("upsert");
    assert_eq!(
        (
            up.version,
            up.changed,
            up.hardware_changed,
            up.guests_changed
        ),
        (1, true, false, true)
    );
    assert!(s.generation() > g);
    let lv = s.latest_versions().await.expect("latest");
    let rev = lv[0].guests_rev;

    // No guests in the upload: they stay as they are.
    p.guests = None;
    let up = s.upsert(&p, "2026-12-01T02:00:00Z").await.expect("upsert");
    assert!(!up.changed);
    let current = s.guests("h1").await.expect("guests").expect("known");
    assert_eq!(current.vms.len(), 2);
    assert_eq!(current.vms[1].vcpus, 8);
    assert_eq!(
        s.latest_versions().await.expect("latest")[0].guests_rev,
        rev
    );

    // The same guests again: nothing changes.
    p.guests = guests(vec![vm("a", "web", 2), vm("b", "db", 8)]);
    assert!(
        !s.upsert(&p, "2026-12-01T03:00:00Z")
            .await
            .expect("upsert")
            .changed
    );

    // `a` goes, `c` comes.
    p.guests = guests(vec![vm("b", "db", 8), vm("c", "batch", 1)]);
    assert!(
        s.upsert(&p, "2026-12-01T04:00:00Z")
            .await
            .expect("upsert")
            .changed
    );
    assert!(s.latest_versions().await.expect("latest")[0].guests_rev > rev);

    let history = s.guest_history("h1").await.expect("history");
    let seen: Vec<_> = history
        .iter()
        .map(|e| (e.at.as_str(), e.vm_id.as_str(), e.kind))
        .collect();
    use GuestEventKind::{Appeared, Changed, Disappeared};
    assert_eq!(
        seen,
        [
            ("2026-12-01T00:00:00Z", "a", Appeared),
            ("2026-12-01T00:00:00Z", "b", Appeared),
            ("2026-12-01T01:00:00Z", "b", Changed),
            ("2026-12-01T04:00:00Z", "a", Disappeared),
            ("2026-12-01T04:00:00Z", "c", Appeared),
        ]
    );
    assert_eq!(history[3].name, "web");
    assert!(history[3].vm.is_none());
    assert_eq!(history[2].vm.as_ref().map(|v| v.vcpus), Some(8));

    // Versions do not hold guests; the latest profile has the current ones.
    assert_eq!(s.n_versions().await.expect("n"), 1);
    let v1 = s.profile_version("h1", 1).await.expect("v1").expect("v1");
    assert!(v1.profile.guests.is_none());
    let latest = s.latest_profile("h1").await.expect("latest").expect("h1");
    let ids: Vec<_> = latest
        .profile
        .guests
        .as_ref()
        .map(|g| g.vms.iter().map(|v| v.id.clone()).collect())
        .unwrap_or_default();
    assert_eq!(ids, ["b", "c"]);
    let all = s.latest_profiles().await.expect("all");
    assert_eq!(all[0].profile.guests, latest.profile.guests);

    // A host that never sent guests has none; an empty list is an answer.
    s.upsert(&profile("h2"), "2026-12-01T00:00:00Z")
        .await
        .expect("upsert");
    assert!(s.guests("h2").await.expect("guests").is_none());
    p.guests = guests(vec![]);
    assert!(
        s.upsert(&p, "2026-12-01T05:00:00Z")
            .await
            .expect("upsert")
            .changed
    );
    assert_eq!(
        s.guests("h1").await.expect("guests").map(|g| g.vms.len()),
        Some(0)
    );
    assert_eq!(s.guest_history("h1").await.expect("history").len(), 7);

    // Capacity alone is a change too.
    let mut more = guests(vec![]);
    if let Some(g) = more.as_mut() {
        g.capacity.memory_mib *= 2;
    }
    p.guests = more;
    let up = s.upsert(&p, "2026-12-01T06:00:00Z").await.expect("upsert");
    assert!(up.guests_changed && !up.hardware_changed);
}

async fn settings_by_prefix_and_delete(db: Db) {
    let s = db.open().await;
    for (k, v) in [
        ("token.a", "1"),
        ("token.b", "2"),
        ("tokenx", "3"),
        ("t%ken.c", "4"),
    ] {
        s.set_setting(k, v).await.expect("set");
    }
    s.set_setting("token.b", "22").await.expect("overwrite");
    let got = s.settings_with_prefix("token.").await.expect("prefix");
    assert_eq!(
        got,
        [
            ("token.a".into(), "1".into()),
            ("token.b".into(), "22".into())
        ]
    );
    // `%` and `_` are literal, not patterns.
    assert_eq!(s.settings_with_prefix("t%").await.expect("prefix").len(), 1);
    assert!(
        s.settings_with_prefix("t_ken")
            .await
            .expect("prefix")
            .is_empty()
    );
    assert_eq!(s.settings_with_prefix("").await.expect("all").len(), 4);
    assert!(s.delete_setting("token.a").await.expect("delete"));
    assert!(!s.delete_setting("token.a").await.expect("delete again"));
    assert_eq!(s.setting("token.a").await.expect("get"), None);
    assert_eq!(
        s.setting("token.b").await.expect("get").as_deref(),
        Some("22")
    );
}

async fn delete_host_forgets_everything(db: Db) {
    let s = db.open().await;
    let mut p = profile("gone");
    p.guests = guests(vec![vm("a", "web", 2)]);
    s.upsert(&p, "2026-12-01T00:00:00Z").await.expect("upsert");
    let g = s.generation();
    assert!(s.delete_host("gone").await.expect("delete"));
    assert!(s.generation() > g);
    assert!(!s.delete_host("gone").await.expect("delete again"));
    assert!(s.latest_profile("gone").await.expect("read").is_none());
    assert!(s.guest_history("gone").await.expect("history").is_empty());
    assert!(s.guests("gone").await.expect("guests").is_none());
    assert_eq!(s.n_versions().await.expect("n"), 0);
    // Back again: a fresh history from version 1.
    assert_eq!(
        s.upsert(&p, "2026-12-02T00:00:00Z")
            .await
            .expect("upsert")
            .version,
        1
    );
    assert_eq!(s.integrity_check().await.expect("check"), "ok");
}

async fn retention_thins_old_versions_and_keeps_the_newest(db: Db) {
    let s = db.open().await;
    // Two hosts, six versions each; days 1..=6 of December 2026.
    for host in ["a", "b"] {
        let mut p = profile(host);
        for day in 1..=6 {
            p.labels.insert("n".into(), day.to_string());
            p.guests = guests(vec![vm("x", "x", day)]);
            s.upsert(&p, &format!("2026-12-0{day}T00:00:00Z"))
                .await
                .expect("upsert");
        }
    }
    assert_eq!(s.n_versions().await.expect("n"), 12);
    let keep_all = Retention {
        keep_versions: None,
        keep_days: None,
        keep_guest_events: None,
    };
    let dec_7 = 1_796_601_600; // 2026-12-07T00:00:00Z
    assert_eq!(shared::time::rfc3339(dec_7), "2026-12-07T00:00:00Z");
    assert_eq!(s.prune(&keep_all, dec_7).await.expect("prune").versions, 0);

    let g = s.generation();
    let by_count = Retention {
        keep_versions: Some(4),
        keep_guest_events: Some(3),
        ..keep_all
    };
    let pruned = s.prune(&by_count, dec_7).await.expect("prune");
    assert_eq!(pruned.versions, 4);
    // 6 events per host (1 appeared + 5 changed), 3 kept.
    assert_eq!(pruned.guest_events, 6);
    assert!(
        s.generation() > g,
        "n_versions changed: caches must refresh"
    );
    let rows = s.versions("a").await.expect("versions");
    assert_eq!(
        rows.iter().map(|r| r.version).collect::<Vec<_>>(),
        [3, 4, 5, 6]
    );
    let events = s.guest_history("a").await.expect("history");
    assert_eq!(events.len(), 3);
    assert_eq!(events[2].vm.as_ref().map(|v| v.vcpus), Some(6));

    // Older than 2 days (before Dec 5): versions 3 and 4 go.
    let by_age = Retention {
        keep_days: Some(2),
        ..keep_all
    };
    let pruned = s.prune(&by_age, dec_7).await.expect("prune");
    assert_eq!(pruned.versions, 4);
    assert_eq!(
        s.versions("a")
            .await
            .expect("versions")
            .iter()
            .map(|r| r.version)
            .collect::<Vec<_>>(),
        [5, 6]
    );
    // Whatever the policy, the newest version stays.
    let harsh = Retention {
        keep_versions: Some(0),
        keep_days: Some(0),
        keep_guest_events: Some(0),
    };
    s.prune(&harsh, dec_7 + 86_400 * 365).await.expect("prune");
    let latest = s.latest_profile("a").await.expect("latest").expect("a");
    assert_eq!((latest.version, latest.n_versions), (6, 1));
    assert!(s.guest_history("a").await.expect("history").is_empty());
    // A new upload continues the numbering.
    let mut p = profile("a");
    p.labels.insert("n".into(), "7".into());
    assert_eq!(
        s.upsert(&p, "2027-01-01T00:00:00Z")
            .await
            .expect("upsert")
            .version,
        7
    );
    assert_eq!(s.integrity_check().await.expect("check"), "ok");
}

/// The FNV-1a of schema 1, as the test's own copy.
fn fnv(text: &str) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}

async fn rows_hashed_with_fnv_still_deduplicate(db: Db) {
    let s = db.open().await;
    let p = profile("old");
    s.upsert(&p, "2026-12-01T00:00:00Z").await.expect("upsert");
    // Make the row look like schema 1 wrote it: the FNV-1a of the profile without its
    // collection time.
    let mut hashed = p.clone();
    hashed.collected_at.clear();
    let legacy = fnv(&serde_json::to_string(&hashed).expect("json"));
    // The version row, and the newest hash on the host's row (schema 3 copies it there).
    let sqls = [
        "UPDATE profile_versions SET content_hash = $1",
        "UPDATE hosts SET newest_hash = $1",
    ];
    match &db.target {
        DbTarget::Sqlite(path) => {
            let pool = sqlx::SqlitePool::connect_with(
                sqlx::sqlite::SqliteConnectOptions::new().filename(path),
            )
            .await
            .expect("sqlite");
            for sql in sqls {
                sqlx::query(sql)
                    .bind(&legacy)
                    .execute(&pool)
                    .await
                    .expect("update");
            }
        }
        DbTarget::Postgres(url) => {
            let pool = sqlx::PgPool::connect(url).await.expect("postgres");
            for sql in sqls {
                sqlx::query(sql)
                    .bind(&legacy)
                    .execute(&pool)
                    .await
                    .expect("update");
            }
        }
    }
    let up = s.upsert(&p, "2026-12-02T00:00:00Z").await.expect("upsert");
    assert_eq!(
        (up.version, up.changed),
        (1, false),
        "an old row's profile made a new version"
    );
    let mut other = p.clone();
    other.labels.insert("x".into(), "y".into());
    assert_eq!(
        s.upsert(&other, "2026-12-03T00:00:00Z")
            .await
            .expect("upsert")
            .version,
        2
    );
}

async fn reopening_keeps_everything(db: Db) {
    let mut p = profile("h");
    p.guests = guests(vec![vm("a", "web", 2)]);
    {
        let s = db.open().await;
        s.upsert(&p, "2026-12-01T00:00:00Z").await.expect("upsert");
        s.set_setting("k", "v").await.expect("set");
    }
    let s = db.open().await;
    let latest = s.latest_profile("h").await.expect("read").expect("h");
    assert_eq!(latest.profile.guests, p.guests);
    assert_eq!(s.setting("k").await.expect("get").as_deref(), Some("v"));
    assert!(
        !s.upsert(&p, "2026-12-02T00:00:00Z")
            .await
            .expect("upsert")
            .changed
    );
}

#[tokio::test]
async fn sqlite_paths_with_question_marks_and_hashes_work() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("odd?name#1.db");
    {
        let s = Store::open(&path).await.expect("open");
        s.upsert(&profile("h"), "2026-12-01T00:00:00Z")
            .await
            .expect("upsert");
    }
    assert!(path.is_file(), "the database is not at {}", path.display());
    let s = Store::open(&path).await.expect("reopen");
    assert_eq!(s.n_hosts().await.expect("n"), 1);
    assert!(!s.is_postgres());
}

/// Profiles are compressed with lz4 where the PostgreSQL has it (Debian's is built
/// `--with-lz4`): migration 0004. Checked on the column and on a stored profile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stores_profiles_compressed_with_lz4() {
    let cluster = PgCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let url = cluster.fresh_database().await.expect("database");
    let store = Store::open(&url).await.expect("store");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let has_lz4: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_settings \
           WHERE name = 'default_toast_compression' AND enumvals @> '{lz4}')",
    )
    .fetch_one(&pool)
    .await
    .expect("pg_settings");
    assert!(
        has_lz4,
        "this PostgreSQL has no lz4: the test expects Debian's build"
    );
    let method: String = sqlx::query_scalar(
        "SELECT attcompression::text FROM pg_attribute \
         WHERE attrelid = 'profile_versions'::regclass AND attname = 'profile_json'",
    )
    .fetch_one(&pool)
    .await
    .expect("pg_attribute");
    assert_eq!(method, "l", "profile_json's compression");
    // A profile long enough to be compressed (over TOAST's 2 KB threshold).
    let mut p = profile("big");
    for i in 0..200 {
        p.labels.insert(format!("label-{i:03}"), "x".repeat(40));
    }
    store
        .upsert(&p, "2026-12-01T00:00:00Z")
        .await
        .expect("upsert");
    let stored: Option<String> = sqlx::query_scalar(
        "SELECT pg_column_compression(profile_json) FROM profile_versions WHERE host_id = 'big'",
    )
    .fetch_one(&pool)
    .await
    .expect("pg_column_compression");
    assert_eq!(stored.as_deref(), Some("lz4"));
    let back = store
        .latest_profile("big")
        .await
        .expect("read")
        .expect("big");
    assert_eq!(back.profile.labels, p.labels);
}

/// A new host's row is written once (`batch.rs`, `write_changes_postgres`): inserted whole after
/// the generation bump, not inserted by the lock statement and updated after it. Each write of a
/// row makes a tuple, so on a new table the hosts' live rows are the page's first tuples only
/// when nothing was written twice (an update puts the new tuple after the old one).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_a_new_hosts_row_once() {
    let cluster = PgCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let url = cluster.fresh_database().await.expect("database");
    let store = Store::open(&url).await.expect("store");
    for h in ["n1", "n2", "n3"] {
        let up = store
            .upsert(&profile(h), "2026-12-01T00:00:00Z")
            .await
            .expect("upsert");
        assert_eq!((up.version, up.changed), (1, true), "{h}");
    }
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let rows: Vec<(String, String, i64, i64, i64, bool)> = sqlx::query_as(
        "SELECT ctid::text, host_id, newest_version, n_versions, changed_gen, \
           first_seen = last_seen FROM hosts ORDER BY ctid",
    )
    .fetch_all(&pool)
    .await
    .expect("hosts");
    let ctids: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        ctids,
        ["(0,1)", "(0,2)", "(0,3)"],
        "a host's row written twice"
    );
    let generation = i64::try_from(store.generation()).expect("generation");
    for (_, host, newest, n, changed_gen, seen) in &rows {
        assert_eq!((*newest, *n, *seen), (1, 1, true), "{host}");
        assert!(
            *changed_gen > 1 && *changed_gen <= generation,
            "{host} marked at {changed_gen}, generation {generation}"
        );
    }
    // Sent again unchanged: `last_seen` only, no new generation.
    let before = store.generation();
    let again = store
        .upsert(&profile("n2"), "2026-12-01T00:05:00Z")
        .await
        .expect("again");
    assert_eq!((again.version, again.changed), (1, false));
    assert_eq!(store.generation(), before);
    let last_seen: String = sqlx::query_scalar("SELECT last_seen FROM hosts WHERE host_id = 'n2'")
        .fetch_one(&pool)
        .await
        .expect("n2");
    assert_eq!(last_seen, "2026-12-01T00:05:00Z");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_see_each_others_changes_within_a_second() {
    let cluster = PgCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let url = cluster.fresh_database().await.expect("database");
    let a = Store::open(&url).await.expect("replica a");
    let b = Store::open(&url).await.expect("replica b");
    assert!(a.is_postgres());
    assert!(!a.target().shown().is_empty());
    for (i, (writer, reader)) in [(&a, &b), (&b, &a), (&a, &b)].into_iter().enumerate() {
        let before = reader.generation();
        let mut p = profile("h");
        p.labels.insert("round".into(), i.to_string());
        writer
            .upsert(&p, "2026-12-01T00:00:00Z")
            .await
            .expect("upsert");
        let t = Instant::now();
        while reader.generation() == before {
            assert!(
                t.elapsed() < Duration::from_secs(1),
                "round {i}: the other replica's generation did not move within 1 s"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(reader.generation(), writer.generation());
        let seen = reader.latest_profile("h").await.expect("read").expect("h");
        assert_eq!(seen.version, u32::try_from(i + 1).expect("small"));
    }
    // Guests only: the generation moves on the other replica too.
    let before = b.generation();
    let mut p = profile("h");
    p.labels.insert("round".into(), "2".into());
    p.guests = guests(vec![vm("a", "web", 2)]);
    assert!(
        !a.upsert(&p, "2026-12-01T00:00:00Z")
            .await
            .expect("upsert")
            .hardware_changed
    );
    let t = Instant::now();
    while b.generation() == before {
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "guest change not seen in 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_writers_number_versions_without_gaps() {
    let cluster = PgCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let url = cluster.fresh_database().await.expect("database");
    let replicas = [
        Store::open(&url).await.expect("a"),
        Store::open(&url).await.expect("b"),
        Store::open(&url).await.expect("c"),
    ];
    // Three replicas, each with many concurrent uploads of new versions of the same hosts.
    let mut tasks = Vec::new();
    for (r, s) in replicas.iter().enumerate() {
        for i in 0..40 {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut p = profile(["x", "y"][i % 2]);
                p.labels.insert("upload".into(), format!("{r}-{i}"));
                s.upsert(&p, "2026-12-01T00:00:00Z").await
            }));
        }
    }
    let mut answered = Vec::new();
    for t in tasks {
        let up = t.await.expect("task").expect("every upload is stored");
        assert!(up.changed);
        answered.push(up.version);
    }
    for host in ["x", "y"] {
        let versions: Vec<i64> = replicas[0]
            .versions(host)
            .await
            .expect("versions")
            .iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(versions, (1..=60).collect::<Vec<i64>>(), "{host}");
    }
    answered.sort_unstable();
    answered.dedup();
    assert_eq!(
        answered.len(),
        60,
        "two uploads were answered with one version"
    );
}

async fn nul_characters_are_refused_and_others_stored(db: Db) {
    let s = db.open().await;
    let mut bad = profile("bad");
    bad.guests = guests(vec![vm("a", "we\0b", 2)]);
    let good = profile("good");
    let (bad_answer, good_answer) = tokio::join!(
        s.upsert(&bad, "2026-12-01T00:00:00Z"),
        s.upsert(&good, "2026-12-01T00:00:00Z"),
    );
    let err = bad_answer
        .expect_err("a NUL in a guest name is refused")
        .to_string();
    assert!(err.contains("bad") && err.contains("NUL"), "{err}");
    assert!(good_answer.expect("the other upload is stored").changed);
    assert!(s.latest_profile("bad").await.expect("read").is_none());
    bad.guests = None;
    bad.collected_at = "2026\0".into();
    assert!(s.upsert(&bad, "2026-12-01T00:00:00Z").await.is_err());
}

/// A SQLite database written by schema 1 (before guests, SHA-256 and the stored generation):
/// opening it runs the new migrations, its rows keep their versions and still deduplicate.
#[tokio::test]
async fn a_schema_1_sqlite_database_is_migrated_and_its_rows_keep_working() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("old.db");
    let only_first = dir.path().join("migrations");
    std::fs::create_dir(&only_first).expect("folder");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/migrations/sqlite/0001_init.sql"
        ),
        only_first.join("0001_init.sql"),
    )
    .expect("copy schema 1");
    let p = profile("old");
    {
        let pool = sqlx::SqlitePool::connect_with(
            sqlx::sqlite::SqliteConnectOptions::new()
                .filename(&db)
                .create_if_missing(true),
        )
        .await
        .expect("sqlite");
        sqlx::migrate::Migrator::new(only_first.as_path())
            .await
            .expect("migrator")
            .run(&pool)
            .await
            .expect("schema 1");
        // The rows schema 1's store wrote: its FNV-1a of the profile without collected_at.
        let mut hashed = p.clone();
        hashed.collected_at.clear();
        let legacy = fnv(&serde_json::to_string(&hashed).expect("json"));
        sqlx::query(
            "INSERT INTO hosts (host_id, first_seen) VALUES ('old', '2026-01-01T00:00:00Z')",
        )
        .execute(&pool)
        .await
        .expect("host");
        sqlx::query(
            "INSERT INTO profile_versions VALUES ('old', 1, '2026-01-01T00:00:00Z', $1, 'c', $2, $3)",
        )
        .bind(&p.collected_at)
        .bind(&legacy)
        .bind(serde_json::to_string(&p).expect("json"))
        .execute(&pool)
        .await
        .expect("version");
        pool.close().await;
    }
    let s = Store::open(&db).await.expect("open and migrate");
    assert_eq!(
        s.last_seen("old").await.expect("last_seen").as_deref(),
        Some("2026-01-01T00:00:00Z"),
        "the migration fills last_seen from the newest version"
    );
    let lv = s.latest_versions().await.expect("latest");
    assert_eq!(
        lv.iter()
            .map(|l| (l.host_id.as_str(), l.version, l.n_versions))
            .collect::<Vec<_>>(),
        [("old", 1, 1)],
        "schema 3 fills each host's newest version and count"
    );
    assert_eq!(s.changes_since(0).await.expect("changes").changed, lv);
    let up = s.upsert(&p, "2026-12-01T00:00:00Z").await.expect("upsert");
    assert_eq!((up.version, up.changed), (1, false));
    let latest = s.latest_profile("old").await.expect("read").expect("old");
    assert!(latest.profile.guests.is_none());
    assert_eq!(s.integrity_check().await.expect("check"), "ok");
}

/// A replica whose connections are cut (a restarted PostgreSQL, a proxy's idle timeout) follows
/// the generation again once they are back: the listener reconnects and re-reads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_follow_again_after_their_connections_are_cut() {
    let cluster = PgCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let url = cluster.fresh_database().await.expect("database");
    let a = Store::open(&url).await.expect("replica a");
    let b = Store::open(&url).await.expect("replica b");
    let admin = sqlx::PgPool::connect(&cluster.url("postgres"))
        .await
        .expect("admin");
    let cut: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()",
    )
    .bind(
        url.split('/')
            .nth(3)
            .and_then(|d| d.split('?').next())
            .expect("db name"),
    )
    .fetch_all(&admin)
    .await
    .expect("terminate");
    assert!(
        cut.len() >= 2,
        "expected the replicas' connections, cut {}",
        cut.len()
    );
    let before = b.generation();
    // The writer's pool reconnects too; its first try may meet a dead connection.
    let mut stored = false;
    for _ in 0..20 {
        if a.upsert(&profile("after-cut"), "2026-12-01T00:00:00Z")
            .await
            .is_ok()
        {
            stored = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        stored,
        "replica a could not write after its connections were cut"
    );
    let t = Instant::now();
    while b.generation() == before {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "replica b did not follow the generation after reconnecting"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `(host, version, n_versions)` of each changed host.
fn changed(c: &store::Changes) -> Vec<(&str, u32, u32)> {
    c.changed
        .iter()
        .map(|l| (l.host_id.as_str(), l.version, l.n_versions))
        .collect()
}

async fn changes_since_follows_versions_guests_retention_and_deletion(db: Db) {
    let s = db.open().await;
    let c0 = s.changes_since(0).await.expect("changes");
    assert!(c0.changed.is_empty() && c0.deleted.is_empty());
    assert_eq!(c0.generation, s.generation());

    let mut a = profile("a");
    let mut b = profile("b");
    s.upsert(&a, "2026-12-01T00:00:00Z").await.expect("upsert");
    s.upsert(&b, "2026-12-01T00:00:00Z").await.expect("upsert");
    let c1 = s.changes_since(c0.generation).await.expect("changes");
    assert_eq!(changed(&c1), [("a", 1, 1), ("b", 1, 1)]);
    assert!(c1.generation > c0.generation);
    assert_eq!(c1.generation, s.generation());
    let nothing = s.changes_since(c1.generation).await.expect("changes");
    assert!(nothing.changed.is_empty() && nothing.deleted.is_empty());
    assert_eq!(nothing.generation, c1.generation);

    // Sent again unchanged: nothing to refresh.
    a.collected_at = "2026-12-02T00:00:00Z".into();
    s.upsert(&a, "2026-12-02T00:00:00Z").await.expect("upsert");
    assert_eq!(
        s.changes_since(c1.generation).await.expect("changes"),
        nothing
    );

    // A new version of a.
    a.labels.insert("rack".into(), "r2".into());
    s.upsert(&a, "2026-12-03T00:00:00Z").await.expect("upsert");
    let c2 = s.changes_since(c1.generation).await.expect("changes");
    assert_eq!(changed(&c2), [("a", 2, 2)]);

    // Guests of b only: b again, same version, its guest revision moved.
    b.guests = guests(vec![vm("x", "web", 2)]);
    s.upsert(&b, "2026-12-03T00:00:00Z").await.expect("upsert");
    let c3 = s.changes_since(c2.generation).await.expect("changes");
    assert_eq!(changed(&c3), [("b", 1, 1)]);
    assert!(c3.changed[0].guests_rev > c1.changed[1].guests_rev);

    // Retention thins a's history: its count moved.
    let keep_one = Retention {
        keep_versions: Some(1),
        keep_days: None,
        keep_guest_events: None,
    };
    assert_eq!(
        s.prune(&keep_one, 1_796_601_600)
            .await
            .expect("prune")
            .versions,
        1
    );
    let c4 = s.changes_since(c3.generation).await.expect("changes");
    assert_eq!(changed(&c4), [("a", 2, 1)]);
    // Nothing left to prune: nothing changes.
    s.prune(&keep_one, 1_796_601_600).await.expect("prune");
    assert!(
        s.changes_since(c4.generation)
            .await
            .expect("changes")
            .changed
            .is_empty()
    );

    // b deleted.
    assert!(s.delete_host("b").await.expect("delete"));
    let c5 = s.changes_since(c4.generation).await.expect("changes");
    assert!(c5.changed.is_empty());
    assert_eq!(c5.deleted, ["b"]);
    // Asked from before b existed: deleted too (the caller may have it from a full load).
    assert_eq!(
        s.changes_since(c0.generation)
            .await
            .expect("changes")
            .deleted,
        ["b"]
    );

    // a deleted and sent again: a fresh host from version 1, not a deletion.
    assert!(s.delete_host("a").await.expect("delete"));
    let between = s.changes_since(c5.generation).await.expect("changes");
    assert_eq!(between.deleted, ["a"]);
    s.upsert(&a, "2026-12-04T00:00:00Z").await.expect("upsert");
    for since in [c5.generation, between.generation] {
        let c = s.changes_since(since).await.expect("changes");
        assert_eq!(changed(&c), [("a", 1, 1)], "since {since}");
        assert!(c.deleted.is_empty(), "since {since}: {:?}", c.deleted);
    }

    // From 0: every host, as latest_versions lists them.
    let all = s.changes_since(0).await.expect("changes");
    assert_eq!(all.changed, s.latest_versions().await.expect("latest"));
    assert_eq!(all.deleted, ["b"]);
    assert_eq!(s.integrity_check().await.expect("check"), "ok");
}

/// Two stores on one database (two replicas on PostgreSQL, two processes' pools on SQLite) write
/// new versions and guests of the same hosts while a reader follows `changes_since`: what the
/// reader has at the end is what the store holds, and no host's version ever went back.
async fn changes_since_skips_nothing_with_two_writers(db: Db) {
    const HOSTS: usize = 24;
    const ROUNDS: usize = 12;
    let writers = [db.open().await, db.open().await];
    let reader = db.open().await;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let follow = {
        let (reader, done) = (reader.clone(), std::sync::Arc::clone(&done));
        tokio::spawn(async move {
            let mut seen: std::collections::BTreeMap<String, store::LatestVersion> =
                std::collections::BTreeMap::new();
            let mut since = 0;
            let mut answers = 0usize;
            loop {
                // Read the flag first: the answer after it is complete.
                let last = done.load(std::sync::atomic::Ordering::SeqCst);
                let c = reader.changes_since(since).await.expect("changes");
                assert!(c.generation >= since, "the generation went back");
                assert!(c.deleted.is_empty(), "nothing was deleted: {:?}", c.deleted);
                for l in c.changed {
                    if let Some(old) = seen.get(&l.host_id) {
                        assert!(
                            (l.version, l.guests_rev) >= (old.version, old.guests_rev),
                            "{} went back: {old:?} -> {l:?}",
                            l.host_id
                        );
                    }
                    seen.insert(l.host_id.clone(), l);
                }
                since = c.generation;
                answers += 1;
                if last {
                    return (seen, answers);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut tasks = Vec::new();
    for (w, s) in writers.iter().enumerate() {
        for host in 0..HOSTS {
            let s = s.clone();
            tasks.push(tokio::spawn(async move {
                let mut p = profile(&format!("h{host:02}"));
                for round in 0..ROUNDS {
                    if round % 3 == 2 {
                        p.guests =
                            guests(vec![vm("g", "guest", u32::try_from(round).expect("small"))]);
                    } else {
                        p.labels.insert("w".into(), format!("{w}-{round}"));
                    }
                    s.upsert(&p, "2026-12-01T00:00:00Z").await.expect("upsert");
                }
            }));
        }
    }
    for t in tasks {
        t.await.expect("writer");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (seen, answers) = follow.await.expect("reader");
    let truth = reader.latest_versions().await.expect("latest");
    assert_eq!(truth.len(), HOSTS);
    assert_eq!(seen.into_values().collect::<Vec<_>>(), truth);
    assert!(
        answers > 2,
        "the reader asked only {answers} times while they wrote"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_stores_each_profile_of_a_batch_as_its_own_text() {
    // A batch's profiles go to SQLite end to end in one BLOB, each cut out by its byte offset:
    // profiles of different lengths with multi-byte characters, uploaded together so that they
    // share batches, must each come back as its own text, stored as TEXT.
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("fleet.db");
    let s = Store::open(&path).await.expect("open");
    let mut expected = Vec::new();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let mut p = profile(&format!("h{i:02}"));
        p.labels
            .insert("site".into(), "Zürich-東京-🚀".repeat(i % 7));
        expected.push(p.clone());
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            s.upsert(&p, "2026-12-01T00:00:00Z").await
        }));
    }
    for t in tasks {
        assert!(t.await.expect("task").expect("upsert").changed);
    }
    let pool =
        sqlx::SqlitePool::connect_with(sqlx::sqlite::SqliteConnectOptions::new().filename(&path))
            .await
            .expect("connect");
    let rows: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT host_id, typeof(profile_json), profile_json FROM profile_versions \
         ORDER BY host_id",
    )
    .fetch_all(&pool)
    .await
    .expect("rows");
    assert_eq!(rows.len(), expected.len());
    for ((host_id, kind, json), p) in rows.iter().zip(&expected) {
        assert_eq!(host_id, &p.host_id);
        assert_eq!(kind, "text", "{host_id}");
        assert_eq!(json, &serde_json::to_string(p).expect("json"), "{host_id}");
        let stored = s
            .latest_profile(host_id)
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(&stored.profile, p);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_writes_a_batch_while_another_waits() {
    // Two writers on PostgreSQL: with one upload's batch held up (its host's row locked from
    // outside), another host's upload is still written and answered.
    let cluster = PgCluster::start().unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let url = cluster.fresh_database().await.expect("database");
    let s = Store::open(&url).await.expect("store");
    let mut a = profile("a");
    s.upsert(&a, "2026-12-01T00:00:00Z").await.expect("a");
    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let mut outside = pool.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM hosts WHERE host_id = 'a' FOR UPDATE")
        .execute(&mut *outside)
        .await
        .expect("lock a");
    a.labels.insert("rack".into(), "r2".into());
    let held = {
        let s = s.clone();
        tokio::spawn(async move { s.upsert(&a, "2026-12-01T00:00:01Z").await })
    };
    // Let a writer take `a` and wait for its row.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = tokio::time::timeout(
        Duration::from_secs(20),
        s.upsert(&profile("b"), "2026-12-01T00:00:02Z"),
    )
    .await
    .expect("b was not written while a's batch waited: one writer only?")
    .expect("b");
    assert_eq!((b.version, b.changed), (1, true));
    assert!(!held.is_finished(), "a was written through its row lock");
    outside.commit().await.expect("unlock a");
    let a = held.await.expect("task").expect("a");
    assert_eq!((a.version, a.changed), (2, true));
}
