use kubevigil_model::Severity;

use kubevigil_rule::{Category, Emitter, RuleMeta};

use super::{Ctx, K8S_NETPOL_DOCS, rule_path};
use crate::Direction;
use crate::engine::peer_matches_workload;
use crate::policy::Peer;

pub static KIND: RuleMeta = RuleMeta {
    id: "netpol-peer-selects-nothing",
    title: "NetworkPolicy peer selects no workload",
    severity: Severity::Low,
    category: Category::Network,
    doc: include_str!("peer_selects_nothing.md"),
    remediation: "Fix the peer's podSelector / namespaceSelector (labels are case-sensitive; namespaces are matched by their labels, e.g. kubernetes.io/metadata.name) or remove the peer.",
    references: &[K8S_NETPOL_DOCS],
};

pub fn run(cx: &Ctx<'_>, out: &mut Emitter) {
    for p in &cx.cluster.policies {
        for dir in [Direction::Ingress, Direction::Egress] {
            if !p.affects(dir) {
                continue;
            }
            for (ri, r) in p.rules(dir).iter().enumerate() {
                for (pi, peer) in r.peers.iter().enumerate() {
                    let Peer::Pods { namespaces, pods } = peer else {
                        continue;
                    };
                    // Judged only where the manifests show the namespaces the peer looks in:
                    // a peer naming a namespace that is not in them (kube-system, the ingress
                    // controller's) is out of scope, not wrong.
                    let in_scope = match namespaces {
                        None => true,
                        Some(sel) => cx
                            .cluster
                            .namespaces
                            .iter()
                            .any(|ns| sel.matches(&ns.labels)),
                    };
                    if !in_scope
                        || cx
                            .cluster
                            .workloads
                            .iter()
                            .any(|w| peer_matches_workload(cx.cluster, p, peer, w))
                    {
                        continue;
                    }
                    let mut what = Vec::new();
                    if let Some(n) = namespaces {
                        what.push(format!("namespaceSelector {n}"));
                    }
                    if let Some(s) = pods {
                        what.push(format!("podSelector {s}"));
                    }
                    let scope = if namespaces.is_none() {
                        format!(" in namespace {:?}", p.namespace)
                    } else {
                        String::new()
                    };
                    out.emit(
                        p.object,
                        &rule_path(dir, ri).key(dir.peers_field()).index(pi),
                        format!(
                            "peer {} of NetworkPolicy {}/{} selects no workload{scope} in the analysed manifests: the rule {} nothing through it",
                            what.join(" and "),
                            p.namespace,
                            p.name,
                            if dir == Direction::Ingress { "admits" } else { "lets" }
                        ),
                    );
                }
            }
        }
    }
}
