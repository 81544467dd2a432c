use kubevigil_model::{Object, Severity, pod_template};
use serde_json::Value;

use crate::{Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct PodShareProcessNamespace;

static META: RuleMeta = RuleMeta {
    id: "pod-share-process-namespace",
    title: "Pod shares one process namespace between its containers",
    severity: Severity::Medium,
    category: Category::PodSecurity,
    doc: include_str!("pod_share_process_namespace.md"),
    remediation: "Remove shareProcessNamespace (or set it to false); debug with ephemeral containers (kubectl debug --target) instead.",
    references: &[
        Ref {
            framework: "Kubernetes documentation",
            id: "Share Process Namespace between Containers in a Pod",
            url: "https://kubernetes.io/docs/tasks/configure-pod-container/share-process-namespace/",
        },
        Ref {
            framework: MITRE,
            id: "T1055",
            url: "https://attack.mitre.org/techniques/T1055/",
        },
    ],
};

impl Check<Config> for PodShareProcessNamespace {
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
        if pod
            .spec
            .get("shareProcessNamespace")
            .and_then(Value::as_bool)
            != Some(true)
        {
            return;
        }
        let names: Vec<&str> = pod.containers().map(|c| c.name).collect();
        out.emit(
            object,
            &pod.spec_path.key("shareProcessNamespace"),
            format!(
                "shareProcessNamespace is true: every container of the pod ({}) sees the others' processes, their environment and, through /proc/<pid>/root, their filesystems",
                super::super::quoted_list(&names)
            ),
        );
    }
}
