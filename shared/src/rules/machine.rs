//! QEMU version and machine type (qemu-devel "migration compatibility" thread, and QEMU's
//! docs/devel/migration/compatibility.rst): migration requires the same machine type on
//! both sides; older QEMU to newer with the older machine type is supported upstream, newer to
//! older works by design but only some distributions promise it; a machine type the destination
//! QEMU lacks is impossible. Known-broken releases are kept as data: the errata table
//! (`shared/data/qemu-errata.tsv`), extendable without a release.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::{glob, qemu_install, qemu_version, reason, values};
use crate::models::QemuVersion;
use crate::policy::{GuestConfig, Policy};
use crate::profile::{HostProfile, QemuInstall};
use crate::reason::{Evidence, Layer, Reason, Severity};

const ERRATA_TSV: &str = include_str!("../../data/qemu-errata.tsv");

/// One known-broken (origin QEMU, destination QEMU, machine type) combination.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Erratum {
    pub id: String,
    /// Version pattern of the QEMU the guest was powered on with: `*`, `8.0.0`, `!8.0.0`, `>=8.0.1`, `<8.0.0`.
    pub origin_qemu: String,
    /// Version pattern of the destination QEMU.
    pub dst_qemu: String,
    /// Machine-type glob, e.g. `pc-*-7.2`, or a version bound over every versioned machine type,
    /// e.g. `<8.0` ([`machine_matches`]).
    pub machine: String,
    /// `DRIVER.PROP=VALUE` the destination needs, `None` when nothing helps.
    pub property: Option<String>,
    pub workaround: String,
    pub source: String,
}

/// Does `v` match a version pattern? `None` for a malformed pattern.
pub fn version_matches(pattern: &str, v: QemuVersion) -> Option<bool> {
    let p = pattern.trim();
    if p == "*" {
        return Some(true);
    }
    let (op, rest) = [">=", "<=", "!", ">", "<", "="]
        .iter()
        .find_map(|op| p.strip_prefix(op).map(|r| (*op, r)))
        .unwrap_or(("=", p));
    let want = QemuVersion::parse(rest)?;
    Some(match op {
        ">=" => v >= want,
        "<=" => v <= want,
        ">" => v > want,
        "<" => v < want,
        "!" => v != want,
        _ => v == want,
    })
}

/// Parse an errata table (the format of `shared/data/qemu-errata.tsv`): `#` comments, a header
/// line starting with `id`, then 7 tab-separated columns per row.
pub fn parse_errata(text: &str) -> Result<Vec<Erratum>, String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.starts_with('#') || line.starts_with("id\t") {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        if cols.len() != 7 {
            return Err(format!(
                "errata line {}: {} columns, expected 7 (id, origin_qemu, dst_qemu, machine, property, workaround, source) separated by tabs",
                n + 1,
                cols.len()
            ));
        }
        for (name, pat) in [("origin_qemu", cols[1]), ("dst_qemu", cols[2])] {
            if version_matches(pat, QemuVersion::default()).is_none() {
                return Err(format!(
                    "errata line {}: {name} '{pat}' is not a version pattern (*, 8.0.0, !8.0.0, >=8.0.1, <8.0.0)",
                    n + 1
                ));
            }
        }
        let property = match cols[4].trim() {
            "" | "-" => None,
            p if p.contains('=') && p.contains('.') => Some(p.to_owned()),
            p => {
                return Err(format!(
                    "errata line {}: property '{p}' is not DRIVER.PROP=VALUE or -",
                    n + 1
                ));
            }
        };
        out.push(Erratum {
            id: cols[0].trim().to_owned(),
            origin_qemu: cols[1].trim().to_owned(),
            dst_qemu: cols[2].trim().to_owned(),
            machine: cols[3].trim().to_owned(),
            property,
            workaround: cols[5].trim().to_owned(),
            source: cols[6].trim().to_owned(),
        });
    }
    Ok(out)
}

/// The shipped errata table.
pub fn builtin_errata() -> &'static [Erratum] {
    static E: OnceLock<Vec<Erratum>> = OnceLock::new();
    E.get_or_init(|| match parse_errata(ERRATA_TSV) {
        Ok(e) => e,
        Err(e) => unreachable!("shared/data/qemu-errata.tsv is ours and parses: {e}"),
    })
}

/// Does a machine type match an errata row's machine column: a version bound (`<8.0`, `<=7.2`,
/// `>=8.0`...) over the version at the end of the type's name (`pc-q35-7.2`, `virt-7.1`), or
/// else a glob.
pub fn machine_matches(pattern: &str, machine: &str) -> bool {
    let p = pattern.trim();
    let bound = [">=", "<=", ">", "<"]
        .iter()
        .find_map(|op| p.strip_prefix(op).map(|r| (*op, r)));
    match bound {
        Some((op, rest)) => {
            let (Some(have), Some((a, b))) =
                (crate::guest::machine_version(machine), rest.split_once('.'))
            else {
                return false;
            };
            let (Ok(a), Ok(b)) = (a.parse::<u32>(), b.parse::<u32>()) else {
                return false;
            };
            let want = (a, b);
            match op {
                ">=" => have >= want,
                "<=" => have <= want,
                ">" => have > want,
                _ => have < want,
            }
        }
        None => glob(p, machine),
    }
}

/// The concrete machine type a QEMU starts for `-machine given` (its default without one).
pub fn resolved_machine<'a>(q: Option<&'a QemuInstall>, given: Option<&str>) -> Option<&'a str> {
    let q = q?;
    match given {
        Some(g) => resolve_machine(q, g),
        None => default_machine(q),
    }
}

/// The machine type a QEMU starts without `-machine` (`query-machines` `is-default`).
pub fn default_machine(q: &QemuInstall) -> Option<&str> {
    q.machines
        .iter()
        .find(|m| m.is_default)
        .map(|m| m.name.as_str())
}

/// A machine type or alias resolved against one QEMU's `query-machines`.
pub fn resolve_machine<'a>(q: &'a QemuInstall, name: &str) -> Option<&'a str> {
    q.machines
        .iter()
        .find(|m| m.name == name)
        .or_else(|| q.machines.iter().find(|m| m.alias.as_deref() == Some(name)))
        .map(|m| m.name.as_str())
}

/// Machine type, direction and errata rules:
/// - `qemu.machine-missing` (blocker): the destination QEMU lacks the guest's exact machine type;
/// - `qemu.machine-alias-resolved` (info): an alias (`q35`, `pc`) resolved on the source; the
///   destination must be started with the resolved name, not the alias, which differs per release;
/// - `qemu.machine-alias-unresolved` (warning): an alias with no source QEMU data to resolve it;
/// - `qemu.machine-default-resolved` (info): no machine type given: the source QEMU's default,
///   then checked like a given one;
/// - `qemu.older-to-newer` (info) / `qemu.newer-to-older` (warning) / `qemu.machines-unknown`;
/// - `qemu.machine-resolves-differently` (blocker) / `qemu.machine-pin-needed` (info): the same
///   definition (an alias, or no machine type) resolves to another type on the destination's
///   QEMU; a blocker for QEMU command lines, an info where libvirt pins the resolved type;
/// - `qemu.erratum` (blocker, or info when the workaround property is set): a row of the errata table.
pub fn machine_rules(
    src: &HostProfile,
    dst: &HostProfile,
    guest: &GuestConfig,
    dst_guest: &GuestConfig,
    policy: &Policy,
    reasons: &mut Vec<Reason>,
) {
    // An install probed without its machine list says nothing about machine types.
    let sq = qemu_install(src, policy.src_qemu).filter(|q| !q.machines.is_empty());
    let dq = qemu_install(dst, policy.dst_qemu).filter(|q| !q.machines.is_empty());
    let sv = qemu_version(src, policy.src_qemu);
    let dv = qemu_version(dst, policy.dst_qemu);
    let layer = Layer::QemuMachine;
    // Without -machine QEMU starts its default machine type (QEMU system/vl.c
    // `find_default_machine`: the one whose class has `is_default`), which moves with each
    // release: the running guest has the source's.
    let Some(given) = guest.machine.as_deref().or_else(|| {
        let m = default_machine(sq?)?;
        // Said only where it matters: the destination's QEMU has another default, or an unknown
        // one (a different default is judged below).
        if dq.and_then(default_machine) == Some(m) {
            return Some(m);
        }
        reasons.push(reason(
            layer,
            Severity::Info,
            "qemu.machine-default-resolved",
            format!(
                "the guest names no machine type: QEMU{} on the source starts its default, {m}; start the destination with -machine {m}, since the default changes with each release",
                sv.map_or_else(String::new, |v| format!(" {v}"))
            ),
            values("(none)", m),
        ));
        Some(m)
    }) else {
        return;
    };
    let machine_ev = |q: Option<QemuVersion>| Evidence::Model {
        model: given.to_owned(),
        qemu: q.map(|v| v.to_string()),
    };
    // Started from the same definition, the destination's QEMU resolves the default or the alias
    // itself, and refuses a stream of another machine type (QEMU migration/savevm.c
    // `vmstate_configuration`: "Machine type received is '%s' and local is '%s'").
    // (A destination definition of its own that names another type is the ABI check's.)
    if let (Some(src_m), Some(dst_m)) = (
        resolved_machine(sq, guest.machine.as_deref()),
        resolved_machine(dq, dst_guest.machine.as_deref()),
    ) && src_m != dst_m
        && guest.machine == dst_guest.machine
    {
        let pinned_by_libvirt = policy.stack_for(guest) == crate::policy::ManagementStack::Libvirt
            || (policy.stack.is_none() && guest.managed_by.is_none());
        let what = guest
            .machine
            .as_deref()
            .map_or_else(|| "no -machine".to_owned(), |m| format!("-machine {m}"));
        reasons.push(if pinned_by_libvirt {
            reason(
                layer,
                Severity::Info,
                "qemu.machine-pin-needed",
                format!(
                    "{what} is {src_m} on the source's QEMU but {dst_m} on the destination's: the destination must be started with -machine {src_m} (libvirt writes the resolved type into the domain, so libvirt guests are)"
                ),
                values(src_m, dst_m),
            )
        } else {
            reason(
                layer,
                Severity::Blocker,
                "qemu.machine-resolves-differently",
                format!(
                    "{what} is {src_m} on the source's QEMU but {dst_m} on the destination's: started from the same command line, the destination refuses the stream (\"Machine type received is '{src_m}' and local is '{dst_m}'\"); start it with -machine {src_m}"
                ),
                values(src_m, dst_m),
            )
        });
    }

    // Resolve aliases on the source: the running guest has the concrete type.
    let machine = match sq.and_then(|q| resolve_machine(q, given)) {
        Some(m) => {
            if m != given {
                reasons.push(reason(
                    layer,
                    Severity::Info,
                    "qemu.machine-alias-resolved",
                    format!(
                        "machine type alias '{given}' is {m} on the source's QEMU{}: start the destination with -machine {m}, not the alias (aliases move with each QEMU release)",
                        sv.map_or_else(String::new, |v| format!(" {v}"))
                    ),
                    values(given, m),
                ));
            }
            m.to_owned()
        }
        None => {
            if sq.is_some() {
                reasons.push(reason(
                    layer,
                    Severity::Warning,
                    "qemu.machine-missing-on-source",
                    format!(
                        "the source's QEMU does not list machine type {given}: no guest of this configuration can be running there"
                    ),
                    machine_ev(sv),
                ));
            } else if crate::guest::machine_version(given).is_none() {
                reasons.push(reason(
                    layer,
                    Severity::Warning,
                    "qemu.machine-alias-unresolved",
                    format!(
                        "machine type '{given}' looks like an alias and the source's QEMU machine list is unknown: the concrete type cannot be checked on the destination"
                    ),
                    machine_ev(sv),
                ));
            }
            given.to_owned()
        }
    };

    match dq {
        Some(q) if q.machines.iter().any(|m| m.name == machine) => {}
        Some(_) => reasons.push(reason(
            layer,
            Severity::Blocker,
            "qemu.machine-missing",
            format!(
                "the destination's QEMU{} lacks machine type {machine}: it cannot start the guest's machine (QEMU docs/devel/migration/compatibility.rst: both sides need the same machine type)",
                dv.map_or_else(String::new, |v| format!(" {v}"))
            ),
            Evidence::Model {
                model: machine.clone(),
                qemu: dv.map(|v| v.to_string()),
            },
        )),
        None => reasons.push(reason(
            layer,
            Severity::Info,
            "qemu.machines-unknown",
            format!(
                "the destination's QEMU machine types are unknown: not checked that it has {machine}"
            ),
            Evidence::Model {
                model: machine.clone(),
                qemu: dv.map(|v| v.to_string()),
            },
        )),
    }

    if let (Some(a), Some(b)) = (sv, dv) {
        match a.cmp(&b) {
            std::cmp::Ordering::Less => reasons.push(reason(
                layer,
                Severity::Info,
                "qemu.older-to-newer",
                format!(
                    "QEMU {a} to {b} with machine type {machine}: older to newer is supported upstream (QEMU docs/devel/migration/compatibility.rst)"
                ),
                values(a.to_string(), b.to_string()),
            )),
            std::cmp::Ordering::Greater => reasons.push(reason(
                layer,
                Severity::Warning,
                "qemu.newer-to-older",
                format!(
                    "QEMU {a} to {b} with machine type {machine}: newer to older is meant to work through the machine type's compat properties (QEMU docs/devel/migration/compatibility.rst, hw_compat_X_Y), but it is the direction a missing compat entry breaks: test this pair"
                ),
                values(a.to_string(), b.to_string()),
            )),
            std::cmp::Ordering::Equal => {}
        }
    }

    // Errata follow the QEMU the guest was powered on with.
    let origin = guest.started_on_qemu.or(sv);
    let (Some(origin), Some(dv)) = (origin, dv) else {
        return;
    };
    for e in policy.extra_errata.iter().chain(builtin_errata()) {
        if !machine_matches(&e.machine, &machine)
            || version_matches(&e.origin_qemu, origin) != Some(true)
            || version_matches(&e.dst_qemu, dv) != Some(true)
        {
            continue;
        }
        let applied = e
            .property
            .as_deref()
            .is_some_and(|p| property_set(guest, p));
        let (severity, state) = if applied {
            (
                Severity::Info,
                "the workaround property is set: keep it on every destination until the guest is powered off",
            )
        } else {
            (Severity::Blocker, "the migration fails")
        };
        reasons.push(reason(
            layer,
            severity,
            "qemu.erratum",
            format!(
                "known-broken combination {} (guest started on QEMU {origin}, destination QEMU {dv}, machine {machine}): {state}; workaround: {} (source: {})",
                e.id, e.workaround, e.source
            ),
            values(origin.to_string(), dv.to_string()),
        ));
    }
}

/// Is `DRIVER.PROP=VALUE` set on the guest, as a -global or on a device of that driver?
fn property_set(guest: &GuestConfig, property: &str) -> bool {
    let Some((key, value)) = property.split_once('=') else {
        return false;
    };
    let Some((driver, prop)) = key.split_once('.') else {
        return false;
    };
    let eq = |v: &str| crate::guest::parse_bool(v) == crate::guest::parse_bool(value) || v == value;
    guest.globals.get(key).is_some_and(|v| eq(v))
        || guest
            .devices
            .iter()
            .any(|d| (driver == "pci-device" || d.driver == driver) && d.prop(prop).is_some_and(eq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{profile_named, with_qemu_machines};
    use crate::verdict::compare_with;

    fn with_qemu(id: &str, version: &str, machines: &[(&str, Option<&str>)]) -> HostProfile {
        with_qemu_machines(
            profile_named(id, "GenuineIntel", &["sse2"]),
            version,
            machines,
        )
    }

    fn q72() -> HostProfile {
        with_qemu(
            "q72",
            "7.2.22",
            &[("pc-q35-7.2", Some("q35")), ("pc-i440fx-7.2", Some("pc"))],
        )
    }
    fn q100() -> HostProfile {
        with_qemu(
            "q100",
            "10.0.2",
            &[
                ("pc-q35-7.2", None),
                ("pc-q35-10.0", Some("q35")),
                ("pc-i440fx-7.2", None),
            ],
        )
    }
    fn guest(machine: &str) -> GuestConfig {
        GuestConfig {
            machine: Some(machine.into()),
            ..GuestConfig::default()
        }
    }
    fn rules(v: &crate::verdict::Verdict) -> Vec<(&str, Severity)> {
        v.reasons
            .iter()
            .map(|r| (r.rule.as_str(), r.severity))
            .collect()
    }

    #[test]
    fn seed_002_directions_and_missing_machine_types() {
        let p = Policy::default();
        let up = compare_with(&q72(), &q100(), &guest("pc-q35-7.2"), &p);
        assert!(up.compatible, "{:?}", up.reasons);
        assert!(rules(&up).contains(&("qemu.older-to-newer", Severity::Info)));
        let down = compare_with(&q100(), &q72(), &guest("pc-q35-7.2"), &p);
        assert!(down.compatible);
        assert!(rules(&down).contains(&("qemu.newer-to-older", Severity::Warning)));
        let new_type = compare_with(&q100(), &q72(), &guest("pc-q35-10.0"), &p);
        assert!(!new_type.compatible);
        assert!(rules(&new_type).contains(&("qemu.machine-missing", Severity::Blocker)));
    }

    #[test]
    fn aliases_resolve_per_qemu_release() {
        // q35 is pc-q35-10.0 on 10.0, which 7.2 lacks.
        let v = compare_with(&q100(), &q72(), &guest("q35"), &Policy::default());
        assert!(rules(&v).contains(&("qemu.machine-missing", Severity::Blocker)));
        assert!(rules(&v).contains(&("qemu.machine-alias-resolved", Severity::Info)));
        // q35 is pc-q35-7.2 on 7.2, which 10.0 has.
        let v = compare_with(&q72(), &q100(), &guest("q35"), &Policy::default());
        assert!(v.compatible, "{:?}", v.reasons);
        let mut bare = q72();
        bare.qemu.clear();
        let v = compare_with(&bare, &q100(), &guest("q35"), &Policy::default());
        assert!(rules(&v).contains(&("qemu.machine-alias-unresolved", Severity::Warning)));
    }

    #[test]
    fn the_8_0_0_erratum_and_its_sticky_workaround() {
        let q800 = with_qemu("q800", "8.0.0", &[("pc-q35-7.2", None)]);
        let q801 = with_qemu("q801", "8.0.1", &[("pc-q35-7.2", None)]);
        let q820 = with_qemu("q820", "8.2.0", &[("pc-q35-7.2", None)]);
        let p = Policy::default();
        let v = compare_with(&q800, &q801, &guest("pc-q35-7.2"), &p);
        assert!(!v.compatible);
        let r = v
            .reasons
            .iter()
            .find(|r| r.rule == "qemu.erratum")
            .expect("erratum");
        assert!(r.message.contains("x-pcie-err-unc-mask"), "{}", r.message);
        // With the property set it is an info.
        let mut fixed = guest("pc-q35-7.2");
        fixed
            .globals
            .insert("pci-device.x-pcie-err-unc-mask".into(), "on".into());
        let v = compare_with(&q800, &q801, &fixed, &p);
        assert!(v.compatible, "{:?}", v.reasons);
        // Sticky: started on 8.0.0, now on 8.0.1, going to 8.2.0: still needed.
        let mut moved = guest("pc-q35-7.2");
        moved.started_on_qemu = QemuVersion::parse("8.0.0");
        let v = compare_with(&q801, &q820, &moved, &p);
        assert!(rules(&v).contains(&("qemu.erratum", Severity::Blocker)));
        // Into 8.0.0 from elsewhere: nothing helps.
        let v = compare_with(&q72(), &q800, &guest("pc-q35-7.2"), &p);
        assert!(rules(&v).contains(&("qemu.erratum", Severity::Blocker)));
        // Other machine types are not affected.
        let v = compare_with(&q800, &q801, &guest("pc-q35-8.0"), &p);
        assert!(!rules(&v).iter().any(|r| r.0 == "qemu.erratum"));
        // Every machine type before 8.0 is (hw_compat_7_2 applies to all of them), i440fx too.
        let old_pc = |id, v| with_qemu(id, v, &[("pc-i440fx-6.2", None)]);
        let v = compare_with(
            &old_pc("a", "8.0.0"),
            &old_pc("b", "8.0.1"),
            &guest("pc-i440fx-6.2"),
            &p,
        );
        assert!(
            rules(&v).contains(&("qemu.erratum", Severity::Blocker)),
            "{:?}",
            v.reasons
        );
        // From 8.0.0 back to a release without the property: no workaround, a blocker.
        let v = compare_with(
            &old_pc("a", "8.0.0"),
            &old_pc("c", "7.2.0"),
            &fixed_i440(),
            &p,
        );
        let r = v
            .reasons
            .iter()
            .find(|r| r.rule == "qemu.erratum")
            .expect("erratum to 7.2");
        assert_eq!(r.severity, Severity::Blocker);
        assert!(r.message.contains("to-older"), "{}", r.message);
        assert!(machine_matches("<8.0", "virt-7.2") && !machine_matches("<8.0", "pc-q35-8.0"));
        assert!(machine_matches("pc-*-7.2", "pc-q35-7.2") && !machine_matches("<8.0", "q35"));
    }

    fn fixed_i440() -> GuestConfig {
        let mut g = guest("pc-i440fx-6.2");
        g.globals
            .insert("pci-device.x-pcie-err-unc-mask".into(), "on".into());
        g
    }

    #[test]
    fn user_errata_extend_the_table_and_bad_ones_are_refused() {
        let extra = parse_errata(
            "id\torigin_qemu\tdst_qemu\tmachine\tproperty\tworkaround\tsource\n\
             my-bug\t>=10.0.0\t<10.0.0\tpc-q35-7.2\t-\tdo not go back\tour lab\n",
        )
        .expect("parses");
        let p = Policy {
            extra_errata: extra,
            ..Policy::default()
        };
        let v = compare_with(&q100(), &q72(), &guest("pc-q35-7.2"), &p);
        assert!(!v.compatible);
        assert!(v.reasons.iter().any(|r| r.message.contains("my-bug")));
        assert!(parse_errata("a\tb\n").expect_err("columns").contains("7"));
        assert!(parse_errata("x\tnot-a-version\t*\tpc\t-\tw\ts\n").is_err());
        assert!(parse_errata("x\t*\t*\tpc\tnoequals\tw\ts\n").is_err());
        assert!(!builtin_errata().is_empty());
        assert_eq!(builtin_errata()[0].origin_qemu, "8.0.0");
    }
}
