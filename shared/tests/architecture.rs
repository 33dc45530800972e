//! Architecture invariants that a test can hold (ARCHITECTURE.md).

use std::path::Path;

/// `rules/` never imports `verdict`: the vocabulary and the inputs live in `reason` and
/// `policy`, so the rules and the module that runs them do not import each other (their tests
/// may run whole verdicts).
#[test]
fn rules_never_import_verdict() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/rules");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("shared/src/rules") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("rule file");
        // Tests of a rule may run whole verdicts.
        let code_part = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code_part.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            assert!(
                !code.contains("crate::verdict"),
                "{}:{}: rules import verdict: {line}",
                path.display(),
                n + 1
            );
        }
        checked += 1;
    }
    assert!(
        checked >= 8,
        "only {checked} rule files found in {}",
        dir.display()
    );
}
