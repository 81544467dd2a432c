use kubevigil_model::{ContainerKind, Object, Severity, pod_template};
use serde_json::Value;

use crate::{CIS, Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct ContainerRootFilesystemWritable;

static META: RuleMeta = RuleMeta {
    id: "container-root-filesystem-writable",
    title: "Container root filesystem is writable",
    severity: Severity::Medium,
    category: Category::PodSecurity,
    doc: include_str!("container_root_filesystem_writable.md"),
    remediation: "Set securityContext.readOnlyRootFilesystem: true on every container and mount an emptyDir where the application must write (/tmp, caches).",
    references: &[
        Ref {
            framework: NSA,
            id: "Immutable container file systems",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: CIS,
            id: "5.7.3",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1610",
            url: "https://attack.mitre.org/techniques/T1610/",
        },
    ],
};

impl Check<Config> for ContainerRootFilesystemWritable {
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
        for c in pod.containers() {
            let sc = c.value.get("securityContext");
            let value = sc.and_then(|s| s.get("readOnlyRootFilesystem"));
            if value.and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let which = match c.kind {
                ContainerKind::Init => "init container",
                ContainerKind::Regular => "container",
                ContainerKind::Ephemeral => "ephemeral container",
            };
            let (path, message) = match value {
                Some(v) => (
                    c.path.key("securityContext").key("readOnlyRootFilesystem"),
                    format!(
                        "{which} {:?} sets securityContext.readOnlyRootFilesystem to {v} instead of true: its root filesystem is writable",
                        c.name
                    ),
                ),
                None if sc.is_some() => (
                    c.path.key("securityContext"),
                    format!(
                        "{which} {:?} does not set securityContext.readOnlyRootFilesystem: its root filesystem is writable",
                        c.name
                    ),
                ),
                None => (
                    c.path.clone(),
                    format!(
                        "{which} {:?} has no securityContext.readOnlyRootFilesystem: its root filesystem is writable",
                        c.name
                    ),
                ),
            };
            out.emit(object, &path, message);
        }
    }
}
