use kubevigil_model::{Object, Severity, pod_template};
use kubevigil_pss::severity::runtime_socket_host_path;

use super::super::mounted_host_paths;
use crate::{CIS, Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct ContainerRuntimeSocketMounted;

static META: RuleMeta = RuleMeta {
    id: "container-runtime-socket-mounted",
    title: "Container runtime socket mounted from the host",
    severity: Severity::Critical,
    category: Category::PodSecurity,
    doc: include_str!("container_runtime_socket_mounted.md"),
    remediation: "Remove the hostPath volume of the runtime socket or directory; build images with a daemonless builder (BuildKit rootless, Kaniko) and read container metadata from the kubelet or CRI through a dedicated, audited agent.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.2.12",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: NSA,
            id: "Pod security: host path volumes",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1611",
            url: "https://attack.mitre.org/techniques/T1611/",
        },
    ],
};

impl Check<Config> for ContainerRuntimeSocketMounted {
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
        for m in mounted_host_paths(&pod) {
            if !runtime_socket_host_path(m.host_path) {
                continue;
            }
            out.emit(
                object,
                &m.path,
                format!(
                    "hostPath volume {:?} ({:?}) exposes a container runtime's API socket to {}: whoever reaches it starts privileged containers on the node",
                    m.volume,
                    m.host_path,
                    m.mounted_by()
                ),
            );
        }
    }
}
