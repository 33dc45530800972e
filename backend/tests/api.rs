//! The API through `app()` without a socket, against a real SQLite database.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use backend::{AppState, Store, app};
use serde_json::{Value, json};
use tower::ServiceExt;

mod common;

const TOKEN: &str = "test-write-token";

/// The demo fleet with a write token.
async fn demo_state() -> AppState {
    let state = common::demo_state().await;
    backend::auth::ensure_write_token(&state.store, Some(TOKEN))
        .await
        .expect("token");
    state
}

async fn send(state: &AppState, req: Request<Body>) -> (StatusCode, Value, String) {
    let resp = app(state.clone()).oneshot(req).await.expect("response");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text,
    )
}

/// The status of a request without a body, with these headers.
async fn status(
    state: &AppState,
    method: Method,
    uri: &str,
    headers: &[(header::HeaderName, &str)],
) -> StatusCode {
    let mut req = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        req = req.header(name, *value);
    }
    send(state, req.body(Body::empty()).expect("request"))
        .await
        .0
}

async fn get(state: &AppState, uri: &str) -> (StatusCode, Value) {
    let (s, v, _) = send(
        state,
        Request::get(uri).body(Body::empty()).expect("request"),
    )
    .await;
    (s, v)
}

async fn post(state: &AppState, uri: &str, body: &Value) -> (StatusCode, Value) {
    let (s, v, _) = send(
        state,
        Request::post(uri)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::from(body.to_string()))
            .expect("request"),
    )
    .await;
    (s, v)
}

fn ids(v: &Value) -> Vec<String> {
    v["hosts"]
        .as_array()
        .expect("hosts")
        .iter()
        .map(|h| h["host_id"].as_str().expect("host_id").to_owned())
        .collect()
}

#[tokio::test]
async fn hosts_list_filters_by_label_vendor_class_model_and_pool() {
    let s = demo_state().await;
    let (st, all) = get(&s, "/api/v1/hosts").await;
    assert_eq!(st, StatusCode::OK);
    let n_all = all["n_hosts"].as_u64().expect("n");
    assert!(n_all > 150, "{n_all}");

    let (_, sky) = get(&s, "/api/v1/hosts?label=cluster=fra-sky-01").await;
    let sky_ids = ids(&sky);
    assert!(!sky_ids.is_empty());
    assert!(
        sky_ids.iter().all(|h| h.starts_with("fra-sky-01-")),
        "{sky_ids:?}"
    );

    let (_, amd) = get(&s, "/api/v1/hosts?vendor=amd").await;
    let (_, intel) = get(&s, "/api/v1/hosts?vendor=intel").await;
    let (n_amd, n_intel) = (
        amd["n_hosts"].as_u64().expect("n"),
        intel["n_hosts"].as_u64().expect("n"),
    );
    assert!(n_amd > 0 && n_intel > 0 && n_amd + n_intel <= n_all);

    let class = sky["hosts"][0]["class_id"]
        .as_str()
        .expect("class")
        .to_owned();
    let (_, same) = get(&s, &format!("/api/v1/hosts?class={class}")).await;
    assert!(ids(&same).contains(&sky_ids[0]));
    assert!(
        same["hosts"]
            .as_array()
            .expect("hosts")
            .iter()
            .all(|h| h["class_id"] == class.as_str())
    );

    // A model no AMD host can run (Intel-only features) keeps only Intel hosts, and fewer.
    let (st, sapphire) = get(&s, "/api/v1/hosts?model=SapphireRapids-v1").await;
    assert_eq!(st, StatusCode::OK, "{sapphire}");
    let (_, v1) = get(&s, "/api/v1/hosts?model=x86-64-v1").await;
    let _ = v1;
    let (_, old) = get(&s, "/api/v1/hosts?model=Westmere-v1").await;
    assert!(
        sapphire["n_hosts"].as_u64() < old["n_hosts"].as_u64(),
        "{} vs {}",
        sapphire["n_hosts"],
        old["n_hosts"]
    );
    let (st, bad) = get(&s, "/api/v1/hosts?model=NoSuchCpu").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("NoSuchCpu"),
        "{bad}"
    );

    let (_, pools) = get(&s, "/api/v1/pools").await;
    let p0 = pools["pools"][0]["n_hosts"].as_u64().expect("pool 0");
    let (_, in_p0) = get(&s, "/api/v1/hosts?pool=0").await;
    assert_eq!(in_p0["n_hosts"].as_u64(), Some(p0));
    let (st, _) = get(&s, "/api/v1/hosts?pool=9999").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, e) = get(&s, "/api/v1/hosts?label=nonsense").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("key=value")
    );
}

/// Pages of the host list (the fleet page asks for 200 at a time): the pages, joined, are the
/// whole list in order; `q=` finds words server-side; `processors` counts every matching host.
#[tokio::test]
async fn hosts_list_pages_finds_words_and_counts_processors() {
    let s = demo_state().await;
    let (_, all) = get(&s, "/api/v1/hosts").await;
    let all_ids = ids(&all);
    let n_all = all_ids.len();
    assert_eq!(all["n_hosts"].as_u64(), Some(n_all as u64));
    assert_eq!(all["offset"], 0);
    let mut paged = Vec::new();
    let mut offset = 0;
    while offset < n_all {
        let (st, page) = get(&s, &format!("/api/v1/hosts?offset={offset}&limit=70")).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        assert_eq!(
            page["n_hosts"].as_u64(),
            Some(n_all as u64),
            "whatever the page"
        );
        assert_eq!(page["offset"].as_u64(), Some(offset as u64));
        let got = ids(&page);
        assert!(!got.is_empty() && got.len() <= 70);
        paged.extend(got);
        offset += 70;
    }
    assert_eq!(paged, all_ids);
    let (_, past) = get(&s, &format!("/api/v1/hosts?offset={}&limit=10", n_all + 5)).await;
    assert_eq!(ids(&past).len(), 0);

    // Processor counts: over every host, not the page, and they add up.
    let (_, counts) = get(&s, "/api/v1/hosts?limit=0").await;
    assert!(ids(&counts).is_empty());
    let procs = counts["processors"].as_array().expect("processors");
    let total: u64 = procs
        .iter()
        .map(|p| p["n_hosts"].as_u64().expect("n"))
        .sum();
    assert_eq!(total, n_all as u64);
    assert!(procs.len() > 3, "{procs:?}");
    assert!(
        procs
            .windows(2)
            .all(|w| w[0]["n_hosts"].as_u64() >= w[1]["n_hosts"].as_u64())
    );

    // Words: every word must be found, any case, in id, hostname, brand or a label value.
    let (_, sky) = get(&s, "/api/v1/hosts?q=FRA-SKY-01").await;
    let sky_ids = ids(&sky);
    assert!(!sky_ids.is_empty());
    assert!(
        sky_ids.iter().all(|h| h.starts_with("fra-sky-01-")),
        "{sky_ids:?}"
    );
    let (_, by_label) = get(&s, "/api/v1/hosts?label=cluster=fra-sky-01").await;
    assert_eq!(sky_ids, ids(&by_label));
    let (_, two) = get(&s, "/api/v1/hosts?q=fra-sky-01%20epyc").await;
    assert_eq!(two["n_hosts"], 0, "no Skylake host has an EPYC brand");
    // A word of the first host's CPU brand ("6148" of "Intel(R) Xeon(R) Gold 6148 CPU").
    let brand = all["hosts"][0]["brand"].as_str().expect("brand");
    let word = brand
        .split_whitespace()
        .find(|w| w.len() >= 3 && w.chars().all(|c| c.is_ascii_alphanumeric()))
        .expect("a plain word in the brand")
        .to_lowercase();
    let (_, by_brand) = get(&s, &format!("/api/v1/hosts?q={word}")).await;
    assert!(ids(&by_brand).contains(&all_ids[0]), "{word}");

    let (st, e) = get(&s, "/api/v1/hosts?limit=10001").await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(
        e["error"]["message"]
            .as_str()
            .expect("msg")
            .contains("10000"),
        "{e}"
    );
}

#[tokio::test]
async fn compat_takes_hosts_or_classes_and_a_guest_by_query_or_json() {
    let s = demo_state().await;
    let (st, v) = get(&s, "/api/v1/compat?from=fra-sky-01-01&to=fra-sky-02-01").await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["compatible"], false);
    assert!(v["reasons"].to_string().contains("rtm"));

    // A named model without TSX goes both ways.
    let (_, named) = get(&s, "/api/v1/compat?from=fra-sky-01-01&to=fra-sky-02-01&cpu=Skylake-Server-v1&disable=hle,rtm,pku").await;
    assert_eq!(named["compatible"], true, "{named}");
    let (st, bad) = get(
        &s,
        "/api/v1/compat?from=fra-sky-01-01&to=fra-sky-02-01&cpu=host&disable=nosuchflag",
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        bad["error"]["message"]
            .as_str()
            .expect("m")
            .contains("nosuchflag")
    );

    // Class ids work in place of host ids.
    let (_, h) = get(&s, "/api/v1/hosts?label=cluster=fra-sky-02").await;
    let class = h["hosts"][0]["class_id"]
        .as_str()
        .expect("class")
        .to_owned();
    let (st, by_class) = get(&s, &format!("/api/v1/compat?from=fra-sky-01-01&to={class}")).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(by_class["compatible"], false);

    let (st, posted) = post(
        &s,
        "/api/v1/compat",
        &json!({"from": "fra-sky-01-01", "to": "fra-sky-02-01", "guest": {"cpu": {"mode": "host-model"}}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{posted}");
    assert_eq!(posted["guest"]["cpu"]["mode"], "host-model");
    let (st, e) = get(
        &s,
        "/api/v1/compat?from=fra-sky-01-01&to=fra-sky-02-01&stack=ovirt",
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["error"]["message"].as_str().expect("m").contains("ovirt"));
    let (st, _) = get(
        &s,
        "/api/v1/compat?from=fra-sky-01-01&to=fra-sky-02-01&stack=libvirt",
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let (st, e) = get(&s, "/api/v1/compat?from=fra-sky-01-01&to=nope").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(e["error"]["message"].as_str().expect("m").contains("nope"));
    let (st, e) = get(&s, "/api/v1/compat?from=fra-sky-01-01").await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(e["error"]["message"].as_str().expect("m").contains("'to'"));
}

#[tokio::test]
async fn classes_pools_and_graph_agree_and_name_labels() {
    let s = demo_state().await;
    let (_, c) = get(&s, "/api/v1/classes").await;
    let (_, g) = get(&s, "/api/v1/graph").await;
    let (_, p) = get(&s, "/api/v1/pools?cpu=host-model").await;
    let n_classes = c["classes"].as_array().expect("classes").len();
    assert!(n_classes > 3);
    assert_eq!(g["classes"].as_array().expect("classes").len(), n_classes);
    assert_eq!(
        g["class_labels"].as_array().expect("labels").len(),
        n_classes
    );
    assert!(c["classes"][0]["labels"]["cluster"].is_array());
    let hosts_in_classes: u64 = c["classes"]
        .as_array()
        .expect("c")
        .iter()
        .map(|x| x["n_hosts"].as_u64().expect("n"))
        .sum();
    assert_eq!(Some(hosts_in_classes), c["n_hosts"].as_u64());
    let hosts_in_pools: u64 = p["pools"]
        .as_array()
        .expect("p")
        .iter()
        .map(|x| x["n_hosts"].as_u64().expect("n"))
        .sum();
    assert_eq!(Some(hosts_in_pools), p["n_hosts"].as_u64());
    // A fleet-wide baseline guest can go everywhere (one pool), unlike host-passthrough.
    let (st, b) = get(&s, "/api/v1/pools?cpu=baseline").await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (_, hp) = get(&s, "/api/v1/pools").await;
    assert!(
        b["pools"].as_array().expect("p").len() < hp["pools"].as_array().expect("p").len(),
        "{b}"
    );

    let (st, sub) = post(
        &s,
        "/api/v1/graph",
        &json!({"hosts": ["fra-sky-01-01", "fra-sky-02-01"]}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{sub}");
    assert_eq!(sub["n_hosts"], 2);
    assert_eq!(sub["edges"].as_array().expect("edges").len(), 1, "{sub}");
    let (st, e) = post(
        &s,
        "/api/v1/graph",
        &json!({"guest": {"cpu": {"mode": "named", "model": "Nope-v9"}}}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .expect("m")
            .contains("Nope-v9")
    );
}

#[tokio::test]
async fn baseline_by_selector_exports_and_lists_losses_and_coverage_counts_hosts() {
    let s = demo_state().await;
    let (st, b) = post(
        &s,
        "/api/v1/baseline",
        &json!({"selector": {"zone": "fra"}, "hosts": []}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    assert!(b["exports"]["qemu"].as_str().expect("qemu").len() > 3);
    assert!(
        b["exports"]["libvirt"]
            .as_str()
            .expect("libvirt")
            .contains("<cpu")
    );
    assert!(b["exports"]["nova"]["cpu_models"].is_array());
    assert!(b["exports"]["kubevirt"].is_object());
    let losses = b["lost_per_host"].as_array().expect("losses");
    assert_eq!(losses.len(), b["hosts"].as_array().expect("hosts").len());
    assert!(
        losses
            .iter()
            .any(|l| !l["lost"].as_array().expect("lost").is_empty())
    );
    // KVM's paravirtual bits come with -accel kvm whatever the model: never "lost".
    assert!(
        losses
            .iter()
            .flat_map(|l| l["lost"].as_array().expect("lost"))
            .all(|f| !f.as_str().expect("name").starts_with("kvm")),
        "{losses:?}"
    );

    // Names for the libvirt that reads the exports: 9.0.0 (the default) has no versioned
    // models, 11.3.0 has them; a bad version is refused.
    assert_eq!(b["exports"]["libvirt_checked"], "9.0.0", "{b}");
    let model = b["exports"]["libvirt_model"]
        .as_str()
        .expect("libvirt_model");
    assert!(!model.contains("-v"), "{model}");
    let (st, b11) = post(
        &s,
        "/api/v1/baseline",
        &json!({"selector": {"zone": "fra"}, "options": {"libvirt_version": "11.3.0"}}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{b11}");
    assert_eq!(b11["exports"]["libvirt_checked"], "11.3.0", "{b11}");
    assert_eq!(b11["exports"]["libvirt_model"], b11["model"], "{b11}");
    let (st, e) = post(
        &s,
        "/api/v1/baseline",
        &json!({"selector": {"zone": "fra"}, "options": {"libvirt_version": "new"}}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{e}");
    assert!(e.to_string().contains("not a libvirt version"), "{e}");

    let (st, e) = post(&s, "/api/v1/baseline", &json!({"hosts": ["ghost"]})).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert!(e["error"]["message"].as_str().expect("m").contains("ghost"));
    let (st, _) = post(
        &s,
        "/api/v1/baseline",
        &json!({"selector": {"zone": "mars"}}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);

    let (st, cov) = get(&s, "/api/v1/baseline/coverage").await;
    assert_eq!(st, StatusCode::OK);
    let models = cov["models"].as_array().expect("models");
    let n = cov["n_hosts"].as_u64().expect("n");
    let first = models[0]["n_hosts"].as_u64().expect("first");
    let last = models.last().expect("last")["n_hosts"]
        .as_u64()
        .expect("last");
    assert!(first <= n && first > last, "{first} {last} {n}");
}

#[tokio::test]
async fn masks_for_a_pair_and_a_pool() {
    let s = demo_state().await;
    let (st, pair) = post(
        &s,
        "/api/v1/masks",
        &json!({"hosts": ["fra-sky-01-01", "fra-sky-02-01"]}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{pair}");
    assert_eq!(pair["kind"], "pair");
    assert!(
        pair["source"]["disable"].to_string().contains("rtm"),
        "{pair}"
    );
    // The same mask as libvirt's host-passthrough <cpu> element (the web UI shows it as is).
    let xml = pair["source"]["libvirt"].as_str().expect("libvirt mask");
    assert!(
        xml.starts_with("<cpu mode='host-passthrough'")
            && xml.contains("<feature policy='disable' name='rtm'/>"),
        "{xml}"
    );
    let (st, pool) = post(
        &s,
        "/api/v1/masks",
        &json!({"hosts": ["fra-sky-01-01", "fra-sky-02-01", "fra-ice-01-01"]}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{pool}");
    assert_eq!(pool["kind"], "pool");
    assert!(
        pool["per_host"][0]["libvirt"]
            .as_str()
            .is_some_and(|x| x.ends_with("</cpu>")),
        "{pool}"
    );
    let (st, e) = post(&s, "/api/v1/masks", &json!({"hosts": ["fra-sky-01-01"]})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert!(
        e["error"]["message"]
            .as_str()
            .expect("m")
            .contains("two hosts")
    );
}

#[tokio::test]
async fn catalog_stats_metrics_charts_and_openapi() {
    let s = demo_state().await;
    let (_, models) = get(&s, "/api/v1/models").await;
    assert!(
        models
            .as_array()
            .expect("models")
            .iter()
            .any(|m| m["name"] == "Skylake-Server-v4")
    );
    let (_, features) = get(&s, "/api/v1/features").await;
    let f = features
        .as_array()
        .expect("features")
        .iter()
        .find(|f| f["name"] == "invtsc")
        .expect("invtsc");
    assert_eq!(f["migratable"], false);
    let (_, stats) = get(&s, "/api/v1/stats").await;
    assert!(stats["n_classes"].as_u64().expect("c") > 3);
    assert_eq!(stats["n_hosts"], stats["n_versions"]);

    let (st, _, text) = send(&s, Request::get("/metrics").body(Body::empty()).expect("r")).await;
    assert_eq!(st, StatusCode::OK);
    assert!(
        text.contains(&format!("fleetcompat_hosts {}", stats["n_hosts"])),
        "{text}"
    );
    assert!(text.contains("fleetcompat_ingest_seconds_bucket{le=\"+Inf\"}"));

    for chart in [
        "class-sizes",
        "baseline-coverage",
        "feature-prevalence",
        "pool-sizes",
    ] {
        let (st, _, svg) = send(
            &s,
            Request::get(format!("/api/v1/charts/{chart}.svg"))
                .body(Body::empty())
                .expect("r"),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{chart}");
        let marks = svg.matches("<rect").count() + svg.matches("<polyline").count();
        assert!(svg.starts_with("<svg") && marks > 2, "{chart}: {svg:.200}");
    }

    let (st, doc) = get(&s, "/api/v1/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    assert!(doc["openapi"].as_str().expect("version").starts_with("3."));
    for path in [
        "/api/v1/hosts",
        "/api/v1/hosts/{host_id}/diff",
        "/api/v1/compat",
        "/api/v1/graph",
        "/api/v1/baseline",
        "/api/v1/masks",
        "/api/v1/stats",
        "/api/v1/clusters",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["HostList"].is_object());
    // Every reference resolves to a component.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    out.push(r.clone());
                }
                m.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(all.len() > 20, "{all:?}");
    for r in &all {
        let name = r.strip_prefix("#/components/schemas/").expect("schema ref");
        assert!(
            doc["components"]["schemas"][name].is_object(),
            "{r} does not resolve"
        );
    }
    assert!(doc["components"]["schemas"]["BaselineRequest"].is_object());
}

#[tokio::test]
async fn history_diff_names_changes_and_targets_gained() {
    let s = demo_state().await;
    let (_, mut p) = get(&s, "/api/v1/hosts/fra-sky-01-01").await;
    // A microcode update turns TSX off, a kernel upgrade drops an MSR.
    let kvm = &mut p["kvm"];
    let feats: Vec<Value> = kvm["guest_features"]
        .as_array()
        .expect("gf")
        .iter()
        .filter(|f| *f != "rtm" && *f != "hle")
        .cloned()
        .collect();
    kvm["guest_features"] = Value::Array(feats);
    let dropped = kvm["msr_index_list"].as_array_mut().expect("msrs").pop();
    p["kernel_release"] = json!("6.12.0-test");
    p["cpu"]["microcode"] = json!("0xdeadbeef");
    let (st, r) = post(&s, "/api/v1/hosts", &p).await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(r["version"], 2);
    assert_eq!(r["changed"], true);
    let (st, again) = post(&s, "/api/v1/hosts", &p).await;
    assert_eq!(
        (st, again["changed"].clone()),
        (StatusCode::OK, json!(false))
    );

    let (_, vs) = get(&s, "/api/v1/hosts/fra-sky-01-01/versions").await;
    assert_eq!(vs["versions"].as_array().expect("v").len(), 2);
    let (st, d) = get(&s, "/api/v1/hosts/fra-sky-01-01/diff").await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["guest_features_removed"], json!(["hle", "rtm"]), "{d}");
    assert_eq!(d["kernel"]["to"], "6.12.0-test");
    assert_eq!(d["microcode"]["to"], "0xdeadbeef");
    if let Some(m) = dropped {
        assert_eq!(d["msrs_removed"], json!([m]));
    }
    let added: Vec<&str> = d["targets_added"]
        .as_array()
        .expect("t")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(added.contains(&"fra-sky-02-01"), "{d}");
    assert!(
        d["targets_removed"].as_array().expect("t").is_empty(),
        "{d}"
    );
    let (st, _) = get(&s, "/api/v1/hosts/fra-sky-01-01/diff?from=1&to=7").await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Delete needs the write token, then forgets the host.
    let host = "/api/v1/hosts/fra-sky-01-01";
    let st = status(&s, Method::DELETE, host, &[]).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let bearer = format!("Bearer {TOKEN}");
    let st = status(
        &s,
        Method::DELETE,
        host,
        &[(header::AUTHORIZATION, &bearer)],
    )
    .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = get(&s, "/api/v1/hosts/fra-sky-01-01").await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (_, list) = get(&s, "/api/v1/hosts?label=cluster=fra-sky-01").await;
    assert!(!ids(&list).contains(&"fra-sky-01-01".to_owned()));
}

#[tokio::test]
async fn reads_need_a_token_when_required() {
    let store = Store::in_memory().await.expect("store");
    backend::auth::ensure_write_token(&store, Some(TOKEN))
        .await
        .expect("w");
    backend::auth::ensure_read_token(&store, Some("reader"))
        .await
        .expect("r");
    let s = AppState::new(store).with_read_token_required(true);
    let (st, e) = get(&s, "/api/v1/hosts").await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(
        e["error"]["message"]
            .as_str()
            .expect("m")
            .contains("read token")
    );
    let st = status(&s, Method::GET, "/metrics", &[]).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    for token in ["reader", TOKEN, "wrong"] {
        let bearer = format!("Bearer {token}");
        let st = status(
            &s,
            Method::GET,
            "/api/v1/hosts",
            &[(header::AUTHORIZATION, &bearer)],
        )
        .await;
        let expected = if token == "wrong" {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::OK
        };
        assert_eq!(st, expected, "{token}");
    }
    let st = status(&s, Method::GET, "/api/v1/health", &[]).await;
    assert_eq!(st, StatusCode::OK);

    // A browser posts the read token once and then reads with the session cookie.
    let login = |token: &str| {
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(format!("token={token}")))
            .expect("r")
    };
    let resp = app(s.clone())
        .oneshot(login("wrong"))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = app(s.clone())
        .oneshot(login(TOKEN))
        .await
        .expect("response");
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "the write token is refused"
    );
    let resp = app(s.clone())
        .oneshot(login("reader"))
        .await
        .expect("response");
    assert_eq!(resp.status(), StatusCode::SEE_OTHER);
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_owned();
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain http: no Secure: {cookie}"
    );
    let pair = cookie.split(';').next().expect("name=value").to_owned();
    let cookies = format!("theme=dark; {pair}");
    let st = status(
        &s,
        Method::GET,
        "/api/v1/hosts",
        &[(header::COOKIE, &cookies)],
    )
    .await;
    assert_eq!(st, StatusCode::OK);
    let wrong = [(header::COOKIE, "fleetcompat_session=99999999999.00")];
    let st = status(&s, Method::GET, "/api/v1/hosts", &wrong).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // An expired session is refused by the server, whatever the browser keeps.
    let expired = backend::auth::new_session(&s.store, 0)
        .await
        .expect("session");
    let expired = format!("fleetcompat_session={expired}");
    let st = status(
        &s,
        Method::GET,
        "/api/v1/hosts",
        &[(header::COOKIE, &expired)],
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // A new read token ends every session.
    backend::auth::ensure_read_token(&s.store, Some("reader-2"))
        .await
        .expect("r");
    let st = status(
        &s,
        Method::GET,
        "/api/v1/hosts",
        &[(header::COOKIE, &cookies)],
    )
    .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

/// The pre-check: a VM's own definition, from its host to one host or to the whole fleet.
#[tokio::test]
async fn precheck_judges_a_vm_definition_before_migrating() {
    let s = demo_state().await;
    // A QEMU command line of a host-passthrough guest (the format is detected).
    let cmdline = "qemu-system-x86_64 -machine pc-q35-7.2 -accel kvm -cpu host -smp 2 -m 2048";
    let (st, one) = post(
        &s,
        "/api/v1/precheck",
        &json!({"from": "fra-sky-01-01", "to": "fra-sky-02-01", "guest": cmdline}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{one}");
    assert_eq!(one["guest_format"], "qemu-command-line");
    assert_eq!(one["n_targets"], 1);
    let v = &one["verdicts"][0];
    assert_eq!(v["compatible"], false, "{v}");
    let features: Vec<&str> = v["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .filter_map(|r| r["evidence"]["feature"].as_str())
        .collect();
    assert!(features.contains(&"rtm"), "{features:?}");

    // Without `to`: every other host, compatible ones first.
    let (st, all) = post(
        &s,
        "/api/v1/precheck",
        &json!({"from": "fra-sky-01-01", "guest": cmdline}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{all}");
    let (_, hosts) = get(&s, "/api/v1/hosts").await;
    let n_hosts = hosts["n_hosts"].as_u64().expect("n_hosts");
    assert_eq!(all["n_targets"].as_u64(), Some(n_hosts - 1));
    let verdicts = all["verdicts"].as_array().expect("verdicts");
    // The guest is in the answer once, not echoed in every verdict.
    assert_eq!(
        all["guest"]["cpu"]["mode"], "host-passthrough",
        "{}",
        all["guest"]
    );
    assert!(verdicts.iter().all(|v| v.get("guest").is_none()));
    let n_ok = all["n_compatible"].as_u64().expect("n_compatible") as usize;
    assert!(n_ok >= 15, "the other fra-sky-01 hosts can take it: {n_ok}");
    assert!(verdicts[..n_ok].iter().all(|v| v["compatible"] == true));
    assert!(verdicts[n_ok..].iter().all(|v| v["compatible"] == false));
    assert!(
        verdicts[..n_ok].iter().any(|v| v["to"]
            .as_str()
            .is_some_and(|t| t.starts_with("fra-sky-01-"))),
        "same-cluster hosts are targets"
    );

    // One verdict per class (`by_class`): the same host counts, and every host's verdict is its
    // class's.
    let (st, grouped) = post(
        &s,
        "/api/v1/precheck",
        &json!({"from": "fra-sky-01-01", "guest": cmdline, "by_class": true}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{grouped}");
    assert_eq!(grouped["n_targets"], all["n_targets"]);
    assert_eq!(grouped["n_compatible"], all["n_compatible"]);
    let per_class = grouped["verdicts"].as_array().expect("verdicts");
    assert!(per_class.len() < verdicts.len() / 2, "{}", per_class.len());
    let (_, classes) = get(&s, "/api/v1/classes").await;
    let class_of = |host: &str| {
        classes["classes"]
            .as_array()
            .expect("classes")
            .iter()
            .position(|c| {
                c["hosts"]
                    .as_array()
                    .expect("hosts")
                    .iter()
                    .any(|h| h == host)
            })
            .expect("a class")
    };
    let counted: u64 = per_class
        .iter()
        .map(|v| v["n_hosts"].as_u64().expect("n_hosts"))
        .sum();
    assert_eq!(Some(counted), all["n_targets"].as_u64());
    for v in verdicts {
        let c = class_of(v["to"].as_str().expect("to"));
        let theirs = per_class
            .iter()
            .find(|w| class_of(w["to"].as_str().expect("to")) == c)
            .expect("the class has a verdict");
        assert_eq!(
            v["compatible"], theirs["compatible"],
            "{} and {}",
            v["to"], theirs["to"]
        );
    }

    // A libvirt domain XML works the same way; junk is refused by name.
    let xml = "<domain type='kvm'><memory unit='MiB'>2048</memory><vcpu>2</vcpu><os><type machine='pc-q35-7.2'>hvm</type></os><cpu mode='host-passthrough'/></domain>";
    let (st, x) = post(
        &s,
        "/api/v1/precheck",
        &json!({"from": "fra-sky-01-01", "to": "fra-sky-01-02", "guest": xml}),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{x}");
    assert_eq!(x["guest_format"], "libvirt-xml");
    let (st, bad) = post(
        &s,
        "/api/v1/precheck",
        &json!({"from": "fra-sky-01-01", "guest": "hello"}),
    )
    .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{bad}");
    assert_eq!(bad["error"]["code"], "invalid_guest");
    let (st, missing) = post(
        &s,
        "/api/v1/precheck",
        &json!({"from": "no-such-host", "guest": cmdline}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{missing}");
}

#[tokio::test]
async fn cluster_cards_name_the_next_model_and_exactly_the_hosts_blocking_it() {
    let s = demo_state().await;
    // The demo's clusters each have one processor; its zones mix generations.
    let (st, list) = get(&s, "/api/v1/clusters?label=zone").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let cards = list["clusters"].as_array().expect("clusters");
    assert!(cards.len() > 5, "{list}");
    let mut with_next = 0;
    for card in cards {
        let value = card["value"].as_str().expect("value");
        let (_, members) = get(&s, &format!("/api/v1/hosts?label=zone={value}")).await;
        assert_eq!(card["n_hosts"], members["n_hosts"], "{value}");
        if let Some(best) = card["best_model"].as_str() {
            let (_, running) = get(
                &s,
                &format!("/api/v1/hosts?label=zone={value}&model={best}"),
            )
            .await;
            assert_eq!(running["n_hosts"], card["n_hosts"], "{value}: {best}");
        }
        let Some(next) = card["next_model"].as_str() else {
            assert!(card["blockers"].as_array().expect("b").is_empty());
            continue;
        };
        with_next += 1;
        // The blockers are exactly the cluster's hosts that cannot run the next model.
        let (_, running) = get(
            &s,
            &format!("/api/v1/hosts?label=zone={value}&model={next}"),
        )
        .await;
        let ids = |v: &Value| -> Vec<String> {
            v["hosts"]
                .as_array()
                .expect("hosts")
                .iter()
                .map(|h| h["host_id"].as_str().expect("id").to_owned())
                .collect()
        };
        let all = ids(&members);
        let runs = ids(&running);
        assert!(!runs.is_empty(), "{value}: nobody runs {next}");
        let mut expected: Vec<String> = all.into_iter().filter(|h| !runs.contains(h)).collect();
        expected.sort();
        let blockers: Vec<String> = card["blockers"]
            .as_array()
            .expect("blockers")
            .iter()
            .map(|b| b["host"].as_str().expect("host").to_owned())
            .collect();
        assert_eq!(blockers, expected, "{value}: {next}");
        for b in card["blockers"].as_array().expect("b") {
            let said = b["missing"].as_array().expect("m").len()
                + b.get("other").and_then(Value::as_array).map_or(0, Vec::len);
            assert!(said > 0, "{value}: {b}");
        }
    }
    assert!(with_next > 0, "no demo cluster has a next model: {list}");
    let (st, none) = get(&s, "/api/v1/clusters?label=no-such-label").await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(none["clusters"].as_array().map(Vec::len), Some(0));
    let (st, e) = get(&s, &format!("/api/v1/clusters?label={}", "k".repeat(300))).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
}
