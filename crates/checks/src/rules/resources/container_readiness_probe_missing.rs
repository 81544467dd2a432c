use kubevigil_model::{Object, Severity};

use crate::{Category, Check, Config, Emitter, NSA, Ref, RuleMeta, Scope};

pub struct ContainerReadinessProbeMissing;

static META: RuleMeta = RuleMeta {
    id: "container-readiness-probe-missing",
    title: "Container without a readiness probe",
    severity: Severity::Low,
    category: Category::Resources,
    doc: include_str!("container_readiness_probe_missing.md"),
    remediation: "Add a readinessProbe (httpGet, tcpSocket, grpc or exec) that succeeds only when the container can serve requests.",
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

impl Check<Config> for ContainerReadinessProbeMissing {
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
            "readinessProbe",
            true,
            "the pod is ready, for Services and rolling updates, as soon as the container starts, and stays ready while it cannot serve",
            out,
        );
    }
}
