//! Least privilege from audit logs (`kubevigil rbac unused`): which grants the logged requests
//! exercised, which they never did, and per service account or user the minimal Role/ClusterRole
//! and bindings that cover what it actually did.
//!
//! A request exercised a grant when the authorizer would allow it through that grant
//! ([`Rbac::authorize`] gives every path, not only the first the API server stops at): removing
//! a grant no logged request went through denies none of them. Only requests the API server
//! decided on count: an audit event with a response status that is neither 401 nor 403 (events
//! of the `RequestReceived` stage are written before authorization and say nothing of it).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use kubevigil_model::time::format_rfc3339_ms;
use serde::Serialize;
use serde_json::{Value, json};

use crate::User;
use crate::authz::Decision;
use crate::graph::{GROUP, Key, Rbac, Subject};
use crate::risk::is_builtin;
use crate::rule::{PolicyRule, Request, Target};

/// Verbs whose rules never carry resourceNames in a proposal: `create` and `deletecollection`
/// requests have no name to match, and `list`/`watch` of one name is the exception.
const NEVER_NAMED: &[&str] = &["create", "list", "watch", "deletecollection"];

/// More distinct names than this for one verb on one resource: the proposal grants the verb on
/// every object of the resource (and the usage stays bounded on hostile logs).
pub const MAX_NAMES: usize = 10;

/// The requests of one audit event, as the authorizer saw them: the request itself, made as
/// `user` (the impersonated identity when there is one), and, when impersonating, the
/// `impersonate` requests of the impersonator (k8s.io/apiserver pkg/endpoints/filters
/// impersonation.go: `users` or `serviceaccounts` in the account's namespace for the user name,
/// `groups` for each group, `uids` for the UID).
#[derive(Debug, Clone)]
pub struct Attempt {
    pub user: User,
    pub request: Request,
    pub impersonator: Option<(User, Vec<Request>)>,
}

impl Attempt {
    /// `verb`, `object_ref` (`apiGroup`, `resource`, `subresource`, `namespace`, `name`) and
    /// `request_uri` of an audit event. A request with an objectRef is a resource request
    /// (requestinfo.go); one without is a non-resource request on the URI's path.
    pub fn request_of(
        verb: &str,
        object_ref: Option<[&str; 5]>,
        request_uri: &str,
    ) -> Option<Request> {
        if verb.is_empty() {
            return None;
        }
        match object_ref {
            Some([group, resource, subresource, namespace, name]) => {
                if resource.is_empty() {
                    return None;
                }
                let mut what = resource.to_string();
                if !group.is_empty() {
                    what = format!("{what}.{group}");
                }
                if !subresource.is_empty() {
                    what = format!("{what}/{subresource}");
                }
                Request::parse(verb, &what, namespace, Some(name)).ok()
            }
            None => {
                let path = request_uri.split('?').next().unwrap_or("");
                path.starts_with('/').then(|| Request {
                    verb: verb.to_string(),
                    namespace: String::new(),
                    target: Target::NonResource {
                        path: path.to_string(),
                    },
                })
            }
        }
    }

    /// The impersonate requests `impersonated` (user name, groups, uid) takes of its
    /// impersonator.
    pub fn impersonation_requests(name: &str, groups: &[String], uid: &str) -> Vec<Request> {
        let named = |resource: &str, namespace: &str, name: &str| Request {
            verb: "impersonate".into(),
            namespace: namespace.into(),
            target: Target::Resource {
                group: String::new(),
                resource: resource.into(),
                subresource: String::new(),
                name: name.into(),
            },
        };
        let mut out = Vec::new();
        match name
            .strip_prefix("system:serviceaccount:")
            .and_then(|r| r.split_once(':'))
        {
            Some((ns, sa)) => out.push(named("serviceaccounts", ns, sa)),
            None if !name.is_empty() => out.push(named("users", "", name)),
            None => {}
        }
        for g in groups {
            out.push(named("groups", "", g));
        }
        if !uid.is_empty() {
            out.push(Request {
                target: Target::Resource {
                    group: "authentication.k8s.io".into(),
                    resource: "uids".into(),
                    subresource: String::new(),
                    name: uid.into(),
                },
                ..named("", "", "")
            });
        }
        out
    }
}

/// What one identity did, by scope (`""`: cluster scope or across namespaces), then by
/// (API group, resource[/subresource]), then by verb: the names, `None` when any.
type Names = Option<BTreeSet<String>>;

/// (API group, resource[/subresource]) -> verb -> names.
type ByResource = BTreeMap<(String, String), BTreeMap<String, Names>>;

#[derive(Debug, Default)]
struct Activity {
    requests: u64,
    resources: BTreeMap<String, ByResource>,
    /// Non-resource URL paths and their verbs.
    urls: BTreeMap<String, BTreeSet<String>>,
}

impl Activity {
    fn add(&mut self, req: &Request) {
        self.requests += 1;
        match &req.target {
            Target::NonResource { path } => {
                self.urls
                    .entry(path.clone())
                    .or_default()
                    .insert(req.verb.clone());
            }
            Target::Resource {
                group,
                resource,
                subresource,
                name,
            } => {
                let combined = if subresource.is_empty() {
                    resource.clone()
                } else {
                    format!("{resource}/{subresource}")
                };
                let names = self
                    .resources
                    .entry(req.namespace.clone())
                    .or_default()
                    .entry((group.clone(), combined))
                    .or_default()
                    .entry(req.verb.clone())
                    .or_insert_with(|| Some(BTreeSet::new()));
                let unnamed = name.is_empty() || NEVER_NAMED.contains(&req.verb.as_str());
                match names {
                    Some(set) if !unnamed => {
                        set.insert(name.clone());
                        if set.len() > MAX_NAMES {
                            *names = None;
                        }
                    }
                    _ => *names = None,
                }
            }
        }
    }
}

/// Grants exercised and identities' activity, fed one audit event at a time.
pub struct Usage<'r, 'a> {
    rbac: &'r Rbac<'a>,
    /// Index into `rbac.bindings` of each binding, for the grants the authorizer names.
    binding_index: HashMap<&'r Key, usize>,
    /// (binding, subject index in the binding, rule index in the role) exercised.
    used: HashSet<(usize, usize, usize)>,
    /// The identities a proposal is made for: User and ServiceAccount subjects of the input's
    /// own bindings (not Kubernetes' bootstrap ones).
    activity: HashMap<Subject, Activity>,
    first_ms: Option<i64>,
    last_ms: Option<i64>,
    pub stats: UsageStats,
}

/// What the events were, for the report.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UsageStats {
    /// Requests the API server decided on and did not deny.
    pub decided: u64,
    /// Requests denied (401, 403): they exercise nothing.
    pub denied: u64,
    /// Events without a response status (`RequestReceived` stage): authorization unknown.
    pub undecided: u64,
    /// Events that are not a request the authorizer sees (no verb, no resource, no path).
    pub unreadable: u64,
    /// The oldest and newest event time.
    pub from: Option<String>,
    pub to: Option<String>,
}

impl<'r, 'a> Usage<'r, 'a> {
    pub fn new(rbac: &'r Rbac<'a>) -> Self {
        let mut activity = HashMap::new();
        for b in rbac.bindings.iter().filter(|b| !is_builtin(b.object)) {
            for (_, s) in &b.subjects {
                if s.kind == "User" || s.kind == "ServiceAccount" {
                    activity.entry(s.clone()).or_insert_with(Activity::default);
                }
            }
        }
        Usage {
            rbac,
            binding_index: rbac
                .bindings
                .iter()
                .enumerate()
                .map(|(i, b)| (&b.key, i))
                .collect(),
            used: HashSet::new(),
            activity,
            first_ms: None,
            last_ms: None,
            stats: UsageStats::default(),
        }
    }

    /// Notes an event's time (µs since the epoch).
    pub fn saw_time(&mut self, micros: i64) {
        let ms = micros.div_euclid(1000);
        if self.first_ms.is_none_or(|f| ms < f) {
            self.first_ms = Some(ms);
            self.stats.from = Some(format_rfc3339_ms(ms));
        }
        if self.last_ms.is_none_or(|l| ms > l) {
            self.last_ms = Some(ms);
            self.stats.to = Some(format_rfc3339_ms(ms));
        }
    }

    /// One audit event: `code` is `responseStatus.code` (`None` when absent).
    pub fn record(&mut self, attempt: Option<&Attempt>, code: Option<u16>) {
        let Some(attempt) = attempt else {
            self.stats.unreadable += 1;
            return;
        };
        match code {
            None => {
                self.stats.undecided += 1;
                return;
            }
            Some(401 | 403) => {
                self.stats.denied += 1;
                return;
            }
            Some(_) => self.stats.decided += 1,
        }
        if let Some((impersonator, requests)) = &attempt.impersonator {
            for r in requests {
                self.exercise(impersonator, r);
            }
        }
        self.exercise(&attempt.user, &attempt.request);
    }

    fn exercise(&mut self, user: &User, req: &Request) {
        let mut by_own_binding = true;
        match self.rbac.authorize(user, req) {
            Decision::Allowed(grants) => {
                by_own_binding = false;
                for g in &grants {
                    let Some(&i) = self.binding_index.get(&g.binding) else {
                        continue;
                    };
                    let b = &self.rbac.bindings[i];
                    by_own_binding |= !is_builtin(b.object);
                    for (s, subject) in b.subjects.iter().enumerate() {
                        if user.is(&subject.1) {
                            self.used.insert((i, s, g.rule));
                        }
                    }
                }
            }
            // Allowed by what the input does not hold (system:masters, a binding elsewhere):
            // the proposal covers it.
            Decision::Privileged | Decision::Denied(_) => {}
        }
        // What Kubernetes' own bindings grant (discovery, self reviews) stays granted.
        if !by_own_binding {
            return;
        }
        for key in identity_subjects(user) {
            if let Some(a) = self.activity.get_mut(&key) {
                a.add(req);
            }
        }
    }

    /// The grants of the input's own bindings that no request exercised, by subject, and the
    /// proposals.
    pub fn report(&self) -> UnusedReport {
        let mut unused = Vec::new();
        let mut granted = 0usize;
        for (i, b) in self.rbac.bindings.iter().enumerate() {
            if is_builtin(b.object) {
                continue;
            }
            let Some(role) = self.rbac.role_of(b) else {
                continue;
            };
            for (s, (_, subject)) in b.subjects.iter().enumerate() {
                for (r, rule) in role.rules.iter().enumerate() {
                    // RoleBindings grant no non-resource URL.
                    if b.key.namespace.is_some() && !rule.is_resource_rule() {
                        continue;
                    }
                    granted += 1;
                    if self.used.contains(&(i, s, r)) {
                        continue;
                    }
                    let source = &role.sources[r];
                    unused.push(UnusedGrant {
                        subject: subject.clone(),
                        binding: b.key.clone(),
                        role: role.key.clone(),
                        rule: r,
                        written_in: WrittenIn {
                            role: (*source.role).clone(),
                            rule: source.index,
                        },
                        grants: rule.clone(),
                    });
                }
            }
        }
        unused.sort_by(|a, b| {
            (&a.subject, &a.binding, a.rule).cmp(&(&b.subject, &b.binding, b.rule))
        });
        let mut subjects: Vec<&Subject> = self.activity.keys().collect();
        subjects.sort();
        let proposals = subjects
            .into_iter()
            .map(|s| propose(s, &self.activity[s], &self.stats))
            .collect();
        UnusedReport {
            stats: self.stats.clone(),
            granted,
            unused,
            proposals,
        }
    }
}

/// The subjects naming `user` directly: its User name, or its ServiceAccount.
fn identity_subjects(user: &User) -> Vec<Subject> {
    let mut out = Vec::new();
    if let Some((ns, sa)) = user
        .name
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        out.push(Subject {
            kind: "ServiceAccount".into(),
            name: sa.into(),
            namespace: Some(ns.into()),
        });
    }
    if !user.name.is_empty() {
        out.push(Subject {
            kind: "User".into(),
            name: user.name.clone(),
            namespace: None,
        });
    }
    out
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnusedReport {
    #[serde(flatten)]
    pub stats: UsageStats,
    /// Grants (subject × binding × rule) of the input's own bindings.
    pub granted: usize,
    pub unused: Vec<UnusedGrant>,
    pub proposals: Vec<Proposal>,
}

/// A rule granted to a subject through a binding that no logged request went through.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnusedGrant {
    pub subject: Subject,
    pub binding: Key,
    pub role: Key,
    /// Index into the role's effective rules.
    pub rule: usize,
    /// Where the rule is written (another ClusterRole for an aggregated one).
    pub written_in: WrittenIn,
    pub grants: PolicyRule,
}

#[derive(Debug, Clone, Serialize)]
pub struct WrittenIn {
    pub role: Key,
    pub rule: usize,
}

/// The minimal RBAC objects covering what one identity did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Proposal {
    pub subject: Subject,
    /// Requests of the identity that its own bindings (or nothing in the input) allowed.
    pub requests: u64,
    /// Roles, ClusterRoles and their bindings; empty when it did nothing: its bindings can go.
    pub objects: Vec<Value>,
}

/// `ValidateRBACName` (path.IsValidPathSegmentName): no `/` or `%`, not `.` or `..`.
fn rbac_name(subject: &Subject) -> String {
    let who = match &subject.namespace {
        Some(ns) => format!("sa:{ns}:{}", subject.name),
        None => format!("user:{}", subject.name),
    };
    let mut name: String = format!("kubevigil:least-privilege:{who}")
        .chars()
        .map(|c| {
            if c == '/' || c == '%' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    if name.len() > 253 {
        let mut end = 253;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

fn subject_value(s: &Subject) -> Value {
    match &s.namespace {
        Some(ns) => json!({"kind": "ServiceAccount", "name": s.name, "namespace": ns}),
        None => json!({"kind": s.kind, "apiGroup": GROUP, "name": s.name}),
    }
}

/// The rules of one scope: per resource the verbs without names in one rule, the verbs with the
/// same names in another; then rules alike but for their resources merged.
fn rules_of(resources: &ByResource) -> Vec<Value> {
    // (apiGroup, verbs, resourceNames) -> resources
    let mut merged: BTreeMap<(String, Vec<String>, Vec<String>), BTreeSet<String>> =
        BTreeMap::new();
    for ((group, resource), verbs) in resources {
        let mut unnamed = Vec::new();
        let mut by_names: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
        for (verb, names) in verbs {
            match names {
                Some(n) if !n.is_empty() => by_names
                    .entry(n.iter().cloned().collect())
                    .or_default()
                    .push(verb.clone()),
                _ => unnamed.push(verb.clone()),
            }
        }
        if !unnamed.is_empty() {
            merged
                .entry((group.clone(), unnamed, Vec::new()))
                .or_default()
                .insert(resource.clone());
        }
        for (names, verbs) in by_names {
            merged
                .entry((group.clone(), verbs, names))
                .or_default()
                .insert(resource.clone());
        }
    }
    merged
        .into_iter()
        .map(|((group, verbs, names), resources)| {
            let mut rule = json!({
                "apiGroups": [group],
                "resources": resources.into_iter().collect::<Vec<_>>(),
                "verbs": verbs,
            });
            if !names.is_empty() {
                rule["resourceNames"] = json!(names);
            }
            rule
        })
        .collect()
}

fn propose(subject: &Subject, activity: &Activity, stats: &UsageStats) -> Proposal {
    let name = rbac_name(subject);
    let mut annotations = serde_json::Map::new();
    annotations.insert(
        "kubevigil.io/generated-from".into(),
        Value::String(format!(
            "audit events from {} to {}: {} request(s)",
            stats.from.as_deref().unwrap_or("?"),
            stats.to.as_deref().unwrap_or("?"),
            activity.requests
        )),
    );
    let metadata = |namespace: Option<&str>| {
        let mut m = json!({"name": name, "annotations": annotations});
        if let Some(ns) = namespace {
            m["namespace"] = json!(ns);
        }
        m
    };
    let mut objects = Vec::new();
    let mut cluster_rules = Vec::new();
    for (scope, resources) in &activity.resources {
        let rules = rules_of(resources);
        if scope.is_empty() {
            cluster_rules.extend(rules);
            continue;
        }
        objects.push(json!({
            "apiVersion": format!("{GROUP}/v1"),
            "kind": "Role",
            "metadata": metadata(Some(scope)),
            "rules": rules,
        }));
        objects.push(json!({
            "apiVersion": format!("{GROUP}/v1"),
            "kind": "RoleBinding",
            "metadata": metadata(Some(scope)),
            "roleRef": {"apiGroup": GROUP, "kind": "Role", "name": name},
            "subjects": [subject_value(subject)],
        }));
    }
    // Non-resource URLs, by verb set.
    let mut urls: BTreeMap<Vec<String>, Vec<String>> = BTreeMap::new();
    for (path, verbs) in &activity.urls {
        urls.entry(verbs.iter().cloned().collect())
            .or_default()
            .push(path.clone());
    }
    for (verbs, paths) in urls {
        cluster_rules.push(json!({"nonResourceURLs": paths, "verbs": verbs}));
    }
    if !cluster_rules.is_empty() {
        objects.push(json!({
            "apiVersion": format!("{GROUP}/v1"),
            "kind": "ClusterRole",
            "metadata": metadata(None),
            "rules": cluster_rules,
        }));
        objects.push(json!({
            "apiVersion": format!("{GROUP}/v1"),
            "kind": "ClusterRoleBinding",
            "metadata": metadata(None),
            "roleRef": {"apiGroup": GROUP, "kind": "ClusterRole", "name": name},
            "subjects": [subject_value(subject)],
        }));
    }
    Proposal {
        subject: subject.clone(),
        requests: activity.requests,
        objects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};

    fn load(text: &str) -> Loaded {
        let mut loaded = Loaded::default();
        load_text_into("rbac.yaml", text, &LoadOptions::default(), &mut loaded);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        loaded
    }

    fn sa(ns: &str, name: &str) -> User {
        User::service_account(ns, name)
    }

    fn attempt(user: User, verb: &str, object_ref: Option<[&str; 5]>, uri: &str) -> Attempt {
        Attempt {
            user,
            request: Attempt::request_of(verb, object_ref, uri).unwrap(),
            impersonator: None,
        }
    }

    #[test]
    fn audit_attributes_become_the_authorizers_request() {
        let r = |verb, o: Option<[&str; 5]>, uri| Attempt::request_of(verb, o, uri);
        // (verb, objectRef, requestURI) -> verb, namespace, target
        let deploy_scale = r(
            "update",
            Some(["apps", "deployments", "scale", "shop", "api"]),
            "",
        )
        .unwrap();
        assert_eq!(
            deploy_scale,
            Request::parse("update", "deployments.apps/scale", "shop", Some("api")).unwrap()
        );
        // create of an object carries no name for the authorizer, create of a subresource does.
        let create = r("create", Some(["", "configmaps", "", "shop", "c"]), "").unwrap();
        assert!(matches!(create.target, Target::Resource { ref name, .. } if name.is_empty()));
        let exec = r("create", Some(["", "pods", "exec", "shop", "web"]), "").unwrap();
        assert!(matches!(exec.target, Target::Resource { ref name, .. } if name == "web"));
        // A non-resource request: the path without the query.
        let metrics = r("get", None, "/metrics?x=1").unwrap();
        assert_eq!(
            metrics.target,
            Target::NonResource {
                path: "/metrics".into()
            }
        );
        assert!(r("", None, "/metrics").is_none());
        assert!(r("get", Some(["", "", "", "", ""]), "/api").is_none());
        assert!(r("get", None, "no-slash").is_none());
    }

    #[test]
    fn impersonation_takes_impersonate_on_each_part_of_the_identity() {
        let reqs = Attempt::impersonation_requests(
            "system:serviceaccount:shop:api",
            &["dev".to_string()],
            "u-1",
        );
        let got: Vec<String> = reqs
            .iter()
            .map(|r| match &r.target {
                Target::Resource {
                    group,
                    resource,
                    name,
                    ..
                } => format!("{} {group}/{resource} {} {name}", r.verb, r.namespace),
                Target::NonResource { path } => path.clone(),
            })
            .collect();
        assert_eq!(
            got,
            [
                "impersonate /serviceaccounts shop api",
                "impersonate /groups  dev",
                "impersonate authentication.k8s.io/uids  u-1",
            ]
        );
        let user = Attempt::impersonation_requests("alice", &[], "");
        assert!(
            matches!(&user[..], [r] if matches!(&r.target, Target::Resource { resource, name, .. } if resource == "users" && name == "alice"))
        );
    }

    const SHOP: &str = "
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: api, namespace: shop}
rules:
- {apiGroups: [''], resources: [secrets], resourceNames: [db], verbs: [get]}
- {apiGroups: [''], resources: [pods], verbs: [list, watch]}
- {apiGroups: [apps], resources: [deployments, deployments/scale], verbs: [get, update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: api, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: api}
subjects:
- {kind: ServiceAccount, name: api}
- {kind: Group, name: system:serviceaccounts:shop}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: 'system:discovery', labels: {kubernetes.io/bootstrapping: rbac-defaults}}
rules:
- {nonResourceURLs: [/api, /api/*, /version], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: 'system:discovery', labels: {kubernetes.io/bootstrapping: rbac-defaults}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: 'system:discovery'}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: Group, name: system:authenticated}
";

    fn secrets_get(name: &str) -> Option<[&str; 5]> {
        Some(["", "secrets", "", "shop", name])
    }

    #[test]
    fn only_decided_allowed_requests_exercise_grants() {
        let loaded = load(SHOP);
        let rbac = Rbac::from_objects(&loaded.inventory);
        let mut usage = Usage::new(&rbac);
        let api = || sa("shop", "api");
        usage.record(
            Some(&attempt(api(), "get", secrets_get("db"), "")),
            Some(200),
        );
        // Denied, undecided and unreadable events exercise nothing.
        let list_pods = attempt(api(), "list", Some(["", "pods", "", "shop", ""]), "");
        usage.record(Some(&list_pods), Some(403));
        usage.record(Some(&list_pods), None);
        usage.record(None, Some(200));
        // Discovery goes through Kubernetes' own binding: not in the proposal.
        usage.record(Some(&attempt(api(), "get", None, "/version")), Some(200));
        let s = &usage.stats;
        assert_eq!(
            (s.decided, s.denied, s.undecided, s.unreadable),
            (2, 1, 1, 1)
        );
        let report = usage.report();
        // 3 rules × 2 subjects of the shop's own binding; the bootstrap binding is not listed.
        assert_eq!(report.granted, 6);
        let unused: Vec<(String, usize)> = report
            .unused
            .iter()
            .map(|u| (u.subject.to_string(), u.rule))
            .collect();
        // The ServiceAccount's request matched both subjects (the account and its group).
        assert_eq!(
            unused,
            [
                ("Group system:serviceaccounts:shop".to_string(), 1),
                ("Group system:serviceaccounts:shop".to_string(), 2),
                ("ServiceAccount shop/api".to_string(), 1),
                ("ServiceAccount shop/api".to_string(), 2),
            ]
        );
        let [p] = &report.proposals[..] else {
            panic!("{:?}", report.proposals)
        };
        assert_eq!(p.requests, 1);
        let kinds: Vec<&str> = p
            .objects
            .iter()
            .map(|o| o["kind"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["Role", "RoleBinding"]);
        assert_eq!(
            p.objects[0]["rules"],
            json!([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["db"], "verbs": ["get"]}])
        );
        assert_eq!(
            p.objects[1]["subjects"],
            json!([{"kind": "ServiceAccount", "name": "api", "namespace": "shop"}])
        );
    }

    #[test]
    fn proposals_are_valid_rbac_that_covers_every_request() {
        let loaded = load(SHOP);
        let rbac = Rbac::from_objects(&loaded.inventory);
        let mut usage = Usage::new(&rbac);
        let mut done = Vec::new();
        let api = || sa("shop", "api");
        let mut names: Vec<String> = (0..=MAX_NAMES).map(|i| format!("d{i}")).collect();
        names.push("x".into());
        for (verb, o) in [
            ("get", secrets_get("db")),
            ("list", Some(["", "pods", "", "shop", ""])),
            // A watch of one object (fieldSelector) still gets no resourceNames.
            ("watch", Some(["", "pods", "", "shop", "web"])),
            (
                "update",
                Some(["apps", "deployments", "scale", "shop", "api"]),
            ),
            // Across namespaces: cluster scope.
            ("list", Some(["", "pods", "", "", ""])),
        ]
        .into_iter()
        .chain(
            names
                .iter()
                .map(|n| ("get", Some(["apps", "deployments", "", "shop", n.as_str()]))),
        ) {
            let a = attempt(api(), verb, o, "");
            usage.record(Some(&a), Some(200));
            done.push(a);
        }
        let report = usage.report();
        let objects: Vec<Value> = report
            .proposals
            .iter()
            .flat_map(|p| p.objects.clone())
            .collect();
        let rules: Vec<&Value> = objects
            .iter()
            .filter_map(|o| o["rules"].as_array())
            .flatten()
            .collect();
        for r in &rules {
            let named = r.get("resourceNames").is_some();
            for v in r["verbs"].as_array().unwrap() {
                assert!(
                    !(named && NEVER_NAMED.contains(&v.as_str().unwrap())),
                    "{r}"
                );
            }
        }
        // Over MAX_NAMES names: the verb on every deployment.
        assert!(
            rules
                .iter()
                .any(|r| r["resources"] == json!(["deployments"])
                    && r["verbs"] == json!(["get"])
                    && r.get("resourceNames").is_none()),
            "{rules:?}"
        );
        // The proposal alone allows everything that was done, and nothing else listed here.
        let mut text = String::new();
        for o in &objects {
            text.push_str("---\n");
            text.push_str(&serde_json::to_string(o).unwrap());
            text.push('\n');
        }
        let proposed = load(&text);
        let only = Rbac::from_objects(&proposed.inventory);
        for a in &done {
            assert!(only.authorize(&a.user, &a.request).allowed(), "{a:?}");
        }
        let not_done = attempt(api(), "get", secrets_get("other"), "");
        assert!(!only.authorize(&not_done.user, &not_done.request).allowed());
        let delete = attempt(api(), "delete", secrets_get("db"), "");
        assert!(!only.authorize(&delete.user, &delete.request).allowed());
    }

    #[test]
    fn role_names_are_valid_whatever_the_user_name() {
        let s = Subject {
            kind: "User".into(),
            name: "evil/../%2e\u{1b}[2J".repeat(40),
            namespace: None,
        };
        let n = rbac_name(&s);
        assert!(n.len() <= 253);
        assert!(
            !n.contains(['/', '%']) && !n.chars().any(char::is_control),
            "{n}"
        );
    }
}
