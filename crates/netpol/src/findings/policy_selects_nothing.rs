use kubevigil_model::{FieldPath, Severity};

use kubevigil_rule::{Category, Emitter, RuleMeta};

use super::{Ctx, K8S_NETPOL_DOCS};

pub static KIND: RuleMeta = RuleMeta {
    id: "netpol-policy-selects-nothing",
    title: "NetworkPolicy selects no workload",
    severity: Severity::Low,
    category: Category::Network,
    doc: include_str!("policy_selects_nothing.md"),
    remediation: "Fix spec.podSelector so that it matches the pod template labels of the workloads it is meant to protect, or delete the policy.",
    references: &[K8S_NETPOL_DOCS],
};

/// Only judged in namespaces where the manifests hold workloads: a policy shipped apart from
/// its workloads is not evidence of a mistake.
pub fn run(cx: &Ctx<'_>, out: &mut Emitter) {
    for p in &cx.cluster.policies {
        let mut in_ns = cx
            .cluster
            .workloads
            .iter()
            .filter(|w| w.namespace == p.namespace)
            .peekable();
        if in_ns.peek().is_none() {
            continue;
        }
        if !in_ns.any(|w| p.pod_selector.matches(&w.labels)) {
            out.emit(
                p.object,
                &FieldPath::parse_keys("spec.podSelector"),
                format!(
                    "NetworkPolicy {}/{} selects no workload of namespace {:?} (podSelector {}): it isolates and allows nothing",
                    p.namespace, p.name, p.namespace, p.pod_selector
                ),
            );
        }
    }
}
