//! `kubevigil webhook manifests`: everything needed to run the webhook in a cluster.
//!
//! Namespace, ServiceAccount, least-privilege RBAC (namespaces get/list/watch), ConfigMap with
//! the webhook configuration, Deployment (2 replicas, probes, resources, non-root, read-only
//! root filesystem), PodDisruptionBudget, Service, ValidatingWebhookConfiguration and
//! MutatingWebhookConfiguration (failurePolicy Ignore, timeoutSeconds 3, sideEffects None,
//! admissionReviewVersions [v1], kube-system and the webhook's own namespace excluded), and TLS:
//! either a CA and serving certificate generated here (the CA as `caBundle`, the pair in a
//! `kubernetes.io/tls` Secret) or cert-manager Issuer/Certificate objects with the cainjector
//! annotation.

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use serde_json::{Value, json};

pub const NAME: &str = "kubevigil-webhook";

#[derive(Debug, Clone)]
pub struct ManifestOptions {
    pub namespace: String,
    pub image: String,
    pub cert_manager: bool,
}

/// A generated CA and serving certificate (PEM).
#[derive(Debug, Clone)]
pub struct GeneratedTls {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

/// DNS names the API server may use for the Service.
pub fn service_dns_names(namespace: &str) -> Vec<String> {
    vec![
        format!("{NAME}.{namespace}.svc"),
        format!("{NAME}.{namespace}.svc.cluster.local"),
        format!("{NAME}.{namespace}"),
        NAME.to_string(),
    ]
}

/// Generates a CA (10 years) and a serving certificate for `dns_names` (1 year) signed by it.
pub fn generate_tls(dns_names: Vec<String>) -> Result<GeneratedTls, rcgen::Error> {
    let now = time::OffsetDateTime::now_utc();
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "kubevigil-webhook-ca");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = now - time::Duration::hours(1);
    ca.not_after = now + time::Duration::days(3650);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut leaf = CertificateParams::new(dns_names.clone())?;
    leaf.distinguished_name
        .push(DnType::CommonName, dns_names[0].clone());
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.not_before = now - time::Duration::hours(1);
    leaf.not_after = now + time::Duration::days(365);
    let key = KeyPair::generate()?;
    let cert = leaf.signed_by(&key, &issuer)?;
    Ok(GeneratedTls {
        ca_pem: ca_cert.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn b64(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// The default webhook configuration shipped in the ConfigMap.
pub const DEFAULT_CONFIG: &str = "\
apiVersion: kubevigil.io/v1alpha1
kind: WebhookConfiguration
podSecurity:
  mode: enforce
denyServiceExternalIPs:
  mode: enforce
eventRateLimit:
  mode: enforce
  configuration:
    apiVersion: eventratelimit.admission.k8s.io/v1alpha1
    kind: Configuration
    limits:
    - {type: Namespace, qps: 50, burst: 100, cacheSize: 2000}
    - {type: User, qps: 10, burst: 50}
imagePolicy:
  mode: warn
  forbidLatest: true
  requireTag: true
csrApproval:
  mode: enforce
  denySystemMasters: true
mutation:
  namespaceLabel: kubevigil.io/harden
  namespaceLabelValue: \"true\"
";

/// All objects, in apply order. `tls` is used unless cert-manager is asked for.
/// The generated Deployment's memory limit: [`crate::server::DEFAULT_MAX_IN_FLIGHT_BYTES`]
/// (192 MiB) plus [`MEMORY_HEADROOM`].
pub const MEMORY_LIMIT: &str = "320Mi";

/// What the limit leaves beside the byte budget: the process's baseline (about 20 MiB),
/// connection and TLS buffers, and memory the allocator keeps after requests free it.
pub const MEMORY_HEADROOM: usize = 128 << 20;

pub fn objects(opts: &ManifestOptions, tls: Option<&GeneratedTls>) -> Vec<Value> {
    let ns = opts.namespace.as_str();
    let labels = json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "kubevigil"});
    let meta = |name: &str| json!({"name": name, "namespace": ns, "labels": labels});
    let mut out = vec![
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/enforce-version": "latest"}}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(NAME)}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
            "metadata": {"name": NAME, "labels": labels},
            "rules": [{"apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
            "metadata": {"name": NAME, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]}),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(NAME),
            "data": {"config.yaml": DEFAULT_CONFIG}}),
    ];
    let tls_secret = format!("{NAME}-tls");
    let ca_bundle = match (opts.cert_manager, tls) {
        (false, Some(t)) => {
            out.push(json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                "metadata": meta(&tls_secret),
                "data": {"tls.crt": b64(&t.cert_pem), "tls.key": b64(&t.key_pem), "ca.crt": b64(&t.ca_pem)}}));
            Some(b64(&t.ca_pem))
        }
        _ => {
            let selfsigned = format!("{NAME}-selfsigned");
            let ca_name = format!("{NAME}-ca");
            out.push(json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": meta(&selfsigned),
                "spec": {"selfSigned": {}}}));
            out.push(json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": meta(&ca_name),
                "spec": {"isCA": true, "commonName": ca_name, "secretName": ca_name, "duration": "87600h",
                    "privateKey": {"algorithm": "ECDSA", "size": 256},
                    "issuerRef": {"name": selfsigned, "kind": "Issuer", "group": "cert-manager.io"}}}));
            out.push(json!({"apiVersion": "cert-manager.io/v1", "kind": "Issuer", "metadata": meta(&ca_name),
                "spec": {"ca": {"secretName": ca_name}}}));
            out.push(json!({"apiVersion": "cert-manager.io/v1", "kind": "Certificate", "metadata": meta(NAME),
                "spec": {"secretName": tls_secret, "dnsNames": service_dns_names(ns), "duration": "8760h",
                    "renewBefore": "720h", "usages": ["server auth", "digital signature", "key encipherment"],
                    "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                    "issuerRef": {"name": ca_name, "kind": "Issuer", "group": "cert-manager.io"}}}));
            None
        }
    };
    let container_sc = json!({"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
        "capabilities": {"drop": ["ALL"]}, "runAsNonRoot": true});
    let probe = |path: &str, period: u32| {
        json!({"httpGet": {"path": path, "port": "https", "scheme": "HTTPS"},
        "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": 3})
    };
    let mut deploy_meta = meta(NAME);
    deploy_meta["annotations"] = json!({"kubevigil.io/ignore": "service-account-token-automount",
        "kubevigil.io/ignore-reason": "the namespace watch needs the token (RBAC: namespaces get/list/watch only)"});
    out.push(json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": deploy_meta,
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {"metadata": {"labels": labels},
                // The token is needed: the namespace watch uses it (RBAC: namespaces get/list/watch).
                "spec": {"serviceAccountName": NAME, "automountServiceAccountToken": true,
                    "priorityClassName": "system-cluster-critical",
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "runAsGroup": 65532,
                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100, "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname",
                            "labelSelector": {"matchLabels": {"app.kubernetes.io/name": NAME}}}}]}},
                    "containers": [{"name": "webhook", "image": opts.image,
                        "args": ["webhook", "--tls-cert", "/tls/tls.crt", "--tls-key", "/tls/tls.key",
                            "--config", "/config/config.yaml", "--listen", "0.0.0.0:8443", "--watch-namespaces",
                            "--max-in-flight-bytes", crate::server::DEFAULT_MAX_IN_FLIGHT_BYTES.to_string()],
                        "ports": [{"name": "https", "containerPort": 8443}],
                        "readinessProbe": probe("/readyz", 5), "livenessProbe": probe("/healthz", 10),
                        // The limit covers the byte budget of requests in flight plus the
                        // process's baseline, connection buffers and allocator slack
                        // (crates/webhook/README.md, "Memory").
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"},
                            "limits": {"cpu": "1", "memory": MEMORY_LIMIT}},
                        "securityContext": container_sc,
                        "volumeMounts": [{"name": "tls", "mountPath": "/tls", "readOnly": true},
                            {"name": "config", "mountPath": "/config", "readOnly": true}]}],
                    "volumes": [{"name": "tls", "secret": {"secretName": tls_secret}},
                        {"name": "config", "configMap": {"name": NAME}}]}}}}));
    out.push(json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(NAME),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}}}}));
    out.push(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(NAME),
        "spec": {"selector": {"app.kubernetes.io/name": NAME},
            "ports": [{"name": "https", "port": 443, "targetPort": "https"}]}}),
    );

    // Ingress only to the webhook port; egress only to the API server (443/6443; reached by
    // the KUBERNETES_SERVICE_HOST address, so no DNS). The API server's addresses differ per
    // cluster (and are outside it on managed ones), hence no peers: narrow with ipBlock.
    out.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("default-deny"),
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}));
    let mut np_meta = meta(NAME);
    np_meta["annotations"] = json!({"kubevigil.io/ignore": "netpol-rule-allows-any-address",
        "kubevigil.io/ignore-reason": "the API server's addresses are cluster-specific; narrow with ipBlock where known"});
    out.push(json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": np_meta,
        "spec": {"podSelector": {"matchLabels": {"app.kubernetes.io/name": NAME}}, "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"port": 8443, "protocol": "TCP"}]}],
            "egress": [{"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}]}]}}));
    out.push(json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta(NAME),
        "spec": {"hard": {"pods": "10", "requests.cpu": "2", "requests.memory": "1Gi", "limits.cpu": "4", "limits.memory": "2Gi"}}}));
    out.push(
        json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": meta(NAME),
        "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "128Mi"},
            "defaultRequest": {"cpu": "50m", "memory": "64Mi"}}]}}),
    );
    let cfg_meta = |kind: &str| {
        let mut m = json!({"name": format!("kubevigil-{kind}"), "labels": labels});
        if opts.cert_manager {
            m["annotations"] = json!({"cert-manager.io/inject-ca-from": format!("{ns}/{NAME}")});
        }
        m
    };
    let not_system = json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name",
        "operator": "NotIn", "values": ["kube-system", ns]}]});
    let webhook =
        |name: &str, path: &str, rules: Value, selector: Value, conditions: Option<Value>| {
            let mut client =
                json!({"service": {"namespace": ns, "name": NAME, "path": path, "port": 443}});
            if let Some(ca) = &ca_bundle {
                client["caBundle"] = json!(ca);
            }
            let mut w = json!({"name": name, "clientConfig": client, "rules": rules,
            "failurePolicy": "Ignore", "matchPolicy": "Equivalent", "sideEffects": "None",
            "timeoutSeconds": 3, "admissionReviewVersions": ["v1"], "namespaceSelector": selector});
            if let Some(c) = conditions {
                w["matchConditions"] = c;
            }
            w
        };
    let rule = |groups: &[&str], resources: &[&str], ops: &[&str], scope: &str| json!({"apiGroups": groups, "apiVersions": ["*"], "resources": resources, "operations": ops, "scope": scope});
    let workload_rules = |with_pods: bool| {
        let mut r = vec![
            rule(
                &[""],
                &["podtemplates", "replicationcontrollers"],
                &["CREATE", "UPDATE"],
                "Namespaced",
            ),
            rule(
                &["apps"],
                &["deployments", "replicasets", "statefulsets", "daemonsets"],
                &["CREATE", "UPDATE"],
                "Namespaced",
            ),
            rule(
                &["batch"],
                &["jobs", "cronjobs"],
                &["CREATE", "UPDATE"],
                "Namespaced",
            ),
        ];
        if with_pods {
            r.insert(
                0,
                rule(
                    &[""],
                    &["pods", "pods/ephemeralcontainers"],
                    &["CREATE", "UPDATE"],
                    "Namespaced",
                ),
            );
        }
        Value::Array(r)
    };
    let mut pss_rules = workload_rules(true);
    pss_rules.as_array_mut().expect("array").push(rule(
        &[""],
        &["namespaces"],
        &["CREATE", "UPDATE"],
        "Cluster",
    ));
    out.push(json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": cfg_meta("validating"),
        "webhooks": [
            // Named like the built-in plugin so audit annotations read pod-security.kubernetes.io/<key>.
            webhook("pod-security.kubernetes.io", "/validate/pod-security", pss_rules, not_system.clone(), None),
            webhook("deny-service-external-ips.kubevigil.io", "/validate/deny-service-external-ips",
                json!([rule(&[""], &["services"], &["CREATE", "UPDATE"], "Namespaced")]), not_system.clone(),
                Some(json!([{"name": "has-external-ips",
                    "expression": "has(object.spec.externalIPs) && size(object.spec.externalIPs) > 0"}]))),
            webhook("event-rate-limit.kubevigil.io", "/validate/event-rate-limit",
                json!([rule(&[""], &["events"], &["CREATE", "UPDATE"], "Namespaced")]), not_system.clone(),
                None),
            webhook("image-policy.kubevigil.io", "/validate/image-policy", workload_rules(true), not_system.clone(), None),
            webhook("csr-approval.kubevigil.io", "/validate/csr-approval",
                json!([rule(&["certificates.k8s.io"], &["certificatesigningrequests/approval"], &["UPDATE"], "Cluster")]),
                json!({}), None),
        ]}));
    let mut harden_selector = not_system.clone();
    harden_selector["matchLabels"] = json!({"kubevigil.io/harden": "true"});
    let mut harden = webhook(
        "harden.kubevigil.io",
        "/mutate",
        json!([rule(&[""], &["pods"], &["CREATE"], "Namespaced")]),
        harden_selector,
        None,
    );
    harden["reinvocationPolicy"] = json!("Never");
    out.push(json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
        "metadata": cfg_meta("mutating"), "webhooks": [harden]}));
    out
}

pub use kubevigil_model::text::yaml::to_yaml;
