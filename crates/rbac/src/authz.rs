//! The authorizer: what a user may do, who may do something.
//!
//! Upstream: plugin/pkg/auth/authorizer/rbac/rbac.go (`Authorize`, `VisitRulesFor`,
//! `appliesTo`, `appliesToUser`) and the privileged-group authorizer that precedes RBAC
//! (pkg/kubeapiserver/authorizer/config.go: `authorizerfactory.NewPrivilegedGroups(user.SystemPrivilegedGroup)`).

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::graph::{Binding, Key, Rbac, Subject};
use crate::rule::{PolicyRule, Request};

/// `user.SystemPrivilegedGroup`: allowed everything before RBAC is asked.
pub const SYSTEM_MASTERS: &str = "system:masters";
pub const AUTHENTICATED: &str = "system:authenticated";
pub const UNAUTHENTICATED: &str = "system:unauthenticated";
pub const ANONYMOUS: &str = "system:anonymous";
pub const SERVICE_ACCOUNTS: &str = "system:serviceaccounts";
const SA_PREFIX: &str = "system:serviceaccount:";

/// An authenticated identity (k8s.io/apiserver pkg/authentication/user.Info).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub name: String,
    pub groups: Vec<String>,
}

/// Errors of a subject written on the command line.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubjectError {
    #[error("subject {0:?}: expected user:NAME, group:NAME or sa:NAMESPACE/NAME")]
    Syntax(String),
}

impl User {
    /// A user as the authenticators build it: `system:anonymous` is in
    /// `system:unauthenticated` (pkg/authentication/request/anonymous); every other user gets
    /// `system:authenticated` (pkg/authentication/group AuthenticatedGroupAdder); a service
    /// account's user name `system:serviceaccount:NS:NAME` brings `system:serviceaccounts` and
    /// `system:serviceaccounts:NS` (pkg/serviceaccount/util.go `MakeGroupNames`).
    pub fn new(name: &str, extra_groups: &[String]) -> User {
        let mut groups: Vec<String> = extra_groups.to_vec();
        if name == ANONYMOUS {
            groups.push(UNAUTHENTICATED.into());
        } else {
            if let Some((ns, sa)) = name.strip_prefix(SA_PREFIX).and_then(|r| r.split_once(':'))
                && !ns.is_empty()
                && !sa.is_empty()
            {
                groups.push(SERVICE_ACCOUNTS.into());
                groups.push(format!("{SERVICE_ACCOUNTS}:{ns}"));
            }
            if !groups.iter().any(|g| g == UNAUTHENTICATED) {
                groups.push(AUTHENTICATED.into());
            }
        }
        let mut seen = BTreeSet::new();
        groups.retain(|g| seen.insert(g.clone()));
        User {
            name: name.into(),
            groups,
        }
    }

    /// The user of a service account (`serviceaccount.MakeUsername`).
    pub fn service_account(namespace: &str, name: &str) -> User {
        User::new(&format!("{SA_PREFIX}{namespace}:{name}"), &[])
    }

    /// `user:NAME`, `group:NAME` (a member of that group, authenticated unless the group is
    /// `system:unauthenticated`, with no user name of its own), `sa:NAMESPACE/NAME`.
    pub fn parse(subject: &str, extra_groups: &[String]) -> Result<User, SubjectError> {
        let bad = || SubjectError::Syntax(subject.into());
        let (kind, rest) = subject.split_once(':').ok_or_else(bad)?;
        match kind {
            "user" if !rest.is_empty() => Ok(User::new(rest, extra_groups)),
            "group" if !rest.is_empty() => {
                let mut groups = vec![rest.to_string()];
                groups.extend_from_slice(extra_groups);
                Ok(User::new("", &groups))
            }
            "sa" | "serviceaccount" => {
                let (ns, name) = rest.split_once('/').ok_or_else(bad)?;
                if ns.is_empty() || name.is_empty() {
                    return Err(bad());
                }
                let mut u = User::service_account(ns, name);
                u.groups.extend_from_slice(extra_groups);
                Ok(u)
            }
            _ => Err(bad()),
        }
    }

    /// `appliesToUser` (rbac.go): `namespace` is the binding's (`""` for a ClusterRoleBinding),
    /// already applied to the subject by [`Binding::read`].
    pub fn is(&self, s: &Subject) -> bool {
        match s.kind.as_str() {
            "User" => self.name == s.name && !self.name.is_empty(),
            "Group" => self.groups.contains(&s.name),
            "ServiceAccount" => {
                // serviceaccount.MatchesUsername
                let ns = s.namespace.as_deref().unwrap_or("");
                self.name
                    .strip_prefix(SA_PREFIX)
                    .and_then(|r| r.split_once(':'))
                    == Some((ns, s.name.as_str()))
            }
            _ => false,
        }
    }
}

/// One path by which something is granted: binding → role → rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub binding: Key,
    pub role: Key,
    /// Index into the role's effective rules (for an aggregated ClusterRole, the rules the
    /// aggregation controller writes into it).
    pub rule: usize,
}

/// The authorizer's answer for one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Member of `system:masters`.
    Privileged,
    /// Allowed; every path that grants it (the API server stops at the first).
    Allowed(Vec<Grant>),
    Denied(Denial),
}

/// Why a request is denied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Denial {
    /// Bindings visited that apply to the user, with their role (whether it exists).
    pub bindings: Vec<(Key, Key, bool)>,
}

impl Decision {
    pub fn allowed(&self) -> bool {
        !matches!(self, Decision::Denied(_))
    }
}

impl<'a> Rbac<'a> {
    /// `appliesTo`: the first subject of `b` that is `user`.
    fn applies(b: &Binding, user: &User) -> bool {
        b.subjects.iter().any(|(_, s)| user.is(s))
    }

    /// Indices of the bindings with a subject that is `user` (its name, a group of it, its
    /// service account), in binding order: what [`Self::applies`] accepts, looked up by subject.
    pub fn bindings_of(&self, user: &User) -> Vec<usize> {
        let subject = |kind: &str, name: &str, namespace: Option<&str>| Subject {
            kind: kind.into(),
            name: name.into(),
            namespace: namespace.map(str::to_string),
        };
        let mut keys = Vec::new();
        if !user.name.is_empty() {
            keys.push(subject("User", &user.name, None));
        }
        if let Some((ns, sa)) = user
            .name
            .strip_prefix(SA_PREFIX)
            .and_then(|r| r.split_once(':'))
        {
            keys.push(subject("ServiceAccount", sa, Some(ns)));
        }
        for g in &user.groups {
            keys.push(subject("Group", g, None));
        }
        let mut out: Vec<usize> = keys
            .iter()
            .filter_map(|k| self.bindings_by_subject().get(k))
            .flatten()
            .copied()
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Grants of `b`'s role's rules that allow `req`.
    fn grants_of(&self, b: &Binding, req: &Request, out: &mut Vec<Grant>) -> bool {
        let Some(role) = self.role_of(b) else {
            return false;
        };
        let before = out.len();
        for (i, r) in role.rules.iter().enumerate() {
            if r.allows(req) {
                out.push(Grant {
                    binding: b.key.clone(),
                    role: role.key.clone(),
                    rule: i,
                });
            }
        }
        out.len() > before
    }

    /// `Authorize`: allowed when some rule of a role bound to the user allows the request, in
    /// every ClusterRoleBinding and, for a namespaced request, the namespace's RoleBindings.
    /// Non-resource requests have no namespace, so RoleBindings never grant them.
    pub fn authorize(&self, user: &User, req: &Request) -> Decision {
        if user.groups.iter().any(|g| g == SYSTEM_MASTERS) {
            return Decision::Privileged;
        }
        let mut grants = Vec::new();
        let mut denial = Denial::default();
        // VisitRulesFor: every ClusterRoleBinding, and for a namespaced request the RoleBindings
        // of its namespace (ClusterRoleBindings sort first: "ClusterRoleBinding" < "RoleBinding").
        for i in self.bindings_of(user) {
            let b = &self.bindings[i];
            match &b.key.namespace {
                Some(ns) if req.namespace.is_empty() || *ns != req.namespace => continue,
                _ => {}
            }
            if !Self::applies(b, user) {
                continue;
            }
            if !self.grants_of(b, req, &mut grants) {
                let exists = self.role_of(b).is_some();
                denial
                    .bindings
                    .push((b.key.clone(), b.role.clone(), exists));
            }
        }
        if grants.is_empty() {
            Decision::Denied(denial)
        } else {
            Decision::Allowed(grants)
        }
    }

    /// Who may make `req`: `scope` `None` asks for the request as given (its namespace, `""` for
    /// cluster scope); `Some(AnyNamespace)` in any namespace, through any binding.
    pub fn who_can(&self, req: &Request, any_namespace: bool) -> Vec<Holder> {
        let mut holders: BTreeMap<Subject, Holder> = BTreeMap::new();
        let indices: Vec<usize> = if any_namespace && req.is_resource() {
            (0..self.bindings.len()).collect()
        } else {
            self.bindings_for(&req.namespace).collect()
        };
        let mut grants = Vec::new();
        for i in indices {
            let b = &self.bindings[i];
            grants.clear();
            if !self.grants_of(b, req, &mut grants) {
                continue;
            }
            for (_, s) in &b.subjects {
                let h = holders.entry(s.clone()).or_insert_with(|| Holder {
                    subject: s.clone(),
                    namespaces: BTreeSet::new(),
                    via: Vec::new(),
                });
                h.namespaces.insert(
                    b.key
                        .namespace
                        .clone()
                        .unwrap_or_else(|| crate::rule::ALL.into()),
                );
                for g in &grants {
                    if !h.via.contains(g) {
                        h.via.push(g.clone());
                    }
                }
            }
        }
        let mut out: Vec<Holder> = holders.into_values().collect();
        for h in &mut out {
            if h.namespaces.contains(crate::rule::ALL) {
                h.namespaces = BTreeSet::from([crate::rule::ALL.to_string()]);
            }
        }
        out
    }

    /// Every rule that applies to `user`, with where it applies (`*`: every namespace and
    /// cluster scope, through a ClusterRoleBinding) and how.
    pub fn rules_of(&self, user: &User) -> Vec<(String, &PolicyRule, Grant)> {
        let mut out = Vec::new();
        for i in self.bindings_of(user) {
            let b = &self.bindings[i];
            if !Self::applies(b, user) {
                continue;
            }
            let Some(role) = self.role_of(b) else {
                continue;
            };
            let scope = b.key.namespace.clone().unwrap_or_else(|| "*".into());
            for (i, r) in role.rules.iter().enumerate() {
                // A RoleBinding grants no non-resource URL (those requests have no namespace).
                if b.key.namespace.is_some() && !r.is_resource_rule() {
                    continue;
                }
                out.push((
                    scope.clone(),
                    r,
                    Grant {
                        binding: b.key.clone(),
                        role: role.key.clone(),
                        rule: i,
                    },
                ));
            }
        }
        out
    }
}

/// A subject that may make a request, where, and through what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub subject: Subject,
    /// `*` (through a ClusterRoleBinding: everywhere) or the namespaces of the RoleBindings.
    pub namespaces: BTreeSet<String>,
    pub via: Vec<Grant>,
}
