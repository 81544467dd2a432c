//! The analysed world: namespaces, workloads (pod templates), NetworkPolicies and the
//! third-party policy objects we recognise but do not evaluate.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::Value;

use kubevigil_model::{Inventory, Object, Objects, pod_template};

use crate::Problem;
use crate::conn::Protocol;
use crate::policy::NetworkPolicy;
use crate::selector::Labels;

/// Label every namespace carries (`NamespaceDefaulting`, Kubernetes >= 1.21); the API server
/// sets it to the namespace name and does not let it be changed.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

#[derive(Debug, Clone)]
pub struct Namespace {
    pub name: String,
    pub labels: Labels,
    /// False when implied by an object's namespace rather than declared.
    pub declared: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPort {
    pub name: Option<String>,
    pub port: u16,
    pub protocol: Protocol,
}

#[derive(Debug, Clone)]
pub struct Workload<'a> {
    pub namespace: String,
    pub name: String,
    pub kind: String,
    pub labels: Labels,
    pub ports: Vec<ContainerPort>,
    pub host_network: bool,
    pub object: &'a Object,
}

impl Workload<'_> {
    /// Resolves a named port the way CNIs do: the container port with that name and protocol.
    pub fn named_port(&self, proto: Protocol, name: &str) -> Option<u16> {
        self.ports
            .iter()
            .find(|p| p.protocol == proto && p.name.as_deref() == Some(name))
            .map(|p| p.port)
    }
}

impl fmt::Display for Workload<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Calico, Cilium and AdminNetworkPolicy objects: recognised, not evaluated.
#[derive(Debug, Clone)]
pub struct ForeignPolicy<'a> {
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// None for cluster-wide kinds, which can affect every workload.
    pub namespace: Option<String>,
    pub object: &'a Object,
}

impl fmt::Display for ForeignPolicy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(
                f,
                "{} {}/{} ({})",
                self.kind, ns, self.name, self.api_version
            ),
            None => write!(f, "{} {} ({})", self.kind, self.name, self.api_version),
        }
    }
}

/// `(group, kind, namespaced)` of policy kinds whose semantics we do not implement.
const FOREIGN_KINDS: &[(&str, &str, bool)] = &[
    ("projectcalico.org", "NetworkPolicy", true),
    ("projectcalico.org", "GlobalNetworkPolicy", false),
    ("projectcalico.org", "StagedNetworkPolicy", true),
    ("projectcalico.org", "StagedGlobalNetworkPolicy", false),
    ("crd.projectcalico.org", "NetworkPolicy", true),
    ("crd.projectcalico.org", "GlobalNetworkPolicy", false),
    ("cilium.io", "CiliumNetworkPolicy", true),
    ("cilium.io", "CiliumClusterwideNetworkPolicy", false),
    ("policy.networking.k8s.io", "AdminNetworkPolicy", false),
    (
        "policy.networking.k8s.io",
        "BaselineAdminNetworkPolicy",
        false,
    ),
];

/// Whether `kind` names one of the foreign policy kinds (in some API group).
pub(crate) fn is_foreign_kind(kind: &str) -> bool {
    FOREIGN_KINDS.iter().any(|(_, k, _)| *k == kind)
}

/// An object-level problem, with the object it is about.
#[derive(Debug, Clone)]
pub struct ObjectProblem<'a> {
    pub object: &'a Object,
    pub problem: Problem,
}

/// The analysis of a set of objects, which it borrows: its `object` fields point into them.
#[derive(Debug, Clone, Default)]
pub struct Cluster<'a> {
    /// Sorted by name.
    pub namespaces: Vec<Namespace>,
    /// Sorted by (namespace, name, kind).
    pub workloads: Vec<Workload<'a>>,
    /// In the order of [`Objects::all`], as are `foreign` and `problems`.
    pub policies: Vec<NetworkPolicy<'a>>,
    pub foreign: Vec<ForeignPolicy<'a>>,
    pub problems: Vec<ObjectProblem<'a>>,
}

impl<'a> Cluster<'a> {
    /// Builds the cluster from an inventory (file order, duplicates kept).
    pub fn from_inventory(inventory: &'a Inventory) -> Cluster<'a> {
        Cluster::from_objects(inventory)
    }

    /// Builds the cluster from objects wherever they are held (an inventory, the monitor's
    /// store), reading them in the order of [`Objects::all`].
    pub fn from_objects(objects: &'a dyn Objects) -> Cluster<'a> {
        let mut c = Cluster::default();
        let mut namespaces: BTreeMap<String, Namespace> = BTreeMap::new();
        let mut used_ns: BTreeSet<String> = BTreeSet::new();
        for o in objects.all() {
            let group = o.group();
            let ns = o.namespace.as_deref().unwrap_or("default");
            if o.kind == "Namespace" && group.is_empty() {
                let mut labels = labels_at(&o.value, &["metadata", "labels"]);
                labels.insert(NAMESPACE_NAME_LABEL.to_string(), o.name.clone());
                namespaces.insert(
                    o.name.clone(),
                    Namespace {
                        name: o.name.clone(),
                        labels,
                        declared: true,
                    },
                );
            } else if o.kind == "NetworkPolicy" && group == "networking.k8s.io" {
                used_ns.insert(ns.to_string());
                match NetworkPolicy::parse(ns, &o.name, &o.value, o) {
                    Ok((p, warnings)) => {
                        c.problems.extend(
                            warnings
                                .into_iter()
                                .map(|problem| ObjectProblem { object: o, problem }),
                        );
                        c.policies.push(p);
                    }
                    Err(errors) => {
                        c.problems.extend(
                            errors
                                .into_iter()
                                .map(|problem| ObjectProblem { object: o, problem }),
                        );
                    }
                }
            } else if let Some(&(_, _, namespaced)) = FOREIGN_KINDS
                .iter()
                .find(|(g, k, _)| *g == group && *k == o.kind)
            {
                c.foreign.push(ForeignPolicy {
                    api_version: o.api_version.clone(),
                    kind: o.kind.clone(),
                    name: o.name.clone(),
                    namespace: namespaced.then(|| ns.to_string()),
                    object: o,
                });
            } else if o.kind != "PodTemplate"
                && let Some(w) = workload(o, ns)
            {
                // A PodTemplate object runs nothing; every other template kind runs pods.
                used_ns.insert(ns.to_string());
                c.workloads.push(w);
            }
        }
        for ns in used_ns {
            namespaces.entry(ns.clone()).or_insert_with(|| Namespace {
                labels: Labels::from([(NAMESPACE_NAME_LABEL.to_string(), ns.clone())]),
                name: ns,
                declared: false,
            });
        }
        c.namespaces = namespaces.into_values().collect();
        c.workloads.sort_by(|a, b| {
            (&a.namespace, &a.name, &a.kind).cmp(&(&b.namespace, &b.name, &b.kind))
        });
        c
    }

    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.namespaces[i])
    }

    /// Finds a workload by `NS/NAME` (or `NS/KIND/NAME` when a name is shared by two kinds).
    pub fn find_workload(&self, spec: &str) -> Result<usize, String> {
        let parts: Vec<&str> = spec.split('/').collect();
        let (ns, kind, name) = match parts.as_slice() {
            [ns, name] => (*ns, None, *name),
            [ns, kind, name] => (*ns, Some(*kind), *name),
            _ => {
                return Err(format!(
                    "{spec:?}: expected NAMESPACE/NAME or NAMESPACE/KIND/NAME"
                ));
            }
        };
        let hits: Vec<usize> = (0..self.workloads.len())
            .filter(|&i| {
                let w = &self.workloads[i];
                w.namespace == ns
                    && w.name == name
                    && kind.is_none_or(|k| k.eq_ignore_ascii_case(&w.kind))
            })
            .collect();
        match hits.as_slice() {
            [one] => Ok(*one),
            [] => Err(format!("no workload {spec} in the input")),
            _ => Err(format!("{spec} is ambiguous; use NAMESPACE/KIND/NAME")),
        }
    }
}

fn labels_at(v: &Value, path: &[&str]) -> Labels {
    let mut cur = v;
    for k in path {
        match cur.get(k) {
            Some(x) => cur = x,
            None => return Labels::new(),
        }
    }
    cur.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

/// The unit of analysis: a workload's pod template labels and container ports.
fn workload<'a>(o: &'a Object, ns: &str) -> Option<Workload<'a>> {
    let t = pod_template(o)?;
    let labels = labels_at(t.metadata, &["labels"]);
    let mut ports = Vec::new();
    // Named ports resolve on the pod's container ports; init containers count because
    // restartable (sidecar) init containers serve traffic. Ephemeral containers have no ports.
    for c in t.containers() {
        for p in c
            .value
            .get("ports")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(port) = p
                .get("containerPort")
                .and_then(Value::as_u64)
                .and_then(|n| u16::try_from(n).ok())
            else {
                continue;
            };
            let protocol = p
                .get("protocol")
                .and_then(Value::as_str)
                .and_then(Protocol::parse)
                .unwrap_or(Protocol::Tcp);
            let name = p.get("name").and_then(Value::as_str).map(str::to_string);
            ports.push(ContainerPort {
                name,
                port,
                protocol,
            });
        }
    }
    let host_network = t
        .spec
        .get("hostNetwork")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Some(Workload {
        namespace: ns.to_string(),
        name: o.name.clone(),
        kind: o.kind.clone(),
        labels,
        ports,
        host_network,
        object: o,
    })
}
