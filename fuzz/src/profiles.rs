//! Host profile JSON (`POST /api/v1/hosts`, profile files of the command line) and fleet files
//! (JSON Lines of profiles, as the command line reads them: backend/src/cli/fleet_file.rs
//! `read_fleet_file` parses each non-blank line with `HostProfile::from_json`, or
//! `BaselineHost::from_json` for a baseline, and stops at the first bad line).

use std::sync::{Arc, OnceLock};

use shared::baseline::{BaselineHost, BaselineHosts, BaselineOptions, baseline_of};
use shared::intern::memo::ListMemo;
use shared::profile::HostProfile;
use shared::{GuestConfig, Policy};

use crate::engine;

/// The memo the upload route decodes with (`AppState::upload_lists`), kept across inputs as the
/// server keeps it across uploads.
fn upload_memo() -> &'static Arc<ListMemo> {
    static MEMO: OnceLock<Arc<ListMemo>> = OnceLock::new();
    MEMO.get_or_init(ListMemo::new)
}

/// The upload route reads the body as UTF-8 (`store_upload`) and refuses anything else.
pub fn profile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let full = HostProfile::from_json(text);
    let part = BaselineHost::from_json(text);
    // Through the upload route's memo: the same profile, or a refusal too, and the same JSON.
    let memo = upload_memo();
    let (memoised, written) = memo.within(|| {
        let p = HostProfile::from_json(text);
        let written = p.as_ref().ok().map(serde_json::to_string);
        (p, written)
    });
    match (&full, &memoised) {
        (Ok(a), Ok(b)) => {
            assert_eq!(a, b, "the upload memo decodes another profile");
            let plain = serde_json::to_string(a).ok();
            let written = written.and_then(Result::ok);
            assert_eq!(plain, written, "the upload memo writes other JSON");
        }
        (Err(_), Err(_)) => {}
        (a, b) => panic!(
            "the upload memo changes whether a profile is taken: {:?} without, {:?} with",
            a.as_ref().err(),
            b.as_ref().err()
        ),
    }
    if let Ok(p) = full {
        // The baseline reads less of a line than a profile: whatever is a profile is one too.
        assert!(
            part.is_ok(),
            "a profile that HostProfile::from_json accepts is refused by BaselineHost::from_json"
        );
        engine::on_profile(&p);
    }
}

/// Most hosts of one fuzzed fleet file the engine is run on (each pair is compared).
const FLEET_ENGINE_HOSTS: usize = 8;

pub fn fleet(data: &[u8]) {
    // The command line refuses a block that is not UTF-8 (`read_fleet_file`).
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut hosts = Vec::new();
    let mut baseline = BaselineHosts::default();
    for line in body.split('\n').filter(|l| !l.trim().is_empty()) {
        match BaselineHost::from_json(line) {
            Ok(h) => baseline.add_host(&h),
            Err(_) => break,
        }
        match HostProfile::from_json(line) {
            Ok(p) => hosts.push(p),
            Err(_) => break,
        }
    }
    if !baseline.is_empty() {
        let _ = baseline_of(baseline, &BaselineOptions::default());
    }
    hosts.truncate(FLEET_ENGINE_HOSTS);
    if hosts.is_empty() {
        return;
    }
    let graph = shared::graph::build(&hosts, &GuestConfig::default(), &Policy::default());
    let _ = serde_json::to_string(&graph);
    for a in &hosts {
        for b in &hosts {
            engine::check_verdict(&shared::compare(a, b, &GuestConfig::default()));
        }
    }
}
