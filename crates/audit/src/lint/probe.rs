//! Representative requests for static policy analysis.
//!
//! Every matcher of the audit policy checker compares request attributes for equality with
//! values written in the policy (users, groups, verbs, namespaces, API groups, resources,
//! resource names) or, for non-resource URLs, for a prefix. So the set of decisions a policy
//! can make is covered by requests built from the policy's own values plus one value the
//! policy never mentions in each dimension (and, for paths, each prefix spec extended by a
//! suffix). Lint rules evaluate such probe requests with the real [`Checker`] instead of
//! reasoning about rules by hand, so they agree with kube-apiserver by construction.

use std::collections::BTreeSet;

use crate::checker::{Checker, Decision, RequestAttributes, User};
use crate::event::Str;
use crate::policy::Policy;

/// Values that no policy mentions (the "anything else" of each dimension).
pub const OTHER_USER: &str = "jane@example.com";
pub const OTHER_GROUP: &str = "example:team";
pub const OTHER_NAMESPACE: &str = "team-a";
pub const OTHER_NAME: &str = "example-object";
pub const OTHER_GROUP_API: &str = "example.com";
pub const OTHER_RESOURCE: &str = "widgets";
pub const OTHER_SUBRESOURCE: &str = "scale";
pub const OTHER_PATH: &str = "/apis/example.com";
const STANDARD_VERBS: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
    "proxy",
];

/// Identity of a probe: `None` is an unauthenticated request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: String,
    pub groups: Vec<String>,
}

impl Identity {
    pub fn new(user: &str, groups: &[&str]) -> Self {
        Identity {
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Resource {
        api_group: String,
        resource: String,
        subresource: String,
        namespace: String,
        name: String,
    },
    NonResource {
        path: String,
    },
}

/// One representative request (borrowing its parts: a pass evaluates millions of them).
#[derive(Debug, Clone, Copy)]
pub struct Probe<'p> {
    pub identity: Option<&'p Identity>,
    /// The identity's groups, prepared once per identity.
    groups: &'p [Str<'static>],
    pub verb: &'p str,
    pub target: &'p Target,
}

impl Probe<'_> {
    pub fn evaluate(&self, checker: &Checker) -> Decision {
        checker.evaluate(&self.attrs())
    }

    /// Whether `rule` alone matches this request.
    pub fn matches(&self, rule: &crate::policy::PolicyRule) -> bool {
        crate::checker::rule_matches(rule, &self.attrs())
    }

    fn attrs(&self) -> RequestAttributes<'_> {
        let user = self.identity.map(|i| User {
            name: &i.user,
            groups: self.groups,
        });
        match self.target {
            Target::Resource {
                api_group,
                resource,
                subresource,
                namespace,
                name,
            } => RequestAttributes {
                user,
                verb: self.verb,
                resource_request: true,
                namespace,
                api_group,
                resource,
                subresource,
                name,
                path: "",
            },
            Target::NonResource { path } => RequestAttributes {
                user,
                verb: self.verb,
                path,
                ..Default::default()
            },
        }
    }

    /// Short human description: `get secrets in kube-system by jane@example.com (group x)`.
    pub fn describe(&self) -> String {
        let who = match self.identity {
            None => "an unauthenticated client".to_string(),
            Some(Identity { user, groups }) if groups.is_empty() => user.to_string(),
            Some(Identity { user, groups }) => format!("{user} (groups {})", groups.join(", ")),
        };
        match &self.target {
            Target::Resource {
                api_group,
                resource,
                subresource,
                namespace,
                ..
            } => {
                let mut res = resource.clone();
                if !subresource.is_empty() {
                    res = format!("{res}/{subresource}");
                }
                if !api_group.is_empty() {
                    res = format!("{res}.{api_group}");
                }
                let place = if namespace.is_empty() {
                    "cluster-wide".to_string()
                } else {
                    format!("in namespace {namespace}")
                };
                format!("{} {res} {place} by {who}", self.verb)
            }
            Target::NonResource { path } => format!("{} {path} by {who}", self.verb),
        }
    }
}

/// The values a policy mentions, per dimension.
#[derive(Debug, Clone, Default)]
pub struct Vocabulary {
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    pub verbs: BTreeSet<String>,
    pub namespaces: BTreeSet<String>,
    pub names: BTreeSet<String>,
    /// (API group, resource, subresource) triples written in rules.
    pub resources: BTreeSet<(String, String, String)>,
    pub paths: BTreeSet<String>,
    /// Set when the policy mentions so many values that some were left out to bound the
    /// analysis (see [`MAX_PROBES`]); results may then miss cases involving those values.
    pub truncated: bool,
}

/// Upper bound on the probes of one full pass; larger vocabularies are trimmed.
pub const MAX_PROBES: usize = 500_000;

impl Vocabulary {
    pub fn of(policy: &Policy) -> Self {
        let mut v = Vocabulary::default();
        for r in &policy.rules {
            v.users.extend(r.users.iter().cloned());
            v.groups.extend(r.user_groups.iter().cloned());
            v.verbs.extend(r.verbs.iter().cloned());
            v.namespaces.extend(r.namespaces.iter().cloned());
            for gr in &r.resources {
                v.names.extend(gr.resource_names.iter().cloned());
                if gr.resources.is_empty() {
                    v.resources
                        .insert((gr.group.clone(), OTHER_RESOURCE.into(), String::new()));
                }
                for res in &gr.resources {
                    for (resource, sub) in resource_forms(res) {
                        v.resources.insert((gr.group.clone(), resource, sub));
                    }
                }
            }
            for spec in &r.non_resource_urls {
                if spec == "*" {
                    continue;
                }
                match spec.strip_suffix('*') {
                    Some(prefix) => {
                        let prefix = prefix.trim_end_matches('*');
                        v.paths.insert(prefix.to_string());
                        v.paths.insert(format!("{prefix}zz"));
                    }
                    None => {
                        v.paths.insert(spec.clone());
                    }
                }
            }
        }
        v.bound();
        v
    }

    /// Probes of a full pass over the vocabulary.
    fn full_pass_size(&self) -> usize {
        let identities = (self.users.len() + 1) * (self.groups.len() + 2) + 1;
        let targets =
            (self.resources.len() + 4) * (self.namespaces.len() + 2) * (self.names.len() + 1)
                + self.paths.len()
                + 1;
        identities
            .saturating_mul(self.verbs.len() + 1)
            .saturating_mul(targets)
    }

    /// Trims the largest dimension until a full pass stays under [`MAX_PROBES`].
    fn bound(&mut self) {
        while self.full_pass_size() > MAX_PROBES {
            self.truncated = true;
            let sizes = [
                self.users.len(),
                self.groups.len(),
                self.verbs.len(),
                self.namespaces.len(),
                self.names.len(),
                self.resources.len(),
                self.paths.len(),
            ];
            let largest = (0..sizes.len()).max_by_key(|&i| sizes[i]).unwrap_or(0);
            match largest {
                0 => drop(self.users.pop_last()),
                1 => drop(self.groups.pop_last()),
                2 => drop(self.verbs.pop_last()),
                3 => drop(self.namespaces.pop_last()),
                4 => drop(self.names.pop_last()),
                5 => drop(self.resources.pop_last()),
                _ => drop(self.paths.pop_last()),
            }
        }
    }

    /// Identities: every (user or other user) × (no group, each group,
    /// other group), and unauthenticated. A request with several groups gets the decision of one of its groups
    /// alone (the earliest matching rule), so single groups cover every decision.
    pub fn identities(&self) -> Vec<Option<Identity>> {
        let mut out = Vec::new();
        let users = self.users.iter().cloned().chain([OTHER_USER.to_string()]);
        let groups: Vec<Option<String>> = [None]
            .into_iter()
            .chain(self.groups.iter().cloned().map(Some))
            .chain([Some(OTHER_GROUP.to_string())])
            .collect();
        for u in users {
            for g in &groups {
                out.push(Some(Identity {
                    user: u.clone(),
                    groups: g.iter().cloned().collect(),
                }));
            }
        }
        // Last, so that examples in messages show authenticated users first.
        out.push(None);
        out
    }

    /// The policy's verbs plus one it does not mention.
    pub fn verbs(&self) -> Vec<String> {
        let mut out: Vec<String> = self.verbs.iter().cloned().collect();
        if let Some(other) = STANDARD_VERBS.iter().find(|v| !self.verbs.contains(**v)) {
            out.push(other.to_string());
        } else {
            out.push("impersonate".into());
        }
        out
    }

    /// The policy's namespaces, cluster scope (`""`) and one namespace it does not mention.
    pub fn namespaces(&self) -> Vec<String> {
        let mut set = self.namespaces.clone();
        set.insert(String::new());
        set.insert(OTHER_NAMESPACE.into());
        set.into_iter().collect()
    }

    pub fn names(&self) -> Vec<String> {
        self.names
            .iter()
            .cloned()
            .chain([OTHER_NAME.to_string()])
            .collect()
    }

    /// Resource triples written in the policy plus unmentioned ones.
    pub fn resource_triples(&self) -> Vec<(String, String, String)> {
        let mut set = self.resources.clone();
        set.insert((String::new(), OTHER_RESOURCE.into(), String::new()));
        set.insert((
            String::new(),
            OTHER_RESOURCE.into(),
            OTHER_SUBRESOURCE.into(),
        ));
        set.insert((OTHER_GROUP_API.into(), OTHER_RESOURCE.into(), String::new()));
        set.insert((
            OTHER_GROUP_API.into(),
            OTHER_RESOURCE.into(),
            OTHER_SUBRESOURCE.into(),
        ));
        set.into_iter().collect()
    }

    pub fn paths(&self) -> Vec<String> {
        self.paths
            .iter()
            .cloned()
            .chain([OTHER_PATH.to_string()])
            .collect()
    }
}

/// Concrete (resource, subresource) pairs a policy `resources` entry stands for.
fn resource_forms(res: &str) -> Vec<(String, String)> {
    if res == "*" {
        return vec![
            (OTHER_RESOURCE.into(), String::new()),
            (OTHER_RESOURCE.into(), OTHER_SUBRESOURCE.into()),
        ];
    }
    if let Some(sub) = res.strip_prefix("*/") {
        return vec![(OTHER_RESOURCE.into(), sub.into())];
    }
    if let Some(resource) = res.strip_suffix("/*") {
        return vec![
            (resource.into(), String::new()),
            (resource.into(), OTHER_SUBRESOURCE.into()),
        ];
    }
    match res.split_once('/') {
        Some((r, s)) => vec![(r.into(), s.into()), (r.into(), String::new())],
        None => vec![
            (res.into(), String::new()),
            (res.into(), OTHER_SUBRESOURCE.into()),
        ],
    }
}

/// A set of requests to evaluate: fixed values per dimension, or the vocabulary's.
#[derive(Debug, Clone, Default)]
pub struct Query<'a> {
    pub verbs: Option<&'a [&'a str]>,
    /// (API group, resource, subresource); `None` with `paths: None` means every resource.
    pub resources: Option<&'a [(&'a str, &'a str, &'a str)]>,
    pub paths: Option<&'a [&'a str]>,
    pub identities: Option<Vec<Option<Identity>>>,
    pub namespaces: Option<&'a [&'a str]>,
}

/// Calls `f` for every probe of `query` with its decision; stops when `f` returns false.
pub fn for_each(
    checker: &Checker,
    vocab: &Vocabulary,
    query: &Query<'_>,
    mut f: impl FnMut(&Probe, &Decision) -> bool,
) {
    let identities = query
        .identities
        .clone()
        .unwrap_or_else(|| vocab.identities());
    let verbs: Vec<String> = match query.verbs {
        Some(v) => v.iter().map(|s| s.to_string()).collect(),
        None => vocab.verbs(),
    };
    let mut targets = Vec::new();
    if let Some(paths) = query.paths {
        targets.extend(paths.iter().map(|p| Target::NonResource {
            path: p.to_string(),
        }));
    }
    if query.resources.is_some() || query.paths.is_none() {
        let triples: Vec<(String, String, String)> = match query.resources {
            Some(r) => r
                .iter()
                .map(|(g, r, s)| (g.to_string(), r.to_string(), s.to_string()))
                .collect(),
            None => vocab.resource_triples(),
        };
        let namespaces: Vec<String> = match query.namespaces {
            Some(n) => n.iter().map(|s| s.to_string()).collect(),
            None => vocab.namespaces(),
        };
        let names = vocab.names();
        for (g, r, s) in &triples {
            for ns in &namespaces {
                for name in &names {
                    targets.push(Target::Resource {
                        api_group: g.clone(),
                        resource: r.clone(),
                        subresource: s.clone(),
                        namespace: ns.clone(),
                        name: name.clone(),
                    });
                }
            }
        }
        if query.resources.is_none() && query.paths.is_none() {
            targets.extend(
                vocab
                    .paths()
                    .into_iter()
                    .map(|path| Target::NonResource { path }),
            );
        }
    }
    let groups: Vec<Vec<Str<'static>>> = identities
        .iter()
        .map(|i| {
            i.iter()
                .flat_map(|i| i.groups.iter())
                .map(|g| Str(g.clone().into()))
                .collect()
        })
        .collect();
    for target in &targets {
        for verb in &verbs {
            for (identity, groups) in identities.iter().zip(&groups) {
                let probe = Probe {
                    identity: identity.as_ref(),
                    groups,
                    verb,
                    target,
                };
                let d = probe.evaluate(checker);
                if !f(&probe, &d) {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::load_policy;

    #[test]
    fn huge_vocabularies_are_bounded() {
        let users: Vec<String> = (0..400).map(|i| format!("\"u{i}\"")).collect();
        let groups: Vec<String> = (0..100).map(|i| format!("\"g{i}\"")).collect();
        let ns: Vec<String> = (0..100).map(|i| format!("\"n{i}\"")).collect();
        let text = format!(
            "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n  users: [{}]\n  userGroups: [{}]\n  namespaces: [{}]\n- level: Metadata\n",
            users.join(","),
            groups.join(","),
            ns.join(",")
        );
        let policy = load_policy("p", &text).unwrap().policy;
        let v = Vocabulary::of(&policy);
        assert!(v.truncated);
        assert!(v.full_pass_size() <= MAX_PROBES);
        let small = Vocabulary::of(
            &load_policy(
                "p",
                "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
            )
            .unwrap()
            .policy,
        );
        assert!(!small.truncated);
    }
}
