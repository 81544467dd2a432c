//! Redaction of secret material in audit events, applied before an event is printed or stored.
//!
//! In `requestObject` and `responseObject`:
//! * every object of kind `Secret` and every item of a `SecretList` (items carry no kind): the values
//!   of `data` and `stringData` (keys are kept: they are names, not secrets), and the
//!   `kubectl.kubernetes.io/last-applied-configuration` annotation, which holds a full copy;
//! * every `TokenRequest` and `TokenReview`: `spec.token` and `status.token`;
//! * whatever the kind field says, bodies of requests on `secrets` get the same treatment,
//!   including patch bodies (merge patches: `data`/`stringData`; JSON patches: every `value`),
//!   and bodies of `tokenreviews`, `tokenrequests` and `serviceaccounts/token` requests get
//!   their token fields redacted.
//!
//! In the event's `annotations` (audit annotations, set by admission plugins and webhooks), the
//! values whose key names a credential ([`is_credential_key`]: `Authorization`, `...token`,
//! `...password`, ...).
//!
//! Redacted values become the string [`REDACTED`]. [`is_secret_field`] tells whether a single
//! field of an event (a correlation's group-by value, say) is one of those values.

use serde_json::{Map, Value};

/// Replacement for every redacted value.
pub const REDACTED: &str = "<redacted>";

const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Redacts the bodies of one audit event (a JSON object). Returns whether anything changed.
pub fn redact_event(event: &mut Value) -> bool {
    let Some(map) = event.as_object_mut() else {
        return false;
    };
    let (resource, subresource) = {
        let or = map.get("objectRef");
        let s = |k: &str| {
            or.and_then(|o| o.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        (s("resource"), s("subresource"))
    };
    let hint = match (resource.as_str(), subresource.as_str()) {
        ("secrets", _) => Hint::Secret,
        ("tokenreviews", _) | ("tokenrequests", _) | ("serviceaccounts", "token") => Hint::Token,
        _ => Hint::None,
    };
    let mut changed = false;
    for key in ["requestObject", "responseObject"] {
        if let Some(body) = map.get_mut(key) {
            changed |= redact_body(body, hint);
        }
    }
    if let Some(Value::Object(ann)) = map.get_mut("annotations") {
        for (k, v) in ann.iter_mut() {
            if is_credential_key(k) && v.as_str() != Some(REDACTED) {
                *v = Value::String(REDACTED.into());
                changed = true;
            }
        }
    }
    changed
}

/// Whether an annotation key names a credential: its name (after the last `/`) contains
/// `authorization`, `token`, `password`, `passwd`, `secret`, `credential`, `apikey`,
/// `api-key` or `cookie`, ignoring case. (`authorization.k8s.io/decision` is a decision.)
pub fn is_credential_key(key: &str) -> bool {
    let name = key.rsplit('/').next().unwrap_or(key).to_ascii_lowercase();
    [
        "authorization",
        "token",
        "password",
        "passwd",
        "secret",
        "credential",
        "apikey",
        "api-key",
        "cookie",
    ]
    .iter()
    .any(|w| name.contains(w))
}

/// Whether the field at dotted `path` (Sigma-style: a JSON key containing dots is addressed by
/// appending it; arrays are crossed) of the event `text` holds a value that [`redact_event`]
/// redacts. Only bodies and annotations can; an event that does not parse counts as secret.
pub fn is_secret_field(text: &[u8], path: &str) -> bool {
    let root = path.split('.').next().unwrap_or(path);
    if !matches!(root, "requestObject" | "responseObject" | "annotations") {
        return false;
    }
    let Ok(original) = serde_json::from_slice::<Value>(text) else {
        return true;
    };
    let mut redacted = original.clone();
    if !redact_event(&mut redacted) {
        return false;
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    resolve(&original, path, &mut a);
    resolve(&redacted, path, &mut b);
    a != b
}

/// Every value at `path` below `v`.
fn resolve<'v>(v: &'v Value, path: &str, out: &mut Vec<&'v Value>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if path == k {
                    out.push(child);
                } else if let Some(rest) = path.strip_prefix(k.as_str())
                    && let Some(rest) = rest.strip_prefix('.')
                {
                    resolve(child, rest, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| resolve(i, path, out)),
        _ => {}
    }
}

/// Parses an event's text, redacts it and returns it; for printing or storing whole events.
pub fn redacted_event_value(text: &[u8]) -> Result<Value, serde_json::Error> {
    let mut v: Value = serde_json::from_slice(text)?;
    redact_event(&mut v);
    Ok(v)
}

#[derive(Clone, Copy, PartialEq)]
enum Hint {
    None,
    Secret,
    Token,
}

/// Redacts one request or response body (any JSON value).
fn redact_body(body: &mut Value, hint: Hint) -> bool {
    let mut changed = false;
    match hint {
        Hint::Secret => match body {
            // A JSON patch: any operation may carry secret data.
            Value::Array(ops) => {
                for op in ops {
                    if let Some(v) = op.as_object_mut().and_then(|o| o.get_mut("value")) {
                        *v = Value::String(REDACTED.into());
                        changed = true;
                    }
                }
            }
            Value::Object(obj) => {
                changed |= redact_secret(obj);
                changed |= redact_list_items(obj);
            }
            _ => {}
        },
        Hint::Token => {
            if let Value::Object(obj) = body {
                changed |= redact_token(obj);
            }
        }
        Hint::None => {}
    }
    changed | walk(body)
}

/// Finds Secrets, TokenRequests and TokenReviews at any depth (lists, watch events, ...).
fn walk(v: &mut Value) -> bool {
    let mut changed = false;
    match v {
        Value::Object(obj) => {
            match obj.get("kind").and_then(Value::as_str) {
                Some("Secret") => changed |= redact_secret(obj),
                // List items carry no kind of their own.
                Some("SecretList") => changed |= redact_list_items(obj),
                Some("TokenRequest" | "TokenReview") => changed |= redact_token(obj),
                _ => {}
            }
            for child in obj.values_mut() {
                changed |= walk(child);
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= walk(item);
            }
        }
        _ => {}
    }
    changed
}

fn redact_map_values(v: &mut Value) -> bool {
    match v {
        Value::Object(m) => {
            let mut changed = false;
            for val in m.values_mut() {
                if val.as_str() != Some(REDACTED) {
                    *val = Value::String(REDACTED.into());
                    changed = true;
                }
            }
            changed
        }
        Value::Null => false,
        // Anything else under data/stringData is replaced whole.
        other => {
            *other = Value::String(REDACTED.into());
            true
        }
    }
}

fn redact_secret(obj: &mut Map<String, Value>) -> bool {
    let mut changed = false;
    for key in ["data", "stringData"] {
        if let Some(v) = obj.get_mut(key) {
            changed |= redact_map_values(v);
        }
    }
    if let Some(ann) = obj
        .get_mut("metadata")
        .and_then(|m| m.get_mut("annotations"))
        .and_then(Value::as_object_mut)
        && let Some(v) = ann.get_mut(LAST_APPLIED)
        && v.as_str() != Some(REDACTED)
    {
        *v = Value::String(REDACTED.into());
        changed = true;
    }
    changed
}

fn redact_list_items(obj: &mut Map<String, Value>) -> bool {
    let mut changed = false;
    if let Some(Value::Array(items)) = obj.get_mut("items") {
        for item in items {
            if let Value::Object(o) = item {
                changed |= redact_secret(o);
            }
        }
    }
    changed
}

fn redact_token(obj: &mut Map<String, Value>) -> bool {
    let mut changed = false;
    for part in ["spec", "status"] {
        if let Some(token) = obj.get_mut(part).and_then(|p| p.get_mut("token"))
            && !token.is_null()
            && token.as_str() != Some(REDACTED)
        {
            *token = Value::String(REDACTED.into());
            changed = true;
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "c3VwZXJzZWNyZXQ=";

    fn redacted(v: Value) -> String {
        let mut v = v;
        redact_event(&mut v);
        v.to_string()
    }

    #[test]
    fn secret_bodies_everywhere() {
        let cases = [
            json!({"objectRef": {"resource": "secrets"}, "requestObject": {"kind": "Secret", "data": {"pw": SECRET}, "stringData": {"pw": SECRET}}}),
            json!({"objectRef": {"resource": "secrets"}, "responseObject": {"kind": "SecretList", "items": [{"data": {"pw": SECRET}}]}}),
            json!({"objectRef": {"resource": "pods"}, "responseObject": {"kind": "List", "items": [{"kind": "Secret", "data": {"pw": SECRET}}]}}),
            json!({"objectRef": {"resource": "secrets"}, "requestObject": {"data": {"pw": SECRET}}}),
            json!({"objectRef": {"resource": "secrets"}, "requestObject": [{"op": "add", "path": "/data/pw", "value": SECRET}]}),
            json!({"objectRef": {"resource": "secrets"}, "requestObject": {"kind": "Secret", "metadata": {"annotations": {LAST_APPLIED: format!("{{\"data\":{{\"pw\":\"{SECRET}\"}}}}")}}}}),
            json!({"responseObject": {"type": "ADDED", "object": {"kind": "Secret", "data": {"pw": SECRET}}}}),
        ];
        for case in cases {
            let out = redacted(case.clone());
            assert!(!out.contains(SECRET), "{out}");
            assert!(out.contains(REDACTED), "{out}");
        }
    }

    #[test]
    fn token_fields() {
        let cases = [
            json!({"objectRef": {"resource": "serviceaccounts", "subresource": "token"}, "responseObject": {"status": {"token": SECRET}}}),
            json!({"objectRef": {"resource": "tokenreviews"}, "requestObject": {"spec": {"token": SECRET}}}),
            json!({"responseObject": {"kind": "TokenRequest", "status": {"token": SECRET, "expirationTimestamp": "x"}}}),
            json!({"requestObject": {"kind": "TokenReview", "spec": {"token": SECRET}}}),
        ];
        for case in cases {
            let out = redacted(case);
            assert!(!out.contains(SECRET), "{out}");
        }
    }

    #[test]
    fn keeps_secret_key_names_and_other_bodies() {
        let mut v = json!({"objectRef": {"resource": "secrets"}, "requestObject": {"kind": "Secret", "metadata": {"name": "db"}, "data": {"password": SECRET}}});
        assert!(redact_event(&mut v));
        assert_eq!(v["requestObject"]["data"]["password"], REDACTED);
        assert_eq!(v["requestObject"]["metadata"]["name"], "db");
        let mut cm = json!({"objectRef": {"resource": "configmaps"}, "requestObject": {"kind": "ConfigMap", "data": {"k": "v"}}});
        assert!(!redact_event(&mut cm));
        assert_eq!(cm["requestObject"]["data"]["k"], "v");
    }

    #[test]
    fn credential_annotations_and_secret_fields() {
        let text = format!(
            r#"{{"objectRef":{{"resource":"secrets"}},"requestObject":{{"kind":"Secret","metadata":{{"name":"db"}},"data":{{"password":"{SECRET}"}}}},"annotations":{{"authorization.k8s.io/decision":"allow","example.com/Authorization":"Bearer {SECRET}"}}}}"#
        );
        let v = redacted_event_value(text.as_bytes()).unwrap();
        assert!(!v.to_string().contains(SECRET), "{v}");
        assert_eq!(v["annotations"]["authorization.k8s.io/decision"], "allow");
        let t = text.as_bytes();
        assert!(is_secret_field(t, "requestObject.data.password"));
        assert!(is_secret_field(t, "annotations.example.com/Authorization"));
        assert!(!is_secret_field(
            t,
            "annotations.authorization.k8s.io/decision"
        ));
        assert!(!is_secret_field(t, "requestObject.metadata.name"));
        assert!(!is_secret_field(t, "objectRef.resource"));
        assert!(is_secret_field(b"{not json", "requestObject.data.x"));
    }

    #[test]
    fn redacted_event_value_from_text() {
        let text = format!(
            r#"{{"objectRef":{{"resource":"secrets"}},"requestObject":{{"data":{{"a":"{SECRET}"}}}}}}"#
        );
        let v = redacted_event_value(text.as_bytes()).unwrap();
        assert!(!v.to_string().contains(SECRET));
    }
}
