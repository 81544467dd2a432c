use kubevigil_model::Severity;

use kubevigil_rule::{Category, Emitter, RuleMeta};

use super::{Ctx, K8S_NETPOL_DOCS, MITRE_T1210, NSA_NETPOL, rule_path};
use crate::Direction;
use crate::policy::Peer;

pub static KIND: RuleMeta = RuleMeta {
    id: "netpol-rule-allows-all-namespaces",
    title: "NetworkPolicy rule is open to every namespace",
    severity: Severity::Medium,
    category: Category::Network,
    doc: include_str!("rule_allows_all_namespaces.md"),
    remediation: "Replace `namespaceSelector: {}` with a selector naming the namespaces that need access, e.g. `matchLabels: {kubernetes.io/metadata.name: monitoring}`.",
    references: &[NSA_NETPOL, MITRE_T1210, K8S_NETPOL_DOCS],
};

pub fn run(cx: &Ctx<'_>, out: &mut Emitter) {
    for p in &cx.cluster.policies {
        for dir in [Direction::Ingress, Direction::Egress] {
            if !p.affects(dir) {
                continue;
            }
            for (ri, r) in p.rules(dir).iter().enumerate() {
                for (pi, peer) in r.peers.iter().enumerate() {
                    let Peer::Pods {
                        namespaces: Some(ns),
                        pods,
                    } = peer
                    else {
                        continue;
                    };
                    if !ns.is_empty() {
                        continue;
                    }
                    let whom = match pods {
                        Some(s) if !s.is_empty() => format!(
                            "pods labelled {s} in every namespace (anyone who can create such a pod anywhere)"
                        ),
                        _ => "every pod of every namespace".to_string(),
                    };
                    let verb = if dir == Direction::Ingress {
                        "admits traffic from"
                    } else {
                        "allows traffic to"
                    };
                    out.emit(
                        p.object,
                        &rule_path(dir, ri)
                            .key(dir.peers_field())
                            .index(pi)
                            .key("namespaceSelector"),
                        format!(
                            "{}[{ri}] of NetworkPolicy {}/{} {verb} {whom}",
                            dir.field(),
                            p.namespace,
                            p.name
                        ),
                    );
                }
            }
        }
    }
}
