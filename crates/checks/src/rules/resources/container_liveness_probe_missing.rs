use kubevigil_model::{Object, Severity};

use crate::{Category, Check, Config, Emitter, NSA, Ref, RuleMeta, Scope};

pub struct ContainerLivenessProbeMissing;

static META: RuleMeta = RuleMeta {
    id: "container-liveness-probe-missing",
    title: "Container without a liveness probe",
    severity: Severity::Low,
    category: Category::Resources,
    doc: include_str!("container_liveness_probe_missing.md"),
    remediation: "Add a livenessProbe (httpGet, tcpSocket, grpc or exec) that fails only when the process is stuck and a restart would help.",
    references: &[
        Ref {
            framework: "Kubernetes documentation",
            id: "Configure Liveness, Readiness and Startup Probes",
            url: "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/",
        },
        Ref {
            framework: NSA,
            id: "Resource policies",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
    ],
};

impl Check<Config> for ContainerLivenessProbeMissing {
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
        super::super::report_missing_probe(
            object,
            "livenessProbe",
            false,
            "a deadlocked or hung process keeps running and is never restarted",
            out,
        );
    }
}
