//! Redaction of secret bodies, per JSON-patch operation and per body shape.

use kubevigil_audit::redact::{REDACTED, redact_event, redact_event_values};
use serde_json::{Value, json};

const SECRET: &str = "c3VwZXJzZWNyZXQ=";

fn secrets_patch(ops: Value) -> Value {
    json!({"objectRef": {"resource": "secrets", "namespace": "a", "name": "db"},
           "verb": "patch", "requestObject": ops, "responseObject": {"kind": "Secret", "data": {"pw": SECRET}}})
}

/// Every RFC 6902 operation that carries a `value` (add, replace, test) gets it redacted,
/// whatever its shape; `remove`, `copy` and `move` carry only paths (`path`, `from`), which are
/// key names and are kept.
#[test]
fn every_json_patch_operation() {
    let values = [
        json!(SECRET),
        json!({"pw": SECRET}),
        json!([SECRET]),
        json!({"data": {"pw": SECRET}}),
    ];
    for op in ["add", "replace", "test"] {
        for value in &values {
            let mut ev = secrets_patch(json!([
                {"op": "test", "path": "/metadata/name", "value": "db"},
                {"op": op, "path": "/data/pw", "value": value},
            ]));
            let removed = redact_event_values(&mut ev);
            let text = ev.to_string();
            assert!(!text.contains(SECRET), "{op} {value}: {text}");
            assert_eq!(ev["requestObject"][1]["value"], REDACTED, "{op} {value}");
            assert_eq!(ev["requestObject"][1]["op"], op);
            assert_eq!(ev["requestObject"][1]["path"], "/data/pw");
            assert!(removed.iter().any(|r| r == SECRET), "{op}: {removed:?}");
        }
    }
    for op in ["remove", "copy", "move"] {
        let patch = json!([{"op": op, "from": "/data/old", "path": "/data/pw"}]);
        let mut ev = secrets_patch(patch.clone());
        redact_event(&mut ev);
        assert_eq!(ev["requestObject"], patch, "{op}: paths are kept");
        assert_eq!(ev["responseObject"]["data"]["pw"], REDACTED);
    }
}

/// Merge and strategic-merge patches and whole objects: `data` and `stringData` values.
#[test]
fn merge_patches_and_objects() {
    for body in [
        json!({"data": {"pw": SECRET}}),
        json!({"stringData": {"pw": SECRET}}),
        json!({"kind": "Secret", "data": {"pw": SECRET}, "stringData": {"x": SECRET}}),
        json!({"metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": SECRET}}, "kind": "Secret"}),
    ] {
        let mut ev = secrets_patch(body.clone());
        let removed = redact_event_values(&mut ev);
        assert!(!ev.to_string().contains(SECRET), "{body}: {ev}");
        assert!(removed.iter().any(|r| r == SECRET), "{body}: {removed:?}");
    }
}

#[test]
fn values_removed_are_reported_and_nothing_else() {
    let mut ev = json!({"objectRef": {"resource": "configmaps"}, "requestObject": {"kind": "ConfigMap", "data": {"k": "v"}}});
    assert!(redact_event_values(&mut ev).is_empty());
    assert_eq!(ev["requestObject"]["data"]["k"], "v");
    let mut ev = json!({"objectRef": {"resource": "secrets"}, "requestObject": {"kind": "Secret", "data": {"a": "one", "b": 2, "c": REDACTED}}});
    let mut removed = redact_event_values(&mut ev);
    removed.sort();
    assert_eq!(removed, ["2", "one"]);
}
