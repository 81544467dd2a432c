use kubevigil_model::{Objects, Severity};
use kubevigil_rbac::{PolicyRule, Rbac};

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct RbacWildcard;

static META: RuleMeta = RuleMeta {
    id: "rbac-wildcard",
    title: "RBAC rule uses a wildcard",
    severity: Severity::High,
    category: Category::Rbac,
    doc: include_str!("rbac_wildcard.md"),
    remediation: "List the verbs, API groups and resources the subject needs; a wildcard also grants every resource and verb added later (CRDs included).",
    references: &[
        Ref {
            framework: CIS,
            id: "5.1.3",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1078",
            url: "https://attack.mitre.org/techniques/T1078/",
        },
    ],
};

/// Which fields of `rule` hold `*`.
pub fn flags(rule: &PolicyRule) -> Vec<String> {
    let mut out = Vec::new();
    for (field, values) in [
        ("verbs", &rule.verbs),
        ("apiGroups", &rule.api_groups),
        ("resources", &rule.resources),
        ("nonResourceURLs", &rule.non_resource_urls),
    ] {
        if values.iter().any(|v| v == "*") {
            out.push(format!("`*` in {field}"));
        }
    }
    if kubevigil_rbac::risk::is_full_wildcard(rule) {
        out.push(
            "every verb on every resource (reading Secrets, exec, escalate, bind and impersonate included)"
                .into(),
        );
    }
    out
}

impl Check<Config> for RbacWildcard {
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

impl super::RbacCheck for RbacWildcard {
    fn check_rbac(&self, rbac: &Rbac, _: &dyn Objects, out: &mut Emitter) {
        super::report_rules(rbac, out, flags);
    }
}
