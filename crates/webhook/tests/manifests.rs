//! `kubevigil webhook manifests` output: valid Kubernetes objects, as the model loader reads
//! them, with working TLS material.

use base64::Engine;
use kubevigil_webhook::manifests::{self, ManifestOptions};
use serde_json::Value;

fn load(text: &str) -> Vec<kubevigil_model::Object> {
    let mut loaded = kubevigil_model::Loaded::default();
    kubevigil_model::load::load_text_into("manifests.yaml", text, &Default::default(), &mut loaded);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded.inventory.objects
}

fn opts(cert_manager: bool) -> ManifestOptions {
    ManifestOptions {
        namespace: "kv-system".into(),
        image: "ghcr.io/kubevigil/kubevigil:test".into(),
        cert_manager,
    }
}

fn kinds(objs: &[kubevigil_model::Object]) -> Vec<&str> {
    objs.iter().map(|o| o.kind.as_str()).collect()
}

#[test]
fn generated_tls_manifests_parse_and_carry_a_ca_bundle() {
    let tls = manifests::generate_tls(manifests::service_dns_names("kv-system")).unwrap();
    let text = manifests::to_yaml(&manifests::objects(&opts(false), Some(&tls)));
    let objs = load(&text);
    assert_eq!(
        kinds(&objs),
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Secret",
            "Deployment",
            "PodDisruptionBudget",
            "Service",
            "NetworkPolicy",
            "NetworkPolicy",
            "ResourceQuota",
            "LimitRange",
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration"
        ]
    );
    let vwc = objs
        .iter()
        .find(|o| o.kind == "ValidatingWebhookConfiguration")
        .unwrap();
    let hooks = vwc.value["webhooks"].as_array().unwrap();
    assert_eq!(hooks[0]["name"], "pod-security.kubernetes.io");
    for h in hooks {
        assert_eq!(h["failurePolicy"], "Ignore");
        assert_eq!(h["timeoutSeconds"], 3);
        assert_eq!(h["sideEffects"], "None");
        assert_eq!(h["admissionReviewVersions"], serde_json::json!(["v1"]));
        let pem = base64::engine::general_purpose::STANDARD
            .decode(h["clientConfig"]["caBundle"].as_str().unwrap())
            .unwrap();
        let pem = String::from_utf8(pem).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        assert_eq!(pem, tls.ca_pem);
    }
    let excluded = &hooks[0]["namespaceSelector"]["matchExpressions"][0];
    assert_eq!(excluded["operator"], "NotIn");
    assert_eq!(
        excluded["values"],
        serde_json::json!(["kube-system", "kv-system"])
    );

    // Least privilege: namespaces get/list/watch, nothing else.
    let role = objs.iter().find(|o| o.kind == "ClusterRole").unwrap();
    assert_eq!(
        role.value["rules"],
        serde_json::json!([{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]}])
    );

    // The Deployment runs hardened: it passes restricted Pod Security.
    let deploy = objs.iter().find(|o| o.kind == "Deployment").unwrap();
    assert_eq!(deploy.value["spec"]["replicas"], 2);
    let t = &deploy.value["spec"]["template"];
    let pod = kubevigil_pss::PodInput::from_values(&t["metadata"], &t["spec"], false).unwrap();
    let eval = pod.evaluate(kubevigil_pss::LevelVersion::parse("restricted:latest").unwrap());
    assert!(eval.allowed(), "{:?}", eval.message());
    let c = &t["spec"]["containers"][0];
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert!(
        c["readinessProbe"].is_object()
            && c["livenessProbe"].is_object()
            && c["resources"]["limits"].is_object()
    );

    // The Secret holds the serving pair; the certificate chains to the CA for the Service name.
    let secret = objs.iter().find(|o| o.kind == "Secret").unwrap();
    let crt = base64::engine::general_purpose::STANDARD
        .decode(secret.value["data"]["tls.crt"].as_str().unwrap())
        .unwrap();
    assert_eq!(String::from_utf8(crt).unwrap(), tls.cert_pem);

    // The ConfigMap's configuration is accepted by the webhook.
    let cm = objs.iter().find(|o| o.kind == "ConfigMap").unwrap();
    let cfg = cm.value["data"]["config.yaml"].as_str().unwrap();
    let webhook = kubevigil_webhook::config::from_text(cfg, &|_| Err("no files".into())).unwrap();
    assert!(webhook.event_rate_limit.is_some() && webhook.pod_security.is_some());
}

#[test]
fn cert_manager_variant_uses_issuers_and_ca_injection() {
    let text = manifests::to_yaml(&manifests::objects(&opts(true), None));
    let objs = load(&text);
    let ks = kinds(&objs);
    assert!(!ks.contains(&"Secret"));
    assert_eq!(ks.iter().filter(|k| **k == "Certificate").count(), 2);
    assert_eq!(ks.iter().filter(|k| **k == "Issuer").count(), 2);
    for kind in [
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    ] {
        let o = objs.iter().find(|o| o.kind == kind).unwrap();
        assert_eq!(
            o.value["metadata"]["annotations"]["cert-manager.io/inject-ca-from"],
            "kv-system/kubevigil-webhook"
        );
        assert!(
            o.value["webhooks"][0]["clientConfig"]
                .get("caBundle")
                .is_none()
        );
    }
    let cert = objs
        .iter()
        .find(|o| o.kind == "Certificate" && o.name == "kubevigil-webhook")
        .unwrap();
    assert_eq!(
        cert.value["spec"]["dnsNames"][0],
        "kubevigil-webhook.kv-system.svc"
    );
    let _: &Value = &cert.value;
}
