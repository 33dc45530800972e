//! libvirt's `<cpudata>` XML and the QMP replies libvirt's CPU test data keeps beside it.

use serde_json::Value;

use super::ImportError;
use crate::featureset::FeatureSet;
use crate::profile::{CpuidEntry, MsrValue};

/// A libvirt `<cpudata arch='x86'>` document (libvirt's tests/cputestdata `x86_64-cpuid-*.xml`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct CpuData {
    pub cpuid: Vec<CpuidEntry>,
    pub msrs: Vec<MsrValue>,
    /// The brand string libvirt's test data keeps in a leading XML comment, if any.
    pub comment: Option<String>,
}

fn hex_attr(
    node: roxmltree::Node<'_, '_>,
    name: &str,
    doc: &roxmltree::Document<'_>,
) -> Result<u32, ImportError> {
    let line = doc.text_pos_at(node.range().start).row;
    let raw = node.attribute(name).ok_or_else(|| ImportError::Content {
        line,
        message: format!("<{}> has no {name} attribute", node.tag_name().name()),
    })?;
    u32::from_str_radix(raw.trim().trim_start_matches("0x"), 16).map_err(|e| ImportError::Content {
        line,
        message: format!("{name}='{raw}' is not a hex number: {e}"),
    })
}

/// Parse libvirt's `<cpudata>` XML: `<cpuid eax_in= ecx_in= eax= ebx= ecx= edx=/>` and
/// `<msr index= edx= eax=/>` elements.
pub fn parse_libvirt_cpudata(text: &str) -> Result<CpuData, ImportError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| ImportError::Xml {
        line: e.pos().row,
        message: e.to_string(),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "cpudata" {
        return Err(ImportError::Content {
            line: doc.text_pos_at(root.range().start).row,
            message: format!(
                "root element is <{}>, expected <cpudata>",
                root.tag_name().name()
            ),
        });
    }
    let mut data = CpuData {
        comment: doc
            .root()
            .children()
            .find(|n| n.is_comment())
            .and_then(|n| n.text())
            .map(|t| t.trim().to_owned()),
        ..CpuData::default()
    };
    for node in root.children().filter(roxmltree::Node::is_element) {
        match node.tag_name().name() {
            "cpuid" => data.cpuid.push(CpuidEntry {
                leaf: hex_attr(node, "eax_in", &doc)?,
                subleaf: hex_attr(node, "ecx_in", &doc)?,
                eax: hex_attr(node, "eax", &doc)?,
                ebx: hex_attr(node, "ebx", &doc)?,
                ecx: hex_attr(node, "ecx", &doc)?,
                edx: hex_attr(node, "edx", &doc)?,
            }),
            "msr" => {
                let edx = hex_attr(node, "edx", &doc)?;
                let eax = hex_attr(node, "eax", &doc)?;
                data.msrs.push(MsrValue {
                    index: hex_attr(node, "index", &doc)?,
                    value: (u64::from(edx) << 32) | u64::from(eax),
                });
            }
            _ => {}
        }
    }
    if data.cpuid.is_empty() {
        return Err(ImportError::Missing(
            "the <cpudata> element holds no <cpuid> entries".into(),
        ));
    }
    Ok(data)
}

/// Split a file of concatenated JSON objects (QMP replies as libvirt's test data keeps them).
pub fn split_json_stream(text: &str) -> Result<Vec<Value>, ImportError> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ImportError::Json(e.to_string()))
}

/// The guest view QEMU reported for model `host` under KVM: the boolean properties of a
/// `query-cpu-model-expansion` reply that are true and name a catalog feature. Properties that
/// are not CPU features (`kvm`, `check`, `pmu`...) are not in the catalog and are skipped.
pub fn qmp_host_model_features(text: &str) -> Result<FeatureSet, ImportError> {
    let replies = split_json_stream(text)?;
    let props = replies
        .iter()
        .find_map(|r| r.pointer("/return/model/props").and_then(Value::as_object))
        .ok_or_else(|| {
            ImportError::Missing(
                "no query-cpu-model-expansion reply (return.model.props) in the QMP data".into(),
            )
        })?;
    let names = props
        .iter()
        .filter(|(_, v)| v.as_bool() == Some(true))
        .map(|(k, _)| k.as_str());
    Ok(FeatureSet::from_names(names).0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpudata_parses_and_reports_bad_lines() {
        let xml = "<!-- Some CPU -->\n<cpudata arch='x86'>\n  <cpuid eax_in='0x00000000' ecx_in='0x00' eax='0x00000016' ebx='0x756e6547' ecx='0x6c65746e' edx='0x49656e69'/>\n  <msr index='0x10a' edx='0x1' eax='0x0000000b'/>\n</cpudata>\n";
        let d = parse_libvirt_cpudata(xml).unwrap();
        assert_eq!(d.cpuid.len(), 1);
        assert_eq!(d.msrs[0].value, 0x1_0000_000b);
        assert_eq!(d.comment.as_deref(), Some("Some CPU"));
        let bad = xml.replace("eax='0x00000016'", "eax='zz'");
        let err = parse_libvirt_cpudata(&bad).unwrap_err();
        assert!(matches!(err, ImportError::Content { line: 3, .. }), "{err}");
        assert!(matches!(
            parse_libvirt_cpudata("<cpudata>"),
            Err(ImportError::Xml { .. })
        ));
    }

    #[test]
    fn qmp_props_become_features() {
        let json = r#"{"return":{"model":{"name":"base","props":{"avx2":true,"sse4.1":true,"pmu":true,"avx512f":false}}}}"#;
        let f = qmp_host_model_features(json).unwrap();
        assert_eq!(f.names(), vec!["sse4.1", "avx2"]);
        assert!(qmp_host_model_features("{}").is_err());
    }
}
