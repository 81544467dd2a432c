//! NetworkPolicy findings for `kubevigil scan`: pure functions from the inventory to findings.
//!
//! One file per finding kind with its documentation beside it (`<id>.md`); fixtures live in
//! `tests/findings/<id>/{pass,fail}/`. [`kinds`] lists them; [`findings`] runs them all on one
//! shared analysis.

use kubevigil_model::{FieldPath, Finding, Inventory, Object, Objects};

use crate::cluster::Cluster;

mod cni_not_enforcing;
mod missing_default_deny_egress;
mod missing_default_deny_ingress;
mod named_port_not_exposed;
mod peer_selects_nothing;
mod policy_invalid;
mod policy_selects_nothing;
mod rule_allows_all_namespaces;
mod rule_allows_any_address;
mod workload_not_selected;

pub use kubevigil_rule::Ref;
use kubevigil_rule::refs::{CIS, CIS_URL, MITRE, NSA, NSA_URL};
use kubevigil_rule::{Emitter, RuleMeta};

/// CIS 5.3.2 "Ensure that all Namespaces have NetworkPolicies defined".
pub const CIS_5_3_2: Ref = Ref {
    framework: CIS,
    id: "5.3.2",
    url: CIS_URL,
};
/// NSA/CISA guide, "Network separation and hardening: Network policies".
pub const NSA_NETPOL: Ref = Ref {
    framework: NSA,
    id: "Network separation and hardening: Network policies",
    url: NSA_URL,
};
/// Lateral movement by exploiting reachable services.
pub const MITRE_T1210: Ref = Ref {
    framework: MITRE,
    id: "T1210",
    url: "https://attack.mitre.org/techniques/T1210/",
};
pub const K8S_NETPOL_DOCS: Ref = Ref {
    framework: "Kubernetes documentation",
    id: "Network Policies",
    url: "https://kubernetes.io/docs/concepts/services-networking/network-policies/",
};

/// What every finding function sees: the objects and their analysed cluster.
pub struct Ctx<'a> {
    pub objects: &'a dyn Objects,
    pub cluster: &'a Cluster<'a>,
}

impl<'a> Ctx<'a> {
    /// The Namespace object of `ns`, or else the first object placed in it (for implied
    /// namespaces), with the path to point at.
    pub fn namespace_anchor(&self, ns: &str) -> Option<(&'a Object, FieldPath)> {
        let declared = self
            .objects
            .of_kind("Namespace")
            .find(|o| o.group().is_empty() && o.name == ns);
        if let Some(o) = declared {
            return Some((o, FieldPath::parse_keys("metadata.name")));
        }
        let w = self.cluster.workloads.iter().find(|w| w.namespace == ns)?;
        let o = w.object;
        let path = if o.namespace.is_some() {
            "metadata.namespace"
        } else {
            "metadata"
        };
        Some((o, FieldPath::parse_keys(path)))
    }
}

type RunFn = fn(&Ctx<'_>, &mut Emitter);

static ALL: &[(&RuleMeta, RunFn)] = &[
    (
        &missing_default_deny_ingress::KIND,
        missing_default_deny_ingress::run,
    ),
    (
        &missing_default_deny_egress::KIND,
        missing_default_deny_egress::run,
    ),
    (&workload_not_selected::KIND, workload_not_selected::run),
    (&policy_selects_nothing::KIND, policy_selects_nothing::run),
    (&peer_selects_nothing::KIND, peer_selects_nothing::run),
    (
        &rule_allows_all_namespaces::KIND,
        rule_allows_all_namespaces::run,
    ),
    (&rule_allows_any_address::KIND, rule_allows_any_address::run),
    (&named_port_not_exposed::KIND, named_port_not_exposed::run),
    (&cni_not_enforcing::KIND, cni_not_enforcing::run),
    (&policy_invalid::KIND, policy_invalid::run),
];

/// Every NetworkPolicy finding `kubevigil scan` can report, in a stable order.
pub fn kinds() -> impl Iterator<Item = &'static RuleMeta> {
    ALL.iter().map(|(k, _)| *k)
}

pub fn kind(id: &str) -> Option<&'static RuleMeta> {
    kinds().find(|k| k.id == id)
}

/// Runs the finding kinds selected by `wanted` (all when `None`) on `inventory`.
pub fn findings_of(inventory: &Inventory, wanted: Option<&[&str]>) -> Vec<Finding> {
    let cluster = Cluster::from_inventory(inventory);
    let cx = Ctx {
        objects: inventory,
        cluster: &cluster,
    };
    let mut all = Vec::new();
    for (kind, run) in ALL {
        if wanted.is_some_and(|w| !w.contains(&kind.id)) {
            continue;
        }
        let mut out = Emitter::new(kind);
        run(&cx, &mut out);
        all.extend(out.findings);
    }
    all
}

/// Every NetworkPolicy finding on `inventory`.
pub fn findings(inventory: &Inventory) -> Vec<Finding> {
    findings_of(inventory, None)
}

/// Namespaces that hold at least one workload, sorted.
pub(crate) fn namespaces_with_workloads<'c>(cluster: &'c Cluster<'_>) -> Vec<&'c str> {
    let mut v: Vec<&str> = cluster
        .workloads
        .iter()
        .map(|w| w.namespace.as_str())
        .collect();
    v.dedup();
    v
}

/// Path of rule `ri` of `dir` in a policy, and of its peer `pi`.
pub(crate) fn rule_path(dir: crate::Direction, ri: usize) -> FieldPath {
    FieldPath::parse_keys("spec").key(dir.field()).index(ri)
}
