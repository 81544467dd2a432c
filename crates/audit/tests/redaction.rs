//! Redaction of secret bodies, per JSON-patch operation and per body shape.

use kubevigil_audit::redact::{REDACTED, is_secret_field, redact_event};
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
            let original = ev.to_string();
            assert!(redact_event(&mut ev), "{op} {value}: reported as changed");
            let text = ev.to_string();
            assert!(!text.contains(SECRET), "{op} {value}: {text}");
            assert_eq!(ev["requestObject"][1]["value"], REDACTED, "{op} {value}");
            assert_eq!(ev["requestObject"][1]["op"], op);
            assert_eq!(ev["requestObject"][1]["path"], "/data/pw");
            assert!(
                is_secret_field(original.as_bytes(), "requestObject.value"),
                "{op}"
            );
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
        assert!(redact_event(&mut ev), "{body}: reported as changed");
        assert!(!ev.to_string().contains(SECRET), "{body}: {ev}");
    }
}

#[test]
fn only_secret_material_is_redacted_and_reported() {
    let configmap = json!({"objectRef": {"resource": "configmaps"}, "requestObject": {"kind": "ConfigMap", "data": {"k": "v"}}});
    let mut ev = configmap.clone();
    assert!(
        !redact_event(&mut ev),
        "nothing to redact is reported as unchanged"
    );
    assert_eq!(ev, configmap);
    let text = configmap.to_string();
    assert!(!is_secret_field(text.as_bytes(), "requestObject.data.k"));
    let secret = json!({"objectRef": {"resource": "secrets"}, "requestObject": {"kind": "Secret", "data": {"a": "one", "b": 2, "c": REDACTED}}});
    let mut ev = secret.clone();
    assert!(redact_event(&mut ev));
    assert_eq!(
        ev["requestObject"]["data"],
        json!({"a": REDACTED, "b": REDACTED, "c": REDACTED})
    );
    let text = secret.to_string();
    assert!(is_secret_field(text.as_bytes(), "requestObject.data.a"));
    assert!(is_secret_field(text.as_bytes(), "requestObject.data.b"));
    assert!(!is_secret_field(text.as_bytes(), "requestObject.kind"));
    assert!(!is_secret_field(text.as_bytes(), "objectRef.resource"));
}

/// Every place redaction finds secret material, with and without a hint from `objectRef`: the
/// value is gone, `redact_event` says it changed the event, and `is_secret_field` (which
/// `audit detect` uses for correlation group-by values) names the field. A change that goes
/// unreported would let a group-by value through unredacted.
#[test]
fn every_body_shape_is_redacted_and_reported() {
    let cases = [
        // Hint from objectRef: secrets.
        (
            json!({"objectRef": {"resource": "secrets"}, "responseObject": {"kind": "SecretList", "items": [{"data": {"pw": SECRET}}]}}),
            "responseObject.items.data.pw",
        ),
        (
            json!({"objectRef": {"resource": "secrets"}, "requestObject": {"kind": "Secret", "data": {"pw": SECRET},
                   "extra": {"kind": "TokenReview", "spec": {"token": "tok"}}}}),
            "requestObject.data.pw",
        ),
        (
            json!({"objectRef": {"resource": "secrets"}, "requestObject": {"kind": "Secret", "data": {"pw": "x"},
                   "extra": {"kind": "TokenReview", "spec": {"token": SECRET}}}}),
            "requestObject.extra.spec.token",
        ),
        // Hint from objectRef: tokens.
        (
            json!({"objectRef": {"resource": "tokenreviews"}, "requestObject": {"kind": "TokenReview", "spec": {"token": SECRET}}}),
            "requestObject.spec.token",
        ),
        (
            json!({"objectRef": {"resource": "serviceaccounts", "subresource": "token"}, "responseObject": {"kind": "TokenRequest", "status": {"token": SECRET}}}),
            "responseObject.status.token",
        ),
        // No hint: found by kind at any depth.
        (
            json!({"objectRef": {"resource": "configmaps"}, "responseObject": {"kind": "SecretList", "items": [{"data": {"pw": SECRET}}]}}),
            "responseObject.items.data.pw",
        ),
        (
            json!({"objectRef": {"resource": "configmaps"}, "responseObject": {"kind": "List", "items": [{"kind": "Secret", "data": {"pw": SECRET}}]}}),
            "responseObject.items.data.pw",
        ),
        (
            json!({"requestObject": {"object": {"kind": "Secret", "stringData": {"pw": SECRET}}}}),
            "requestObject.object.stringData.pw",
        ),
        (
            json!({"requestObject": [{"kind": "TokenRequest", "status": {"token": SECRET}}]}),
            "requestObject.status.token",
        ),
        (
            json!({"responseObject": {"kind": "List", "items": [{"kind": "List", "items": [{"kind": "TokenReview", "spec": {"token": SECRET}}]}]}}),
            "responseObject.items.items.spec.token",
        ),
    ];
    for (event, path) in cases {
        let text = event.to_string();
        assert!(text.contains(SECRET));
        let mut ev = event.clone();
        assert!(redact_event(&mut ev), "{event}: reported as changed");
        assert!(!ev.to_string().contains(SECRET), "{event}: {ev}");
        assert!(is_secret_field(text.as_bytes(), path), "{event}: {path}");
        // Redacting again changes nothing.
        assert!(!redact_event(&mut ev), "{event}: idempotent");
    }
}
