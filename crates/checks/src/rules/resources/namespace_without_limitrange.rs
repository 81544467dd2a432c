use kubevigil_model::Objects;
use kubevigil_model::Severity;

use super::namespaces_without;
use crate::{Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct NamespaceWithoutLimitRange;

static META: RuleMeta = RuleMeta {
    id: "namespace-without-limitrange",
    title: "Namespace has no LimitRange",
    severity: Severity::Low,
    category: Category::Resources,
    doc: include_str!("namespace_without_limitrange.md"),
    remediation: "Add a LimitRange of type Container with default and defaultRequest for cpu and memory (and a max), so containers that omit resources still get bounded ones.",
    references: &[
        Ref {
            framework: NSA,
            id: "Resource policies",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1499",
            url: "https://attack.mitre.org/techniques/T1499/",
        },
    ],
};

impl Check<Config> for NamespaceWithoutLimitRange {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn reads(&self, kind: &str) -> bool {
        matches!(kind, "Namespace" | "LimitRange") || kubevigil_model::is_workload_kind(kind)
    }

    fn check_cluster(&self, _: &Config, objects: &dyn Objects, out: &mut Emitter) {
        for a in namespaces_without(objects, "LimitRange") {
            out.emit(
                a.object,
                &a.path,
                format!(
                    "namespace {:?} has no LimitRange in the input: containers that omit resources run unbounded",
                    a.namespace
                ),
            );
        }
    }
}
