//! Risky grants: which dangerous capabilities a rule grants, and the paths (subject → binding
//! → role → rule) through which they reach someone. `kubevigil scan`'s RBAC checks
//! (crates/checks/src/rules/rbac/) are built on this.

use crate::graph::{Binding, Key, Rbac};
use crate::rule::PolicyRule;

/// Some verbs on some resources of one API group.
#[derive(Debug, Clone, Copy)]
pub struct Capability {
    pub verbs: &'static [&'static str],
    pub group: &'static str,
    /// `resource` or `resource/subresource`.
    pub resources: &'static [&'static str],
}

impl Capability {
    pub const fn new(
        verbs: &'static [&'static str],
        group: &'static str,
        resources: &'static [&'static str],
    ) -> Capability {
        Capability {
            verbs,
            group,
            resources,
        }
    }
}

/// Whether `rule` grants `verb` on `resource` (`resource/subresource`) of `group` for some
/// object: the authorizer's matching (rule.rs), a rule with resourceNames counting for the
/// objects it names, except where the request carries no name (`create` of an object,
/// `deletecollection`), which resourceNames never grant.
pub fn grants(rule: &PolicyRule, verb: &str, group: &str, resource: &str) -> bool {
    let subresource = resource.split_once('/').map_or("", |(_, s)| s);
    rule.verb_matches(verb)
        && rule.api_group_matches(group)
        && rule.resource_matches(resource, subresource)
        && (rule.resource_names.is_empty()
            || !(verb == "deletecollection" || (verb == "create" && subresource.is_empty())))
}

/// `*` verbs on `*` resources: every capability at once. Reported once as a wildcard rather
/// than once per risky capability it includes.
pub fn is_full_wildcard(rule: &PolicyRule) -> bool {
    rule.verbs.iter().any(|v| v == crate::rule::ALL)
        && rule.resources.iter().any(|r| r == crate::rule::ALL)
}

/// The `verb resource[.group]` pairs of `caps` that `rule` grants, for a message; empty when
/// none.
pub fn granted(rule: &PolicyRule, caps: &[Capability]) -> Vec<String> {
    let mut out = Vec::new();
    for c in caps {
        for r in c.resources {
            let verbs: Vec<&str> = c
                .verbs
                .iter()
                .copied()
                .filter(|v| grants(rule, v, c.group, r))
                .collect();
            if verbs.is_empty() {
                continue;
            }
            let what = if c.group.is_empty() {
                r.to_string()
            } else {
                match r.split_once('/') {
                    Some((res, sub)) => format!("{res}.{}/{sub}", c.group),
                    None => format!("{r}.{}", c.group),
                }
            };
            out.push(format!("{} {what}", verbs.join(",")));
        }
    }
    out
}

/// Roles and bindings the cluster creates itself (the API server's bootstrap policy, labelled
/// `kubernetes.io/bootstrapping: rbac-defaults`, and anything named `system:*`, which the
/// bootstrap policy reserves for controllers and components): their grants are Kubernetes'
/// design, not the input's choice, so checks report where the input binds them instead.
pub fn is_builtin(o: &kubevigil_model::Object) -> bool {
    o.name.starts_with("system:")
        || o.labels()
            .get("kubernetes.io/bootstrapping")
            .and_then(|v| v.as_str())
            == Some("rbac-defaults")
}

/// One way a role's rule reaches a subject.
#[derive(Debug, Clone)]
pub struct Path {
    pub subject: String,
    pub binding: Key,
    /// The bound role (an aggregated ClusterRole when the rule reaches it by aggregation).
    pub role: Key,
}

impl std::fmt::Display for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} → {} → {}", self.subject, self.binding, self.role)
    }
}

impl<'a> Rbac<'a> {
    /// Roles whose effective rules include rules written in `role`: itself, and the
    /// aggregated ClusterRoles that take its rules.
    pub fn roles_carrying(&self, role: &Key) -> Vec<Key> {
        let mut out = vec![role.clone()];
        out.extend(
            self.aggregated_into
                .get(role)
                .into_iter()
                .flatten()
                .cloned(),
        );
        out
    }

    /// Every subject → binding → role by which the rules written in `role` are granted.
    pub fn paths_to(&self, role: &Key) -> Vec<Path> {
        let mut out = Vec::new();
        for carrier in self.roles_carrying(role) {
            for &i in self.bindings_by_role.get(&carrier).into_iter().flatten() {
                let b = &self.bindings[i];
                for (_, s) in &b.subjects {
                    out.push(Path {
                        subject: s.to_string(),
                        binding: b.key.clone(),
                        role: b.role.clone(),
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.binding, &a.subject).cmp(&(&b.binding, &b.subject)));
        out
    }

    /// The subjects of a binding, for a message.
    pub fn subjects_of(b: &Binding) -> String {
        let names: Vec<String> = b.subjects.iter().map(|(_, s)| s.to_string()).collect();
        if names.is_empty() {
            "no subject".into()
        } else {
            names.join(", ")
        }
    }
}
