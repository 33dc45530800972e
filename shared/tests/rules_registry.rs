//! The typed rule registry (`shared::registry::RULES`) held to the engine's source, to
//! `docs/rules.md`, and to the reasons real comparisons produce.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use shared::guest::cmdline::parse_command_line;
use shared::profile::Arch;
use shared::registry::{RULES, RuleInfo, rule};
use shared::testing::{profile_named, profile_of_model};
use shared::verdict::{
    GuestConfig, GuestCpu, Layer, Policy, Verdict, compare_definitions, compare_with,
};

const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// Rule-id families: the prefix of an id and the layers its rules may belong to (`abi.*` rules
/// compare two guest definitions and sit in the layer of what differs).
const FAMILIES: &[(&str, &[Layer])] = &[
    ("arch", &[Layer::Profile]),
    ("profile", &[Layer::Profile]),
    ("confidential", &[Layer::Profile]),
    ("vendor", &[Layer::Vendor]),
    ("cpu", &[Layer::CpuFeatures]),
    ("tsc", &[Layer::Tsc]),
    ("kvm", &[Layer::KernelKvm]),
    ("qemu", &[Layer::QemuMachine]),
    ("devices", &[Layer::Devices]),
    ("vfio", &[Layer::Devices]),
    ("arm64", &[Layer::Arm64]),
    ("cpr", &[Layer::Cpr]),
    (
        "abi",
        &[
            Layer::Profile,
            Layer::Vendor,
            Layer::CpuFeatures,
            Layer::Tsc,
            Layer::KernelKvm,
            Layer::QemuMachine,
            Layer::Devices,
            Layer::Arm64,
            Layer::Cpr,
        ],
    ),
];

/// Prefixes looked for in the source: the families, and names a new rule might plausibly use,
/// so that a rule with a new prefix fails the test instead of slipping past it.
const SCANNED_PREFIXES: &[&str] = &[
    "arch",
    "profile",
    "confidential",
    "vendor",
    "cpu",
    "tsc",
    "kvm",
    "qemu",
    "devices",
    "vfio",
    "arm64",
    "cpr",
    "abi",
    "kernel",
    "machine",
    "device",
    "guest",
    "msr",
];

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rs_files(&path, out);
        } else if path.extension().is_some_and(|x| x == "rs") {
            out.push(path);
        }
    }
}

/// Rust source reduced to its code: comments removed; string literals kept as tokens.
#[derive(Debug, PartialEq)]
enum Token {
    Str(String),
    Other(char),
}

/// A small lexer: enough of Rust to tell string literals, char literals, lifetimes and comments
/// apart, so braces and quotes inside them do not confuse the module skipping below.
fn lex(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let mut depth = 0;
                while i < c.len() {
                    if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            'r' if matches!(c.get(i + 1), Some('"' | '#'))
                && (i == 0 || !(c[i - 1].is_alphanumeric() || c[i - 1] == '_')) =>
            {
                let mut j = i + 1;
                let mut hashes = 0;
                while c.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if c.get(j) != Some(&'"') {
                    out.push(Token::Other('r'));
                    i += 1;
                    continue;
                }
                j += 1;
                let start = j;
                loop {
                    if j >= c.len() {
                        break;
                    }
                    if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
                        break;
                    }
                    j += 1;
                }
                out.push(Token::Str(c[start..j.min(c.len())].iter().collect()));
                i = j + 1 + hashes;
            }
            '"' => {
                let mut s = String::new();
                i += 1;
                while i < c.len() && c[i] != '"' {
                    if c[i] == '\\' {
                        s.push(c[i]);
                        i += 1;
                    }
                    if let Some(&ch) = c.get(i) {
                        s.push(ch);
                    }
                    i += 1;
                }
                out.push(Token::Str(s));
                i += 1;
            }
            '\'' => {
                // A char literal ('x', '\n', '\u{..}') or a lifetime ('a).
                if c.get(i + 1) == Some(&'\\') {
                    i += 2;
                    while i < c.len() && c[i] != '\'' {
                        i += 1;
                    }
                    i += 1;
                } else if c.get(i + 2) == Some(&'\'') {
                    i += 3;
                } else {
                    out.push(Token::Other('\''));
                    i += 1;
                }
            }
            ch => {
                out.push(Token::Other(ch));
                i += 1;
            }
        }
    }
    out
}

/// The tokens outside `#[cfg(test)]` items (inline test modules and functions), plus the names
/// of test modules declared out of line (`#[cfg(test)] mod corpus_tests;`).
fn without_tests(tokens: Vec<Token>) -> (Vec<Token>, Vec<String>) {
    let text_of = |t: &[Token]| -> String {
        t.iter()
            .filter_map(|t| match t {
                Token::Other(c) => Some(*c),
                Token::Str(_) => None,
            })
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    let mut out = Vec::new();
    let mut out_of_line = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        // `#[cfg(test)]`, whitespace ignored.
        let window: String = text_of(&tokens[i..tokens.len().min(i + 24)]);
        if matches!(tokens[i], Token::Other('#')) && window.starts_with("#[cfg(test)]") {
            // Skip the attribute, then the item: up to a `;` before any `{`, or the matching `}`.
            let mut j = i;
            let mut seen = String::new();
            while j < tokens.len() && !seen.ends_with(']') {
                if let Token::Other(c) = tokens[j]
                    && !c.is_whitespace()
                {
                    seen.push(c);
                }
                j += 1;
            }
            let mut item = String::new();
            let mut depth = 0usize;
            while j < tokens.len() {
                match tokens[j] {
                    Token::Other('{') => depth += 1,
                    Token::Other('}') => {
                        depth -= 1;
                        if depth == 0 {
                            j += 1;
                            break;
                        }
                    }
                    Token::Other(';') if depth == 0 => {
                        if let Some(name) = item.trim().strip_prefix("mod ") {
                            out_of_line.push(name.trim().to_owned());
                        }
                        j += 1;
                        break;
                    }
                    Token::Other(c) if depth == 0 => item.push(c),
                    _ => {}
                }
                j += 1;
            }
            i = j;
            continue;
        }
        i += 1;
        out.push(match &tokens[i - 1] {
            Token::Str(s) => Token::Str(s.clone()),
            Token::Other(c) => Token::Other(*c),
        });
    }
    (out, out_of_line)
}

fn looks_like_rule_id(s: &str) -> bool {
    let Some((prefix, rest)) = s.split_once('.') else {
        return false;
    };
    SCANNED_PREFIXES.contains(&prefix)
        && !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && rest.starts_with(|c: char| c.is_ascii_lowercase())
}

/// Every rule-id-shaped string literal in the engine's non-test source, with the files it is in.
/// Left out: this registry itself, test modules, and the names of profile gaps, which share the
/// dotted shape but are no rules: `ProbeGap { what: "cpu.vendor", .. }` anywhere, and everything
/// in `src/import/` (the dump parsers build profiles and their gaps, never reasons).
fn rule_ids_in_source() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(MANIFEST).join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    files.sort();
    let mut lexed = Vec::new();
    let mut test_files = BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
        let (tokens, out_of_line) = without_tests(lex(&text));
        let dir = f.parent().expect("a file has a directory");
        let own_dir = if f
            .file_name()
            .is_some_and(|n| n == "mod.rs" || n == "lib.rs")
        {
            dir.to_path_buf()
        } else {
            dir.join(f.file_stem().expect("a file stem"))
        };
        for m in out_of_line {
            test_files.insert(own_dir.join(format!("{m}.rs")));
            test_files.insert(own_dir.join(&m).join("mod.rs"));
        }
        lexed.push((f.clone(), tokens));
    }
    let mut found: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (f, tokens) in lexed {
        if test_files.contains(&f)
            || f.ends_with("registry.rs")
            || f.starts_with(src.join("import"))
        {
            continue;
        }
        let rel = f.strip_prefix(MANIFEST).unwrap_or(&f).display().to_string();
        let mut before = String::new();
        for t in &tokens {
            match t {
                Token::Str(s) => {
                    let gap_name = before.trim_end().ends_with("what:");
                    if looks_like_rule_id(s) && !gap_name {
                        found.entry(s.clone()).or_default().insert(rel.clone());
                    }
                    before.clear();
                }
                Token::Other(c) => {
                    before.push(*c);
                    if before.len() > 64 {
                        before.drain(..32);
                    }
                }
            }
        }
    }
    found
}

fn family(id: &str) -> Option<&'static [Layer]> {
    let prefix = id.split_once('.')?.0;
    FAMILIES
        .iter()
        .find(|(p, _)| *p == prefix)
        .map(|(_, layers)| *layers)
}

fn layer_name(l: Layer) -> String {
    match serde_json::to_value(l).expect("a layer serialises") {
        serde_json::Value::String(s) => s,
        other => panic!("layer {l:?} serialises as {other}"),
    }
}

#[test]
fn the_lexer_keeps_strings_and_drops_comments_and_test_modules() {
    let src = r##"
        // "cpu.in-a-comment"
        fn a() { let _ = "cpu.real"; let _ = '{'; let _ = r#"qemu.raw"#; }
        fn b<'a>(x: &'a str) -> &'a str { x } /* "tsc.block" { */
        #[cfg(test)]
        mod tests { fn t() { let _ = "cpu.test-only"; let _ = "}"; } }
        #[cfg(test)]
        mod corpus_tests;
        const AFTER: &str = "kvm.after";
        const GAP: ProbeGap = ProbeGap { what: "cpu.vendor".into() };
    "##;
    let (tokens, out_of_line) = without_tests(lex(src));
    let strings: Vec<&str> = tokens
        .iter()
        .filter_map(|t| match t {
            Token::Str(s) => Some(s.as_str()),
            Token::Other(_) => None,
        })
        .collect();
    assert_eq!(strings, ["cpu.real", "qemu.raw", "kvm.after", "cpu.vendor"]);
    assert_eq!(out_of_line, ["corpus_tests"]);
}

#[test]
fn every_rule_id_in_the_source_is_registered_and_every_registered_id_is_used() {
    let found = rule_ids_in_source();
    assert!(
        found.len() >= 50,
        "the scan found only {} rule ids: is the pattern still right? {found:?}",
        found.len()
    );
    let unregistered: Vec<String> = found
        .iter()
        .filter(|(id, _)| rule(id).is_none())
        .map(|(id, files)| {
            format!(
                "{id} (in {})",
                files.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        })
        .collect();
    assert!(
        unregistered.is_empty(),
        "rule ids used in shared/src but missing from shared::registry::RULES: {unregistered:#?}"
    );
    let stale: Vec<&str> = RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| !found.contains_key(*id))
        .collect();
    assert!(
        stale.is_empty(),
        "RULES entries no code in shared/src emits (stale): {stale:?}"
    );
}

#[test]
fn ids_are_unique_and_their_prefix_matches_the_layer() {
    let mut seen = BTreeSet::new();
    for r in RULES {
        assert!(seen.insert(r.id), "{} is registered twice", r.id);
        let layers = family(r.id).unwrap_or_else(|| panic!("{}: unknown id prefix", r.id));
        assert!(
            layers.contains(&r.layer),
            "{}: layer {:?} is not one of its family's {layers:?}",
            r.id,
            r.layer
        );
        assert!(
            !r.also.contains(&r.severity),
            "{}: also repeats the default severity",
            r.id
        );
        assert!(looks_like_rule_id(r.id), "{}: not a rule id", r.id);
        assert!(
            !r.doc.is_empty() && !r.doc.contains('\n'),
            "{}: doc must be one line",
            r.id
        );
        assert!(!r.source.is_empty(), "{}: no source", r.id);
        assert!(
            r.source.starts_with("policy: ")
                || ["QEMU ", "Linux ", "libvirt "]
                    .iter()
                    .any(|p| r.source.starts_with(p)),
            "{}: the source names QEMU, Linux or libvirt first, or says policy: {}",
            r.id,
            r.source
        );
    }
    assert_eq!(
        rule("cpu.feature-missing").map(|r| r.layer),
        Some(Layer::CpuFeatures)
    );
    assert!(rule("no.such-rule").is_none());
}

#[test]
fn no_rule_cites_internal_documents() {
    for r in RULES {
        for (what, text) in [("doc", r.doc), ("source", r.source)] {
            assert!(
                !text.to_ascii_lowercase().contains("seed") && !text.contains("DOMAIN"),
                "{} {what} cites an internal document: {text}",
                r.id
            );
        }
    }
    let doc = read_rules_md();
    assert!(
        !doc.to_ascii_lowercase().contains("seed") && !doc.contains("DOMAIN.md"),
        "docs/rules.md cites an internal document"
    );
}

fn read_rules_md() -> String {
    let path = Path::new(MANIFEST).join("../docs/rules.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// One row of docs/rules.md's tables: layer, default severity, other severities.
#[derive(Debug)]
struct DocRow {
    layer: String,
    severity: String,
    also: BTreeSet<String>,
}

/// Rows are `| \`id\` | layer | severity (also x, y) | when | source |`.
fn doc_rows(doc: &str) -> BTreeMap<String, Vec<DocRow>> {
    let mut rows: BTreeMap<String, Vec<DocRow>> = BTreeMap::new();
    for line in doc.lines().filter(|l| l.trim_start().starts_with('|')) {
        let cells: Vec<&str> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(str::trim)
            .collect();
        let Some(id) = cells
            .first()
            .and_then(|c| c.strip_prefix('`'))
            .and_then(|c| c.strip_suffix('`'))
        else {
            continue;
        };
        if cells.len() < 5 {
            panic!(
                "docs/rules.md row for {id} has {} cells, expected 5: {line}",
                cells.len()
            );
        }
        let sev = cells[2];
        let (default, also) = match sev.split_once('(') {
            Some((d, rest)) => {
                let inner = rest.trim_end_matches(')').trim();
                let inner = inner.strip_prefix("also").unwrap_or(inner);
                (
                    d.trim().to_owned(),
                    inner
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect(),
                )
            }
            None => (sev.to_owned(), BTreeSet::new()),
        };
        rows.entry(id.to_owned()).or_default().push(DocRow {
            layer: cells[1].trim_matches('`').to_owned(),
            severity: default,
            also,
        });
    }
    rows
}

#[test]
fn docs_rules_md_lists_every_rule_with_its_layer_and_severity() {
    let rows = doc_rows(&read_rules_md());
    let mut problems = Vec::new();
    for r in RULES {
        let Some(found) = rows.get(r.id) else {
            problems.push(format!("{}: no row in docs/rules.md", r.id));
            continue;
        };
        if found.len() > 1 {
            problems.push(format!("{}: {} rows in docs/rules.md", r.id, found.len()));
        }
        let row = &found[0];
        if row.layer != layer_name(r.layer) {
            problems.push(format!(
                "{}: docs/rules.md says layer {}, the registry {}",
                r.id,
                row.layer,
                layer_name(r.layer)
            ));
        }
        if row.severity != r.severity.name() {
            problems.push(format!(
                "{}: docs/rules.md says severity {}, the registry {}",
                r.id,
                row.severity,
                r.severity.name()
            ));
        }
        let also: BTreeSet<String> = r.also.iter().map(|s| s.name().to_owned()).collect();
        if row.also != also {
            problems.push(format!(
                "{}: docs/rules.md says it can also be {:?}, the registry {also:?}",
                r.id, row.also
            ));
        }
    }
    for id in rows.keys() {
        if rule(id).is_none() {
            problems.push(format!(
                "{id}: a row in docs/rules.md for no registered rule"
            ));
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
}

// Real comparisons: every reason the engine gives names a registered rule, in its layer, with a
// severity the registry allows.

fn check(v: &Verdict, seen: &mut BTreeSet<&'static str>) {
    for r in &v.reasons {
        let info: &'static RuleInfo = rule(&r.rule)
            .unwrap_or_else(|| panic!("reason with unregistered rule {}: {}", r.rule, r.message));
        assert_eq!(r.layer, info.layer, "{}: layer of the reason", r.rule);
        assert!(
            info.allows(r.severity),
            "{}: severity {:?} is neither {:?} nor one of {:?}",
            r.rule,
            r.severity,
            info.severity,
            info.also
        );
        seen.insert(info.id);
    }
}

fn cmdline(text: &str) -> GuestConfig {
    parse_command_line(text).unwrap_or_else(|e| panic!("{text}: {e:?}"))
}

#[test]
fn real_comparisons_give_only_registered_rules() {
    let mut seen = BTreeSet::new();
    let run = |v: Verdict, seen: &mut BTreeSet<&'static str>| check(&v, seen);
    let policy = Policy::default();

    // CPU features, microcode, os-state, TSC and KVM MSRs.
    let mut big = profile_named(
        "big",
        "GenuineIntel",
        &[
            "sse2",
            "avx2",
            "md-clear",
            "spec-ctrl",
            "osxsave",
            "invtsc",
            "xsave",
            "xsaves",
        ],
    );
    let mut small = profile_named("small", "GenuineIntel", &["sse2"]);
    big.cpu.tsc_khz = Some(2_100_000);
    small.cpu.tsc_khz = Some(2_300_000);
    big.kernel_release = Some("6.12.9".into());
    small.kernel_release = Some("5.10.0-30-amd64".into());
    if let Some(k) = big.kvm.as_mut() {
        k.msr_index_list = vec![0x10, 0x48, 0x174];
    }
    if let Some(k) = small.kvm.as_mut() {
        k.msr_index_list = vec![0x10, 0x174];
    }
    let passthrough = GuestConfig::default();
    let keeps_invtsc = GuestConfig {
        cpu_props: [("migratable".to_owned(), "off".to_owned())].into(),
        ..GuestConfig::default()
    };
    let host_model = GuestConfig::with_cpu(GuestCpu::HostModel);
    for g in [&passthrough, &keeps_invtsc, &host_model] {
        run(compare_with(&big, &small, g, &policy), &mut seen);
        run(compare_with(&small, &big, g, &policy), &mut seen);
    }
    let fixed = Policy {
        guest_tsc_khz: Some(2_100_000),
        ..Policy::default()
    };
    run(compare_with(&big, &small, &keeps_invtsc, &fixed), &mut seen);
    let mut scaling = small.clone();
    if let Some(k) = scaling.kvm.as_mut() {
        k.tsc_scaling = Some(true);
        k.msr_index_list.clear();
    }
    run(
        compare_with(&big, &scaling, &keeps_invtsc, &fixed),
        &mut seen,
    );
    let mut no_tsc = big.clone();
    no_tsc.cpu.tsc_khz = None;
    run(
        compare_with(&no_tsc, &big, &keeps_invtsc, &fixed),
        &mut seen,
    );
    let mut no_kvm = small.clone();
    no_kvm.kvm = None;
    run(
        compare_with(&big, &no_kvm, &passthrough, &policy),
        &mut seen,
    );

    // Vendors and named models, with the QEMU releases that have them.
    let named = |model: &str| {
        GuestConfig::with_cpu(GuestCpu::Named {
            model: model.into(),
            enable: vec![],
            disable: vec![],
        })
    };
    let sky = profile_of_model("sky", "Skylake-Server-v4").expect("model");
    let casc = profile_of_model("casc", "Cascadelake-Server-v5").expect("model");
    let mut amd = profile_of_model("amd", "Skylake-Server-v4").expect("model");
    amd.cpu.vendor = "AuthenticAMD".into();
    let allow = Policy {
        allow_vendor_change: true,
        ..Policy::default()
    };
    run(
        compare_with(&sky, &amd, &named("Skylake-Server-v4"), &allow),
        &mut seen,
    );
    run(compare_with(&sky, &amd, &passthrough, &allow), &mut seen);
    run(
        compare_with(&casc, &sky, &named("Cascadelake-Server-v5"), &policy),
        &mut seen,
    );
    run(
        compare_with(&sky, &sky, &named("Icelake-Server-v1"), &policy),
        &mut seen,
    );
    run(
        compare_with(&sky, &sky, &named("NoSuchModel"), &policy),
        &mut seen,
    );
    let old_qemu = Policy {
        src_qemu: shared::models::QemuVersion::parse("6.2.0"),
        dst_qemu: shared::models::QemuVersion::parse("6.2.0"),
        ..Policy::default()
    };
    let sr = profile_of_model("sr", "SapphireRapids-v3").expect("model");
    run(
        compare_with(&sr, &sr, &named("SapphireRapids-v3"), &old_qemu),
        &mut seen,
    );
    let unknown_qemu = Policy {
        dst_qemu: shared::models::QemuVersion::parse("7.1.0"),
        ..Policy::default()
    };
    run(
        compare_with(&sr, &sr, &named("SapphireRapids-v3"), &unknown_qemu),
        &mut seen,
    );

    // Machine types, QEMU direction and errata.
    let q72 = shared::testing::with_qemu_machines(
        profile_named("q72", "GenuineIntel", &["sse2"]),
        "7.2.0",
        &[("pc-q35-7.2", Some("q35")), ("pc-i440fx-7.2", Some("pc"))],
    );
    let q80 = shared::testing::with_qemu_machines(
        profile_named("q80", "GenuineIntel", &["sse2"]),
        "8.0.0",
        &[("pc-q35-7.2", None), ("pc-q35-8.0", Some("q35"))],
    );
    let q100 = shared::testing::with_qemu_machines(
        profile_named("q100", "GenuineIntel", &["sse2"]),
        "10.0.2",
        &[("pc-q35-7.2", None), ("pc-q35-10.0", Some("q35"))],
    );
    let bare = profile_named("bare", "GenuineIntel", &["sse2"]);
    for machine in ["q35", "pc", "pc-q35-7.2", "pc-q35-10.0", "pc-q35-99.0"] {
        let g = cmdline(&format!("qemu-system-x86_64 -machine {machine} -m 1024"));
        for (a, b) in [(&q72, &q100), (&q100, &q72), (&q80, &q100), (&q72, &q80)] {
            run(compare_with(a, b, &g, &policy), &mut seen);
        }
        run(compare_with(&bare, &bare, &g, &policy), &mut seen);
    }
    let mut patched =
        cmdline("qemu-system-x86_64 -machine pc-q35-7.2 -global pci-device.x-pcie-err-unc-mask=on");
    run(compare_with(&q80, &q100, &patched, &policy), &mut seen);
    patched.started_on_qemu = shared::models::QemuVersion::parse("8.0.0");
    run(compare_with(&q100, &q100, &patched, &policy), &mut seen);

    // Devices and ABI differences between two definitions.
    let src_def = cmdline(
        "qemu-system-x86_64 -machine pc-q35-7.2 -m 2048 -smp 4 -cpu Skylake-Server-v4,tsc-frequency=2100000000 \
         -device virtio-blk-pci,id=disk0,drive=d0,serial=abc \
         -device virtio-net-pci,id=net0,mac=52:54:00:00:00:01,romfile=a.rom \
         -device e1000,id=nic1 -global kvm-pit.lost_tick_policy=discard",
    );
    let dst_def = cmdline(
        "qemu-system-x86_64 -machine pc-q35-10.0,aux-ram-share=on -m 4096 -smp 2 -cpu Skylake-Server-v5 \
         -device virtio-blk-pci,id=disk0,drive=d0,serial=xyz,addr=0x9 \
         -device virtio-net-pci,id=net0,mac=52:54:00:00:00:02 \
         -device e1000e,id=nic1 -device virtio-rng-pci,id=rng0",
    );
    run(
        compare_definitions(&q100, &q100, &src_def, &dst_def, &policy),
        &mut seen,
    );
    let topo_a = cmdline("qemu-system-x86_64 -smp 4,sockets=2,cores=2,threads=1");
    let topo_b = cmdline("qemu-system-x86_64 -smp 4,sockets=1,cores=4,threads=1");
    run(
        compare_definitions(&q100, &q100, &topo_a, &topo_b, &policy),
        &mut seen,
    );
    let vfio = cmdline(
        "qemu-system-x86_64 -device vfio-pci,host=0000:65:00.0,id=vf0 -device vfio-pci,id=vf1",
    );
    run(compare_with(&q100, &q100, &vfio, &policy), &mut seen);
    let mut mdev = vfio.clone();
    for d in &mut mdev.devices {
        if let Some(v) = d.vfio.as_mut() {
            v.mdev_type = Some("nvidia-35".into());
        }
    }
    run(compare_with(&q100, &q100, &mdev, &policy), &mut seen);

    // cpr-transfer and confidential guests.
    let cpr = cmdline(
        "qemu-system-x86_64 -machine q35 -m 1024 \
         -object memory-backend-epc,id=epc0,size=64M -object memory-backend-ram,id=ram0,size=1G",
    );
    let mut cpr = cpr;
    cpr.migration_mode = shared::guest::MigrationMode::CprTransfer;
    run(compare_with(&q72, &q100, &cpr, &policy), &mut seen);
    run(compare_with(&bare, &bare, &cpr, &policy), &mut seen);
    let mut plain = cmdline("qemu-system-x86_64 -m 1024");
    plain.migration_mode = shared::guest::MigrationMode::CprTransfer;
    run(compare_with(&bare, &bare, &plain, &policy), &mut seen);
    let mut sev = cmdline("qemu-system-x86_64 -m 1024");
    sev.confidential = Some(shared::guest::Confidential::SevSnp);
    let allow_cc = Policy {
        allow_confidential_migration: true,
        ..Policy::default()
    };
    run(compare_with(&bare, &bare, &sev, &policy), &mut seen);
    run(compare_with(&bare, &bare, &sev, &allow_cc), &mut seen);
    let mut cc_host = bare.clone();
    if let Some(k) = cc_host.kvm.as_mut() {
        k.capabilities.insert("vm_types".into(), 0x1f);
    }
    run(compare_with(&bare, &cc_host, &sev, &allow_cc), &mut seen);
    run(
        compare_definitions(&bare, &bare, &sev, &plain, &policy),
        &mut seen,
    );

    // arm64 and a change of architecture.
    let arm = |id: &str, midr: u64| {
        let mut p = profile_named(id, "arm", &[]);
        p.cpu.arch = Arch::Aarch64;
        p.arm_id_registers.insert("midr_el1".into(), midr);
        p.arm_id_registers
            .insert("id_aa64isar0_el1".into(), midr & 0xff);
        p
    };
    let (a, b) = (arm("a", 0x431f_0af1), arm("b", 0x410f_d0c1));
    run(compare_with(&a, &b, &passthrough, &policy), &mut seen);
    let grouped = Policy {
        arm_equivalence_groups: vec![shared::rules::arm64::EquivalenceGroup {
            name: "g".into(),
            midrs: vec![0x431f_0af1, 0x410f_d0c1],
        }],
        ..Policy::default()
    };
    run(compare_with(&a, &b, &passthrough, &grouped), &mut seen);
    let mut unknown = b.clone();
    unknown.arm_id_registers.clear();
    run(compare_with(&a, &unknown, &passthrough, &policy), &mut seen);
    run(compare_with(&a, &bare, &passthrough, &policy), &mut seen);

    // enforce, libvirt, a named model asking for xsaves, an MSR of no seen feature, and a guest
    // without a machine type.
    let enforced = |model: &str| GuestConfig {
        cpu: GuestCpu::Named {
            model: model.into(),
            enable: vec![],
            disable: vec![],
        },
        cpu_props: [("enforce".to_owned(), "on".to_owned())].into(),
        ..GuestConfig::default()
    };
    run(
        compare_with(&sky, &sky, &enforced("Cascadelake-Server-v5"), &policy),
        &mut seen,
    );
    run(
        compare_with(&casc, &sky, &enforced("Cascadelake-Server-v5"), &policy),
        &mut seen,
    );
    let libvirt = Policy {
        stack: Some(shared::verdict::ManagementStack::Libvirt),
        ..Policy::default()
    };
    run(
        compare_with(&casc, &sky, &named("Cascadelake-Server-v5"), &libvirt),
        &mut seen,
    );
    let xsaves = GuestConfig::with_cpu(GuestCpu::Named {
        model: "Skylake-Server-v4".into(),
        enable: vec!["xsaves".into()],
        disable: vec![],
    });
    run(compare_with(&sky, &sky, &xsaves, &policy), &mut seen);
    let (mut with_msr, mut without_msr) = (bare.clone(), bare.clone());
    if let (Some(a), Some(b)) = (with_msr.kvm.as_mut(), without_msr.kvm.as_mut()) {
        a.msr_index_list = vec![0x10, 0x1234];
        b.msr_index_list = vec![0x10];
    }
    run(
        compare_with(&with_msr, &without_msr, &passthrough, &policy),
        &mut seen,
    );
    let mut default_pc = shared::testing::with_qemu_machines(
        profile_named("dflt", "GenuineIntel", &["sse2"]),
        "10.0.2",
        &[("pc-i440fx-10.0", Some("pc")), ("pc-q35-10.0", Some("q35"))],
    );
    default_pc.qemu[0].machines.make_mut()[0].is_default = true;
    run(
        compare_with(
            &default_pc,
            &q72,
            &cmdline("qemu-system-x86_64 -m 512"),
            &policy,
        ),
        &mut seen,
    );

    // VFIO: passed-through functions from libvirt's node-device test data (../shared/device-data).
    let nodedev = |name: &str| {
        let path = Path::new(MANIFEST)
            .join("../../shared/device-data/libvirt-nodedev/nodedevschemadata")
            .join(name);
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: the reference data must be present",
                path.display()
            )
        });
        shared::import::nodedev::parse_nodedev_pci(&text)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
    };
    let vfio_host = |id: &str, migration: bool, version: Option<&str>| {
        let f = nodedev("pci_0000_02_10_7_sriov_vfs.xml");
        let mut p = profile_named(id, "GenuineIntel", &["sse2"]);
        if let Some(v) = version {
            p.devices
                .device_versions
                .insert(f.address.clone(), v.to_owned());
        }
        p.devices
            .vfio_variant_drivers
            .push(shared::profile::VfioVariantDriver {
                name: "example_vfio_pci".into(),
                migration,
                bound: vec![f.address.clone()],
            });
        p.devices.pci.push(f);
        p
    };
    let addr = nodedev("pci_0000_02_10_7_sriov_vfs.xml").address;
    let passed = cmdline(&format!(
        "qemu-system-x86_64 -device vfio-pci,host={addr},id=hostdev0"
    ));
    let v1 = vfio_host("v1", true, Some("8086:10ca-v1"));
    for (a, b) in [
        (&v1, &vfio_host("v2", true, Some("8086:10ca-v2"))),
        (&vfio_host("plain", false, None), &v1),
        (&v1, &bare),
        (&vfio_host("unversioned", true, None), &v1),
    ] {
        run(compare_with(a, b, &passed, &policy), &mut seen);
    }
    let mut mdev_dst = bare.clone();
    mdev_dst
        .devices
        .pci
        .push(nodedev("pci_0000_02_10_7_mdev_types.xml"));
    for t in &mut mdev_dst.devices.pci[0].mdev_types {
        t.available_instances = 0;
    }
    let mdev_guest = |t: &str| {
        let mut g = vfio.clone();
        g.devices.truncate(1);
        if let Some(v) = g.devices[0].vfio.as_mut() {
            v.mdev_type = Some(t.into());
            v.host_address = None;
        }
        g
    };
    let some_type = mdev_dst.devices.pci[0].mdev_types[0].id.clone();
    run(
        compare_with(&bare, &mdev_dst, &mdev_guest(&some_type), &policy),
        &mut seen,
    );

    assert!(
        seen.len() >= 70,
        "these comparisons exercised only {} rules: {seen:?}",
        seen.len()
    );
    let never: Vec<&str> = RULES
        .iter()
        .map(|r| r.id)
        .filter(|id| !seen.contains(id))
        .collect();
    println!("rules exercised: {}; not exercised: {never:?}", seen.len());
}

/// Real processors: every InstLatx64 dump of ../shared/cpuid-corpus/dev, imported the one way
/// from a dump to a profile (`fleetcompat-collector import`'s), so with the guest view estimated
/// from raw CPUID; each against the next (Intel to AMD, old to new and back), host-passthrough,
/// host-model and a named model.
#[test]
fn real_cpuid_dumps_give_only_registered_rules() {
    use shared::import::{ImportMeta, profile_from_dump};

    let dir = Path::new(MANIFEST).join("../../shared/cpuid-corpus/dev");
    let manifest = std::fs::read_to_string(dir.join("MANIFEST.tsv"))
        .unwrap_or_else(|e| panic!("{}: {e}: the reference data must be present", dir.display()));
    let mut hosts = Vec::new();
    for row in manifest.lines().skip(1).filter(|l| !l.trim().is_empty()) {
        let file = row.split('\t').next().expect("a file column");
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let text = String::from_utf8_lossy(&bytes);
        let meta = ImportMeta {
            host_id: file.to_owned(),
            ..ImportMeta::default()
        };
        let p = profile_from_dump(&text, None, meta).unwrap_or_else(|e| panic!("{file}: {e}"));
        hosts.push(p);
    }
    assert!(hosts.len() >= 20, "only {} dumps", hosts.len());
    let guests = [
        GuestConfig::default(),
        GuestConfig::with_cpu(GuestCpu::HostModel),
        GuestConfig::with_cpu(GuestCpu::Named {
            model: "Westmere-v1".into(),
            enable: vec![],
            disable: vec![],
        }),
    ];
    let allow = Policy {
        allow_vendor_change: true,
        ..Policy::default()
    };
    let mut seen = BTreeSet::new();
    for pair in hosts.windows(2) {
        for g in &guests {
            for policy in [&Policy::default(), &allow] {
                check(&compare_with(&pair[0], &pair[1], g, policy), &mut seen);
                check(&compare_with(&pair[1], &pair[0], g, policy), &mut seen);
            }
        }
    }
    assert!(
        seen.contains("cpu.feature-missing") && seen.contains("profile.estimated-guest-view"),
        "{seen:?}"
    );
}
