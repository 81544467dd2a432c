use kubevigil_model::{FieldPath, Objects, Severity};
use kubevigil_rbac::Rbac;
use kubevigil_rbac::risk::is_builtin;

use crate::{Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct RbacBindingAnonymous;

static META: RuleMeta = RuleMeta {
    id: "rbac-binding-anonymous",
    title: "Role bound to anonymous or to every authenticated user",
    severity: Severity::Critical,
    category: Category::Rbac,
    doc: include_str!("rbac_binding_anonymous.md"),
    remediation: "Bind the role to the users, groups or service accounts that need it; never to system:anonymous, system:unauthenticated or system:authenticated.",
    references: &[
        Ref {
            framework: "Kubernetes documentation",
            id: "Anonymous requests",
            url: "https://kubernetes.io/docs/reference/access-authn-authz/authentication/#anonymous-requests",
        },
        Ref {
            framework: MITRE,
            id: "T1078.001",
            url: "https://attack.mitre.org/techniques/T1078/001/",
        },
    ],
};

/// Who the subject stands for, when it is one of the catch-all identities.
fn everyone(s: &kubevigil_rbac::Subject) -> Option<&'static str> {
    match (s.kind.as_str(), s.name.as_str()) {
        ("User", "system:anonymous") => Some("every unauthenticated request"),
        ("Group", "system:unauthenticated") => Some("every unauthenticated request"),
        ("Group", "system:authenticated") => Some("every authenticated user and service account"),
        _ => None,
    }
}

impl Check<Config> for RbacBindingAnonymous {
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

impl super::RbacCheck for RbacBindingAnonymous {
    fn check_rbac(&self, rbac: &Rbac, _: &dyn Objects, out: &mut Emitter) {
        for b in &rbac.bindings {
            if is_builtin(b.object) {
                continue;
            }
            for (i, s) in &b.subjects {
                let Some(who) = everyone(s) else { continue };
                out.emit(
                    b.object,
                    &FieldPath::parse_keys("subjects").index(*i),
                    format!("{} grants {} to {s}: {who}", b.key, b.role),
                );
            }
        }
    }
}
