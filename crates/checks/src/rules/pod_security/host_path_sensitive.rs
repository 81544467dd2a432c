use kubevigil_model::{Object, Severity, pod_template};
use kubevigil_pss::severity::{critical_host_path, runtime_socket_host_path};

use super::super::mounted_host_paths;
use crate::{CIS, Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct HostPathSensitive;

static META: RuleMeta = RuleMeta {
    id: "host-path-sensitive",
    title: "Sensitive host path mounted",
    severity: Severity::Critical,
    category: Category::PodSecurity,
    doc: include_str!("host_path_sensitive.md"),
    remediation: "Remove the hostPath volume, or narrow it to the one file or directory the workload needs (e.g. /etc/ssl/certs), mounted readOnly; use ConfigMaps, Secrets, projected volumes or the Downward API for configuration and identity.",
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

impl Check<Config> for HostPathSensitive {
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
            // Runtime sockets and their directories are container-runtime-socket-mounted's.
            if !critical_host_path(m.host_path) || runtime_socket_host_path(m.host_path) {
                continue;
            }
            out.emit(
                object,
                &m.path,
                format!(
                    "hostPath volume {:?} mounts the node's {:?} into {}: it exposes the host's files, credentials or kernel interfaces",
                    m.volume,
                    m.host_path,
                    m.mounted_by()
                ),
            );
        }
    }
}
