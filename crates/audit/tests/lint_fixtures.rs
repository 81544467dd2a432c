//! Data-driven lint tests: every `tests/data/lint/*.yaml` policy is linted and its findings
//! (line and rule id) compared with `*.expected`.

use kubevigil_audit::lint::{lint, rules};
use kubevigil_audit::policy::load_policy;

#[test]
fn lint_fixtures() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/lint");
    let mut seen_rules = std::collections::BTreeSet::new();
    let mut cases = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        cases += 1;
        let text = std::fs::read_to_string(&path).unwrap();
        let loaded = load_policy(&path.display().to_string(), &text).unwrap();
        let got: Vec<String> = lint(&loaded)
            .iter()
            .map(|f| format!("{} {}", f.location.line, f.check_id))
            .collect();
        let expected_text = std::fs::read_to_string(path.with_extension("expected")).unwrap();
        let want: Vec<String> = expected_text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .map(str::to_string)
            .collect();
        assert_eq!(got, want, "{}", path.display());
        for line in &want {
            seen_rules.insert(line.split(' ').nth(1).unwrap().to_string());
        }
    }
    assert!(cases >= 4);
    // Every lint rule has at least one fixture that fires it.
    for r in rules() {
        assert!(seen_rules.contains(r.id), "no fixture fires {}", r.id);
    }
}

#[test]
fn every_rule_is_documented() {
    for r in rules() {
        assert!(
            r.doc.starts_with(&format!("# {}\n", r.id)),
            "{} doc must start with its id",
            r.id
        );
        assert!(
            r.doc.contains("## Failing example") && r.doc.contains("## Fixed example"),
            "{}",
            r.id
        );
    }
}

#[test]
fn scan_hook_lints_policies_in_an_inventory() {
    let mut loaded = kubevigil_model::Loaded::default();
    let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: RequestResponse\n---\napiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n";
    kubevigil_model::load::load_text_into("all.yaml", text, &Default::default(), &mut loaded);
    let (findings, diagnostics) = kubevigil_audit::lint::findings(&loaded.inventory);
    assert!(
        findings
            .iter()
            .any(|f| f.check_id == "audit-policy-sensitive-bodies"
                && f.location.line == 8
                && f.location.file.as_deref() == Some("all.yaml"))
    );
    assert_eq!(diagnostics.len(), 1);
    assert!(
        diagnostics[0]
            .to_string()
            .starts_with("all.yaml:13:3: error: rules[0].level"),
        "{}",
        diagnostics[0]
    );
}
