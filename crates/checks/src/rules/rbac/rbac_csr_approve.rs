use kubevigil_model::{Objects, Severity};
use kubevigil_rbac::risk::{Capability, granted, is_full_wildcard};
use kubevigil_rbac::{PolicyRule, Rbac};

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct RbacCsrApprove;

static META: RuleMeta = RuleMeta {
    id: "rbac-csr-approve",
    title: "RBAC grants approving certificate signing requests",
    severity: Severity::High,
    category: Category::Rbac,
    doc: include_str!("rbac_csr_approve.md"),
    remediation: "Leave approval to the controller manager's approvers; grant `approve` on one named signer (resourceNames) when a custom approver needs it.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.1.11",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1649",
            url: "https://attack.mitre.org/techniques/T1649/",
        },
    ],
};

const CAPS: &[Capability] = &[
    Capability::new(
        &["update", "patch"],
        "certificates.k8s.io",
        &["certificatesigningrequests/approval"],
    ),
    Capability::new(&["approve"], "certificates.k8s.io", &["signers"]),
];

/// The capabilities of [`CAPS`] that `rule` grants; none for a rule with `*` verbs on `*`
/// resources, which `rbac-wildcard` reports alone.
pub fn flags(rule: &PolicyRule) -> Vec<String> {
    if is_full_wildcard(rule) {
        return Vec::new();
    }
    granted(rule, CAPS)
}

impl Check<Config> for RbacCsrApprove {
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

impl super::RbacCheck for RbacCsrApprove {
    fn check_rbac(&self, rbac: &Rbac, _: &dyn Objects, out: &mut Emitter) {
        super::report_rules(rbac, out, flags);
    }
}
