//! RBAC checks: risky grants, each finding naming its path (subject → binding → role → rule).
//! The authorizer and the matching are `kubevigil-rbac`'s; a check here says which capability
//! is risky and why.
//!
//! Where a finding goes: on a Role or ClusterRole of the input, at the rule (`rules[i]`) that
//! grants the capability, naming who gets it; on the input's bindings of Kubernetes' own roles
//! (`edit`, `admin`, `cluster-admin`, anything `system:*`, whose rules are Kubernetes' design,
//! not the input's), at `roleRef`, naming the rule of the bound role. Aggregated ClusterRoles
//! are reported at the roles they aggregate, where the rules are written. Bindings of
//! `cluster-admin` are `rbac-cluster-admin-binding`'s alone.

pub mod rbac_binding_anonymous;
pub mod rbac_cluster_admin_binding;
pub mod rbac_csr_approve;
pub mod rbac_default_service_account_bound;
pub mod rbac_escalate_bind_impersonate;
pub mod rbac_events_delete;
pub mod rbac_namespace_patch;
pub mod rbac_nodes_proxy;
pub mod rbac_persistentvolume_create;
pub mod rbac_pod_exec;
pub mod rbac_rolebinding_write;
pub mod rbac_secrets_read;
pub mod rbac_status_write;
pub mod rbac_token_create;
pub mod rbac_webhook_config_write;
pub mod rbac_wildcard;
pub mod rbac_workload_create;
pub mod rbac_workload_risky_service_account;

use kubevigil_model::{FieldPath, Objects};
use kubevigil_rbac::risk::is_builtin;
use kubevigil_rbac::{PolicyRule, Rbac};

use crate::{Check, Config, Emitter};

/// An RBAC check works on the RBAC graph of the objects, which a scan builds once for every
/// enabled RBAC check (building it is most of a check's cost on a large cluster).
pub trait RbacCheck: Check<Config> {
    fn check_rbac(&self, rbac: &Rbac, objects: &dyn Objects, out: &mut Emitter);
}

/// An RBAC check run on its own: builds the graph for it alone.
pub fn alone(check: &dyn RbacCheck, objects: &dyn Objects, out: &mut Emitter) {
    check.check_rbac(&Rbac::from_objects(objects), objects, out);
}

/// The RBAC checks, for the runners that build the graph once for all of them.
static ALL: &[&dyn RbacCheck] = &[
    &rbac_wildcard::RbacWildcard,
    &rbac_cluster_admin_binding::RbacClusterAdminBinding,
    &rbac_secrets_read::RbacSecretsRead,
    &rbac_workload_create::RbacWorkloadCreate,
    &rbac_pod_exec::RbacPodExec,
    &rbac_nodes_proxy::RbacNodesProxy,
    &rbac_escalate_bind_impersonate::RbacEscalateBindImpersonate,
    &rbac_rolebinding_write::RbacRolebindingWrite,
    &rbac_csr_approve::RbacCsrApprove,
    &rbac_token_create::RbacTokenCreate,
    &rbac_webhook_config_write::RbacWebhookConfigWrite,
    &rbac_namespace_patch::RbacNamespacePatch,
    &rbac_persistentvolume_create::RbacPersistentvolumeCreate,
    &rbac_status_write::RbacStatusWrite,
    &rbac_events_delete::RbacEventsDelete,
    &rbac_binding_anonymous::RbacBindingAnonymous,
    &rbac_default_service_account_bound::RbacDefaultServiceAccountBound,
    &rbac_workload_risky_service_account::RbacWorkloadRiskyServiceAccount,
];

/// [`Check::shared_analysis`] of the RBAC check with this id: its entry of [`ALL`].
fn shared(id: &str) -> Option<&'static dyn std::any::Any> {
    ALL.iter()
        .find(|c| c.meta().id == id)
        .map(|c| c as &dyn std::any::Any)
}

/// The RBAC check behind `check`, which a runner gives the graph it built once.
pub fn as_rbac_check(check: &dyn Check<Config>) -> Option<&'static dyn RbacCheck> {
    check
        .shared_analysis()?
        .downcast_ref::<&'static dyn RbacCheck>()
        .copied()
}

/// The kinds every RBAC check reads.
pub fn reads_rbac(kind: &str) -> bool {
    matches!(
        kind,
        "Role" | "ClusterRole" | "RoleBinding" | "ClusterRoleBinding"
    )
}

/// What a rule grants that a check reports: `verb resource` phrases, empty when nothing.
pub type Flags = fn(&PolicyRule) -> Vec<String>;

/// The capability checks, for the workload check (a service account holding any of them).
pub static RISKS: &[(&str, Flags)] = &[
    ("rbac-wildcard", rbac_wildcard::flags),
    ("rbac-secrets-read", rbac_secrets_read::flags),
    ("rbac-workload-create", rbac_workload_create::flags),
    ("rbac-pod-exec", rbac_pod_exec::flags),
    ("rbac-nodes-proxy", rbac_nodes_proxy::flags),
    (
        "rbac-escalate-bind-impersonate",
        rbac_escalate_bind_impersonate::flags,
    ),
    ("rbac-rolebinding-write", rbac_rolebinding_write::flags),
    ("rbac-csr-approve", rbac_csr_approve::flags),
    ("rbac-token-create", rbac_token_create::flags),
    (
        "rbac-webhook-config-write",
        rbac_webhook_config_write::flags,
    ),
    ("rbac-namespace-patch", rbac_namespace_patch::flags),
    (
        "rbac-persistentvolume-create",
        rbac_persistentvolume_create::flags,
    ),
    ("rbac-status-write", rbac_status_write::flags),
    ("rbac-events-delete", rbac_events_delete::flags),
];

/// At most this many paths are spelled out in a message.
const MAX_PATHS: usize = 5;

/// Reports every rule `flags` flags: on the input's roles at `rules[i]`, and on the input's
/// bindings of built-in roles at `roleRef` (see the module documentation).
pub fn report_rules(rbac: &Rbac, out: &mut Emitter, flags: Flags) {
    let mut roles: Vec<_> = rbac
        .roles
        .values()
        .filter(|r| r.object.is_some_and(|o| !is_builtin(o)))
        .collect();
    roles.sort_by(|a, b| a.key.cmp(&b.key));
    for role in roles {
        let o = role.object.expect("filtered");
        for (i, rule) in role
            .rules
            .iter()
            .zip(&role.sources)
            .filter(|(_, s)| *s.role == role.key)
            .map(|(r, s)| (s.index, r))
        {
            let what = flags(rule);
            if what.is_empty() {
                continue;
            }
            let paths = rbac.paths_to(&role.key);
            let who = if paths.is_empty() {
                "not bound in the input".to_string()
            } else {
                let mut shown: Vec<String> = paths
                    .iter()
                    .take(MAX_PATHS)
                    .map(|p| format!("{p} rules[{i}]"))
                    .collect();
                if paths.len() > MAX_PATHS {
                    shown.push(format!("{} more", paths.len() - MAX_PATHS));
                }
                format!("granted to {}", shown.join("; "))
            };
            out.emit(
                o,
                &FieldPath::parse_keys("rules").index(i),
                format!("{} rules[{i}] grants {}: {who}", role.key, what.join(", ")),
            );
        }
    }
    for b in &rbac.bindings {
        if is_builtin(b.object) {
            continue;
        }
        let Some(role) = rbac.role_of(b) else {
            continue;
        };
        // cluster-admin grants everything: rbac-cluster-admin-binding reports its bindings once.
        if !role.object.is_some_and(is_builtin) || role.key.name == "cluster-admin" {
            continue;
        }
        let hits: Vec<(usize, Vec<String>)> = role
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| (i, flags(r)))
            .filter(|(_, w)| !w.is_empty())
            .collect();
        let Some((first, what)) = hits.first() else {
            continue;
        };
        let src = &role.sources[*first];
        let from = if *src.role != role.key {
            format!(" (from {} rules[{}])", src.role, src.index)
        } else {
            String::new()
        };
        let more = if hits.len() > 1 {
            format!(" and {} more rule(s)", hits.len() - 1)
        } else {
            String::new()
        };
        out.emit(
            b.object,
            &FieldPath::parse_keys("roleRef"),
            format!(
                "{} → {} rules[{first}]{from}{more} grants {} to {}",
                b.key,
                role.key,
                what.join(", "),
                Rbac::subjects_of(b)
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A check missing from [`ALL`] would run alone (correct but slow); one missing from the
    /// registry would never run.
    #[test]
    fn the_shared_list_is_the_registrys_rbac_checks() {
        let registered: Vec<&str> = crate::registry()
            .iter()
            .map(|c| c.meta().id)
            .filter(|id| id.starts_with("rbac-"))
            .collect();
        let shared: Vec<&str> = ALL.iter().map(|c| c.meta().id).collect();
        assert_eq!(registered, shared);
        for c in crate::registry() {
            let is_rbac = c.meta().id.starts_with("rbac-");
            assert_eq!(as_rbac_check(*c).is_some(), is_rbac, "{}", c.meta().id);
        }
    }
}
