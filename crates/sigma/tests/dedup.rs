//! A request recorded at several stages alerts once; different requests are never merged
//! because they share an `auditID` (the API server takes it from the client's `Audit-ID`
//! header, so a client chooses it).

use std::sync::Arc;

use kubevigil_sigma::{Alert, Engine, RuleSet, pack};
use serde_json::{Value, json};

fn engine() -> Engine<()> {
    let (set, _) = RuleSet::compile(&pack::sources(), &kubevigil_detect::audit::sigma_options());
    Engine::new(Arc::new(set))
}

fn run(events: &[Value]) -> Vec<Alert<()>> {
    let mut e = engine();
    let mut out = Vec::new();
    for ev in events {
        e.process_json(ev.to_string().as_bytes(), &mut || (), &mut out)
            .unwrap();
    }
    e.flush(&mut out);
    out
}

fn titled<'a>(alerts: &'a [Alert<()>], title: &str) -> Vec<&'a Alert<()>> {
    alerts.iter().filter(|a| a.rule.title == title).collect()
}

/// A denied `get` of a Secret received at `received` (RFC 3339) with the given auditID.
fn denied_get(audit_id: &str, user: &str, secret: &str, received: &str, stage: &str) -> Value {
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": audit_id, "stage": stage, "verb": "get",
        "requestURI": format!("/api/v1/namespaces/default/secrets/{secret}"),
        "user": {"username": user, "uid": "u-1", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.7"],
        "objectRef": {"resource": "secrets", "namespace": "default", "name": secret, "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 403},
        "requestReceivedTimestamp": received, "stageTimestamp": received
    })
}

const SECRET_DENIED: &str = "Secret read attempt denied";
const BURST: &str = "Burst of denied API requests by one user";
const EXEC: &str = "Command executed in a pod (exec)";

#[test]
fn fixed_audit_id_does_not_hide_a_burst_of_denied_requests() {
    let events: Vec<Value> = (0..50)
        .map(|i| {
            denied_get(
                "fixed",
                "mallory",
                &format!("s{}", i % 3),
                &format!("2024-05-01T10:00:{:02}.{:06}Z", i / 2, i),
                "ResponseComplete",
            )
        })
        .collect();
    let alerts = run(&events);
    assert_eq!(titled(&alerts, SECRET_DENIED).len(), 50, "one per request");
    let burst = titled(&alerts, BURST);
    assert!(!burst.is_empty(), "burst correlation must fire");
    assert!(burst.iter().all(|a| a.count >= 20));
}

#[test]
fn exec_days_later_with_a_reused_audit_id_alerts() {
    let mut events = vec![denied_get(
        "fixed",
        "mallory",
        "s",
        "2024-05-01T10:00:00.000001Z",
        "ResponseComplete",
    )];
    let mut exec = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": "fixed", "stage": "ResponseStarted", "verb": "create",
        "requestURI": "/api/v1/namespaces/default/pods/web/exec?command=sh&stdin=true&tty=true",
        "user": {"username": "eve", "uid": "u-2"},
        "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "default", "name": "web", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 101},
        "requestReceivedTimestamp": "2024-05-03T10:00:00.000001Z",
        "stageTimestamp": "2024-05-03T10:00:00.100000Z"
    });
    events.push(exec.clone());
    let alerts = run(&events);
    assert_eq!(titled(&alerts, EXEC).len(), 1, "{alerts:#?}");
    // The same exec request by the same user with the same id but received another time
    // (two days later again) is another request.
    exec["requestReceivedTimestamp"] = "2024-05-05T10:00:00.000001Z".into();
    exec["stageTimestamp"] = "2024-05-05T10:00:00.100000Z".into();
    events.push(exec);
    assert_eq!(titled(&run(&events), EXEC).len(), 2);
}

#[test]
fn a_request_logged_at_every_stage_alerts_once() {
    let received = "2024-05-01T10:00:00.000001Z";
    let stages = [
        "RequestReceived",
        "ResponseStarted",
        "ResponseComplete",
        "Panic",
    ];
    let events: Vec<Value> = stages
        .iter()
        .map(|stage| {
            let mut ev = json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
                "auditID": "8c3e", "stage": stage, "verb": "create",
                "requestURI": "/api/v1/namespaces/default/pods/web/exec?command=sh",
                "user": {"username": "eve", "uid": "u-2"},
                "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "default", "name": "web", "apiVersion": "v1"},
                "requestReceivedTimestamp": received,
                "stageTimestamp": "2024-05-01T10:05:00.000000Z"
            });
            if *stage != "RequestReceived" {
                // Filled in after RequestReceived was emitted (impersonation filter,
                // audit.LogRequestObject): must not split the request.
                ev["impersonatedUser"] = json!({"username": "system:admin"});
                ev["objectRef"]["uid"] = "0b5c".into();
                ev["responseStatus"] = json!({"metadata": {}, "code": 101});
            }
            ev
        })
        .collect();
    assert_eq!(titled(&run(&events[..3]), EXEC).len(), 1);
    assert_eq!(titled(&run(&events), EXEC).len(), 1);
}

#[test]
fn same_id_and_time_from_another_user_or_target_is_another_request() {
    let a = denied_get(
        "x",
        "mallory",
        "s1",
        "2024-05-01T10:00:00Z",
        "ResponseComplete",
    );
    let b = denied_get(
        "x",
        "trudy",
        "s1",
        "2024-05-01T10:00:00Z",
        "ResponseComplete",
    );
    let c = denied_get(
        "x",
        "mallory",
        "s2",
        "2024-05-01T10:00:00Z",
        "ResponseComplete",
    );
    assert_eq!(titled(&run(&[a, b, c]), SECRET_DENIED).len(), 3);
}
