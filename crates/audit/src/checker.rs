//! Audit policy evaluation, a port of `k8s.io/apiserver/pkg/audit/policy/checker.go`
//! (`policyRuleEvaluator.EvaluatePolicyRule`, `ruleMatches`, `ruleMatchesResource`,
//! `ruleMatchesNonResource`, `pathMatches`, `unionStages`, `isOmitManagedFields`).
//!
//! * The first rule that matches decides; no match means level `None` with the policy's
//!   omitStages and omitManagedFields.
//! * Each rule's omitStages are united with the policy's.
//! * A rule's `omitManagedFields`, when set, overrides the policy's.
//!
//! Requests are described by [`RequestAttributes`], the subset of upstream's
//! `authorizer.Attributes` the checker reads; [`RequestAttributes::from_event`] recovers them
//! from a recorded audit event.

use crate::event::{Event, Level, StageSet};
use crate::policy::{Policy, PolicyRule};

/// The request attributes the policy checker looks at (upstream `authorizer.Attributes`).
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestAttributes<'a> {
    /// `None` for unauthenticated requests (upstream `GetUser() == nil`).
    pub user: Option<User<'a>>,
    pub verb: &'a str,
    pub resource_request: bool,
    pub namespace: &'a str,
    pub api_group: &'a str,
    pub resource: &'a str,
    pub subresource: &'a str,
    pub name: &'a str,
    /// URL path without the query string.
    pub path: &'a str,
}

#[derive(Debug, Clone, Copy)]
pub struct User<'a> {
    pub name: &'a str,
    pub groups: &'a [crate::event::Str<'a>],
}

impl<'a> RequestAttributes<'a> {
    /// The attributes kube-apiserver evaluated the policy with, as far as an event records them.
    ///
    /// The policy sees the authenticated user (`user`), not `impersonatedUser`: the audit filter
    /// runs before impersonation in the handler chain (`DefaultBuildHandlerChain` in
    /// `k8s.io/apiserver/pkg/server/config.go`). A request is a resource request iff the event
    /// has an `objectRef`.
    pub fn from_event(ev: &'a Event<'a>) -> Self {
        let user = ev.authenticated_user().map(|u| User {
            name: u.name(),
            groups: u.groups(),
        });
        let or = ev.object_ref.as_ref();
        let s = |f: Option<&'a crate::event::Str<'a>>| f.map(|s| s.as_str()).unwrap_or("");
        RequestAttributes {
            user,
            verb: ev.verb(),
            resource_request: or.is_some(),
            namespace: s(or.and_then(|o| o.namespace.as_ref())),
            api_group: s(or.and_then(|o| o.api_group.as_ref())),
            resource: s(or.and_then(|o| o.resource.as_ref())),
            subresource: s(or.and_then(|o| o.subresource.as_ref())),
            name: s(or.and_then(|o| o.name.as_ref())),
            path: ev.path(),
        }
    }
}

/// What the policy decides for one request (upstream `RequestAuditConfig`), plus which rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub level: Level,
    pub omit_stages: StageSet,
    pub omit_managed_fields: bool,
    /// Index of the matching rule; `None` when no rule matched.
    pub rule: Option<usize>,
}

/// A policy prepared for evaluation (rule omitStages already united with the policy's, as
/// upstream's `NewPolicyRuleEvaluator` does).
#[derive(Debug, Clone)]
pub struct Checker {
    policy: Policy,
}

impl Checker {
    pub fn new(mut policy: Policy) -> Self {
        let policy_stages = policy.omit_stages;
        for rule in &mut policy.rules {
            rule.omit_stages = rule.omit_stages.union(policy_stages);
        }
        Checker { policy }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn evaluate(&self, attrs: &RequestAttributes<'_>) -> Decision {
        for (i, rule) in self.policy.rules.iter().enumerate() {
            if rule_matches(rule, attrs) {
                return Decision {
                    level: rule.level,
                    omit_stages: rule.omit_stages,
                    omit_managed_fields: rule
                        .omit_managed_fields
                        .unwrap_or(self.policy.omit_managed_fields),
                    rule: Some(i),
                };
            }
        }
        Decision {
            level: Level::None,
            omit_stages: self.policy.omit_stages,
            omit_managed_fields: self.policy.omit_managed_fields,
            rule: None,
        }
    }
}

fn has(list: &[String], value: &str) -> bool {
    list.iter().any(|s| s == value)
}

/// Upstream `ruleMatches`.
pub fn rule_matches(r: &PolicyRule, attrs: &RequestAttributes<'_>) -> bool {
    if !r.users.is_empty() {
        match attrs.user {
            Some(u) if has(&r.users, u.name) => {}
            _ => return false,
        }
    }
    if !r.user_groups.is_empty() {
        let Some(u) = attrs.user else { return false };
        if !u.groups.iter().any(|g| has(&r.user_groups, g)) {
            return false;
        }
    }
    if !r.verbs.is_empty() && !has(&r.verbs, attrs.verb) {
        return false;
    }
    if !r.namespaces.is_empty() || !r.resources.is_empty() {
        return rule_matches_resource(r, attrs);
    }
    if !r.non_resource_urls.is_empty() {
        return rule_matches_non_resource(r, attrs);
    }
    true
}

fn rule_matches_non_resource(r: &PolicyRule, attrs: &RequestAttributes<'_>) -> bool {
    if attrs.resource_request {
        return false;
    }
    r.non_resource_urls
        .iter()
        .any(|spec| path_matches(attrs.path, spec))
}

/// Upstream `pathMatches`: `*`, exact, or trailing-`*` prefix match.
pub fn path_matches(path: &str, spec: &str) -> bool {
    if spec == "*" || spec == path {
        return true;
    }
    // strings.TrimRight(spec, "*") strips every trailing '*'.
    spec.ends_with('*') && path.starts_with(spec.trim_end_matches('*'))
}

fn rule_matches_resource(r: &PolicyRule, attrs: &RequestAttributes<'_>) -> bool {
    if !attrs.resource_request {
        return false;
    }
    // Non-namespaced resources use the empty string.
    if !r.namespaces.is_empty() && !has(&r.namespaces, attrs.namespace) {
        return false;
    }
    if r.resources.is_empty() {
        return true;
    }
    let (resource, subresource) = (attrs.resource, attrs.subresource);
    for gr in &r.resources {
        if gr.group != attrs.api_group {
            continue;
        }
        if gr.resources.is_empty() {
            return true;
        }
        if !gr.resource_names.is_empty() && !has(&gr.resource_names, attrs.name) {
            continue;
        }
        for res in &gr.resources {
            if resource_matches(res, resource, subresource) {
                return true;
            }
        }
    }
    false
}

/// `res` against `resource[/subresource]`: exact, `*`, `*/sub`, `res/*`.
pub fn resource_matches(res: &str, resource: &str, subresource: &str) -> bool {
    if res == "*" {
        return true;
    }
    if subresource.is_empty() {
        if res == resource {
            return true;
        }
    } else if res.len() == resource.len() + 1 + subresource.len()
        && res.starts_with(resource)
        && res.as_bytes()[resource.len()] == b'/'
        && res.ends_with(subresource)
    {
        return true;
    }
    if !subresource.is_empty() && res.strip_prefix("*/") == Some(subresource) {
        return true;
    }
    res.strip_suffix("/*") == Some(resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_forms() {
        assert!(resource_matches("pods", "pods", ""));
        assert!(!resource_matches("pods", "pods", "log"));
        assert!(resource_matches("pods/log", "pods", "log"));
        assert!(!resource_matches("pods/log", "pods", ""));
        assert!(resource_matches("*", "pods", "log"));
        assert!(resource_matches("*/log", "pods", "log"));
        assert!(!resource_matches("*/log", "pods", ""));
        assert!(resource_matches("pods/*", "pods", "exec"));
        // Upstream matches "res/*" on the resource alone, so it covers the resource itself too.
        assert!(resource_matches("pods/*", "pods", ""));
        assert!(!resource_matches("pods/exec", "podsx", "exec"));
        assert!(!resource_matches("pod/sexec", "pods", "exec"));
    }

    #[test]
    fn paths() {
        assert!(path_matches("/healthz", "/healthz"));
        assert!(path_matches("/healthz/ready", "/healthz*"));
        assert!(path_matches("/healthz", "/healthz*"));
        assert!(path_matches("/anything", "*"));
        assert!(!path_matches("/health", "/healthz*"));
        assert!(path_matches("/x", "/x**"));
    }
}
