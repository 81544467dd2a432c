use kubevigil_model::Objects;
use kubevigil_model::Severity;

use super::namespaces_without;
use crate::{Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct NamespaceWithoutResourceQuota;

static META: RuleMeta = RuleMeta {
    id: "namespace-without-resourcequota",
    title: "Namespace has no ResourceQuota",
    severity: Severity::Low,
    category: Category::Resources,
    doc: include_str!("namespace_without_resourcequota.md"),
    remediation: "Add a ResourceQuota to the namespace capping requests.cpu, requests.memory, limits.cpu, limits.memory and object counts (pods, services.loadbalancers, ...).",
    references: &[
        Ref {
            framework: NSA,
            id: "Resource policies",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1496",
            url: "https://attack.mitre.org/techniques/T1496/",
        },
    ],
};

impl Check<Config> for NamespaceWithoutResourceQuota {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn reads(&self, kind: &str) -> bool {
        matches!(kind, "Namespace" | "ResourceQuota") || kubevigil_model::is_workload_kind(kind)
    }

    fn check_cluster(&self, _: &Config, objects: &dyn Objects, out: &mut Emitter) {
        for a in namespaces_without(objects, "ResourceQuota") {
            out.emit(
                a.object,
                &a.path,
                format!(
                    "namespace {:?} has no ResourceQuota in the input: nothing caps the total CPU, memory and objects its workloads can claim",
                    a.namespace
                ),
            );
        }
    }
}
