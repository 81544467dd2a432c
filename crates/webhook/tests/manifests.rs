//! `kubevigil webhook manifests` output: valid Kubernetes objects, as the model loader reads
//! them, with working TLS material.

use std::sync::Arc;

use base64::Engine;
use kubevigil_webhook::manifests::{self, ManifestOptions};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::Value;

/// Verifies `leaf_pem` (and any intermediates after it) up to a root in `ca_pem` for `host`,
/// with rustls' webpki verifier: signatures, validity period, name and key usage.
fn verify_chain(ca_pem: &[u8], leaf_pem: &[u8], host: &str) -> Result<(), rustls::Error> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(c.unwrap())?;
    }
    let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::ring::default_provider()),
    )
    .build()
    .unwrap();
    let chain: Vec<_> = CertificateDer::pem_slice_iter(leaf_pem)
        .map(Result::unwrap)
        .collect();
    verifier
        .verify_server_cert(
            &chain[0],
            &chain[1..],
            &ServerName::try_from(host.to_string()).unwrap(),
            &[],
            UnixTime::now(),
        )
        .map(|_| ())
}

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

    // The Secret holds the serving pair; the certificate chains to the caBundle the API server
    // is given, for the Service's DNS name, checked by signature (webpki, as the API server's
    // TLS client does), and the key is the certificate's.
    let secret = objs.iter().find(|o| o.kind == "Secret").unwrap();
    let data = |k: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(secret.value["data"][k].as_str().unwrap())
            .unwrap()
    };
    let (crt, key) = (data("tls.crt"), data("tls.key"));
    let ca_bundle = base64::engine::general_purpose::STANDARD
        .decode(hooks[0]["clientConfig"]["caBundle"].as_str().unwrap())
        .unwrap();
    let service = &hooks[0]["clientConfig"]["service"];
    let host = format!(
        "{}.{}.svc",
        service["name"].as_str().unwrap(),
        service["namespace"].as_str().unwrap()
    );
    verify_chain(&ca_bundle, &crt, &host).unwrap();
    for name in manifests::service_dns_names("kv-system") {
        verify_chain(&ca_bundle, &crt, &name).unwrap();
    }
    assert!(verify_chain(&ca_bundle, &crt, "other.kv-system.svc").is_err());
    let other = manifests::generate_tls(manifests::service_dns_names("kv-system")).unwrap();
    assert!(
        verify_chain(other.ca_pem.as_bytes(), &crt, &host).is_err(),
        "a certificate does not verify against another CA"
    );
    assert!(verify_chain(&ca_bundle, other.cert_pem.as_bytes(), &host).is_err());
    // The private key belongs to the certificate: a TLS server accepts the pair.
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&crt)
        .map(Result::unwrap)
        .collect();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(&key).unwrap();
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("key matches the certificate");

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
