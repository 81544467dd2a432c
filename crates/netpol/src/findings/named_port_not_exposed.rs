use kubevigil_model::Severity;

use kubevigil_rule::{Category, Emitter, RuleMeta};

use super::{Ctx, K8S_NETPOL_DOCS, rule_path};
use crate::Direction;
use crate::engine::peer_matches_workload;
use crate::policy::PortRef;

pub static KIND: RuleMeta = RuleMeta {
    id: "netpol-named-port-not-exposed",
    title: "NetworkPolicy names a port no destination exposes",
    severity: Severity::Low,
    category: Category::Network,
    doc: include_str!("named_port_not_exposed.md"),
    remediation: "Use the name of a container port (with the same protocol) of the destination pods, or a port number.",
    references: &[K8S_NETPOL_DOCS],
};

/// A named port resolves on the destination: the selected pods for ingress rules, the peer
/// pods for egress rules (every workload when the rule has no peers). Judged only when the
/// manifests hold at least one destination.
pub fn run(cx: &Ctx<'_>, out: &mut Emitter) {
    for p in &cx.cluster.policies {
        for dir in [Direction::Ingress, Direction::Egress] {
            if !p.affects(dir) {
                continue;
            }
            for (ri, r) in p.rules(dir).iter().enumerate() {
                let dests: Vec<_> = cx
                    .cluster
                    .workloads
                    .iter()
                    .filter(|w| match dir {
                        Direction::Ingress => {
                            w.namespace == p.namespace && p.pod_selector.matches(&w.labels)
                        }
                        Direction::Egress => {
                            r.peers.is_empty()
                                || r.peers
                                    .iter()
                                    .any(|peer| peer_matches_workload(cx.cluster, p, peer, w))
                        }
                    })
                    .collect();
                if dests.is_empty() {
                    continue;
                }
                for (qi, port) in r.ports.iter().enumerate() {
                    let Some(PortRef::Name(name)) = &port.port else {
                        continue;
                    };
                    if dests
                        .iter()
                        .any(|w| w.named_port(port.protocol, name).is_some())
                    {
                        continue;
                    }
                    out.emit(
                        p.object,
                        &rule_path(dir, ri).key("ports").index(qi).key("port"),
                        format!(
                            "{}[{ri}] of NetworkPolicy {}/{} allows port {name:?}/{}, but none of its {} destination workload(s) has a {} container port named {name:?}: the port opens nothing",
                            dir.field(),
                            p.namespace,
                            p.name,
                            port.protocol,
                            dests.len(),
                            port.protocol
                        ),
                    );
                }
            }
        }
    }
}
