use kubevigil_model::{Objects, Severity};
use kubevigil_rbac::risk::{Capability, granted, is_full_wildcard};
use kubevigil_rbac::{PolicyRule, Rbac};

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct RbacWebhookConfigWrite;

static META: RuleMeta = RuleMeta {
    id: "rbac-webhook-config-write",
    title: "RBAC grants changing admission webhooks or policies",
    severity: Severity::High,
    category: Category::Rbac,
    doc: include_str!("rbac_webhook_config_write.md"),
    remediation: "Only the component that owns a webhook should update it, limited by resourceNames to its own configuration.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.1.12",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1562",
            url: "https://attack.mitre.org/techniques/T1562/",
        },
    ],
};

const CAPS: &[Capability] = &[Capability::new(
    &["create", "update", "patch", "delete"],
    "admissionregistration.k8s.io",
    &[
        "validatingwebhookconfigurations",
        "mutatingwebhookconfigurations",
        "validatingadmissionpolicies",
        "validatingadmissionpolicybindings",
    ],
)];

/// The capabilities of [`CAPS`] that `rule` grants; none for a rule with `*` verbs on `*`
/// resources, which `rbac-wildcard` reports alone.
pub fn flags(rule: &PolicyRule) -> Vec<String> {
    if is_full_wildcard(rule) {
        return Vec::new();
    }
    granted(rule, CAPS)
}

impl Check<Config> for RbacWebhookConfigWrite {
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

impl super::RbacCheck for RbacWebhookConfigWrite {
    fn check_rbac(&self, rbac: &Rbac, _: &dyn Objects, out: &mut Emitter) {
        super::report_rules(rbac, out, flags);
    }
}
