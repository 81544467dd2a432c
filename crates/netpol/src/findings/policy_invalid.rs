use kubevigil_model::Severity;

use kubevigil_rule::{Category, Emitter, RuleMeta};

use super::{Ctx, K8S_NETPOL_DOCS};

pub static KIND: RuleMeta = RuleMeta {
    id: "netpol-policy-invalid",
    title: "NetworkPolicy would be rejected by the API server",
    severity: Severity::Medium,
    category: Category::Network,
    doc: include_str!("policy_invalid.md"),
    remediation: "Fix the field the message names; until then the policy does not exist in the cluster and isolates nothing.",
    references: &[K8S_NETPOL_DOCS],
};

pub fn run(cx: &Ctx<'_>, out: &mut Emitter) {
    for p in cx
        .cluster
        .problems
        .iter()
        .filter(|p| p.problem.level == kubevigil_model::DiagLevel::Error)
    {
        let o = p.object;
        out.emit(
            o,
            &p.problem.path,
            format!(
                "{} would be rejected: {}",
                o.display_name(),
                p.problem.message
            ),
        );
    }
}
