//! Roles, bindings and subjects read from the objects under analysis, with ClusterRole
//! aggregation resolved.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use kubevigil_model::{Object, Objects};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::rule::PolicyRule;

/// The RBAC API group; every version of it is read (v1, and the v1beta1/v1alpha1 of old
/// manifests, which have the same fields).
pub const GROUP: &str = "rbac.authorization.k8s.io";

/// Where an object is: kind, namespace (none for cluster-scoped kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Key {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl Key {
    pub fn cluster_role(name: &str) -> Key {
        Key {
            kind: "ClusterRole".into(),
            namespace: None,
            name: name.into(),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Where one effective rule of a role was written: the role itself or, for an aggregated
/// ClusterRole, the ClusterRole it was aggregated from, and the index in that role's `rules`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSource {
    /// Shared by every rule of the role.
    pub role: Arc<Key>,
    pub index: usize,
}

/// A Role or ClusterRole with its effective rules.
#[derive(Debug)]
pub struct Role<'a> {
    pub key: Key,
    pub object: Option<&'a Object>,
    /// The rules the authorizer reads: `rules` as written, or for a ClusterRole with an
    /// `aggregationRule` the rules the aggregation controller writes there.
    pub rules: Vec<PolicyRule>,
    /// Parallel to `rules`: where each was written.
    pub sources: Vec<RuleSource>,
    /// Label selectors of `aggregationRule.clusterRoleSelectors`, when present.
    pub aggregation: Option<Vec<Value>>,
}

/// A subject of a binding as written; ServiceAccount namespaces defaulted (see
/// [`Binding::subjects`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct Subject {
    /// `User`, `Group` or `ServiceAccount`.
    pub kind: String,
    pub name: String,
    /// ServiceAccount only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// A RoleBinding or ClusterRoleBinding.
#[derive(Debug)]
pub struct Binding<'a> {
    pub key: Key,
    pub object: &'a Object,
    /// The role it grants: a Role in the binding's namespace, or a ClusterRole.
    pub role: Key,
    /// Subjects that can match some user (see [`Binding::read`]), with their index in `subjects`.
    pub subjects: Vec<(usize, Subject)>,
}

/// Everything RBAC in the input.
#[derive(Debug, Default)]
pub struct Rbac<'a> {
    pub roles: HashMap<Key, Role<'a>>,
    pub bindings: Vec<Binding<'a>>,
    /// Indices into `bindings` of the ClusterRoleBindings.
    pub cluster_bindings: Vec<usize>,
    /// Indices into `bindings` of the RoleBindings, by namespace.
    pub bindings_by_namespace: BTreeMap<String, Vec<usize>>,
    /// Indices into `bindings`, by the role they reference.
    pub bindings_by_role: HashMap<Key, Vec<usize>>,
    /// For each role, the aggregated ClusterRoles whose effective rules include some of its
    /// rules.
    pub aggregated_into: HashMap<Key, Vec<Key>>,
    /// Indices into `bindings`, by subject: built at the first question about a subject (the
    /// checks that only read roles and their bindings never need it).
    pub(crate) bindings_by_subject: std::sync::OnceLock<HashMap<Subject, Vec<usize>>>,
}

pub fn is_rbac(o: &Object) -> bool {
    o.group() == GROUP
}

fn map_of<'v>(v: &'v Value, key: &str) -> Option<&'v Map<String, Value>> {
    v.get(key).and_then(Value::as_object)
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// `metav1.LabelSelectorAsSelector`: `matchLabels` and `matchExpressions` (In, NotIn, Exists,
/// DoesNotExist) all hold; an empty selector matches everything. An unknown operator matches
/// nothing (the API server rejects it).
pub fn selector_matches(selector: &Value, labels: &Map<String, Value>) -> bool {
    if let Some(ml) = map_of(selector, "matchLabels") {
        for (k, v) in ml {
            if labels.get(k).and_then(Value::as_str) != v.as_str() {
                return false;
            }
        }
    }
    for e in selector
        .get("matchExpressions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = str_of(e, "key");
        let values: Vec<&str> = e
            .get("values")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let label = labels.get(key).and_then(Value::as_str);
        let ok = match str_of(e, "operator") {
            "In" => label.is_some_and(|l| values.contains(&l)),
            "NotIn" => !label.is_some_and(|l| values.contains(&l)),
            "Exists" => labels.contains_key(key),
            "DoesNotExist" => !labels.contains_key(key),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    true
}

impl<'a> Rbac<'a> {
    /// Reads the Roles, ClusterRoles, RoleBindings and ClusterRoleBindings of `objects` (a later
    /// object with the same key replaces an earlier one, as `kubectl apply` would).
    pub fn from_objects(objects: &'a dyn Objects) -> Rbac<'a> {
        let mut rbac = Rbac::default();
        let mut bindings: BTreeMap<Key, Binding<'a>> = BTreeMap::new();
        for kind in ["Role", "ClusterRole"] {
            for o in objects.of_kind(kind).filter(|o| is_rbac(o)) {
                let key = Key {
                    kind: kind.into(),
                    namespace: if kind == "Role" {
                        Some(o.namespace.clone().unwrap_or_else(|| "default".into()))
                    } else {
                        None
                    },
                    name: o.name.clone(),
                };
                let rules: Vec<PolicyRule> = o
                    .value
                    .get("rules")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(PolicyRule::from_value)
                    .collect();
                let shared = Arc::new(key.clone());
                let sources = (0..rules.len())
                    .map(|index| RuleSource {
                        role: shared.clone(),
                        index,
                    })
                    .collect();
                let aggregation = (kind == "ClusterRole")
                    .then(|| {
                        o.value
                            .pointer("/aggregationRule/clusterRoleSelectors")
                            .and_then(Value::as_array)
                            .cloned()
                    })
                    .flatten();
                rbac.roles.insert(
                    key.clone(),
                    Role {
                        key,
                        object: Some(o),
                        rules,
                        sources,
                        aggregation,
                    },
                );
            }
        }
        for kind in ["RoleBinding", "ClusterRoleBinding"] {
            for o in objects.of_kind(kind).filter(|o| is_rbac(o)) {
                if let Some(b) = Binding::read(kind, o) {
                    bindings.insert(b.key.clone(), b);
                }
            }
        }
        rbac.bindings = bindings.into_values().collect();
        for (i, b) in rbac.bindings.iter().enumerate() {
            match &b.key.namespace {
                None => rbac.cluster_bindings.push(i),
                Some(ns) => rbac
                    .bindings_by_namespace
                    .entry(ns.clone())
                    .or_default()
                    .push(i),
            }
        }
        rbac.aggregate();
        for (i, b) in rbac.bindings.iter().enumerate() {
            rbac.bindings_by_role
                .entry(b.role.clone())
                .or_default()
                .push(i);
        }
        let mut into: HashMap<Key, Vec<Key>> = HashMap::new();
        for r in rbac.roles.values().filter(|r| r.aggregation.is_some()) {
            let sources: HashSet<&Key> = r.sources.iter().map(|s| s.role.as_ref()).collect();
            for s in sources {
                if *s != r.key {
                    into.entry(s.clone()).or_default().push(r.key.clone());
                }
            }
        }
        rbac.aggregated_into = into;
        rbac
    }

    /// The ClusterRole aggregation controller (pkg/controller/clusterroleaggregation
    /// clusterroleaggregation_controller.go `syncClusterRole`): the ClusterRoles matching any
    /// selector, itself excluded, sorted by name, contribute their rules in order, a rule equal
    /// to one already taken skipped (`ruleExists`). The controller re-syncs an aggregated role
    /// whenever a source changes, so aggregation of aggregated roles (edit into admin) reaches a
    /// fixed point; it is computed here recursively, a cycle contributing nothing further.
    /// Rules already written in an aggregated role that no source gives (a partial dump) are
    /// kept after the aggregated ones.
    fn aggregate(&mut self) {
        let aggregated: Vec<Key> = self
            .roles
            .values()
            .filter(|r| r.aggregation.is_some())
            .map(|r| r.key.clone())
            .collect();
        let mut done: HashMap<Key, (Vec<PolicyRule>, Vec<RuleSource>)> = HashMap::new();
        for key in &aggregated {
            let mut stack = HashSet::new();
            let result = self.aggregate_one(key, &mut stack, &mut done);
            done.insert(key.clone(), result);
        }
        for (key, (rules, sources)) in done {
            if let Some(role) = self.roles.get_mut(&key) {
                role.rules = rules;
                role.sources = sources;
            }
        }
    }

    fn aggregate_one(
        &self,
        key: &Key,
        stack: &mut HashSet<Key>,
        done: &mut HashMap<Key, (Vec<PolicyRule>, Vec<RuleSource>)>,
    ) -> (Vec<PolicyRule>, Vec<RuleSource>) {
        let role = &self.roles[key];
        let Some(selectors) = &role.aggregation else {
            return (role.rules.clone(), role.sources.clone());
        };
        if let Some(r) = done.get(key) {
            return r.clone();
        }
        if !stack.insert(key.clone()) {
            return (Vec::new(), Vec::new());
        }
        let mut sources: Vec<&Role> = self
            .roles
            .values()
            .filter(|r| r.key.kind == "ClusterRole" && r.key != *key)
            .filter(|r| {
                let labels = r.object.map(Object::labels);
                labels.is_some_and(|l| selectors.iter().any(|s| selector_matches(s, l)))
            })
            .collect();
        sources.sort_by(|a, b| a.key.name.cmp(&b.key.name));
        let mut rules: Vec<PolicyRule> = Vec::new();
        let mut origin: Vec<RuleSource> = Vec::new();
        for s in sources {
            let (r, o) = self.aggregate_one(&s.key, stack, done);
            for (rule, src) in r.into_iter().zip(o) {
                if !rules.contains(&rule) {
                    rules.push(rule);
                    origin.push(src);
                }
            }
        }
        for (rule, src) in role.rules.iter().zip(&role.sources) {
            if !rules.contains(rule) {
                rules.push(rule.clone());
                origin.push(src.clone());
            }
        }
        stack.remove(key);
        done.insert(key.clone(), (rules.clone(), origin.clone()));
        (rules, origin)
    }

    /// Indices into `bindings`, by subject.
    pub fn bindings_by_subject(&self) -> &HashMap<Subject, Vec<usize>> {
        self.bindings_by_subject.get_or_init(|| {
            let mut index: HashMap<Subject, Vec<usize>> = HashMap::new();
            for (i, b) in self.bindings.iter().enumerate() {
                for (_, s) in &b.subjects {
                    let v = index.entry(s.clone()).or_default();
                    if v.last() != Some(&i) {
                        v.push(i);
                    }
                }
            }
            index
        })
    }

    /// The role a binding grants; `None` when the input does not hold it (the authorizer
    /// then grants nothing through the binding: `VisitRulesFor` reports the error and goes on).
    pub fn role_of(&self, b: &Binding) -> Option<&Role<'a>> {
        self.roles.get(&b.role)
    }

    /// Indices of the bindings the authorizer visits for a request in `namespace`
    /// (rbac.go `VisitRulesFor`): every ClusterRoleBinding, then, for a namespaced request, the
    /// RoleBindings of that namespace.
    pub fn bindings_for(&self, namespace: &str) -> impl Iterator<Item = usize> + '_ {
        let local = if namespace.is_empty() {
            None
        } else {
            self.bindings_by_namespace.get(namespace)
        };
        self.cluster_bindings
            .iter()
            .chain(local.into_iter().flatten())
            .copied()
    }
}

impl<'a> Binding<'a> {
    /// Reads a binding; `None` when it has no usable roleRef (the API server would reject it).
    pub fn read(kind: &str, o: &'a Object) -> Option<Binding<'a>> {
        let namespace = (kind == "RoleBinding")
            .then(|| o.namespace.clone().unwrap_or_else(|| "default".into()));
        let role_ref = o.value.get("roleRef")?;
        let role_kind = str_of(role_ref, "kind");
        let role_name = str_of(role_ref, "name");
        // A ClusterRoleBinding may only reference a ClusterRole (validation.go
        // ValidateClusterRoleBinding); a RoleBinding a Role of its own namespace or a ClusterRole.
        let role = match (role_kind, &namespace) {
            ("ClusterRole", _) => Key::cluster_role(role_name),
            ("Role", Some(ns)) => Key {
                kind: "Role".into(),
                namespace: Some(ns.clone()),
                name: role_name.into(),
            },
            _ => return None,
        };
        let subjects = o
            .value
            .get("subjects")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .filter_map(|(i, s)| {
                let kind = str_of(s, "kind");
                let name = str_of(s, "name");
                let sub = match kind {
                    "User" | "Group" => Subject {
                        kind: kind.into(),
                        name: name.into(),
                        namespace: None,
                    },
                    // rbac.go appliesToUser: a ServiceAccount without a namespace takes the
                    // binding's; in a ClusterRoleBinding it then matches nobody.
                    "ServiceAccount" => {
                        let ns = Some(str_of(s, "namespace"))
                            .filter(|n| !n.is_empty())
                            .map(str::to_string)
                            .or_else(|| namespace.clone())?;
                        Subject {
                            kind: kind.into(),
                            name: name.into(),
                            namespace: Some(ns),
                        }
                    }
                    _ => return None,
                };
                Some((i, sub))
            })
            .collect();
        Some(Binding {
            key: Key {
                kind: kind.into(),
                namespace,
                name: o.name.clone(),
            },
            object: o,
            role,
            subjects,
        })
    }
}
