//! Severity of Pod Security findings and the level they state (`tests/fixtures/severity.yaml`):
//! the batch scan and the per-control checks must both give every case's expected severity.

mod common;
use common::merge;

use std::collections::BTreeMap;

use kubevigil_model::Finding;
use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
use kubevigil_model::yaml::{Limits, parse_document};
use kubevigil_pss::scan::scan_findings_and_errors;
use kubevigil_pss::{CONTROL_CHECKS, LevelVersion};
use kubevigil_rule::{Check, Emitter};
use serde_json::{Value, json};

/// A pod that passes restricted at every version; cases override parts of it.
fn hardened() -> Value {
    json!({
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": [{"name": "a", "image": "nginx:1.27",
            "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}}]
    })
}

/// `check id -> "<severity> <level>"`, the level read from the message's `[breaks <level>]`.
fn summary(findings: &[Finding]) -> BTreeMap<String, String> {
    findings
        .iter()
        .map(|f| {
            let level = f
                .message
                .rsplit_once(" [breaks ")
                .and_then(|(_, l)| l.strip_suffix(']'))
                .unwrap_or("(no level stated)");
            let check = f.check_id.strip_prefix("pss-").unwrap().to_string();
            (check, format!("{} {level}", f.severity))
        })
        .collect()
}

#[test]
fn findings_are_as_severe_as_the_worst_level_they_break() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/severity.yaml"
    ))
    .unwrap();
    let doc = parse_document(&text, 0, Limits::default())
        .unwrap()
        .unwrap()
        .0;
    let mut failures = Vec::new();
    for case in doc["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let lv = LevelVersion::parse(case["lv"].as_str().unwrap_or("restricted:latest")).unwrap();
        let mut spec = hardened();
        merge(&mut spec, &case["spec"]);
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "p", "namespace": "ns"}, "spec": spec});
        let mut loaded = Loaded::default();
        let text = serde_json::to_string_pretty(&pod).unwrap();
        load_text_into("pod.json", &text, &LoadOptions::default(), &mut loaded);
        assert!(!loaded.has_errors(), "{name}: {:?}", loaded.diagnostics);

        let (batch, undecodable) =
            scan_findings_and_errors(&loaded.inventory, lv.level, lv.version);
        assert!(undecodable.is_empty(), "{name}: {undecodable:?}");
        let mut controls = Vec::new();
        for check in CONTROL_CHECKS.iter() {
            let mut out = Emitter::new(Check::<LevelVersion>::meta(check));
            check.check_object(&lv, &loaded.inventory.objects[0], &mut out);
            controls.extend(out.findings);
        }
        if batch != controls {
            failures.push(format!(
                "{name}: the control checks disagree with the batch scan"
            ));
        }

        let got = summary(&batch);
        let mut want: BTreeMap<String, String> = got
            .keys()
            .map(|k| (k.clone(), "medium restricted".to_string()))
            .collect();
        for (check, expected) in case["expect"].as_object().unwrap() {
            want.insert(check.clone(), expected.as_str().unwrap().to_string());
        }
        if got != want {
            failures.push(format!("{name} ({lv}):\n  got  {got:?}\n  want {want:?}"));
        }
        // The upstream text is untouched: the level is a suffix after it.
        for f in &batch {
            let (upstream, _) = f.message.rsplit_once(" [breaks ").unwrap();
            assert!(
                upstream.starts_with(&format!("Pod ns/p violates PodSecurity \"{lv}\": ")),
                "{}",
                f.message
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
