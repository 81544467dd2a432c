//! Aggregate rejection messages, byte for byte, for every check (`tests/fixtures/messages.yaml`).

mod common;
use common::merge;

use kubevigil_model::yaml::{Limits, parse_document};
use kubevigil_pss::{LevelVersion, PodInput};
use serde_json::{Value, json};

/// A pod that passes restricted at every version; cases override parts of it.
fn hardened() -> Value {
    json!({
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "a", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
    })
}

#[test]
fn aggregate_messages_match_upstream() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/messages.yaml"
    ))
    .unwrap();
    let doc = parse_document(&text, 0, Limits::default())
        .unwrap()
        .unwrap()
        .0;
    let mut seen_checks = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for case in doc["cases"].as_array().unwrap() {
        let lv = LevelVersion::parse(case["lv"].as_str().unwrap()).unwrap();
        let mut spec = if case.get("hardened").is_some() {
            hardened()
        } else {
            json!({})
        };
        merge(&mut spec, &case["spec"]);
        let is_pod = case.get("template").is_none();
        let meta = case.get("metadata").cloned().unwrap_or(Value::Null);
        let eval = PodInput::from_values(&meta, &spec, is_pod)
            .unwrap()
            .evaluate(lv);
        seen_checks.extend(eval.violations.iter().map(|v| v.check));
        let want = case["message"].as_str().map(str::to_string);
        if eval.message() != want {
            failures.push(format!(
                "{lv}\n  want {want:?}\n  got  {:?}",
                eval.message()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let all: std::collections::BTreeSet<_> = kubevigil_pss::CHECKS.iter().map(|c| c.id).collect();
    assert_eq!(seen_checks, all, "every check has a message case");
}
