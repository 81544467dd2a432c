//! NetworkPolicy findings for `kubevigil scan` and the monitor: pure functions from objects to findings.
//!
//! One file per finding kind with its documentation beside it (`<id>.md`); fixtures live in
//! `tests/findings/<id>/{pass,fail}/`. [`kinds`] lists them; [`findings`] runs them all on one
//! shared analysis; [`checks`] gives each as a cluster-scope rule [`Check`] over any objects.

use kubevigil_model::{FieldPath, Finding, Inventory, Object, Objects, is_workload_kind};

use crate::cluster::{Cluster, is_foreign_kind};

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
use kubevigil_rule::{Check, Emitter, RuleMeta, Scope};

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

/// One finding kind as a cluster-scope [`Check`], for runners that evaluate checks one at a
/// time (the monitor's `Evaluator`): each builds the analysis from the objects it is given.
/// Generic over the settings because the findings take none.
pub struct NetpolCheck {
    meta: &'static RuleMeta,
    run: RunFn,
}

impl<S: ?Sized> Check<S> for NetpolCheck {
    fn meta(&self) -> &'static RuleMeta {
        self.meta
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn reads(&self, kind: &str) -> bool {
        reads(kind)
    }

    fn check_cluster(&self, _: &S, objects: &dyn Objects, out: &mut Emitter) {
        let cluster = Cluster::from_objects(objects);
        (self.run)(
            &Ctx {
                objects,
                cluster: &cluster,
            },
            out,
        );
    }
}

/// Whether objects of `kind` can change a NetworkPolicy finding: Namespaces (labels, anchors),
/// NetworkPolicies (Calico's share the name), workloads (DaemonSets also tell the CNI; a
/// PodTemplate runs nothing, so the analysis skips it) and the foreign policy kinds the
/// analysis records.
pub fn reads(kind: &str) -> bool {
    matches!(kind, "Namespace" | "NetworkPolicy")
        || (is_workload_kind(kind) && kind != "PodTemplate")
        || is_foreign_kind(kind)
}

static ALL: &[NetpolCheck] = &[
    NetpolCheck {
        meta: &missing_default_deny_ingress::KIND,
        run: missing_default_deny_ingress::run,
    },
    NetpolCheck {
        meta: &missing_default_deny_egress::KIND,
        run: missing_default_deny_egress::run,
    },
    NetpolCheck {
        meta: &workload_not_selected::KIND,
        run: workload_not_selected::run,
    },
    NetpolCheck {
        meta: &policy_selects_nothing::KIND,
        run: policy_selects_nothing::run,
    },
    NetpolCheck {
        meta: &peer_selects_nothing::KIND,
        run: peer_selects_nothing::run,
    },
    NetpolCheck {
        meta: &rule_allows_all_namespaces::KIND,
        run: rule_allows_all_namespaces::run,
    },
    NetpolCheck {
        meta: &rule_allows_any_address::KIND,
        run: rule_allows_any_address::run,
    },
    NetpolCheck {
        meta: &named_port_not_exposed::KIND,
        run: named_port_not_exposed::run,
    },
    NetpolCheck {
        meta: &cni_not_enforcing::KIND,
        run: cni_not_enforcing::run,
    },
    NetpolCheck {
        meta: &policy_invalid::KIND,
        run: policy_invalid::run,
    },
];

/// Every NetworkPolicy finding `kubevigil scan` can report, in a stable order.
pub fn kinds() -> impl Iterator<Item = &'static RuleMeta> {
    ALL.iter().map(|c| c.meta)
}

pub fn kind(id: &str) -> Option<&'static RuleMeta> {
    kinds().find(|k| k.id == id)
}

/// Every finding kind as a [`Check`] with any settings type, in the order of [`kinds`].
pub fn checks<S: ?Sized + 'static>() -> impl Iterator<Item = &'static dyn Check<S>> {
    ALL.iter().map(|c| c as &dyn Check<S>)
}

/// Runs the finding kinds selected by `wanted` (all when `None`) on `inventory`, on one shared
/// analysis (what [`checks`] find one at a time).
pub fn findings_of(inventory: &Inventory, wanted: Option<&[&str]>) -> Vec<Finding> {
    let cluster = Cluster::from_inventory(inventory);
    let cx = Ctx {
        objects: inventory,
        cluster: &cluster,
    };
    let mut all = Vec::new();
    for check in ALL {
        if wanted.is_some_and(|w| !w.contains(&check.meta.id)) {
            continue;
        }
        let mut out = Emitter::new(check.meta);
        (check.run)(&cx, &mut out);
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
