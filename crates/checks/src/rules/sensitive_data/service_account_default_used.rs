use kubevigil_model::{Object, Severity, pod_template};
use serde_json::Value;

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct ServiceAccountDefaultUsed;

static META: RuleMeta = RuleMeta {
    id: "service-account-default-used",
    title: "Workload runs as the namespace's default ServiceAccount",
    severity: Severity::Low,
    category: Category::SensitiveData,
    doc: include_str!("service_account_default_used.md"),
    remediation: "Give the workload its own ServiceAccount (serviceAccountName) with only the RBAC it needs, or set automountServiceAccountToken: false if it never calls the API.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.1.5",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: "Kubernetes documentation",
            id: "Configure Service Accounts for Pods",
            url: "https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/",
        },
        Ref {
            framework: MITRE,
            id: "T1078.004",
            url: "https://attack.mitre.org/techniques/T1078/004/",
        },
    ],
};

impl Check<Config> for ServiceAccountDefaultUsed {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kubevigil_model::is_workload_kind(kind)
    }

    fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
        let Some(pod) = pod_template(object) else {
            return;
        };
        // Without a token the ServiceAccount's identity is unusable from the pod.
        if pod
            .spec
            .get("automountServiceAccountToken")
            .and_then(Value::as_bool)
            == Some(false)
        {
            return;
        }
        let named = pod.service_account();
        let (path, message) = match named {
            Some((_, name)) if name != "default" => return,
            Some((field, _)) => (
                pod.spec_path.key(field),
                format!(
                    "{field} is \"default\": the pod shares the namespace's default ServiceAccount, its token and any RBAC granted to it"
                ),
            ),
            None => (
                pod.spec_path.clone(),
                "serviceAccountName is not set: the pod runs as the namespace's default ServiceAccount, sharing its token and any RBAC granted to it".to_string(),
            ),
        };
        out.emit(object, &path, message);
    }
}
