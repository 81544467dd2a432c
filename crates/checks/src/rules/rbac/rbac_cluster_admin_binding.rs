use kubevigil_model::{FieldPath, Objects, Severity};
use kubevigil_rbac::Rbac;
use kubevigil_rbac::risk::is_builtin;

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct RbacClusterAdminBinding;

static META: RuleMeta = RuleMeta {
    id: "rbac-cluster-admin-binding",
    title: "cluster-admin bound outside the control plane",
    severity: Severity::Critical,
    category: Category::Rbac,
    doc: include_str!("rbac_cluster_admin_binding.md"),
    remediation: "Bind a role with the permissions the subject needs instead of cluster-admin; keep cluster-admin for break-glass access through system:masters.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.1.1",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1078",
            url: "https://attack.mitre.org/techniques/T1078/",
        },
    ],
};

/// Control-plane identities: the `system:masters` group (allowed everything anyway) and the
/// components' own users (`system:kube-controller-manager`, ...; service accounts excluded).
fn control_plane(s: &kubevigil_rbac::Subject) -> bool {
    match s.kind.as_str() {
        "Group" => s.name == "system:masters",
        "User" => s.name.starts_with("system:") && !s.name.starts_with("system:serviceaccount:"),
        _ => false,
    }
}

impl Check<Config> for RbacClusterAdminBinding {
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

impl super::RbacCheck for RbacClusterAdminBinding {
    fn check_rbac(&self, rbac: &Rbac, _: &dyn Objects, out: &mut Emitter) {
        for b in &rbac.bindings {
            if b.role.kind != "ClusterRole"
                || b.role.name != "cluster-admin"
                || is_builtin(b.object)
            {
                continue;
            }
            let others: Vec<String> = b
                .subjects
                .iter()
                .filter(|(_, s)| !control_plane(s))
                .map(|(_, s)| s.to_string())
                .collect();
            if others.is_empty() {
                continue;
            }
            let scope = match &b.key.namespace {
                Some(ns) => format!("everything in namespace {ns}"),
                None => "everything in the cluster".into(),
            };
            out.emit(
                b.object,
                &FieldPath::parse_keys("roleRef"),
                format!(
                    "{} binds ClusterRole cluster-admin ({scope}) to {}",
                    b.key,
                    others.join(", ")
                ),
            );
        }
    }
}
