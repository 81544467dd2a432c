use kubevigil_model::{Objects, Severity};
use kubevigil_rbac::risk::{Capability, granted, is_full_wildcard};
use kubevigil_rbac::{PolicyRule, Rbac};

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct RbacEscalateBindImpersonate;

static META: RuleMeta = RuleMeta {
    id: "rbac-escalate-bind-impersonate",
    title: "RBAC grants escalate, bind or impersonate",
    severity: Severity::Critical,
    category: Category::Rbac,
    doc: include_str!("rbac_escalate_bind_impersonate.md"),
    remediation: "Remove `escalate`, `bind` and `impersonate`; where a controller must bind roles, limit `bind` with resourceNames to the roles it hands out.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.1.8",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1078",
            url: "https://attack.mitre.org/techniques/T1078/",
        },
    ],
};

const CAPS: &[Capability] = &[
    Capability::new(
        &["escalate", "bind"],
        "rbac.authorization.k8s.io",
        &["roles", "clusterroles"],
    ),
    Capability::new(
        &["impersonate"],
        "",
        &["users", "groups", "serviceaccounts"],
    ),
    Capability::new(
        &["impersonate"],
        "authentication.k8s.io",
        &["userextras", "uids"],
    ),
];

/// The capabilities of [`CAPS`] that `rule` grants; none for a rule with `*` verbs on `*`
/// resources, which `rbac-wildcard` reports alone.
pub fn flags(rule: &PolicyRule) -> Vec<String> {
    if is_full_wildcard(rule) {
        return Vec::new();
    }
    granted(rule, CAPS)
}

impl Check<Config> for RbacEscalateBindImpersonate {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn reads(&self, kind: &str) -> bool {
        super::reads_rbac(kind)
    }

    fn check_cluster(&self, _: &Config, objects: &dyn Objects, out: &mut Emitter) {
        super::alone(self, objects, out);
    }

    fn shared_analysis(&self) -> Option<&'static dyn std::any::Any> {
        super::shared(META.id)
    }
}

impl super::RbacCheck for RbacEscalateBindImpersonate {
    fn check_rbac(&self, rbac: &Rbac, _: &dyn Objects, out: &mut Emitter) {
        super::report_rules(rbac, out, flags);
    }
}
