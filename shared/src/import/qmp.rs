//! QMP replies about a QEMU binary (`query-version`, `query-machines`, `query-cpu-definitions`)
//! and libvirt's QMP test data. Shared by the collector's live QMP probe and `import`.

use serde_json::Value;

use super::{Format, Identity, ImportError, Imported, qmp_host_model_features, split_json_stream};
use crate::featureset::FeatureSet;
use crate::profile::{QemuCpuModel, QemuInstall, QemuMachine};

/// `query-version`'s return: (`7.2.19`, package suffix).
pub fn parse_version(ret: &Value) -> Option<(String, String)> {
    let q = ret.get("qemu")?;
    let n = |k: &str| q.get(k).and_then(Value::as_u64);
    let version = format!("{}.{}.{}", n("major")?, n("minor")?, n("micro")?);
    let package = ret
        .get("package")
        .and_then(Value::as_str)
        .unwrap_or("")
        .trim()
        .to_owned();
    Some((version, package))
}

/// `query-machines`' return, sorted by name.
pub fn parse_machines(ret: &Value) -> Vec<QemuMachine> {
    let mut out: Vec<QemuMachine> = ret
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| {
            Some(QemuMachine {
                name: m.get("name")?.as_str()?.to_owned(),
                alias: m.get("alias").and_then(Value::as_str).map(str::to_owned),
                is_default: m.get("is-default").and_then(Value::as_bool) == Some(true),
                deprecated: m.get("deprecated").and_then(Value::as_bool) == Some(true),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// `query-cpu-definitions`' return, sorted by name. A model is usable when QEMU reports an empty
/// `unavailable-features` list for it; without that list it is not claimed usable.
pub fn parse_cpu_definitions(ret: &Value) -> Vec<QemuCpuModel> {
    let mut out: Vec<QemuCpuModel> = ret
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| {
            let unavailable = m.get("unavailable-features").and_then(Value::as_array);
            let mut unavailable_features: Vec<String> = unavailable
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            unavailable_features.sort();
            Some(QemuCpuModel {
                name: m.get("name")?.as_str()?.to_owned(),
                usable: unavailable.is_some() && unavailable_features.is_empty(),
                unavailable_features,
                alias_of: m.get("alias-of").and_then(Value::as_str).map(str::to_owned),
                deprecated: m.get("deprecated").and_then(Value::as_bool) == Some(true),
                migration_safe: m.get("migration-safe").and_then(Value::as_bool),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The catalog features a `query-cpu-model-expansion` return marks true.
pub fn expansion_features(ret: &Value) -> FeatureSet {
    let names = ret
        .pointer("/model/props")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter(|(_, v)| v.as_bool() == Some(true))
        .map(|(k, _)| k.as_str());
    FeatureSet::from_names(names).0
}

/// libvirt's `x86_64-cpuid-*.json`: QEMU's `host` model expansion under KVM (the guest view and
/// the identity QEMU saw) and, in some files, `query-cpu-definitions`.
pub fn parse_libvirt_qmp(text: &str) -> Result<Imported, ImportError> {
    let replies = split_json_stream(text)?;
    let guest_view = qmp_host_model_features(text)?;
    let props = replies
        .iter()
        .find_map(|r| r.pointer("/return/model/props"))
        .cloned()
        .unwrap_or_default();
    let s = |k: &str| {
        props
            .get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .trim()
            .to_owned()
    };
    let n = |k: &str| {
        props
            .get(k)
            .and_then(Value::as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    };
    let identity = Identity {
        vendor: s("vendor"),
        family: n("family"),
        model: n("model"),
        stepping: n("stepping"),
        brand: s("model-id"),
    };
    let qemu = replies
        .iter()
        .filter_map(|r| r.get("return"))
        .find(|r| {
            r.as_array()
                .and_then(|a| a.first())
                .is_some_and(|m| m.get("unavailable-features").is_some())
        })
        .map(|r| QemuInstall {
            path: "(imported)".into(),
            accel: "kvm".into(),
            cpu_models: parse_cpu_definitions(r).into(),
            ..QemuInstall::default()
        });
    Ok(Imported {
        identity: Some(identity),
        guest_view: Some(guest_view),
        qemu,
        ..Imported::new(Format::LibvirtQmpJson)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machines_and_models() {
        let m: Value = serde_json::from_str(r#"[{"name":"pc-q35-7.2","alias":"q35","is-default":false,"deprecated":false},{"name":"pc-i440fx-1.4","deprecated":true},{"name":"none"}]"#).unwrap();
        let ms = parse_machines(&m);
        assert_eq!(ms[2].alias.as_deref(), Some("q35"));
        assert!(ms[1].deprecated);
        let d: Value = serde_json::from_str(r#"[{"name":"EPYC","alias-of":"EPYC-v1","unavailable-features":["xsaves"],"migration-safe":true},{"name":"qemu64","unavailable-features":[]},{"name":"odd"}]"#).unwrap();
        let ds = parse_cpu_definitions(&d);
        assert!(!ds[0].usable && ds[0].unavailable_features == vec!["xsaves"]);
        assert!(
            !ds[1].usable,
            "no unavailable-features list: not claimed usable"
        );
        assert!(ds[2].usable);
        let v: Value = serde_json::from_str(
            r#"{"qemu":{"major":7,"minor":2,"micro":19},"package":"Debian 1:7.2"}"#,
        )
        .unwrap();
        assert_eq!(
            parse_version(&v),
            Some(("7.2.19".into(), "Debian 1:7.2".into()))
        );
    }
}
