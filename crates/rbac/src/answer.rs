//! The answers of `kubevigil rbac`, as data: what `-o json` writes (the JSON contract of issue
//! 17) and what the tables show.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::authz::{Grant, Holder, User};
use crate::graph::{Key, Rbac, Subject};
use crate::rule::{PolicyRule, Request, Target};

/// `rbac who-can -o json`:
/// `{"verb", "resource", "group", "subresource", "namespace", "name", "subjects": [...]}`.
/// For a non-resource URL, `resource` is the path and `group`, `subresource`, `namespace` and
/// `name` are null. `namespace` is null for a cluster-scoped request and `"*"` with `-A`.
#[derive(Debug, Serialize)]
pub struct WhoCan {
    pub verb: String,
    pub resource: String,
    pub group: Option<String>,
    pub subresource: Option<String>,
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub subjects: Vec<WhoCanSubject>,
}

/// One subject of [`WhoCan`].
#[derive(Debug, Serialize)]
pub struct WhoCanSubject {
    #[serde(flatten)]
    pub subject: Subject,
    /// `["*"]` (a ClusterRoleBinding: everywhere) or the namespaces where allowed.
    pub namespaces: Vec<String>,
    pub via: Vec<Grant>,
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

impl WhoCan {
    pub fn new(rbac: &Rbac, req: &Request, any_namespace: bool) -> WhoCan {
        let holders = rbac.who_can(req, any_namespace);
        let subjects = holders
            .into_iter()
            .map(
                |Holder {
                     subject,
                     namespaces,
                     via,
                 }| WhoCanSubject {
                    subject,
                    namespaces: namespaces.into_iter().collect(),
                    via,
                },
            )
            .collect();
        match &req.target {
            Target::Resource {
                group,
                resource,
                subresource,
                name,
            } => WhoCan {
                verb: req.verb.clone(),
                resource: resource.clone(),
                group: Some(group.clone()),
                subresource: non_empty(subresource),
                namespace: if any_namespace {
                    Some(crate::rule::ALL.into())
                } else {
                    non_empty(&req.namespace)
                },
                name: non_empty(name),
                subjects,
            },
            Target::NonResource { path } => WhoCan {
                verb: req.verb.clone(),
                resource: path.clone(),
                group: None,
                subresource: None,
                namespace: None,
                name: None,
                subjects,
            },
        }
    }
}

/// One path for people: `ClusterRoleBinding b → ClusterRole r rules[3]`, with where an
/// aggregated rule was written.
pub fn describe_grant(rbac: &Rbac, g: &Grant) -> String {
    let mut s = format!("{} → {} rules[{}]", g.binding, g.role, g.rule);
    if let Some(role) = rbac.roles.get(&g.role)
        && let Some(src) = role.sources.get(g.rule)
        && *src.role != g.role
    {
        s.push_str(&format!(
            " (aggregated from {} rules[{}])",
            src.role, src.index
        ));
    }
    s
}

/// `rbac permissions`: the rules that apply to a subject, merged: rules that differ only in
/// their verbs are one row, and the verbs of rows whose other fields are equal are joined.
#[derive(Debug, Serialize)]
pub struct Permissions {
    pub subject: String,
    pub user: String,
    pub groups: Vec<String>,
    /// Member of system:masters: allowed everything whatever RBAC says.
    pub privileged: bool,
    pub rules: Vec<MergedRule>,
}

#[derive(Debug, Serialize)]
pub struct MergedRule {
    /// `*` (everywhere, through a ClusterRoleBinding) or the namespace of a RoleBinding.
    pub namespace: String,
    #[serde(flatten)]
    pub rule: PolicyRule,
    pub via: Vec<Grant>,
}

impl Permissions {
    pub fn new(rbac: &Rbac, subject: &str, user: &User, namespace: Option<&str>) -> Permissions {
        type K = (String, Vec<String>, Vec<String>, Vec<String>, Vec<String>);
        let mut merged: BTreeMap<K, (Vec<String>, Vec<Grant>)> = BTreeMap::new();
        for (scope, rule, grant) in rbac.rules_of(user) {
            if let Some(ns) = namespace
                && scope != "*"
                && scope != ns
            {
                continue;
            }
            let key = (
                scope,
                rule.api_groups.clone(),
                rule.resources.clone(),
                rule.resource_names.clone(),
                rule.non_resource_urls.clone(),
            );
            let entry = merged.entry(key).or_default();
            for v in &rule.verbs {
                if !entry.0.contains(v) {
                    entry.0.push(v.clone());
                }
            }
            entry.1.push(grant);
        }
        let rules = merged
            .into_iter()
            .map(
                |(
                    (namespace, api_groups, resources, resource_names, non_resource_urls),
                    (mut verbs, via),
                )| {
                    verbs.sort();
                    MergedRule {
                        namespace,
                        rule: PolicyRule {
                            verbs,
                            api_groups,
                            resources,
                            resource_names,
                            non_resource_urls,
                        },
                        via,
                    }
                },
            )
            .collect();
        Permissions {
            subject: subject.into(),
            user: user.name.clone(),
            groups: user.groups.clone(),
            privileged: user
                .groups
                .iter()
                .any(|g| g == crate::authz::SYSTEM_MASTERS),
            rules,
        }
    }
}

/// Bindings whose role is not in the input: they grant nothing here (the authorizer skips
/// them), which is worth a note since the input may be partial.
pub fn dangling(rbac: &Rbac) -> Vec<(Key, Key)> {
    rbac.bindings
        .iter()
        .filter(|b| rbac.role_of(b).is_none())
        .map(|b| (b.key.clone(), b.role.clone()))
        .collect()
}

/// Why the rules of a role bound to the subject do not grant `req` although they come close:
/// a rule that would grant it for other object names (resourceNames), or with another verb on
/// the same resource. For `can`'s explanation of a denial.
pub fn near_misses(rbac: &Rbac, role: &Key, req: &Request) -> Vec<String> {
    let Some(role) = rbac.roles.get(role) else {
        return Vec::new();
    };
    let Target::Resource {
        group,
        resource,
        subresource,
        name,
    } = &req.target
    else {
        return Vec::new();
    };
    let combined = if subresource.is_empty() {
        resource.clone()
    } else {
        format!("{resource}/{subresource}")
    };
    let mut out = Vec::new();
    for (i, r) in role.rules.iter().enumerate() {
        if !(r.api_group_matches(group) && r.resource_matches(&combined, subresource)) {
            continue;
        }
        if r.verb_matches(&req.verb) && !r.resource_name_matches(name) {
            let why = if name.is_empty() {
                "the request names no object (create, list, watch and deletecollection never match resourceNames)".to_string()
            } else {
                format!("not {name:?}")
            };
            out.push(format!(
                "rules[{i}] grants {} only for resourceNames {}: {why}",
                req.verb,
                r.resource_names.join(",")
            ));
        } else if !r.verb_matches(&req.verb) {
            out.push(format!(
                "rules[{i}] grants {} on {combined}, not {}",
                r.verbs.join(","),
                req.verb
            ));
        }
    }
    out
}
