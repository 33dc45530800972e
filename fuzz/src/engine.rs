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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::host;

    #[test]
    fn a_verdict_that_contradicts_its_reasons_is_a_crash() {
        let (amd, intel) = (
            host("zen2-1").expect("zen2-1"),
            host("snb-1").expect("snb-1"),
        );
        let mut v = shared::compare(amd, intel, &GuestConfig::default());
        check_verdict(&v);
        assert!(!v.compatible, "AMD to Intel with -cpu host is blocked");
        v.compatible = true;
        assert!(std::panic::catch_unwind(|| check_verdict(&v)).is_err());
    }

    #[test]
    fn a_profile_that_changes_through_json_is_a_crash() {
        let mut p = host("icx-1").expect("icx-1").clone();
        round_trip(&p);
        // A host id the upload refuses (validate_host_id) cannot be read back.
        p.host_id = "..".into();
        assert!(std::panic::catch_unwind(|| round_trip(&p)).is_err());
    }
}
