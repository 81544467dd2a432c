use kubevigil_model::{FieldPath, Object, Severity};

use crate::{CIS, Category, Check, Config, Emitter, NSA, Ref, RuleMeta, Scope};

pub struct WorkloadInDefaultNamespace;

static META: RuleMeta = RuleMeta {
    id: "workload-in-default-namespace",
    title: "Workload in the default namespace",
    severity: Severity::Low,
    category: Category::Placement,
    doc: include_str!("workload_in_default_namespace.md"),
    remediation: "Create a namespace per application or team (with its Pod Security labels, ResourceQuota, LimitRange and NetworkPolicies) and deploy there.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.7.4",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: NSA,
            id: "Namespaces",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
    ],
};

impl Check<Config> for WorkloadInDefaultNamespace {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kubevigil_model::is_workload_kind(kind) || kind == "Service" || kind == "Ingress"
    }

    fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
        // Only an explicit `namespace: default`: a manifest without one goes wherever it is
        // applied (`kubectl apply -n`, Helm's release namespace, Kustomize, Argo CD).
        if object.namespace.as_deref() != Some("default") {
            return;
        }
        let built_in = match object.kind.as_str() {
            "Service" => object.api_version == "v1",
            "Ingress" => matches!(object.group(), "networking.k8s.io" | "extensions"),
            _ => kubevigil_model::pod_template(object).is_some(),
        };
        if !built_in {
            return;
        }
        // The API server's own Service (kube-apiserver creates it in every cluster).
        if object.kind == "Service" && object.name == "kubernetes" {
            return;
        }
        out.emit(
            object,
            &FieldPath::parse_keys("metadata.namespace"),
            format!(
                "{} sets metadata.namespace to \"default\": it shares the namespace that every unqualified kubectl command and every unnamespaced manifest lands in",
                object.kind
            ),
        );
    }
}
