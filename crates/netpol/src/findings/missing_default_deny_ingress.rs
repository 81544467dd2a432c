use kubevigil_model::Severity;

use kubevigil_rule::{Category, Emitter, RuleMeta};

use super::{CIS_5_3_2, Ctx, K8S_NETPOL_DOCS, MITRE_T1210, NSA_NETPOL};
use crate::Direction;

pub static KIND: RuleMeta = RuleMeta {
    id: "netpol-missing-default-deny-ingress",
    title: "Namespace has no default-deny ingress NetworkPolicy",
    severity: Severity::Medium,
    category: Category::Network,
    doc: include_str!("missing_default_deny_ingress.md"),
    remediation: "Add a NetworkPolicy with `podSelector: {}` and `policyTypes: [Ingress]` to the namespace, then allow the traffic each workload needs with further policies.",
    references: &[CIS_5_3_2, NSA_NETPOL, MITRE_T1210, K8S_NETPOL_DOCS],
};

pub fn run(cx: &Ctx<'_>, out: &mut Emitter) {
    super::missing_default_deny_egress::missing_default_deny(cx, out, Direction::Ingress);
}
