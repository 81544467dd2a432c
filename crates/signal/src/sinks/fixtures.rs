//! A finding and an alert for the sinks' tests. The alert is one of a correlation whose group
//! value came from secret material (hashed, as the engine prints it) and whose sample is what
//! `kubevigil_detect::audit::sample` keeps of an event that carried Secret data.

use kubevigil_detect::DetectionAlert;
use kubevigil_model::{Finding, Location, ObjectRef, Severity};
use serde_json::json;

/// The secret value of the event behind [`alert`]; it must never reach a sink.
pub const SECRET: &str = "c3VwZXJzZWNyZXQ=";

pub fn finding() -> Finding {
    Finding {
        check_id: "image-tag-latest".into(),
        severity: Severity::Medium,
        title: "Image uses the latest tag".into(),
        message: "container \"web\" uses image nginx:latest\u{1b}[31m".into(),
        object: std::sync::Arc::new(ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some("shop".into()),
            name: "web".into(),
        }),
        location: Location {
            file: Some("web.yaml".into()),
            line: 12,
            col: 16,
            uri: None,
            field_path: "spec.template.spec.containers[0].image".into(),
        },
        remediation: "Pin a version or a digest.".into(),
        references: Vec::new().into(),
        fingerprint: "0123456789abcdef0123456789abcdef".into(),
    }
}

pub fn alert() -> DetectionAlert {
    // The event as read: a Secret created with data. Its sample keeps request attributes only.
    let event = format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","auditID":"a1","verb":"create","user":{{"username":"mallory"}},"sourceIPs":["203.0.113.7"],"objectRef":{{"resource":"secrets","namespace":"default","name":"db"}},"responseStatus":{{"code":201}},"requestObject":{{"kind":"Secret","data":{{"password":"{SECRET}"}}}}}}"#
    );
    let sample: serde_json::Value =
        serde_json::from_str(&kubevigil_detect::audit::sample(event.as_bytes())).unwrap();
    DetectionAlert {
        rule: "k8s-secret-burst".into(),
        title: "Secrets created in a burst".into(),
        severity: Severity::High,
        time: Some("2024-05-01T10:00:00.250Z".into()),
        tags: vec!["attack.credential-access".into()],
        group: Some(vec![
            ("user.username".into(), "mallory".into()),
            (
                "requestObject.data.password".into(),
                "<redacted:1f2e3d4c>".into(),
            ),
        ]),
        count: 5,
        events: vec![sample.into(), json!({"auditID": "a2"}).into()],
        ..DetectionAlert::default()
    }
}
