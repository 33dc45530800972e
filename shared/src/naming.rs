//! Human names for what the UI, the API and the command line show: a class is named by what it
//! is ("Xeon Gold 6148 · Skylake-SP · cluster=fra-sky-01 · 16 hosts"), a pool by the best named
//! model all its hosts run, and missing features are counted by family ("AVX-512 (6), TSX (2)").
//!
//! Everything here is pure. [`fleet_names`] asks the engine's public functions (`best_model`,
//! `baseline`) for the models; the rest are small tables the web UI may link too (no catalog).

use std::collections::{BTreeMap, BTreeSet};

use crate::graph::CompatGraph;
use crate::profile::HostProfile;

/// The processor generation of a CPUID signature, as vendors and operators say it
/// ("Skylake-SP", "Zen 3"); `None` when the table does not know it.
pub fn generation(vendor: &str, family: u32, model: u32, stepping: u32) -> Option<&'static str> {
    match vendor {
        "GenuineIntel" if family == 6 => intel_family6(model, stepping),
        "GenuineIntel" if family == 15 => Some("NetBurst"),
        "AuthenticAMD" => amd(family, model),
        "HygonGenuine" if family == 0x18 => Some("Dhyana (Zen)"),
        "CentaurHauls" | "  Shanghai  " => Some("Zhaoxin"),
        _ => None,
    }
}

fn intel_family6(model: u32, stepping: u32) -> Option<&'static str> {
    Some(match model {
        0x0f | 0x16 => "Merom",
        0x17 | 0x1d => "Penryn",
        0x1a | 0x1e | 0x1f | 0x2e => "Nehalem",
        0x25 | 0x2c | 0x2f => "Westmere",
        0x2a => "Sandy Bridge",
        0x2d => "Sandy Bridge-EP",
        0x3a => "Ivy Bridge",
        0x3e => "Ivy Bridge-EP",
        0x3c | 0x45 | 0x46 => "Haswell",
        0x3f => "Haswell-EP",
        0x3d | 0x47 => "Broadwell",
        0x4f | 0x56 => "Broadwell-EP",
        0x4e | 0x5e => "Skylake",
        0x55 if stepping >= 10 => "Cooper Lake",
        0x55 if stepping >= 5 => "Cascade Lake-SP",
        0x55 => "Skylake-SP",
        0x8e | 0x9e => "Kaby/Coffee Lake",
        0x66 => "Cannon Lake",
        0x7d | 0x7e => "Ice Lake",
        0x6a | 0x6c => "Ice Lake-SP",
        0x8c | 0x8d => "Tiger Lake",
        0xa5 | 0xa6 => "Comet Lake",
        0xa7 => "Rocket Lake",
        0x97 | 0x9a => "Alder Lake",
        0xb7 | 0xba | 0xbf => "Raptor Lake",
        0x8f => "Sapphire Rapids",
        0xcf => "Emerald Rapids",
        0xad | 0xae => "Granite Rapids",
        0xaf => "Sierra Forest",
        0x1c | 0x26 | 0x27 | 0x35 | 0x36 => "Bonnell (Atom)",
        0x37 | 0x4a | 0x4d | 0x5a | 0x5d => "Silvermont (Atom)",
        0x4c => "Airmont (Atom)",
        0x5c | 0x5f => "Goldmont (Atom)",
        0x7a => "Goldmont Plus (Atom)",
        0x86 | 0x96 | 0x9c => "Tremont (Atom)",
        _ => return None,
    })
}

fn amd(family: u32, model: u32) -> Option<&'static str> {
    Some(match (family, model) {
        (0x0f, _) => "K8",
        (0x10, _) => "K10",
        (0x12, _) => "Llano",
        (0x14, _) => "Bobcat",
        (0x15, 0x00..=0x0f) => "Bulldozer",
        (0x15, 0x10..=0x2f) => "Piledriver",
        (0x15, 0x30..=0x3f) => "Steamroller",
        (0x15, _) => "Excavator",
        (0x16, _) => "Jaguar",
        (0x17, 0x08 | 0x18) => "Zen+",
        (0x17, 0x00..=0x2f) => "Zen",
        (0x17, _) => "Zen 2",
        (0x19, 0x10..=0x1f | 0x60..=0x7f | 0xa0..=0xaf) => "Zen 4",
        (0x19, _) => "Zen 3",
        (0x1a, _) => "Zen 5",
        _ => return None,
    })
}

/// The generation a QEMU model family stands for (`Skylake-Server` -> "Skylake-SP"), for hosts
/// whose signature the table does not know; otherwise the family name itself.
pub fn generation_of_model(family_name: &str) -> String {
    let known = match family_name {
        "Skylake-Server" => "Skylake-SP",
        "Skylake-Client" => "Skylake",
        "Cascadelake-Server" => "Cascade Lake-SP",
        "Cooperlake" => "Cooper Lake",
        "Icelake-Server" => "Ice Lake-SP",
        "Icelake-Client" => "Ice Lake",
        "SapphireRapids" => "Sapphire Rapids",
        "GraniteRapids" => "Granite Rapids",
        "SierraForest" => "Sierra Forest",
        "ClearwaterForest" => "Clearwater Forest",
        "SandyBridge" => "Sandy Bridge",
        "IvyBridge" => "Ivy Bridge",
        "EPYC" => "Zen",
        "EPYC-Rome" => "Zen 2",
        "EPYC-Milan" => "Zen 3",
        "EPYC-Genoa" => "Zen 4",
        "EPYC-Turin" => "Zen 5",
        "Opteron_G1" | "Opteron_G2" => "K8",
        "Opteron_G3" => "K10",
        "Opteron_G4" => "Bulldozer",
        "Opteron_G5" => "Piledriver",
        "Dhyana" => "Dhyana (Zen)",
        other => other,
    };
    known.to_owned()
}

/// A CPU brand string without trademarks, clock and core count:
/// "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz" -> "Xeon Gold 6148".
pub fn short_brand(brand: &str) -> String {
    let cleaned = brand
        .replace("(R)", " ")
        .replace("(r)", " ")
        .replace("(TM)", " ")
        .replace("(tm)", " ");
    let cleaned = cleaned.split('@').next().unwrap_or_default();
    let words: Vec<&str> = cleaned
        .split_whitespace()
        .filter(|w| {
            let lw = w.to_ascii_lowercase();
            !(matches!(
                lw.as_str(),
                "intel" | "amd" | "cpu" | "processor" | "genuine" | "with" | "apu"
            ) || lw.ends_with("-core")
                || lw.ends_with("ghz"))
        })
        .collect();
    // "Radeon ... Graphics" after "with" in APU brands.
    let end = words
        .iter()
        .position(|w| w.eq_ignore_ascii_case("radeon"))
        .unwrap_or(words.len());
    words[..end].join(" ")
}

/// A short vendor name: `GenuineIntel` -> "Intel".
pub fn vendor_name(vendor: &str) -> &str {
    match vendor {
        "GenuineIntel" => "Intel",
        "AuthenticAMD" => "AMD",
        "HygonGenuine" => "Hygon",
        "CentaurHauls" | "  Shanghai  " => "Zhaoxin",
        "" => "unknown vendor",
        other => other.trim(),
    }
}

/// What a class's name is made of.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassFacts {
    pub vendor: String,
    /// The representative host's brand string, as CPUID gives it.
    pub brand: String,
    /// From [`generation`] or [`generation_of_model`]; `None`: unknown.
    pub generation: Option<String>,
    /// Label values of the class's hosts, by label name.
    pub labels: BTreeMap<String, Vec<String>>,
    pub n_hosts: usize,
}

/// The label names preferred in a name, in order; else the first label name.
pub const NAME_LABELS: [&str; 4] = ["cluster", "zone", "rack", "site"];

/// `cluster=fra-sky-01`, `cluster=a,b` or `cluster=a,b +3` (the label the name shows).
pub fn label_part(labels: &BTreeMap<String, Vec<String>>) -> Option<String> {
    let key = NAME_LABELS
        .iter()
        .find(|k| labels.get(**k).is_some_and(|v| !v.is_empty()))
        .map(|k| (*k).to_owned())
        .or_else(|| {
            labels
                .iter()
                .find(|(_, v)| !v.is_empty())
                .map(|(k, _)| k.clone())
        })?;
    let values = &labels[&key];
    let shown: Vec<&str> = values.iter().take(2).map(String::as_str).collect();
    let more = values.len().saturating_sub(2);
    Some(if more > 0 {
        format!("{key}={} +{more}", shown.join(","))
    } else {
        format!("{key}={}", shown.join(","))
    })
}

fn hosts_part(n: usize) -> String {
    if n == 1 {
        "1 host".to_owned()
    } else {
        format!("{n} hosts")
    }
}

/// "Xeon Gold 6148 · Skylake-SP · cluster=fra-sky-01 · 16 hosts". Without a brand the vendor
/// stands in for it.
pub fn class_name(f: &ClassFacts) -> String {
    let brand = short_brand(&f.brand);
    let mut parts = vec![if brand.is_empty() {
        format!("{} CPU", vendor_name(&f.vendor))
    } else {
        brand
    }];
    if let Some(g) = &f.generation {
        parts.push(g.clone());
    }
    if let Some(l) = label_part(&f.labels) {
        parts.push(l);
    }
    parts.push(hosts_part(f.n_hosts));
    parts.join(" · ")
}

/// "Skylake-Server-v4 · cluster=fra-sky-01 · 40 hosts": the best named model every host of the
/// pool runs (without one, "no common model"), the label its hosts share, the host count.
pub fn pool_name(
    best_common_model: Option<&str>,
    labels: &BTreeMap<String, Vec<String>>,
    n_hosts: usize,
) -> String {
    let mut parts = vec![best_common_model.unwrap_or("no common model").to_owned()];
    parts.extend(label_part(labels));
    parts.push(hosts_part(n_hosts));
    parts.join(" · ")
}

/// Names of the classes and pools of a graph, index for index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Names {
    pub classes: Vec<String>,
    pub pools: Vec<String>,
}

/// The best named QEMU model a host runs whole (libvirt's host-CPU search: same vendor, the
/// signature first, nothing removed), by its family name (`Skylake-Server`).
pub fn best_model_family(p: &HostProfile) -> Option<&'static str> {
    let features = p
        .kvm
        .as_ref()
        .map_or(&p.cpu.features, |k| &k.guest_features);
    crate::models::best_model(&crate::models::FitQuery {
        features,
        vendor: Some(&p.cpu.vendor),
        signature: Some((p.cpu.family, p.cpu.model)),
        mode: crate::models::FitMode::Host,
        qemu: None,
        abi_levels: false,
        ignore: crate::FeatureSet::EMPTY,
    })
    .map(|fit| fit.model.family_name())
}

/// The model [`crate::baseline::baseline`] picks for one host's guests (its guest view less
/// what never migrates, same vendor, its signature first), without building the exports: a
/// fleet of a thousand single-class pools is named in milliseconds rather than seconds.
pub fn best_guest_model(p: &HostProfile) -> Option<String> {
    let features = p
        .kvm
        .as_ref()?
        .guest_features
        .difference(&crate::verdict::non_migratable());
    crate::models::best_model(&crate::models::FitQuery {
        features: &features,
        vendor: Some(&p.cpu.vendor),
        signature: Some((p.cpu.family, p.cpu.model)),
        mode: crate::models::FitMode::Guest,
        qemu: None,
        abi_levels: false,
        ignore: crate::FeatureSet::EMPTY,
    })
    .map(|fit| fit.model.canonical_name().to_owned())
}

/// The facts of a class named after `rep`, its first host.
pub fn class_facts(rep: &HostProfile, hosts: &[&HostProfile]) -> ClassFacts {
    let c = &rep.cpu;
    let generation = generation(&c.vendor, c.family, c.model, c.stepping)
        .map(str::to_owned)
        .or_else(|| best_model_family(rep).map(generation_of_model));
    ClassFacts {
        vendor: c.vendor.clone(),
        brand: c.brand.clone(),
        generation,
        labels: labels_of(hosts),
        n_hosts: hosts.len(),
    }
}

/// Label values of some hosts, by label name.
pub fn labels_of(hosts: &[&HostProfile]) -> BTreeMap<String, Vec<String>> {
    labels_of_hosts(hosts.iter().copied())
}

/// Label values by label name, each list sorted.
pub type Labels = BTreeMap<String, Vec<String>>;

/// Label values of some hosts, by label name, without copying a string per host.
pub fn labels_of_hosts<'a>(hosts: impl IntoIterator<Item = &'a HostProfile>) -> Labels {
    let mut labels: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for h in hosts {
        for (k, v) in &h.labels {
            labels.entry(k).or_default().insert(v);
        }
    }
    labels
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect()
}

/// The union of label sets (each list sorted, as [`labels_of`] makes them).
pub fn union_labels<'a>(sets: impl IntoIterator<Item = &'a Labels>) -> Labels {
    let mut out: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for set in sets {
        for (k, vs) in set {
            out.entry(k)
                .or_default()
                .extend(vs.iter().map(String::as_str));
        }
    }
    out.into_iter()
        .map(|(k, v)| (k.to_owned(), v.into_iter().map(str::to_owned).collect()))
        .collect()
}

/// The model a pool is named by: the best named model every host of the pool runs, from one
/// host of each class (classes are equal in everything a baseline looks at).
pub fn pool_model(reps: &[&HostProfile]) -> Option<String> {
    match reps {
        [one] => best_guest_model(one),
        _ => crate::baseline::baseline(reps, &crate::baseline::BaselineOptions::default())
            .ok()
            .map(|b| b.model),
    }
}

/// Names for every class and pool of `g`; `host` finds a host's profile by id. Names that would
/// be equal get the class id (which the API accepts) appended, so no two are the same.
pub fn fleet_names<'a>(g: &CompatGraph, host: impl Fn(&str) -> Option<&'a HostProfile>) -> Names {
    let labels: Vec<Labels> = g
        .classes
        .iter()
        .map(|c| labels_of_hosts(c.hosts.iter().filter_map(|h| host(h))))
        .collect();
    let classes = g
        .classes
        .iter()
        .zip(&labels)
        .map(|(c, l)| match c.hosts.iter().find_map(|h| host(h)) {
            Some(rep) => class_name_of(rep, l, c.hosts.len()),
            None => class_name(&ClassFacts {
                vendor: c.vendor.clone(),
                n_hosts: c.hosts.len(),
                ..ClassFacts::default()
            }),
        })
        .collect();
    let pools = g
        .pools
        .iter()
        .map(|p| {
            let reps: Vec<&HostProfile> = p
                .classes
                .iter()
                .filter_map(|&c| g.classes.get(c)?.hosts.first())
                .filter_map(|h| host(h))
                .collect();
            let labels = union_labels(p.classes.iter().filter_map(|&c| labels.get(c)));
            pool_name(pool_model(&reps).as_deref(), &labels, p.n_hosts)
        })
        .collect();
    unique_names(g, classes, pools)
}

/// The name of a class whose first host is `rep`, before [`unique_names`]: its processor, its
/// generation, the label its hosts share (`labels`, [`labels_of_hosts`]) and its size.
pub fn class_name_of(rep: &HostProfile, labels: &Labels, n_hosts: usize) -> String {
    let mut facts = class_facts(rep, &[]);
    facts.labels = labels.clone();
    facts.n_hosts = n_hosts;
    class_name(&facts)
}

/// [`Names`] from each class's and pool's own name ([`class_name_of`], [`pool_name`]): a name
/// that more than one class (pool) has gets the class id (of the pool's first class) appended.
/// A caller that keeps the names of unchanged classes and pools between fleets names a fleet
/// without looking at its hosts again.
pub fn unique_names(g: &CompatGraph, mut classes: Vec<String>, mut pools: Vec<String>) -> Names {
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for n in &classes {
        *seen.entry(n).or_default() += 1;
    }
    let repeated: Vec<bool> = classes.iter().map(|n| seen[n.as_str()] > 1).collect();
    for ((n, c), repeated) in classes.iter_mut().zip(&g.classes).zip(repeated) {
        if repeated {
            n.push_str(&format!(" · {}", c.class_id));
        }
    }
    // Pools alike in model, label and size: the id of their first class tells them apart.
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    for n in &pools {
        *seen.entry(n).or_default() += 1;
    }
    let repeated: Vec<bool> = pools.iter().map(|n| seen[n.as_str()] > 1).collect();
    for ((n, p), repeated) in pools.iter_mut().zip(&g.pools).zip(repeated) {
        if repeated && let Some(c) = p.classes.first().and_then(|&c| g.classes.get(c)) {
            n.push_str(&format!(" · class {}", c.class_id));
        }
    }
    Names { classes, pools }
}

/// A feature's name as a person reads it, and what the shown name leaves out. Catalog names are
/// QEMU's where QEMU has one; the bits QEMU does not name are spelt after the leaf they sit in:
/// AMD's copies of CPUID.01H:EDX in CPUID.80000001H:EDX (`e_fpu`, `pae@80000001.0`) read
/// "pae (80000001h)" (QEMU copies them from the leaf-1 flag for AMD guests), and a bit named like
/// another leaf's (`cdp_l3@10.2`) reads "cdp_l3 (10h.2)".
pub fn feature_label(name: &str) -> (String, Option<String>) {
    const AMD_COPY: &str = "AMD's copy in CPUID 80000001h:EDX of the leaf-1 bit";
    if let Some(base) = name.strip_prefix("e_") {
        return (
            format!("{base} (80000001h)"),
            Some(format!(
                "{name}: {AMD_COPY} {base}; QEMU has no flag of its own for it"
            )),
        );
    }
    let Some((base, at)) = name.split_once('@') else {
        return (name.to_owned(), None);
    };
    let (leaf, sub) = at.split_once('.').unwrap_or((at, "0"));
    let place = if sub == "0" {
        format!("{leaf}h")
    } else {
        format!("{leaf}h.{sub}")
    };
    let note = if leaf.eq_ignore_ascii_case("80000001") {
        format!("{name}: {AMD_COPY} {base}; QEMU has no flag of its own for it")
    } else {
        format!("{name}: the bit named {base} in CPUID leaf {leaf}h, subleaf {sub}")
    };
    (format!("{base} ({place})"), Some(note))
}

/// The family a feature belongs to, for counting ("avx512bw" -> "AVX-512", "rtm" -> "TSX");
/// features of no family are their own.
pub fn feature_family(feature: &str) -> &str {
    const PREFIXES: [(&str, &str); 14] = [
        ("avx512", "AVX-512"),
        ("avx10", "AVX10"),
        ("amx", "AMX"),
        ("avx-vnni", "AVX-VNNI"),
        ("avx-ifma", "AVX-VNNI"),
        ("avx-ne", "AVX-VNNI"),
        ("vmx-", "nested VMX"),
        ("svm-", "nested SVM"),
        ("sgx", "SGX"),
        ("kvm-", "KVM paravirt"),
        ("xsave", "XSAVE"),
        ("sse", "SSE"),
        ("fma", "FMA"),
        ("tsx", "TSX"),
    ];
    const EXACT: [(&str, &str); 35] = [
        ("hle", "TSX"),
        ("rtm", "TSX"),
        ("taa-no", "TSX"),
        ("mpx", "MPX"),
        ("ssse3", "SSE"),
        ("pku", "PKU"),
        ("ospke", "PKU"),
        ("aes", "crypto"),
        ("vaes", "crypto"),
        ("pclmulqdq", "crypto"),
        ("vpclmulqdq", "crypto"),
        ("sha-ni", "crypto"),
        ("gfni", "crypto"),
        ("spec-ctrl", "speculation controls"),
        ("stibp", "speculation controls"),
        ("ssbd", "speculation controls"),
        ("amd-ssbd", "speculation controls"),
        ("virt-ssbd", "speculation controls"),
        ("amd-stibp", "speculation controls"),
        ("ibpb", "speculation controls"),
        ("ibrs", "speculation controls"),
        ("ibrs-all", "speculation controls"),
        ("amd-no-ssb", "speculation controls"),
        ("md-clear", "speculation controls"),
        ("flush-l1d", "speculation controls"),
        ("arch-capabilities", "speculation controls"),
        ("skip-l1dfl-vmentry", "speculation controls"),
        ("rdctl-no", "speculation controls"),
        ("mds-no", "speculation controls"),
        ("pschange-mc-no", "speculation controls"),
        ("sbdr-ssdp-no", "speculation controls"),
        ("fbsdp-no", "speculation controls"),
        ("psdp-no", "speculation controls"),
        ("gds-no", "speculation controls"),
        ("rfds-no", "speculation controls"),
    ];
    if let Some((_, fam)) = EXACT.iter().find(|(f, _)| *f == feature) {
        return fam;
    }
    if let Some((_, fam)) = PREFIXES.iter().find(|(p, _)| feature.starts_with(p)) {
        return fam;
    }
    if feature.ends_with("-no") && !feature.contains('@') {
        return "speculation controls";
    }
    feature
}

/// Features grouped by [`feature_family`]: (family, members), largest family first, then by
/// name; members in their given order, each once.
pub fn group_features(features: &[String]) -> Vec<(String, Vec<String>)> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for f in features {
        let fam = feature_family(f).to_owned();
        match groups.iter_mut().find(|(g, _)| *g == fam) {
            Some((_, m)) if m.contains(f) => {}
            Some((_, m)) => m.push(f.clone()),
            None => groups.push((fam, vec![f.clone()])),
        }
    }
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
    groups
}

/// The verdict as one sentence: "Blocked by 17 features: AVX-512 (6), TSX (2), MPX, ..." and the
/// blockers that are not features ("and by: machine type q35-9.2"); "Compatible." with none.
pub fn verdict_sentence(blocking_features: &[String], other_blockers: &[String]) -> String {
    const SHOWN: usize = 6;
    let groups = group_features(blocking_features);
    let n: usize = groups.iter().map(|(_, m)| m.len()).sum();
    let mut parts = Vec::new();
    if n > 0 {
        let mut items: Vec<String> = groups
            .iter()
            .take(SHOWN)
            .map(|(fam, m)| {
                if m.len() > 1 {
                    format!("{fam} ({})", m.len())
                } else if m[0].eq_ignore_ascii_case(fam) {
                    fam.clone()
                } else {
                    format!("{fam} ({})", m[0])
                }
            })
            .collect();
        if groups.len() > SHOWN {
            items.push(format!("{} more", groups.len() - SHOWN));
        }
        parts.push(format!(
            "{} {}: {}",
            n,
            if n == 1 { "feature" } else { "features" },
            items.join(", ")
        ));
    }
    let mut others: Vec<&str> = Vec::new();
    for o in other_blockers {
        if !others.contains(&o.as_str()) {
            others.push(o);
        }
    }
    if !others.is_empty() {
        parts.push(others.join("; "));
    }
    if parts.is_empty() {
        "Compatible: guests can move this way.".to_owned()
    } else {
        format!("Blocked by {}.", parts.join("; and by "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{profile_named, profile_of_model};
    use crate::verdict::{GuestConfig, Policy};

    #[test]
    fn generations_from_signatures() {
        assert_eq!(generation("GenuineIntel", 6, 0x55, 4), Some("Skylake-SP"));
        assert_eq!(
            generation("GenuineIntel", 6, 0x55, 7),
            Some("Cascade Lake-SP")
        );
        assert_eq!(generation("GenuineIntel", 6, 0x6a, 5), Some("Ice Lake-SP"));
        assert_eq!(generation("GenuineIntel", 6, 0x3f, 2), Some("Haswell-EP"));
        assert_eq!(generation("AuthenticAMD", 0x19, 0x01, 1), Some("Zen 3"));
        assert_eq!(generation("AuthenticAMD", 0x19, 0x11, 1), Some("Zen 4"));
        assert_eq!(generation("AuthenticAMD", 0x17, 0x31, 0), Some("Zen 2"));
        assert_eq!(generation("AuthenticAMD", 0x17, 0x01, 1), Some("Zen"));
        assert_eq!(
            generation("AuthenticAMD", 0x15, 0x10, 1),
            Some("Piledriver")
        );
        assert_eq!(generation("GenuineIntel", 6, 0x01, 1), None);
        assert_eq!(generation_of_model("EPYC-Milan"), "Zen 3");
        assert_eq!(generation_of_model("Westmere"), "Westmere");
    }

    #[test]
    fn brands_shorten() {
        for (brand, short) in [
            ("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", "Xeon Gold 6148"),
            (
                "Intel(R) Xeon(R) CPU E5-2630 v3 @ 2.40GHz",
                "Xeon E5-2630 v3",
            ),
            ("Intel(R) Core(TM) i7-2600 CPU @ 3.40GHz", "Core i7-2600"),
            ("AMD Ryzen 9 3900X 12-Core Processor", "Ryzen 9 3900X"),
            ("AMD EPYC 7763 64-Core Processor", "EPYC 7763"),
            ("Quad-Core AMD Opteron(tm) Processor 2350", "Opteron 2350"),
            ("AMD A10-5800K APU with Radeon(tm) HD Graphics", "A10-5800K"),
            ("Hygon C86 7185 32-core Processor", "Hygon C86 7185"),
            ("", ""),
        ] {
            assert_eq!(short_brand(brand), short, "{brand}");
        }
    }

    #[test]
    fn class_names_read_as_the_issue_asks() {
        let f = ClassFacts {
            vendor: "GenuineIntel".into(),
            brand: "Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz".into(),
            generation: Some("Skylake-SP".into()),
            labels: BTreeMap::from([
                ("cluster".into(), vec!["fra-sky-01".into()]),
                ("zone".into(), vec!["fra".into()]),
            ]),
            n_hosts: 16,
        };
        assert_eq!(
            class_name(&f),
            "Xeon Gold 6148 · Skylake-SP · cluster=fra-sky-01 · 16 hosts"
        );
        let bare = ClassFacts {
            vendor: "AuthenticAMD".into(),
            n_hosts: 1,
            ..ClassFacts::default()
        };
        assert_eq!(class_name(&bare), "AMD CPU · 1 host");
        let many = BTreeMap::from([(
            "rack".to_owned(),
            vec!["r1".to_owned(), "r2".to_owned(), "r3".to_owned()],
        )]);
        assert_eq!(label_part(&many).as_deref(), Some("rack=r1,r2 +1"));
        assert_eq!(
            pool_name(Some("Skylake-Server-v4"), &f.labels, 2),
            "Skylake-Server-v4 · cluster=fra-sky-01 · 2 hosts"
        );
        assert_eq!(
            pool_name(None, &BTreeMap::new(), 1),
            "no common model · 1 host"
        );
    }

    #[test]
    fn fleet_names_are_unique_and_pools_carry_their_model() {
        let mut a = profile_of_model("a", "Skylake-Server-v4").expect("model");
        a.labels.insert("cluster".into(), "c1".into());
        let mut b = a.clone();
        b.host_id = "b".into();
        let mut c = profile_of_model("c", "Cascadelake-Server-v4").expect("model");
        c.cpu.stepping = 7;
        // A class equal to `a` in name but not in features.
        let mut d = profile_named("d", "GenuineIntel", &["sse2"]);
        d.labels.insert("cluster".into(), "c1".into());
        d.cpu.family = 6;
        d.cpu.model = 0x55;
        let mut e = d.clone();
        e.host_id = "e".into();
        let hosts = [a, b, c, d, e];
        let g = crate::graph::build(&hosts, &GuestConfig::default(), &Policy::default());
        let names = fleet_names(&g, |id| hosts.iter().find(|h| h.host_id == id));
        assert_eq!(names.classes.len(), g.classes.len());
        assert_eq!(names.pools.len(), g.pools.len());
        let unique: BTreeSet<&String> = names.classes.iter().collect();
        assert_eq!(unique.len(), names.classes.len(), "{names:?}");
        let ia = g.classes.iter().position(|c| c.hosts[0] == "a").expect("a");
        assert!(
            names.classes[ia].starts_with("Intel CPU · Skylake-SP · cluster=c1 · 2 hosts · "),
            "{}",
            names.classes[ia]
        );
        let ic = g.classes.iter().position(|c| c.hosts[0] == "c").expect("c");
        assert_eq!(names.classes[ic], "Intel CPU · Cascade Lake-SP · 1 host");
        let pa = g.classes[ia].pool;
        assert!(
            names.pools[pa].starts_with("Skylake-Server"),
            "{}",
            names.pools[pa]
        );
        assert!(best_model_family(&hosts[2]).is_some_and(|m| m.starts_with("Cascadelake")));
        // The shortcut for one host picks what the baseline of that host picks.
        for h in &hosts {
            let b = crate::baseline::baseline(&[h], &crate::baseline::BaselineOptions::default())
                .expect("baseline");
            assert_eq!(best_guest_model(h).as_deref(), Some(b.model.as_str()));
        }
        let unique: BTreeSet<&String> = names.pools.iter().collect();
        assert_eq!(unique.len(), names.pools.len(), "{names:?}");
    }

    #[test]
    fn raw_feature_spellings_read_as_names_with_their_leaf() {
        assert_eq!(feature_label("avx512f"), ("avx512f".to_owned(), None));
        let (pae, note) = feature_label("pae@80000001.0");
        assert_eq!(pae, "pae (80000001h)");
        assert!(note.unwrap().contains("pae@80000001.0"));
        assert_eq!(feature_label("e_fpu").0, "fpu (80000001h)");
        assert_eq!(feature_label("cdp_l3@10.2").0, "cdp_l3 (10h.2)");
        assert_eq!(feature_label("mba@80000008.0").0, "mba (80000008h)");
    }

    #[test]
    fn features_group_by_family_into_one_sentence() {
        let f = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let blocking = f(&[
            "avx512f",
            "avx512bw",
            "avx512cd",
            "avx512dq",
            "avx512vl",
            "avx512vnni",
            "hle",
            "rtm",
            "mpx",
            "pku",
            "rtm",
        ]);
        let groups = group_features(&blocking);
        assert_eq!(groups[0].0, "AVX-512");
        assert_eq!(groups[0].1.len(), 6);
        assert_eq!(groups[1], ("TSX".to_owned(), f(&["hle", "rtm"])));
        assert_eq!(
            verdict_sentence(&blocking, &[]),
            "Blocked by 10 features: AVX-512 (6), TSX (2), MPX, PKU."
        );
        assert_eq!(
            verdict_sentence(&f(&["rtm"]), &f(&["TSC frequency", "TSC frequency"])),
            "Blocked by 1 feature: TSX (rtm); and by TSC frequency."
        );
        assert_eq!(
            verdict_sentence(&[], &[]),
            "Compatible: guests can move this way."
        );
        assert_eq!(feature_family("vmx-exit-nosave-debugctl"), "nested VMX");
        assert_eq!(feature_family("mds-no"), "speculation controls");
        assert_eq!(feature_family("rdseed"), "rdseed");
        let many: Vec<String> = (0..9).map(|i| format!("x{i}")).collect();
        assert!(verdict_sentence(&many, &[]).ends_with("x5, 3 more."));
    }
}
