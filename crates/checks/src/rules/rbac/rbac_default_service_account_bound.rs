use kubevigil_model::{FieldPath, Objects, Severity};
use kubevigil_rbac::Rbac;
use kubevigil_rbac::risk::is_builtin;

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct RbacDefaultServiceAccountBound;

static META: RuleMeta = RuleMeta {
    id: "rbac-default-service-account-bound",
    title: "A namespace's default ServiceAccount is granted permissions",
    severity: Severity::Medium,
    category: Category::Rbac,
    doc: include_str!("rbac_default_service_account_bound.md"),
    remediation: "Create a ServiceAccount for the workload that needs the role, bind the role to it and set serviceAccountName; leave default without permissions.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.1.5",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1078.004",
            url: "https://attack.mitre.org/techniques/T1078/004/",
        },
    ],
};

impl Check<Config> for RbacDefaultServiceAccountBound {
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

impl super::RbacCheck for RbacDefaultServiceAccountBound {
    fn check_rbac(&self, rbac: &Rbac, _: &dyn Objects, out: &mut Emitter) {
        for b in &rbac.bindings {
            if is_builtin(b.object) {
                continue;
            }
            for (i, s) in &b.subjects {
                if s.kind != "ServiceAccount" || s.name != "default" {
                    continue;
                }
                let ns = s.namespace.as_deref().unwrap_or("");
                out.emit(
                    b.object,
                    &FieldPath::parse_keys("subjects").index(*i),
                    format!(
                        "{} grants {} to {s}: every pod of namespace {ns} that names no ServiceAccount gets it",
                        b.key, b.role
                    ),
                );
            }
        }
    }
}
