use kubevigil_model::Severity;

use kubevigil_rule::{Category, Emitter, RuleMeta};

use super::{CIS_5_3_2, Ctx, K8S_NETPOL_DOCS, NSA_NETPOL, namespaces_with_workloads};
use crate::Direction;

pub static KIND: RuleMeta = RuleMeta {
    id: "netpol-missing-default-deny-egress",
    title: "Namespace has no default-deny egress NetworkPolicy",
    severity: Severity::Low,
    category: Category::Network,
    doc: include_str!("missing_default_deny_egress.md"),
    remediation: "Add a NetworkPolicy with `podSelector: {}` and `policyTypes: [Egress]` to the namespace, then allow DNS and the destinations each workload needs.",
    references: &[CIS_5_3_2, NSA_NETPOL, K8S_NETPOL_DOCS],
};

pub fn run(cx: &Ctx<'_>, out: &mut Emitter) {
    missing_default_deny(cx, out, Direction::Egress);
}

/// A namespace has default deny for `dir` when one of its policies selects every pod
/// (`podSelector: {}`) for that direction and has no rule open to all peers on all ports:
/// every pod is then isolated and only explicit rules let traffic through.
pub(super) fn missing_default_deny(cx: &Ctx<'_>, out: &mut Emitter, dir: Direction) {
    for ns in namespaces_with_workloads(cx.cluster) {
        let covered = cx.cluster.policies.iter().any(|p| {
            p.namespace == ns
                && p.pod_selector.is_empty()
                && p.affects(dir)
                && !p
                    .rules(dir)
                    .iter()
                    .any(|r| r.peers.is_empty() && r.ports.is_empty())
        });
        if covered {
            continue;
        }
        let Some((object, path)) = cx.namespace_anchor(ns) else {
            continue;
        };
        let what = match dir {
            Direction::Ingress => {
                "any pod or address can connect to its pods unless a policy selects them"
            }
            Direction::Egress => {
                "its pods can connect anywhere, including outside the cluster, unless a policy selects them"
            }
        };
        out.emit(
            object,
            &path,
            format!(
                "namespace {ns:?} has no NetworkPolicy denying {} by default: {what}",
                dir.field()
            ),
        );
    }
}
