//! The engine on what a target parsed: a panic there on odd but valid input is a crash too.
//! Checks here are properties every answer must have, never expected values.

use shared::baseline::{BaselineOptions, baseline, features_lost, host_model};
use shared::profile::HostProfile;
use shared::{GuestConfig, Policy, Severity, Verdict};

use crate::fleet::fleet;

/// A verdict is compatible exactly when none of its reasons blocks (shared/src/reason.rs,
/// `Verdict::compatible`).
pub fn check_verdict(v: &Verdict) {
    let blocked = v.reasons.iter().any(|r| r.severity == Severity::Blocker);
    assert_eq!(
        v.compatible, !blocked,
        "verdict {} -> {}: compatible must be 'no blocker'",
        v.from, v.to
    );
}

/// Verdicts, the class key, the baseline, the masks of a host with itself and with the fleet,
/// and the profile's way through JSON as the API stores and serves it.
pub fn on_profile(p: &HostProfile) {
    let guest = GuestConfig::default();
    let policy = Policy::default();
    check_verdict(&shared::compare_with(p, p, &guest, &policy));
    if let Some(other) = fleet().first() {
        check_verdict(&shared::compare_with(p, other, &guest, &policy));
        check_verdict(&shared::compare_with(other, p, &guest, &policy));
        // Refusals (no guest view, a vendor change) are answers, not crashes.
        let _ = shared::masks::pair_masks(p, other, &policy);
        let _ = shared::masks::pool_masks(&[p, other, p], &policy);
        if let Ok(b) = baseline(&[p, other], &BaselineOptions::default()) {
            let _ = features_lost(p, &b);
        }
    }
    let _ = shared::class::class_id(p);
    let _ = host_model(p, &BaselineOptions::default());
    round_trip(p);
}

/// What the server writes (`GET /api/v1/hosts/{id}`, fleet.jsonl) must read back as the same
/// profile (`HostProfile::from_json`, the upload path).
pub fn round_trip(p: &HostProfile) {
    let json = match serde_json::to_string(p) {
        Ok(j) => j,
        Err(e) => panic!("profile {} does not serialise: {e}", p.host_id),
    };
    match HostProfile::from_json(&json) {
        Ok(back) => assert!(
            back == *p,
            "profile {} changes on its way through JSON",
            p.host_id
        ),
        Err(e) => panic!("profile {} as written does not read back: {e}", p.host_id),
    }
}
