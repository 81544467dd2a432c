use kubevigil_model::Severity;

use kubevigil_rule::{Category, Emitter, RuleMeta};

use super::{Ctx, K8S_NETPOL_DOCS, MITRE_T1210, NSA_NETPOL, rule_path};
use crate::Direction;
use crate::engine::rule_ports;
use crate::policy::{Peer, Rule};

pub static KIND: RuleMeta = RuleMeta {
    id: "netpol-rule-allows-any-address",
    title: "NetworkPolicy rule is open to any IP address",
    severity: Severity::Medium,
    category: Category::Network,
    doc: include_str!("rule_allows_any_address.md"),
    remediation: "Name the peers: pod and namespace selectors for in-cluster traffic, the smallest ipBlock CIDRs for external traffic.",
    references: &[NSA_NETPOL, MITRE_T1210, K8S_NETPOL_DOCS],
};

/// Rules with an ipBlock of prefix length 0 (`0.0.0.0/0`, `::/0`), and rules without any
/// peer (`from`/`to` absent or empty), which match every source or destination.
pub fn run(cx: &Ctx<'_>, out: &mut Emitter) {
    for p in &cx.cluster.policies {
        for dir in [Direction::Ingress, Direction::Egress] {
            if !p.affects(dir) {
                continue;
            }
            let verb = if dir == Direction::Ingress {
                "admits traffic from"
            } else {
                "allows traffic to"
            };
            for (ri, r) in p.rules(dir).iter().enumerate() {
                let on = ports_text(r);
                let rp = rule_path(dir, ri);
                if r.peers.is_empty() {
                    out.emit(
                        p.object,
                        &rp,
                        format!(
                            "{}[{ri}] of NetworkPolicy {}/{} has no `{}`: it {verb} any pod and any IP address {on}",
                            dir.field(),
                            p.namespace,
                            p.name,
                            dir.peers_field()
                        ),
                    );
                    continue;
                }
                for (pi, peer) in r.peers.iter().enumerate() {
                    if let Peer::IpBlock(b) = peer
                        && b.cidr.prefix == 0
                    {
                        let except = if b.except.is_empty() {
                            String::new()
                        } else {
                            format!(" (except {} ranges)", b.except.len())
                        };
                        out.emit(
                            p.object,
                            &rp.key(dir.peers_field()).index(pi).key("ipBlock").key("cidr"),
                            format!(
                                "{}[{ri}] of NetworkPolicy {}/{} {verb} {}{except}, the whole address space, {on}",
                                dir.field(),
                                p.namespace,
                                p.name,
                                b.cidr_text
                            ),
                        );
                    }
                }
            }
        }
    }
}

/// `on every port`, `on TCP 443`, `on TCP 443 and named port(s) http/TCP`.
fn ports_text(r: &Rule) -> String {
    let numeric = rule_ports(r, None);
    if numeric.is_all() {
        return "on every port".to_string();
    }
    let mut parts = Vec::new();
    if !numeric.is_empty() {
        parts.push(numeric.to_string());
    }
    let named: Vec<String> = r.named_ports().map(|(p, n)| format!("{n}/{p}")).collect();
    if !named.is_empty() {
        parts.push(format!("named port(s) {}", named.join(", ")));
    }
    format!("on {}", parts.join(" and "))
}
