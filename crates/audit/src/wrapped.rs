//! Audit events as managed clusters export them, wrapped in another record, unwrapped into
//! audit.k8s.io events (detected per value; see the README's "Managed clusters" section).
//!
//! * `EventList` (`kind: EventList`, `items`): the items.
//! * Amazon EKS, CloudWatch Logs (log group `/aws/eks/CLUSTER/cluster`, streams
//!   `kube-apiserver-audit-*`): the event is the JSON text of `message`, in a log event
//!   `{"timestamp", "message", ...}` (one per line, as `aws logs filter-log-events` items or
//!   exported), in `events` (the `aws logs filter-log-events` / `get-log-events` response), or
//!   in `logEvents` (the payload a subscription filter delivers to Firehose, Lambda or Kinesis:
//!   `{"messageType": "DATA_MESSAGE", "logGroup", "logStream", "logEvents": [{"id",
//!   "timestamp", "message"}]}`). Only messages that are JSON objects are events;
//!   `CONTROL_MESSAGE` payloads and other messages are skipped with an error.
//! * Azure AKS, diagnostic settings (resource logs of categories `kube-audit` and
//!   `kube-audit-admin`): the event is the JSON text of `properties.log`, in a record
//!   `{"time", "resourceId", "category", "operationName", "properties": {"log", "stream",
//!   "pod"}}` (one per line in a storage account) or in `records` (Event Hubs).
//! * Google GKE, Cloud Logging (`gcloud logging read --format=json`, a sink to Cloud Storage
//!   or Pub/Sub): a LogEntry whose `protoPayload` has `@type`
//!   `type.googleapis.com/google.cloud.audit.AuditLog` and `serviceName` `k8s.io`, mapped
//!   field by field onto an audit event ([`from_gke`]).

use serde_json::{Map, Value, json};

use crate::event::EventError;

/// One unwrapped item: an event's JSON text, or why the record holds none.
pub(crate) type Item = Result<Vec<u8>, String>;

/// The events inside `text` and the name of the wrapper (for error messages), or `None` when
/// `text` is not a known wrapper (it is then read as an audit event itself). A record that
/// holds no event is an error item; the other records are still read.
pub(crate) fn unwrap(text: &[u8]) -> Result<Option<(Vec<Item>, &'static str)>, EventError> {
    let value: Value = serde_json::from_slice(text)?;
    let Value::Object(mut obj) = value else {
        return Ok(None);
    };
    let kind = obj.get("kind").and_then(Value::as_str);
    if kind == Some("EventList") {
        let items = match obj.get_mut("items").map(Value::take) {
            Some(Value::Array(items)) => items,
            Some(Value::Null) | None => Vec::new(),
            Some(_) => {
                return Err(EventError::WrongKind(
                    "EventList with non-array items".into(),
                ));
            }
        };
        return Ok(Some((
            items.iter().map(|i| Ok(to_vec(i))).collect(),
            "EventList item",
        )));
    }
    if kind.is_some() || obj.contains_key("auditID") {
        return Ok(None);
    }
    if obj.get("messageType").and_then(Value::as_str) == Some("CONTROL_MESSAGE") {
        // CloudWatch checking that the subscription's destination is reachable.
        return Ok(Some((Vec::new(), "CloudWatch log event")));
    }
    for (key, label) in [
        ("logEvents", "CloudWatch log event"),
        ("events", "CloudWatch log event"),
        ("records", "Azure resource log record"),
    ] {
        if let Some(Value::Array(items)) = obj.get(key) {
            let out = items
                .iter()
                .map(|item| match item.as_object().and_then(single) {
                    Some(r) => r,
                    None => Err("not a record holding an audit event".to_string()),
                })
                .collect();
            return Ok(Some((out, label)));
        }
    }
    Ok(single(&obj).map(|item| (vec![item], label_of(&obj))))
}

fn label_of(obj: &Map<String, Value>) -> &'static str {
    if obj.contains_key("protoPayload") {
        "GKE log entry"
    } else if obj.contains_key("properties") {
        "Azure resource log record"
    } else {
        "CloudWatch log event"
    }
}

fn to_vec(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("Value serialises")
}

/// The audit event of one wrapper record (CloudWatch log event, Azure record, GKE entry).
fn single(obj: &Map<String, Value>) -> Option<Item> {
    if let Some(p) = obj.get("protoPayload") {
        return Some(from_gke(obj, p).map(|v| to_vec(&v)));
    }
    let category = obj.get("category").and_then(Value::as_str);
    if let Some(cat) = category {
        if cat != "kube-audit" && cat != "kube-audit-admin" {
            return Some(Err(format!(
                "Azure resource log of category {:?}, not kube-audit or kube-audit-admin",
                cut(cat)
            )));
        }
        return Some(inner_json(
            obj.get("properties").and_then(|p| p.get("log")),
            "properties.log",
        ));
    }
    if obj.contains_key("message")
        && (obj.contains_key("timestamp")
            || obj.contains_key("logStreamName")
            || obj.contains_key("id"))
    {
        return Some(inner_json(obj.get("message"), "message"));
    }
    None
}

fn cut(s: &str) -> String {
    s.chars().take(64).collect()
}

/// A field holding an audit event as JSON text.
fn inner_json(v: Option<&Value>, field: &str) -> Item {
    match v.and_then(Value::as_str) {
        Some(s) if s.trim_start().starts_with('{') => Ok(s.trim().as_bytes().to_vec()),
        Some(_) => Err(format!("{field} does not hold a JSON audit event")),
        None => Err(format!("{field} is missing or not a string")),
    }
}

/// The audit event a GKE Cloud Audit Logs entry records.
///
/// Fields of `google.cloud.audit.AuditLog` (googleapis `google/cloud/audit/audit_log.proto`)
/// and the LogEntry (`google/logging/v2/log_entry.proto`), as GKE fills them for
/// `serviceName: k8s.io`:
/// * `methodName` `io.k8s.core.v1.pods.create`, `io.k8s.apps.v1.deployments.patch`,
///   `io.k8s.core.v1.pods.exec.create`: the last segment is the verb;
/// * `resourceName` `core/v1/namespaces/default/pods/web/exec`: API group (`core` is the
///   legacy group `""`), version, namespace, resource, name, subresource;
/// * `authenticationInfo.principalEmail` → `user.username`;
/// * `requestMetadata.callerIp` → `sourceIPs`, `callerSuppliedUserAgent` → `userAgent`;
/// * `status.code` (a `google.rpc.Code`, absent when OK) → `responseStatus.code`, by the HTTP
///   mapping `google/rpc/code.proto` documents (OK 200, PERMISSION_DENIED 403,
///   UNAUTHENTICATED 401, NOT_FOUND 404, ...);
/// * `request` / `response` → `requestObject` / `responseObject`;
/// * the entry's `timestamp` → `requestReceivedTimestamp` and `stageTimestamp`, `operation.id`
///   (else `insertId`) → `auditID`, `labels` → `annotations` (GKE copies the audit
///   annotations, `authorization.k8s.io/decision` among them, into labels).
///
/// The request's query string is not recorded by GKE, so `requestURI` is the resource path.
pub fn from_gke(entry: &Map<String, Value>, payload: &Value) -> Result<Value, String> {
    let ty = payload.get("@type").and_then(Value::as_str).unwrap_or("");
    if ty != "type.googleapis.com/google.cloud.audit.AuditLog" {
        return Err(format!(
            "protoPayload of type {:?}, not google.cloud.audit.AuditLog",
            cut(ty)
        ));
    }
    let service = payload
        .get("serviceName")
        .and_then(Value::as_str)
        .unwrap_or("");
    if service != "k8s.io" {
        return Err(format!(
            "Cloud Audit Logs entry of service {:?}, not k8s.io (the Kubernetes API)",
            cut(service)
        ));
    }
    let s = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or("").to_string();
    let method = s(payload.get("methodName"));
    let verb = method.rsplit('.').next().unwrap_or("").to_string();
    let resource_name = s(payload.get("resourceName"));
    let mut ev = Map::new();
    ev.insert("kind".into(), json!("Event"));
    ev.insert("apiVersion".into(), json!("audit.k8s.io/v1"));
    ev.insert(
        "level".into(),
        json!(if payload.get("request").is_some() {
            "Request"
        } else {
            "Metadata"
        }),
    );
    let id = entry
        .get("operation")
        .and_then(|o| o.get("id"))
        .or_else(|| entry.get("insertId"));
    ev.insert("auditID".into(), json!(s(id)));
    ev.insert("stage".into(), json!("ResponseComplete"));
    ev.insert("verb".into(), json!(verb));
    let mut user = Map::new();
    if let Some(p) = payload
        .get("authenticationInfo")
        .and_then(|a| a.get("principalEmail"))
        .and_then(Value::as_str)
    {
        user.insert("username".into(), json!(p));
    }
    ev.insert("user".into(), Value::Object(user));
    let meta = payload.get("requestMetadata");
    // Some exporters spell it callerIP.
    let ip = meta.and_then(|m| m.get("callerIp").or_else(|| m.get("callerIP")));
    if let Some(ip) = ip.and_then(Value::as_str) {
        ev.insert("sourceIPs".into(), json!([ip]));
    }
    if let Some(ua) = meta
        .and_then(|m| m.get("callerSuppliedUserAgent"))
        .and_then(Value::as_str)
    {
        ev.insert("userAgent".into(), json!(ua));
    }
    let (uri, object_ref) = resource_path(&resource_name);
    ev.insert("requestURI".into(), json!(uri));
    if let Some(o) = object_ref {
        ev.insert("objectRef".into(), o);
    }
    let code = payload
        .get("status")
        .and_then(|st| st.get("code"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let mut status = json!({"metadata": {}, "code": http_status(code)});
    if let Some(m) = payload.get("status").and_then(|st| st.get("message")) {
        status["message"] = m.clone();
    }
    ev.insert("responseStatus".into(), status);
    if let Some(r) = payload.get("request") {
        ev.insert("requestObject".into(), r.clone());
    }
    if let Some(r) = payload.get("response") {
        ev.insert("responseObject".into(), r.clone());
    }
    let ts = s(entry.get("timestamp"));
    ev.insert("requestReceivedTimestamp".into(), json!(ts));
    ev.insert("stageTimestamp".into(), json!(ts));
    if let Some(Value::Object(labels)) = entry.get("labels") {
        let annotations: Map<String, Value> = labels
            .iter()
            .filter(|(k, _)| k.contains(".k8s.io/"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !annotations.is_empty() {
            ev.insert("annotations".into(), Value::Object(annotations));
        }
    }
    Ok(Value::Object(ev))
}

/// `core/v1/namespaces/ns/pods/name/exec` → (`/api/v1/namespaces/ns/pods/name/exec`,
/// objectRef). A non-resource path (`/healthz`) has no objectRef.
fn resource_path(name: &str) -> (String, Option<Value>) {
    let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty()).collect();
    if name.starts_with('/') || parts.len() < 3 {
        return (name.to_string(), None);
    }
    let (group, version) = (parts[0], parts[1]);
    let mut rest = &parts[2..];
    let mut oref = Map::new();
    if rest.len() >= 2 && rest[0] == "namespaces" && rest.len() > 2 {
        oref.insert("namespace".into(), json!(rest[1]));
        rest = &rest[2..];
    }
    if let Some(res) = rest.first() {
        oref.insert("resource".into(), json!(res));
    }
    if let Some(n) = rest.get(1) {
        oref.insert("name".into(), json!(n));
    }
    if let Some(sub) = rest.get(2) {
        oref.insert("subresource".into(), json!(sub));
    }
    let api_group = if group == "core" { "" } else { group };
    if !api_group.is_empty() {
        oref.insert("apiGroup".into(), json!(api_group));
    }
    oref.insert("apiVersion".into(), json!(version));
    let prefix = if api_group.is_empty() {
        format!("/api/{version}")
    } else {
        format!("/apis/{api_group}/{version}")
    };
    (
        format!("{prefix}/{}", parts[2..].join("/")),
        Some(Value::Object(oref)),
    )
}

/// The HTTP status of a `google.rpc.Code`, as googleapis `google/rpc/code.proto` maps them.
fn http_status(code: i64) -> u16 {
    match code {
        0 => 200,
        1 => 499,
        3 | 9 | 11 => 400,
        4 => 504,
        5 => 404,
        6 | 10 => 409,
        7 => 403,
        8 => 429,
        12 => 501,
        14 => 503,
        16 => 401,
        _ => 500,
    }
}
