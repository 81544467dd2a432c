//! The handler's pure core never panics, whatever the body: random bytes, and structurally
//! valid reviews whose objects are random JSON.

use std::time::Instant;

use kubevigil_webhook::review::parse_review;
use proptest::prelude::*;
use serde_json::{Value, json};

fn webhook() -> kubevigil_webhook::Webhook {
    let cfg = r#"
podSecurity: {}
denyServiceExternalIPs: {}
eventRateLimit:
  configuration: {apiVersion: eventratelimit.admission.k8s.io/v1alpha1, kind: Configuration, limits: [{type: SourceAndObject, qps: 1, burst: 1}]}
imagePolicy: {requireDigest: true}
csrApproval: {}
checks: {enforce: [image-tag-latest]}
mutation: {}
"#;
    let mut w = kubevigil_webhook::config::from_text(cfg, &|_| Err("none".into())).unwrap();
    w.namespaces = kubevigil_webhook::namespaces::NamespaceCache::from_labels(kubevigil_webhook::config::namespaces_from_text(
        "ns",
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: n, labels: {kubevigil.io/harden: 'true', pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/warn: baseline}}\n",
    )
    .unwrap());
    w
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        "[a-zA-Z:/@.]{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("ALL"),
            Just("hostPath"),
            Just("Approved"),
            Just("nginx:latest"),
            Just("windows")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let keys = prop_oneof![
            Just("spec".to_string()),
            Just("metadata".to_string()),
            Just("containers".to_string()),
            Just("securityContext".to_string()),
            Just("template".to_string()),
            Just("image".to_string()),
            Just("externalIPs".to_string()),
            Just("status".to_string()),
            Just("conditions".to_string()),
            Just("type".to_string()),
            Just("request".to_string()),
            Just("capabilities".to_string()),
            Just("labels".to_string()),
            Just("annotations".to_string()),
            Just("volumes".to_string()),
            "[a-z]{1,6}",
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const RESOURCES: [(&str, &str, &str, &str); 8] = [
    ("", "pods", "Pod", ""),
    ("", "pods", "Pod", "ephemeralcontainers"),
    ("apps", "deployments", "Deployment", ""),
    ("batch", "cronjobs", "CronJob", ""),
    ("", "services", "Service", ""),
    ("", "events", "Event", ""),
    ("", "namespaces", "Namespace", ""),
    (
        "certificates.k8s.io",
        "certificatesigningrequests",
        "CertificateSigningRequest",
        "approval",
    ),
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..512)) {
        let w = webhook();
        if let Ok(req) = parse_review(&body) {
            let _ = w.validate(&req, None, Instant::now());
            let _ = w.mutate(&req);
        }
    }

    #[test]
    fn random_objects_never_panic(
        object in json_value(),
        old in json_value(),
        which in 0..RESOURCES.len(),
        op in prop_oneof![Just("CREATE"), Just("UPDATE"), Just("DELETE"), Just("CONNECT")],
    ) {
        let w = webhook();
        let (group, resource, kind, sub) = RESOURCES[which];
        let body = serde_json::to_vec(&json!({
            "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "f", "operation": op, "namespace": "n", "name": "x", "subResource": sub,
                "kind": {"group": group, "version": "v1", "kind": kind},
                "resource": {"group": group, "version": "v1", "resource": resource},
                "object": object, "oldObject": old}
        })).unwrap();
        let req = parse_review(&body).unwrap();
        let out = w.validate(&req, None, Instant::now());
        prop_assert_eq!(out.response.uid.as_str(), "f");
        let m = w.mutate(&req);
        if let Some(p) = m.response.patch {
            use base64::Engine;
            let raw = base64::engine::general_purpose::STANDARD.decode(p).unwrap();
            let patch: json_patch::Patch = serde_json::from_slice(&raw).unwrap();
            let mut doc = req.object.clone();
            prop_assert!(json_patch::patch(&mut doc, &patch).is_ok(), "patch applies");
        }
    }
}
