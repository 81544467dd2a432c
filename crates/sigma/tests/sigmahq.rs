//! SigmaHQ's `rules/application/kubernetes/audit` rules (detection logic, field names and ids
//! reproduced unchanged in tests/sigmahq/) load without diagnostics and fire on events
//! written to match them, with kubevigil's Kubernetes audit field mapping.

use std::path::Path;
use std::sync::Arc;

use kubevigil_sigma::{Engine, RuleSet, Source};
use serde_json::Value;

fn check_dir(dir: &Path, cases: &Value) -> usize {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    let texts: Vec<(String, String)> = files
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read_to_string(p).unwrap()))
        .collect();
    let sources: Vec<Source> = texts
        .iter()
        .map(|(n, t)| Source { name: n, text: t })
        .collect();
    let (set, diags) = RuleSet::compile(&sources, &kubevigil_detect::audit::sigma_options());
    assert!(
        diags.is_empty(),
        "{:?}",
        diags.iter().map(|d| d.to_string()).collect::<Vec<_>>()
    );
    assert_eq!(set.rules().len(), files.len());
    let set = Arc::new(set);
    for info in set.rules() {
        let slug = Path::new(&info.meta.file)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let case = &cases[&slug];
        for (key, want) in [("fire", true), ("quiet", false)] {
            let mut engine: Engine<()> = Engine::new(set.clone());
            let mut out = Vec::new();
            engine.process_value(&case[key], &mut || (), &mut out);
            let fired = out.iter().any(|a| a.rule.id == info.meta.id);
            assert_eq!(fired, want, "{slug} {key}: {}", case[key]);
        }
    }
    files.len()
}

#[test]
fn sigmahq_kubernetes_audit_rules_load_unchanged_and_fire() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sigmahq");
    let cases: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    assert_eq!(check_dir(&dir, &cases), 17);
    // The regex variant shares its id with potential_enumeration_activity, so it loads alone.
    assert_eq!(check_dir(&dir.join("variant"), &cases), 1);
}
