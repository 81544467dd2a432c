use std::collections::{BTreeSet, HashSet};

use kubevigil_model::{FieldPath, Object, Objects, Severity, pod_template};
use serde_json::Value;

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct SecretUnreferenced;

static META: RuleMeta = RuleMeta {
    id: "secret-unreferenced",
    title: "Secret that nothing in the input references",
    severity: Severity::Low,
    category: Category::SensitiveData,
    doc: include_str!("secret_unreferenced.md"),
    remediation: "Delete the Secret (and rotate the credential it held) if nothing uses it; if an application reads it through the API, annotate it with kubevigil.io/ignore: secret-unreferenced and the reason.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.4.1",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1552.007",
            url: "https://attack.mitre.org/techniques/T1552/007/",
        },
    ],
};

/// Kinds that reference Secrets by name besides workloads: ServiceAccounts, Ingresses, Gateways
/// and the CRDs of well-known controllers (cert-manager, external-secrets, Elastic's ECK). Only
/// these are kept for the check, so that `scan` does not keep every object of its input.
const REFERRERS: &[&str] = &[
    "ServiceAccount",
    "Ingress",
    "Gateway",
    "Certificate",
    "Issuer",
    "ClusterIssuer",
    "ExternalSecret",
    "ClusterExternalSecret",
    "SecretStore",
    "ClusterSecretStore",
    "PushSecret",
    "Elasticsearch",
    "Kibana",
    "Agent",
    "Logstash",
    "ApmServer",
    "Beat",
    "EnterpriseSearch",
    "PackageRegistry",
];

/// Secret types that controllers create and use themselves.
const MANAGED_TYPES: &[&str] = &[
    "kubernetes.io/service-account-token",
    "bootstrap.kubernetes.io/token",
    "helm.sh/release.v1",
];

/// Collects the Secret names `v` references: `secretName` strings, the `name` of any
/// `secretRef`/`*SecretRef`/`secretKeyRef`, of a projected volume's `secret` source, `imagePullSecrets[].name`, a ServiceAccount's
/// `secrets[].name`, Gateway `certificateRefs[].name`, an ExternalSecret's `target.name`.
fn collect(v: &Value, key: &str, out: &mut HashSet<String>) {
    match v {
        Value::Object(m) => {
            let name = m.get("name").and_then(Value::as_str);
            let lower = key.to_ascii_lowercase();
            if let Some(n) = name
                && (lower.ends_with("secretref")
                    || lower == "secretkeyref"
                    || lower == "secret"
                    || lower == "imagepullsecrets"
                    || lower == "secrets"
                    || lower == "certificaterefs"
                    || lower == "target")
            {
                out.insert(n.to_string());
            }
            for (k, child) in m {
                if k == "secretName"
                    && let Some(s) = child.as_str()
                {
                    out.insert(s.to_string());
                }
                collect(child, k, out);
            }
        }
        Value::Array(a) => {
            for child in a {
                collect(child, key, out);
            }
        }
        _ => {}
    }
}

fn namespace(o: &Object) -> &str {
    o.namespace.as_deref().unwrap_or("default")
}

impl Check<Config> for SecretUnreferenced {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "Secret" || REFERRERS.contains(&kind) || kubevigil_model::is_workload_kind(kind)
    }

    fn check_cluster(&self, _: &Config, objects: &dyn Objects, out: &mut Emitter) {
        let mut referenced: HashSet<(String, String)> = HashSet::new();
        let mut with_workloads: BTreeSet<&str> = BTreeSet::new();
        for o in objects.all() {
            let mut names = HashSet::new();
            if let Some(pod) = pod_template(o) {
                with_workloads.insert(namespace(o));
                collect(pod.spec, "", &mut names);
            } else if REFERRERS.contains(&o.kind.as_str()) {
                collect(&o.value, "", &mut names);
            } else {
                continue;
            }
            for n in names {
                referenced.insert((namespace(o).to_string(), n));
            }
        }
        for o in objects.of_kind("Secret") {
            if o.api_version != "v1" || !with_workloads.contains(namespace(o)) {
                continue;
            }
            let ty = o.value.get("type").and_then(Value::as_str).unwrap_or("");
            let owned = o
                .value
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            let annotated = o.annotations().keys().any(|k| {
                k.starts_with("cert-manager.io/") || k == "kubernetes.io/service-account.name"
            });
            if MANAGED_TYPES.contains(&ty) || owned || annotated {
                continue;
            }
            if referenced.contains(&(namespace(o).to_string(), o.name.clone())) {
                continue;
            }
            out.emit(
                o,
                &FieldPath::parse_keys("metadata.name"),
                format!(
                    "Secret {}/{} is referenced by no pod (volume, env, envFrom, imagePullSecrets), ServiceAccount, Ingress, Gateway or known controller object of namespace {} in the input",
                    namespace(o),
                    o.name,
                    namespace(o)
                ),
            );
        }
    }
}
