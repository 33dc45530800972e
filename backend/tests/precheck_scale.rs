//! `POST /api/v1/precheck` with `by_class` and `detail: "blockers"` through the real
//! `fleetcompat serve` on a real SQLite database holding the demo fleet (real CPUID dumps): the
//! brief per class agrees with the full answer (the same destinations, verdicts, host counts,
//! blockers' rules and counts), and the full reasons of one class come from the same request
//! with `to`, as the precheck page asks them when a class is opened.

mod common;

use serde_json::{Value, json};
use shared::testing::{command_line, domain_xml};

const TOKEN: &str = "precheck-scale-token";
const FROM: &str = "fra-sky-01-01";

fn post(url: &str, body: &Value, token: Option<&str>) -> (u16, Value, usize) {
    let (status, text) = common::post_json(url, body, token, 64 << 20);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::Null),
        text.len(),
    )
}

/// The distinct rules of `reasons` of `severity`, in order, with how many reasons each gave.
fn rules_of(reasons: &[Value], severity: &str) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for r in reasons.iter().filter(|r| r["severity"] == severity) {
        let rule = r["rule"].as_str().expect("rule").to_owned();
        match out.iter_mut().find(|(x, _)| *x == rule) {
            Some((_, n)) => *n += 1,
            None => out.push((rule, 1)),
        }
    }
    out
}

/// The guests a fleet engineer asks about: host-passthrough (every feature of the source's
/// CPU, so the most reasons), and a named model with disks, a NIC and a PCI passthrough device.
fn guests() -> Vec<(&'static str, String)> {
    let named = domain_xml(
        "db-01",
        "5e1f0000-0000-4000-8000-000000000001",
        "Skylake-Server-v4",
        "pc-q35-7.2",
        4,
        4096,
    )
    .replace(
        "  </devices>",
        "    <hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x65' slot='0x00' function='0x1'/></source><address type='pci' domain='0x0000' bus='0x07' slot='0x00' function='0x0'/></hostdev>\n  </devices>",
    );
    vec![
        (
            "host-passthrough",
            command_line("web-01", "host-passthrough", "pc-q35-7.2", 2, 2048),
        ),
        ("named model with devices", named),
    ]
}

#[test]
fn briefs_per_class_agree_with_full_verdicts_and_one_class_opens_to_its_reasons() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = backend::demo::demo_profiles("2026-12-06T00:00:00Z").expect("demo fleet");
    let server = common::start(&dir.path().join("fleet.db"), TOKEN);
    let api = format!("{}/api/v1", server.url);
    for p in &fleet {
        let (s, v, _) = post(
            &format!("{api}/hosts"),
            &serde_json::to_value(p).expect("json"),
            Some(TOKEN),
        );
        assert!(s == 200 || s == 201, "upload {}: {s} {v}", p.host_id);
    }
    let url = format!("{api}/precheck");

    for (what, guest) in guests() {
        let (s, full, full_bytes) = post(
            &url,
            &json!({"from": FROM, "guest": guest, "by_class": true}),
            None,
        );
        assert_eq!(s, 200, "{what}: {full}");
        let (s, brief, brief_bytes) = post(
            &url,
            &json!({"from": FROM, "guest": guest, "by_class": true, "detail": "blockers"}),
            None,
        );
        assert_eq!(s, 200, "{what}: {brief}");
        assert!(
            brief_bytes * 2 < full_bytes,
            "{what}: the briefs take {brief_bytes} bytes, the full verdicts {full_bytes}"
        );
        assert_eq!(full["guest"], brief["guest"], "{what}");
        assert_eq!(
            (&full["n_targets"], &full["n_compatible"]),
            (&brief["n_targets"], &brief["n_compatible"]),
            "{what}"
        );
        assert_eq!(
            full["n_targets"].as_u64(),
            Some(fleet.len() as u64 - 1),
            "{what}"
        );
        let fv = full["verdicts"].as_array().expect("verdicts");
        let bv = brief["verdicts"].as_array().expect("verdicts");
        assert_eq!(fv.len(), bv.len(), "{what}");
        let n_bad = fv.iter().filter(|v| v["compatible"] == false).count();
        assert!(
            n_bad > 0 && n_bad < fv.len(),
            "{what}: {n_bad} of {} classes refuse it",
            fv.len()
        );
        let mut rules_seen = std::collections::BTreeSet::new();
        for (f, b) in fv.iter().zip(bv) {
            let to = &f["to"];
            assert_eq!((&f["to"], &f["from"]), (&b["to"], &b["from"]), "{what}");
            assert_eq!(f["compatible"], b["compatible"], "{what}: {to}");
            assert_eq!(f["n_hosts"], b["n_hosts"], "{what}: {to}");
            assert!(b.get("reasons").is_none(), "{what}: {b}");
            assert!(f.get("sentence").is_none(), "{what}: {f}");
            let reasons = f["reasons"].as_array().expect("reasons");
            // The brief's fields are the verdict's own.
            let br = b;
            let blockers: Vec<(String, u64)> = br["blockers"]
                .as_array()
                .expect("blockers")
                .iter()
                .map(|c| {
                    (
                        c["rule"].as_str().expect("rule").to_owned(),
                        c["n"].as_u64().expect("n"),
                    )
                })
                .collect();
            assert_eq!(blockers, rules_of(reasons, "blocker"), "{what}: {to}");
            rules_seen.extend(blockers.into_iter().map(|(r, _)| r));
            for (key, severity) in [
                ("n_blockers", "blocker"),
                ("n_warnings", "warning"),
                ("n_info", "info"),
            ] {
                let n = reasons.iter().filter(|r| r["severity"] == severity).count();
                assert_eq!(br[key].as_u64(), Some(n as u64), "{what}: {to} {key}");
            }
            let sentence = br["sentence"].as_str().expect("sentence");
            assert_eq!(
                sentence.starts_with("Blocked by "),
                f["compatible"] == false,
                "{what}: {to}: {sentence}"
            );
        }
        println!(
            "{what}: {} classes, {n_bad} refuse it; full {full_bytes} bytes, briefs {brief_bytes} bytes; blocking rules {rules_seen:?}",
            fv.len()
        );

        // Opening the nearest miss: the same request with `to`, every reason of that class.
        let (i, nearest) = bv
            .iter()
            .enumerate()
            .filter(|(_, v)| v["compatible"] == false)
            .min_by_key(|(_, v)| v["n_blockers"].as_u64())
            .expect("a class refuses it");
        let (s, one, _) = post(
            &url,
            &json!({"from": FROM, "to": nearest["to"], "guest": guest}),
            None,
        );
        assert_eq!(s, 200, "{what}: {one}");
        assert_eq!(one["n_targets"], 1, "{what}");
        assert_eq!(one["verdicts"][0]["reasons"], fv[i]["reasons"], "{what}");
        assert_eq!(one["verdicts"][0]["compatible"], false, "{what}");
        // And its brief alone is the one in the list.
        let (s, one, _) = post(
            &url,
            &json!({"from": FROM, "to": nearest["to"], "guest": guest, "detail": "blockers"}),
            None,
        );
        assert_eq!(s, 200, "{what}: {one}");
        for key in ["blockers", "n_blockers", "n_warnings", "n_info", "sentence"] {
            assert_eq!(one["verdicts"][0][key], nearest[key], "{what}: {key}");
        }
    }

    // The OpenAPI document describes the option and the brief.
    let mut resp = common::agent()
        .get(&format!("{api}/openapi.json"))
        .call()
        .expect("openapi");
    let doc: Value =
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    let schemas = &doc["components"]["schemas"];
    assert!(
        schemas["PrecheckRequest"]["properties"]["detail"].is_object(),
        "{}",
        schemas["PrecheckRequest"]
    );
    let detail = schemas["PrecheckDetail"].to_string();
    assert!(
        detail.contains("blockers") && detail.contains("full"),
        "{detail}"
    );
    for field in ["blockers", "n_blockers", "sentence"] {
        assert!(
            schemas["VerdictBrief"]["properties"][field].is_object(),
            "{}",
            schemas["VerdictBrief"]
        );
    }
    assert!(schemas["TargetVerdict"].is_object(), "{schemas}");

    // A detail the API does not know is refused by name.
    let (s, bad, _) = post(
        &url,
        &json!({"from": FROM, "guest": guests()[0].1, "detail": "short"}),
        None,
    );
    assert_eq!(s, 400, "{bad}");
    let message = bad["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("detail"), "{message}");
}
