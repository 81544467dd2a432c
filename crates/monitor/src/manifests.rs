//! `kubevigil monitor manifests`: everything needed to run the monitor in a cluster, and the two
//! files kube-apiserver needs to send it its audit events.
//!
//! The install: Namespace (Pod Security `restricted` enforced), ServiceAccount, the read-only
//! ClusterRole of [`kubevigil_cluster::cluster_role_rules`] (the one list of what a snapshot
//! reads) and its binding, a PersistentVolumeClaim for the state directory, a Deployment (one
//! replica, `Recreate`: the state directory is a ReadWriteOnce volume and SQLite wants one
//! writer), a Service (8080 metrics and probes, 8443 audit), a NetworkPolicy and a
//! PodDisruptionBudget. `deploy/monitor/` is the same install as a kustomize base (a test holds
//! them equal).
//!
//! kube-apiserver's side: the webhook backend reads a kubeconfig naming the monitor's `/audit`
//! URL (`--audit-webhook-config-file`) and a policy (`--audit-policy-file`); see
//! <https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/#webhook-backend>.

use serde_json::{Value, json};

pub use kubevigil_model::text::yaml::{comment, to_yaml};

/// Name of every namespaced object, the ClusterRole and its binding.
pub const NAME: &str = "kubevigil-monitor";
/// The Secret (type `kubernetes.io/tls`) the audit endpoint's certificate and key are read from.
pub const TLS_SECRET: &str = "kubevigil-monitor-tls";
/// The PersistentVolumeClaim of the state directory.
pub const STATE_CLAIM: &str = "kubevigil-monitor-state";
/// Where the state volume is mounted (`--state-dir`).
pub const STATE_DIR: &str = "/var/lib/kubevigil";
/// `/metrics`, `/healthz`, `/readyz`.
pub const METRICS_PORT: u16 = 8080;
/// `POST /audit` (HTTPS).
pub const AUDIT_PORT: u16 = 8443;
/// The numeric user and group the container runs as (no name lookup needed: runAsNonRoot can
/// be verified by the kubelet).
pub const RUN_AS: u32 = 65532;
/// Where kube-apiserver finds the CA that signed the monitor's certificate, in the printed
/// webhook kubeconfig: a placeholder to edit, on the control-plane host.
pub const CA_PLACEHOLDER: &str = "/etc/kubernetes/kubevigil/ca.crt";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "namespace {0:?} is not a DNS-1123 label (at most 63 of a-z, 0-9 and '-', starting and ending alphanumeric)"
    )]
    Namespace(String),
    #[error("image {0:?} is empty or holds whitespace or control characters")]
    Image(String),
    #[error(
        "audit URL {0:?} is not https://HOST[:PORT]/PATH (the monitor's audit endpoint serves TLS)"
    )]
    AuditUrl(String),
}

/// What the install is made of.
#[derive(Debug, Clone)]
pub struct ManifestOptions {
    pub namespace: String,
    pub image: String,
    /// The monitor keeps its findings in the cluster as these reports (`--policy-reports`):
    /// the flag, and a ClusterRole of its own that may write them.
    pub policy_reports: Option<kubevigil_report::policyreport::Flavor>,
}

impl ManifestOptions {
    pub fn validate(&self) -> Result<(), Error> {
        let ns = &self.namespace;
        let label = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        if ns.is_empty()
            || ns.len() > 63
            || !ns.chars().all(|c| label(c) || c == '-')
            || !ns.starts_with(label)
            || !ns.ends_with(label)
        {
            return Err(Error::Namespace(ns.clone()));
        }
        if self.image.is_empty()
            || self
                .image
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(Error::Image(self.image.clone()));
        }
        Ok(())
    }
}

/// One object with the comment printed above it.
#[derive(Debug, Clone)]
pub struct Document {
    pub comment: String,
    pub object: Value,
}

/// The install's objects, in apply order.
pub fn objects(opts: &ManifestOptions) -> Vec<Document> {
    let ns = opts.namespace.as_str();
    let labels = json!({"app.kubernetes.io/name": NAME, "app.kubernetes.io/part-of": "kubevigil"});
    let selector = json!({"matchLabels": {"app.kubernetes.io/name": NAME}});
    let meta = |name: &str| json!({"name": name, "namespace": ns, "labels": labels});
    let doc = |comment: &str, object: Value| Document {
        comment: comment.to_string(),
        object,
    };
    let mut rules: Vec<Value> = kubevigil_cluster::cluster_role_rules()
        .into_iter()
        .map(|r| json!({"apiGroups": [r.api_group], "resources": r.resources, "verbs": r.verbs}))
        .collect();
    // The monitor also watches Kubernetes Events (events.k8s.io/v1, else core v1).
    rules.push(json!({"apiGroups": ["", "events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]}));
    // And reads the metrics API and the Nodes' allocatable resources (resource abuse).
    rules.push(json!({"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list"]}));
    rules.push(json!({"apiGroups": ["metrics.k8s.io"], "resources": ["pods", "nodes"], "verbs": ["get", "list"]}));
    rules.push(json!({"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["get", "list"]}));

    // What kubevigil's own checks would say of the monitor, and why it is so: each exception
    // named with its reason (listed as suppressed in `kubevigil scan -o json`).
    let by_digest = opts.image.contains("@sha256:");
    let mut deploy_meta = meta(NAME);
    deploy_meta["annotations"] = if by_digest {
        json!({"kubevigil.io/ignore": "service-account-token-automount,rbac-workload-risky-service-account",
            "kubevigil.io/ignore-reason": "the monitor reads the cluster with the token (RBAC: get/list/watch only; secrets list/watch for their metadata)"})
    } else {
        json!({"kubevigil.io/ignore": "service-account-token-automount,rbac-workload-risky-service-account,image-not-pinned-by-digest",
            "kubevigil.io/ignore-reason": "the monitor reads the cluster with the token (RBAC: get/list/watch only; secrets list/watch for their metadata); the default image is a release tag, whose digest is not known when kubevigil is built: pass --image REPOSITORY@sha256:..."})
    };
    // A tag is looked up again at each start, so that every node runs what it names now.
    let pull_policy = if by_digest { "IfNotPresent" } else { "Always" };
    let probe = |path: &str, period: u32| {
        json!({"httpGet": {"path": path, "port": "metrics", "scheme": "HTTP"},
            "periodSeconds": period, "timeoutSeconds": 2, "failureThreshold": 3})
    };
    let mut args = vec![
        "monitor".to_string(),
        "--state-dir".into(),
        STATE_DIR.into(),
        "--listen".into(),
        format!("0.0.0.0:{METRICS_PORT}"),
        "--audit-listen".into(),
        format!("0.0.0.0:{AUDIT_PORT}"),
        "--tls-cert".into(),
        "/tls/tls.crt".into(),
        "--tls-key".into(),
        "/tls/tls.key".into(),
    ];
    if let Some(flavor) = opts.policy_reports {
        args.push("--policy-reports".into());
        args.push(
            match flavor {
                kubevigil_report::policyreport::Flavor::PolicyReport => "policyreport",
                kubevigil_report::policyreport::Flavor::OpenReports => "openreports",
            }
            .into(),
        );
    }
    let deployment = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": deploy_meta,
        "spec": {"replicas": 1, "selector": selector,
            "strategy": {"type": "Recreate"},
            "template": {"metadata": {"labels": labels},
                "spec": {"serviceAccountName": NAME, "automountServiceAccountToken": true,
                    "terminationGracePeriodSeconds": 30,
                    "securityContext": {"runAsNonRoot": true, "runAsUser": RUN_AS, "runAsGroup": RUN_AS,
                        "fsGroup": RUN_AS, "fsGroupChangePolicy": "OnRootMismatch",
                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [{"name": "monitor", "image": opts.image, "imagePullPolicy": pull_policy,
                        "args": args,
                        "ports": [{"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                            {"name": "audit", "containerPort": AUDIT_PORT, "protocol": "TCP"}],
                        "livenessProbe": probe("/healthz", 10), "readinessProbe": probe("/readyz", 5),
                        // The audit body limit is 64 MiB (one batch at a time per connection);
                        // the cluster snapshot grows with the cluster: raise the limit on big ones.
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                            "limits": {"cpu": "1", "memory": "512Mi"}},
                        "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true,
                            "runAsNonRoot": true, "capabilities": {"drop": ["ALL"]},
                            "seccompProfile": {"type": "RuntimeDefault"}},
                        "volumeMounts": [{"name": "state", "mountPath": STATE_DIR},
                            {"name": "tls", "mountPath": "/tls", "readOnly": true},
                            {"name": "tmp", "mountPath": "/tmp"}]}],
                    "volumes": [{"name": "state", "persistentVolumeClaim": {"claimName": STATE_CLAIM}},
                        {"name": "tls", "secret": {"secretName": TLS_SECRET, "defaultMode": 0o440}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}]}}}});

    let mut np_meta = meta(NAME);
    np_meta["annotations"] = json!({"kubevigil.io/ignore": "netpol-rule-allows-any-address",
        "kubevigil.io/ignore-reason": "kube-apiserver sends audit events from the host network, Prometheus may run anywhere, the API server's addresses are cluster-specific and Slack is on the internet; narrow with ipBlock where known"});

    let mut docs = vec![
        doc(
            "The namespace enforces the restricted Pod Security Standard: the monitor meets it.",
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest"}}}),
        ),
        doc(
            "The monitor's identity: its token reads the cluster (the ClusterRole below).",
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(NAME)}),
        ),
        doc(
            &format!(
                "Read-only: get, list and watch on every kind a kubevigil snapshot reads (`kubevigil cluster role` prints the same rules), and on Events, which the monitor watches; get and list on Nodes, HorizontalPodAutoscalers and the metrics API (metrics.k8s.io), which it polls. {}",
                kubevigil_cluster::SECRETS_NOTE
            ),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": NAME, "labels": labels, "annotations": {
                    "kubevigil.io/ignore": "rbac-secrets-read",
                    "kubevigil.io/ignore-reason": "kubevigil lists Secrets as metadata only (unused and unrotated Secrets, who can read them); RBAC cannot grant less than list"}},
                "rules": rules}),
        ),
        doc(
            "",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": NAME, "labels": labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": NAME},
                "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]}),
        ),
        doc(
            "The state directory: the audit spool (bounded at 1 GiB by --spool-max-bytes) and the history (SQLite). The cluster's default StorageClass provides it.",
            json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": meta(STATE_CLAIM),
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "2Gi"}}}}),
        ),
        doc(
            &format!(
                "One replica, replaced with Recreate: the state directory is a ReadWriteOnce volume and SQLite must have one writer.\n\
                 The image is pinned by tag; pin it by digest (image: REPOSITORY@sha256:...) so that what runs is what was reviewed.\n\
                 The audit endpoint's certificate and key come from the Secret {TLS_SECRET} (type kubernetes.io/tls), which this install does not create: \
                 with openssl, `openssl req -x509 -newkey rsa:3072 -nodes -days 365 -subj /CN={NAME}.{ns}.svc -addext subjectAltName=DNS:{NAME}.{ns}.svc -keyout tls.key -out tls.crt` \
                 then `kubectl -n {ns} create secret tls {TLS_SECRET} --cert=tls.crt --key=tls.key`; or a cert-manager Certificate with secretName {TLS_SECRET}.\n\
                 No kubeconfig: the monitor reads the cluster with its service account's token."
            ),
            deployment,
        ),
        doc(
            &format!(
                "{METRICS_PORT}: /metrics, /healthz, /readyz (plain HTTP). {AUDIT_PORT}: POST /audit (HTTPS), kube-apiserver's audit webhook backend, and POST /falco, Falco's http_output.\n\
                 publishNotReadyAddresses: /readyz is red while a watch of the cluster fails, which must not also stop the audit intake."
            ),
            json!({"apiVersion": "v1", "kind": "Service", "metadata": meta(NAME),
                "spec": {"type": "ClusterIP", "publishNotReadyAddresses": true, "selector": {"app.kubernetes.io/name": NAME},
                    "ports": [{"name": "metrics", "port": METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"},
                        {"name": "audit", "port": AUDIT_PORT, "targetPort": "audit", "protocol": "TCP"}]}}),
        ),
        doc(
            "Nothing reaches the namespace's pods, nor leaves them, unless a policy below allows it.",
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": meta("default-deny"),
                "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}}),
        ),
        doc(
            &format!(
                "Ingress: {METRICS_PORT} and {AUDIT_PORT} only, from anywhere: kube-apiserver usually sends from the host network, which pod selectors cannot name, and Prometheus may run anywhere. \
                 The monitor does not authenticate POST /audit (TLS without client certificates): whoever reaches {AUDIT_PORT} can submit audit events and Falco alerts, \
                 so narrow that port to the control-plane nodes' addresses (ipBlock) where they are known.\n\
                 Egress: DNS (53) to the pods of kube-system (CoreDNS or kube-dns; with NodeLocal DNSCache add an ipBlock for its address, e.g. 169.254.20.10/32), the API server (443 for the kubernetes Service, 6443 for the endpoints that policies see after NAT on most CNIs; \
                 its addresses are cluster-specific and outside the pod network on managed clusters), HTTPS sinks (Slack, webhooks: 443) and Alertmanager (9093). \
                 A sink on another port needs a rule here. Narrow the peers with ipBlock or selectors where the addresses are known."
            ),
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": np_meta,
                "spec": {"podSelector": selector, "policyTypes": ["Ingress", "Egress"],
                    "ingress": [{"ports": [{"port": METRICS_PORT, "protocol": "TCP"}, {"port": AUDIT_PORT, "protocol": "TCP"}]}],
                    "egress": [{"to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]},
                        {"ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"},
                            {"port": 9093, "protocol": "TCP"}]}]}}),
        ),
        doc(
            "Caps what the namespace's workloads can claim together: the monitor and room for a rollout.",
            json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta(NAME),
                "spec": {"hard": {"pods": "4", "requests.cpu": "1", "requests.memory": "1Gi",
                    "limits.cpu": "4", "limits.memory": "2Gi", "persistentvolumeclaims": "2",
                    "requests.storage": "10Gi"}}}),
        ),
        doc(
            "Defaults for a container that states no resources (the monitor states its own).",
            json!({"apiVersion": "v1", "kind": "LimitRange", "metadata": meta(NAME),
                "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"},
                    "defaultRequest": {"cpu": "50m", "memory": "64Mi"}}]}}),
        ),
        doc(
            "One replica cannot stay available through an eviction: this budget lets drains proceed (minAvailable 1 would block them). While the pod moves, kube-apiserver's webhook backend retries its batches.",
            json!({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": meta(NAME),
                "spec": {"maxUnavailable": 1, "selector": selector}}),
        ),
    ];
    if let Some(flavor) = opts.policy_reports {
        let group = flavor.api_version().split('/').next().unwrap_or_default();
        let role = format!("{NAME}-reports");
        docs.push(doc(
            &format!(
                "--policy-reports: the monitor writes its reports (server-side apply) and deletes those of namespaces left without findings; a role of its own, so that the one above stays read-only. The {group} CRDs must be installed."
            ),
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": role, "labels": labels},
                "rules": [{"apiGroups": [group],
                    "resources": [flavor.plural(false), flavor.plural(true)],
                    "verbs": ["get", "list", "create", "patch", "delete"]}]}),
        ));
        docs.push(doc(
            "",
            json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": role, "labels": labels},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
                "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}]}),
        ));
    }
    docs
}

/// The documents as one YAML stream, each under its comment.
pub fn documents_yaml(docs: &[Document]) -> String {
    let mut out = comment(
        "kubevigil monitor: generated by `kubevigil monitor manifests`; deploy/monitor is the same install as a kustomize base.",
    );
    for d in docs {
        let body = to_yaml(std::slice::from_ref(&d.object));
        out.push_str("---\n");
        if !d.comment.is_empty() {
            out.push_str(&comment(&d.comment));
        }
        out.push_str(body.strip_prefix("---\n").unwrap_or(&body));
    }
    out
}

/// The monitor's audit URL inside the cluster: its Service's name.
pub fn default_audit_url(namespace: &str) -> String {
    format!("https://{NAME}.{namespace}.svc:{AUDIT_PORT}/audit")
}

/// The kubeconfig kube-apiserver's `--audit-webhook-config-file` names: one cluster whose
/// `server` is the monitor's `/audit` URL, checked with the CA at [`CA_PLACEHOLDER`]
/// (<https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/#webhook-backend>).
pub fn audit_webhook_kubeconfig(url: &str) -> Result<String, Error> {
    let authority = url
        .strip_prefix("https://")
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("");
    // `[v6]:port` keeps its brackets; otherwise what is before the port.
    let host = match authority.starts_with('[') {
        true => authority,
        false => authority.split(':').next().unwrap_or(""),
    };
    if host.is_empty() || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(Error::AuditUrl(url.to_string()));
    }
    let config = json!({"apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": NAME, "cluster": {"server": url, "certificate-authority": CA_PLACEHOLDER}}],
        "users": [{"name": "kube-apiserver", "user": {}}],
        "contexts": [{"name": NAME, "context": {"cluster": NAME, "user": "kube-apiserver"}}],
        "current-context": NAME});
    let mut out = comment(&format!(
        "kube-apiserver --audit-webhook-config-file: where the audit webhook backend sends its EventLists \
         (https://kubernetes.io/docs/tasks/debug/debug-cluster/audit/#webhook-backend).\n\
         certificate-authority: the CA that signed the monitor's certificate, as a file on the control-plane host \
         (mounted into the kube-apiserver static pod); {CA_PLACEHOLDER} is a placeholder to edit.\n\
         kube-apiserver resolves the server's name with its host's resolver, which often does not know cluster DNS names: \
         then use the Service's ClusterIP (`kubevigil monitor manifests --audit-webhook-kubeconfig --audit-url https://IP:{AUDIT_PORT}/audit`) \
         and put that IP in the certificate's subjectAltName."
    ));
    let body = to_yaml(&[config]);
    out.push_str(body.strip_prefix("---\n").unwrap_or(&body));
    Ok(out)
}

/// The audit policy kube-apiserver's `--audit-policy-file` names: `kubevigil audit policy
/// recommend`'s.
pub fn audit_policy() -> &'static str {
    kubevigil_audit::recommend::RECOMMENDED_POLICY
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(namespace: &str, image: &str) -> ManifestOptions {
        ManifestOptions {
            namespace: namespace.into(),
            image: image.into(),
            policy_reports: None,
        }
    }

    #[test]
    fn bad_namespaces_images_and_urls_are_refused() {
        for ns in ["", "-a", "a-", "A", "a_b", "a.b", &"a".repeat(64)] {
            assert!(opts(ns, "img").validate().is_err(), "{ns:?}");
        }
        for ns in ["a", "kubevigil", "k-1", &"a".repeat(63)] {
            assert!(opts(ns, "img").validate().is_ok(), "{ns:?}");
        }
        for image in ["", "a b", "a\nb"] {
            assert!(opts("a", image).validate().is_err(), "{image:?}");
        }
        for url in [
            "http://x/audit",
            "https://",
            "https:///audit",
            "x",
            "https://a b/",
        ] {
            assert!(audit_webhook_kubeconfig(url).is_err(), "{url:?}");
        }
        for url in [
            "https://10.0.0.1:8443/audit",
            "https://[fd00::1]:8443/audit",
        ] {
            assert!(audit_webhook_kubeconfig(url).is_ok(), "{url:?}");
        }
    }

    #[test]
    fn the_namespace_reaches_every_namespaced_object_and_the_binding() {
        let docs = objects(&opts("sec", "img"));
        for d in &docs {
            let o = &d.object;
            match o["kind"].as_str() {
                Some("Namespace") => assert_eq!(o["metadata"]["name"], "sec"),
                Some("ClusterRole") => assert!(o["metadata"].get("namespace").is_none()),
                Some("ClusterRoleBinding") => {
                    assert_eq!(o["subjects"][0]["namespace"], "sec")
                }
                _ => assert_eq!(o["metadata"]["namespace"], "sec", "{o}"),
            }
        }
        assert!(documents_yaml(&docs).contains("-subj /CN=kubevigil-monitor.sec.svc"));
    }
}
