//! `POST /api/v1/precheck`: "can this VM go there?" before any migration. The request, the answer
//! and its two forms of a verdict: every reason (`detail: "full"`, the default) or a brief of the
//! blockers (`detail: "blockers"`, what a list of a 100,000-host fleet's classes needs; the full
//! reasons of one destination are then asked with `to`).

use serde::{Deserialize, Serialize};

use crate::verdict::{Evidence, GuestConfig, Reason, Severity, Verdict};

/// `POST /api/v1/precheck` body: "can this VM go there?" before any migration.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrecheckRequest {
    /// The host the VM runs on (host id).
    pub from: String,
    /// One destination host; without it every other host of the fleet is judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The VM's definition as text: a libvirt domain XML or a QEMU command line (detected).
    pub guest: String,
    /// The definition the destination will be started from, checked against `guest` as libvirt's
    /// ABI-stability check does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_guest: Option<String>,
    /// When absent, the QEMU versions come from the profiles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<super::EngineObject>))]
    pub policy: Option<crate::verdict::Policy>,
    /// Without `to`: one verdict per class of the fleet (its first host other than `from`), with
    /// the class's host count in `n_hosts`, instead of one per host (hosts of a class are equal
    /// in every fact a rule reads). A fleet of 100,000 hosts answers in a few thousand verdicts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_class: bool,
    /// What each verdict holds: every reason (`full`, the default) or a brief of its blockers
    /// (`blockers`): a host-passthrough guest's reasons towards the ~3,000 classes of 100,000
    /// hosts are more than the answer may hold, their briefs about 1 MB.
    #[serde(default, skip_serializing_if = "PrecheckDetail::is_full")]
    pub detail: PrecheckDetail,
}

/// What a precheck verdict holds ([`PrecheckRequest::detail`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PrecheckDetail {
    /// `reasons`: every reason, as the engine gives them.
    #[default]
    Full,
    /// `brief`: the blockers' rules with counts, how many reasons of each severity, the verdict
    /// in a sentence; no `reasons`.
    Blockers,
}

impl PrecheckDetail {
    pub fn is_full(&self) -> bool {
        *self == Self::Full
    }
}

/// `POST /api/v1/precheck` answer: the guest as read, once, and a verdict per destination,
/// compatible ones first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PrecheckAnswer {
    /// How the guest text was read: `libvirt-xml`, `qemu-command-line` or `json`.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub guest_format: crate::guest::GuestFormat,
    /// The guest configuration every verdict is for (read from `guest`).
    #[cfg_attr(feature = "openapi", schema(value_type = super::EngineObject))]
    pub guest: GuestConfig,
    pub n_targets: usize,
    pub n_compatible: usize,
    pub verdicts: Vec<TargetVerdict>,
}

/// One destination of a precheck: the engine's `Verdict` without its guest, which the answer
/// holds once (a guest with many devices, echoed per destination, made answers of 400 MB).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetVerdict {
    pub from: String,
    pub to: String,
    /// True when no reason is a blocker.
    pub compatible: bool,
    /// Every reason, blockers first; absent with `detail: "blockers"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<super::EngineObject>>))]
    pub reasons: Option<Vec<Reason>>,
    /// With `by_class`: the hosts of `to`'s class this verdict stands for (`from` left out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n_hosts: Option<usize>,
    /// With `detail: "blockers"`, in the verdict itself (`blockers`, `n_blockers`, `n_warnings`,
    /// `n_info`, `sentence`): what a list of destinations shows of the reasons.
    #[serde(default, flatten, skip_serializing_if = "Option::is_none")]
    pub brief: Option<VerdictBrief>,
}

impl From<Verdict> for TargetVerdict {
    fn from(v: Verdict) -> Self {
        Self {
            from: v.from,
            to: v.to,
            compatible: v.compatible,
            reasons: Some(v.reasons),
            n_hosts: None,
            brief: None,
        }
    }
}

impl TargetVerdict {
    /// The verdict with a brief of its reasons in place of them (`detail: "blockers"`).
    pub fn briefly(v: Verdict) -> Self {
        Self {
            brief: Some(VerdictBrief::of(v.compatible, &v.reasons)),
            from: v.from,
            to: v.to,
            compatible: v.compatible,
            reasons: None,
            n_hosts: None,
        }
    }
}

/// A verdict's reasons as a list of destinations shows them, without the reasons themselves
/// (with `detail: "blockers"`, these fields are the verdict's own).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VerdictBrief {
    /// The rules of the blocking reasons, each once, in the order of the reasons, with how many
    /// blocking reasons each gave (`cpu.feature-missing` once per feature).
    pub blockers: Vec<RuleCount>,
    pub n_blockers: usize,
    pub n_warnings: usize,
    pub n_info: usize,
    /// The verdict in one sentence, as the web UI writes it: "Blocked by 12 features: AVX-512
    /// (9), AMX (3)." (feature families, `shared::naming::verdict_sentence`), "Compatible, with 2
    /// warnings: guests can move this way."
    pub sentence: String,
}

/// A rule id and how many reasons of a verdict it gave.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RuleCount {
    pub rule: String,
    pub n: usize,
}

impl VerdictBrief {
    /// The brief of a verdict's reasons (`compatible`: no reason is a blocker).
    pub fn of(compatible: bool, reasons: &[Reason]) -> Self {
        let mut brief = Self::default();
        let mut features = Vec::new();
        let mut others = Vec::new();
        for r in reasons {
            match r.severity {
                Severity::Blocker => {
                    brief.n_blockers += 1;
                    match brief.blockers.iter_mut().find(|c| c.rule == r.rule) {
                        Some(c) => c.n += 1,
                        None => brief.blockers.push(RuleCount {
                            rule: r.rule.clone(),
                            n: 1,
                        }),
                    }
                    match &r.evidence {
                        Evidence::Feature { feature, .. } => features.push(feature.clone()),
                        // The message up to its explanation ("cpu vendor changes from A to B").
                        _ => others.push(
                            r.message
                                .split(": ")
                                .next()
                                .unwrap_or(&r.message)
                                .to_owned(),
                        ),
                    }
                }
                Severity::Warning => brief.n_warnings += 1,
                Severity::Info => brief.n_info += 1,
            }
        }
        // The same words as the web UI's verdict sentence (`frontend/src/components.rs`).
        brief.sentence = if compatible {
            match brief.n_warnings {
                0 => "Compatible: guests can move this way.".to_owned(),
                1 => "Compatible, with 1 warning: guests can move this way.".to_owned(),
                n => format!("Compatible, with {n} warnings: guests can move this way."),
            }
        } else {
            crate::naming::verdict_sentence(&features, &others)
        };
        brief
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::profile_named;
    use crate::verdict::compare;

    fn verdict() -> Verdict {
        let a = profile_named(
            "a",
            "GenuineIntel",
            &["sse2", "avx", "pcid", "rtm", "hle", "invtsc"],
        );
        let b = profile_named("b", "GenuineIntel", &["sse2", "avx", "taa-no"]);
        compare(&a, &b, &GuestConfig::default())
    }

    /// Without `detail` a request and a verdict read and write as before it existed.
    #[test]
    fn full_answers_keep_their_json() {
        let req: PrecheckRequest =
            serde_json::from_str(r#"{"from":"a","guest":"x","by_class":true}"#).expect("request");
        assert_eq!(req.detail, PrecheckDetail::Full);
        let back = serde_json::to_value(&req).expect("json");
        assert!(back.get("detail").is_none(), "{back}");
        let blockers: PrecheckRequest =
            serde_json::from_str(r#"{"from":"a","guest":"x","detail":"blockers"}"#)
                .expect("request");
        assert_eq!(blockers.detail, PrecheckDetail::Blockers);
        assert!(
            serde_json::from_str::<PrecheckRequest>(r#"{"from":"a","guest":"x","detail":"some"}"#)
                .is_err()
        );

        let v = verdict();
        let full = serde_json::to_value(TargetVerdict::from(v.clone())).expect("json");
        let mut keys: Vec<&str> = full
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        keys.sort_unstable();
        assert_eq!(keys, ["compatible", "from", "reasons", "to"]);
        assert_eq!(
            full["reasons"],
            serde_json::to_value(&v.reasons).expect("json")
        );
        // A compatible verdict without reasons still has its empty list.
        let mut empty = v.clone();
        empty.reasons.clear();
        empty.compatible = true;
        let full = serde_json::to_value(TargetVerdict::from(empty)).expect("json");
        assert_eq!(full["reasons"], serde_json::json!([]));
    }

    #[test]
    fn briefs_count_the_reasons_they_replace() {
        let v = verdict();
        assert!(!v.compatible);
        let t = TargetVerdict::briefly(v.clone());
        let json = serde_json::to_value(&t).expect("json");
        assert!(json.get("reasons").is_none(), "{json}");
        assert!(
            json["n_blockers"].is_u64() && json["sentence"].is_string(),
            "{json}"
        );
        // Read back as it was written, and a full verdict reads without a brief.
        let back: TargetVerdict = serde_json::from_value(json).expect("brief verdict");
        assert_eq!(back, t);
        let full: TargetVerdict = serde_json::from_value(
            serde_json::to_value(TargetVerdict::from(v.clone())).expect("json"),
        )
        .expect("full verdict");
        assert!(full.brief.is_none() && full.reasons.is_some());
        let b = t.brief.expect("brief");
        let count = |s: Severity| v.reasons.iter().filter(|r| r.severity == s).count();
        assert_eq!(
            (b.n_blockers, b.n_warnings, b.n_info),
            (
                count(Severity::Blocker),
                count(Severity::Warning),
                count(Severity::Info)
            )
        );
        assert_eq!(b.blockers.iter().map(|c| c.n).sum::<usize>(), b.n_blockers);
        let mut rules: Vec<&str> = Vec::new();
        for r in v.reasons.iter().filter(|r| r.severity == Severity::Blocker) {
            if !rules.contains(&r.rule.as_str()) {
                rules.push(&r.rule);
            }
        }
        let briefed: Vec<&str> = b.blockers.iter().map(|c| c.rule.as_str()).collect();
        assert_eq!(briefed, rules);
        // The missing TSX features are named by their family.
        assert!(b.sentence.starts_with("Blocked by "), "{}", b.sentence);
        assert!(b.sentence.contains("TSX"), "{}", b.sentence);
        let ok = VerdictBrief::of(true, &[]);
        assert_eq!(ok.sentence, "Compatible: guests can move this way.");
        assert!(ok.blockers.is_empty());
    }
}
