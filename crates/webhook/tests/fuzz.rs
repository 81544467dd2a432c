//! The handler's pure core never panics, whatever the body: random bytes, structurally valid
//! reviews whose objects are random JSON, and hostile bodies (huge arrays, deep nesting,
//! duplicate keys, wrong types) through the decoder the server uses (the envelope pass that
//! measures a review's cost, then the full decode).
//!
//! Bounded for CI; run longer with `PROPTEST_CASES=N cargo test -p kubevigil-webhook --test fuzz`.

use std::time::Instant;

use kubevigil_webhook::budget::{self, Work};
use kubevigil_webhook::review::{parse_envelope, parse_review};
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

/// `PROPTEST_CASES` when set, else `ci`.
fn cases(ci: u32) -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ci)
}

/// A hostile `object` (or `oldObject`), as JSON text, and the nesting depth it reaches.
fn hostile_object() -> impl Strategy<Value = (String, usize)> {
    let pod = |containers: String| {
        format!(r#"{{"metadata":{{"name":"p"}},"spec":{{"containers":{containers}}}}}"#)
    };
    let element = prop_oneof![
        Just("0"),
        Just("{}"),
        Just(r#"{"name":"c"}"#),
        Just(r#""x""#),
        Just(r#"{"name":"c","securityContext":{"privileged":true}}"#),
        Just("null"),
    ];
    let huge = (0..40_000usize, element).prop_map(move |(n, e)| {
        let mut items = String::from("[");
        for i in 0..n {
            if i > 0 {
                items.push(',');
            }
            items.push_str(e);
        }
        items.push(']');
        (pod(items), 4)
    });
    let deep = (1..300usize, any::<bool>()).prop_map(move |(d, arrays)| {
        let (open, close) = if arrays {
            ("[", "]")
        } else {
            (r#"{"a":"#, "}")
        };
        let inner = format!("{}1{}", open.repeat(d), close.repeat(d));
        (
            pod(format!(r#"[{{"name":"c","securityContext":{inner}}}]"#)),
            d + 4,
        )
    });
    let duplicate = prop_oneof![
        Just(r#"{"spec":{"containers":[]},"spec":{"containers":[{"name":"c","securityContext":{"privileged":true}}]}}"#),
        Just(r#"{"spec":{"containers":[{"name":"a"}],"containers":[{"name":"b","image":"x:latest"}]}}"#),
        Just(r#"{"spec":{"containers":[{"name":"a","name":"b","image":"i","image":"j"}]}}"#),
        Just(r#"{"metadata":{"labels":{"a":"1","a":"2"}},"metadata":null}"#),
    ]
    .prop_map(|s| (s.to_string(), 4));
    let wrong = prop_oneof![
        Just(r#"{"spec":{"containers":{}}}"#),
        Just(r#"{"spec":{"containers":[{"name":12,"image":null}]}}"#),
        Just(r#"{"spec":{"containers":[{"name":"c","securityContext":[]}]}}"#),
        Just(r#"{"spec":{"containers":[{"name":"c","securityContext":{"runAsUser":"root","capabilities":{"add":"ALL"}}}]}}"#),
        Just(r#"{"spec":{"hostNetwork":"true","volumes":{"hostPath":"/"}}}"#),
        Just(r#"{"metadata":5,"spec":"x"}"#),
        Just(r#"{"spec":{"template":{"spec":{"containers":7}}},"jobTemplate":[]}"#),
        Just(r#""a string object""#),
        Just("[1,2,3]"),
        Just("1e999999"),
    ]
    .prop_map(|s| (s.to_string(), 4));
    prop_oneof![huge, deep, duplicate, wrong]
}

/// Envelope-level damage: duplicate and mistyped request fields.
fn hostile_envelope() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just(""),
        Just(r#""uid":"dup","#),
        Just(r#""uid":7,"#),
        Just(r#""operation":"create","#),
        Just(r#""namespace":["n"],"#),
        Just(r#""userInfo":{"username":"a","groups":"system:masters"},"#),
        Just(r#""dryRun":"yes","#),
        Just(r#""kind":null,"resource":7,"#),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(64), ..ProptestConfig::default() })]

    /// The envelope pass (which sizes the reservation) and the full decode accept exactly the
    /// same bodies; nothing past serde_json's nesting limit is accepted; whatever decodes is
    /// answered without panicking, its uid echoed.
    #[test]
    fn hostile_bodies_decode_consistently(
        (object, depth) in hostile_object(),
        (old, old_depth) in prop_oneof![Just(("null".to_string(), 0)), hostile_object()],
        extra in hostile_envelope(),
        which in 0..RESOURCES.len(),
        op in prop_oneof![Just("CREATE"), Just("UPDATE")],
    ) {
        let (group, resource, kind, sub) = RESOURCES[which];
        let body = format!(
            r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{{extra}"uid":"f","operation":"{op}","namespace":"n","name":"x","subResource":"{sub}","kind":{{"group":"{group}","version":"v1","kind":"{kind}"}},"resource":{{"group":"{group}","version":"v1","resource":"{resource}"}},"object":{object},"oldObject":{old}}}}}"#
        );
        let envelope = parse_envelope(body.as_bytes());
        let full = parse_review(body.as_bytes());
        prop_assert_eq!(envelope.is_ok(), full.is_ok(), "{:?} / {:?}", envelope.as_ref().err(), full.as_ref().err());
        if depth.max(old_depth) > 128 {
            prop_assert!(full.is_err(), "nesting {} accepted", depth.max(old_depth));
        }
        if let (Ok(envelope), Ok(req)) = (envelope, full) {
            let all = Work { pod_security: true, checks: true, patch: true };
            let cost = budget::cost(body.len(), &envelope.object, &envelope.old_object, all);
            prop_assert!(cost >= body.len());
            let w = webhook();
            let out = w.validate(&req, None, Instant::now());
            prop_assert_eq!(out.response.uid.as_str(), "f");
            let m = w.mutate(&req);
            prop_assert_eq!(m.response.uid.as_str(), "f");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(400), ..ProptestConfig::default() })]

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
