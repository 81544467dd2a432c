//! Audit events exported by managed clusters are unwrapped (crate::wrapped): EKS through
//! CloudWatch Logs, AKS through diagnostic settings, GKE through Cloud Logging. Samples in
//! tests/data/managed are written from the providers' documented formats. Every event keeps
//! the position of its record; a record without an event is a located error and the others
//! are still read.

use std::path::Path;

use kubevigil_audit::EventReader;
use serde_json::Value;

/// (auditID, line, col) of an event.
type Located = (String, u64, u64);

/// Where every event is, the errors, and the events' JSON.
fn read(file: &str) -> (Vec<Located>, Vec<String>, Vec<Value>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/managed")
        .join(file);
    let src = kubevigil_audit::input::open(&path).unwrap();
    let mut r = EventReader::new(file, src);
    let (mut ok, mut errs, mut events) = (Vec::new(), Vec::new(), Vec::new());
    while let Some(item) = r.next_event() {
        match item {
            Ok((raw, ev)) => {
                ok.push((ev.audit_id().to_string(), raw.line, raw.col));
                events.push(serde_json::from_slice(raw.text).unwrap());
            }
            Err(e) => errs.push(e.to_string()),
        }
    }
    (ok, errs, events)
}

#[test]
fn eks_cloudwatch_subscription_payloads() {
    let (ok, errs, events) = read("eks-subscription.json");
    // The control message holds no event; the data message three log events, one not JSON.
    assert_eq!(ok, [("eks-1".into(), 2, 1), ("eks-2".into(), 2, 1)]);
    assert_eq!(
        errs,
        [
            "eks-subscription.json:2:1: CloudWatch log event: message does not hold a JSON audit event"
        ]
    );
    assert_eq!(events[1]["verb"], "list");
    assert_eq!(
        events[0]["user"]["username"],
        "arn:aws:sts::111122223333:assumed-role/dev/alice"
    );
}

#[test]
fn eks_filter_log_events_response() {
    let (ok, errs, _) = read("eks-filter-log-events.json");
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(ok, [("eks-3".into(), 1, 1)]);
}

#[test]
fn aks_storage_records_and_event_hub_payload() {
    let (ok, errs, events) = read("aks-storage.json");
    assert_eq!(ok, [("aks-4".into(), 1, 1)]);
    assert_eq!(events[0]["sourceIPs"][0], "198.51.100.77");
    assert_eq!(
        errs,
        [
            "aks-storage.json:2:1: Azure resource log record: Azure resource log of category \"kube-apiserver\", not kube-audit or kube-audit-admin"
        ]
    );
    let (ok, errs, _) = read("aks-eventhub.json");
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(ok, [("aks-6".into(), 1, 1)]);
}

#[test]
fn gke_cloud_logging_entries_are_mapped() {
    let (ok, errs, events) = read("gke-gcloud.json");
    assert_eq!(
        ok,
        [
            ("gke-7".into(), 2, 3),
            ("gke-8".into(), 69, 3),
            ("gke-9".into(), 118, 3)
        ]
    );
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("gke-gcloud.json:183:3: GKE log entry: Cloud Audit Logs entry of service \"container.googleapis.com\", not k8s.io"),
        "{errs:?}"
    );
    let pod = &events[0];
    assert_eq!(pod["verb"], "create");
    assert_eq!(pod["user"]["username"], "alice@example.com");
    assert_eq!(pod["sourceIPs"], serde_json::json!(["198.51.100.23"]));
    assert_eq!(
        pod["userAgent"],
        "kubectl/v1.30.1 (linux/amd64) kubernetes/6911225"
    );
    assert_eq!(
        pod["objectRef"],
        serde_json::json!({"namespace": "prod", "resource": "pods", "name": "debugger", "apiVersion": "v1"})
    );
    assert_eq!(pod["requestURI"], "/api/v1/namespaces/prod/pods/debugger");
    assert_eq!(pod["responseStatus"]["code"], 200);
    assert_eq!(
        pod["requestObject"]["spec"]["containers"][0]["securityContext"]["privileged"],
        true
    );
    assert_eq!(pod["stageTimestamp"], "2024-05-01T10:00:00.500000Z");
    assert_eq!(pod["annotations"]["authorization.k8s.io/decision"], "allow");
    // PERMISSION_DENIED (7) is HTTP 403.
    assert_eq!(events[1]["responseStatus"]["code"], 403);
    let binding = &events[2];
    assert_eq!(
        binding["objectRef"]["apiGroup"],
        "rbac.authorization.k8s.io"
    );
    assert_eq!(binding["objectRef"]["resource"], "clusterrolebindings");
    assert!(binding["objectRef"].get("namespace").is_none());
    assert_eq!(
        binding["requestURI"],
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/backup"
    );
}

#[test]
fn gke_subresources_and_status_codes() {
    let entry = serde_json::json!({
        "protoPayload": {"@type": "type.googleapis.com/google.cloud.audit.AuditLog", "serviceName": "k8s.io",
            "methodName": "io.k8s.core.v1.pods.exec.create", "resourceName": "core/v1/namespaces/prod/pods/api/exec",
            "authenticationInfo": {"principalEmail": "bob@example.com"}, "requestMetadata": {"callerIP": "192.0.2.1"},
            "status": {"code": 16}},
        "timestamp": "2024-05-01T10:00:00Z", "insertId": "i-1"});
    let ev = kubevigil_audit::wrapped::from_gke(entry.as_object().unwrap(), &entry["protoPayload"])
        .unwrap();
    assert_eq!(ev["objectRef"]["subresource"], "exec");
    assert_eq!(ev["objectRef"]["name"], "api");
    assert_eq!(ev["verb"], "create");
    assert_eq!(ev["auditID"], "i-1");
    assert_eq!(ev["sourceIPs"][0], "192.0.2.1");
    // UNAUTHENTICATED (16) is HTTP 401.
    assert_eq!(ev["responseStatus"]["code"], 401);
}
