//! Data-driven check fixtures: `tests/fixtures/checks/<check id>.yaml`.
//!
//! Each case gives a pod (metadata, spec), the policy versions to evaluate at, and either the
//! exact upstream detail the check must produce or `pass: true`. Every check has cases on both
//! sides of each version where its behaviour changes.

use std::path::Path;

use kubevigil_model::yaml::{Limits, parse_document};
use kubevigil_pss::{CHECKS, Level, LevelVersion, PodInput, Version};
use serde_json::Value;

fn load(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap();
    parse_document(&text, 0, Limits::default())
        .unwrap()
        .unwrap()
        .0
}

#[test]
fn every_check_has_fixtures_covering_each_revision_boundary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checks");
    for def in &CHECKS {
        let path = dir.join(format!("{}.yaml", def.id));
        assert!(path.exists(), "no fixture for {}", def.id);
        let doc = load(&path);
        let mut fail_versions = Vec::new();
        let mut pass_versions = Vec::new();
        for case in doc["cases"].as_array().unwrap() {
            for v in case["versions"].as_array().unwrap() {
                let v = Version::parse(v.as_str().unwrap())
                    .unwrap()
                    .effective_minor();
                if case.get("pass").is_some() {
                    pass_versions.push(v);
                } else {
                    fail_versions.push(v);
                }
            }
        }
        assert!(!fail_versions.is_empty(), "{}: no failing case", def.id);
        assert!(!pass_versions.is_empty(), "{}: no passing case", def.id);
        for minor in def.revision_minors() {
            let covered = |vs: &[u64]| vs.contains(&minor);
            assert!(
                covered(&fail_versions) || covered(&pass_versions),
                "{}: no case at its revision v1.{minor}",
                def.id
            );
            if minor > 0 {
                let below = minor - 1;
                assert!(
                    fail_versions.contains(&below) || pass_versions.contains(&below),
                    "{}: no case just below its revision v1.{minor}",
                    def.id
                );
            }
        }
    }
}

#[test]
fn check_fixtures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/checks");
    let mut failures = Vec::new();
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let doc = load(&path);
        let check = doc["check"].as_str().unwrap();
        let def = CHECKS
            .iter()
            .find(|d| d.id == check)
            .expect("known check id");
        for case in doc["cases"].as_array().unwrap() {
            let name = case["name"].as_str().unwrap();
            let level = match case.get("level").and_then(Value::as_str) {
                Some(l) => Level::parse(l).unwrap(),
                None => def.level,
            };
            let is_pod = case.get("template").and_then(Value::as_bool) != Some(true);
            let meta = case.get("metadata").cloned().unwrap_or(Value::Null);
            let pod = PodInput::from_values(&meta, &case["spec"], is_pod).unwrap();
            for v in case["versions"].as_array().unwrap() {
                count += 1;
                let version = Version::parse(v.as_str().unwrap()).unwrap();
                let eval = pod.evaluate(LevelVersion::new(level, version));
                let got = eval.violations.iter().find(|x| x.check == check);
                let want = case.get("detail").and_then(Value::as_str);
                let ok = match (want, got) {
                    (None, None) => true,
                    (Some(w), Some(g)) => w == g.detail,
                    _ => false,
                };
                if !ok {
                    failures.push(format!(
                        "{check} / {name} @ {level}:{version}: want {want:?}, got {:?}",
                        got.map(|g| &g.detail)
                    ));
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {count} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(count > 150, "only {count} evaluations");
}
