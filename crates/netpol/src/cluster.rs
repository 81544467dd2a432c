//! The analysed world: namespaces, workloads (pod templates), NetworkPolicies and the
//! third-party policy objects we recognise but do not evaluate.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
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
    /// The first object it was read from (a pod's, for pods grouped by owner).
    pub object: &'a Object,
    /// Running pods grouped by their owner (a cluster dump such as `kubectl get pods -A -o
    /// yaml`): the names of the pods, sorted, while `kind` and `name` are the owner's. Empty for
    /// a workload read from its template and for a pod without owner.
    pub pods: Vec<String>,
    /// Tells apart the groups of one owner's pods that differ (during a rollout, say): the
    /// labels in which they differ, `pod-template-hash=abc` (`!key` when absent), numbered
    /// (`#2`) when labels alone do not tell them apart.
    pub variant: Option<String>,
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
    /// `ns/name`; pods grouped by owner read `ns/name[Kind]`, plus ` (variant)` when the owner's
    /// pods differ.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)?;
        if !self.pods.is_empty() {
            write!(f, "[{}]", self.kind)?;
        }
        if let Some(v) = &self.variant {
            write!(f, " ({v})")?;
        }
        Ok(())
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
        // Pods with a controlling owner, grouped after the loop; every object by (namespace,
        // kind, name) to follow owner references.
        let mut owned: Vec<(Workload<'a>, OwnerRef)> = Vec::new();
        let mut by_key: HashMap<(&str, &str, &str), &'a Object> = HashMap::new();
        for o in objects.all() {
            if let Some(ns) = &o.namespace {
                by_key
                    .entry((ns.as_str(), o.kind.as_str(), o.name.as_str()))
                    .or_insert(o);
            }
        }
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
                match owner_ref(o) {
                    Some(r) if o.kind == "Pod" && group.is_empty() => owned.push((w, r)),
                    _ => c.workloads.push(w),
                }
            }
        }
        // Label keys some policy selects pods on.
        let mut selectors = Vec::new();
        for p in &c.policies {
            selectors.push(&p.pod_selector);
            for r in p.ingress.iter().chain(&p.egress) {
                for peer in &r.peers {
                    if let crate::policy::Peer::Pods {
                        pods: Some(sel), ..
                    } = peer
                    {
                        selectors.push(sel);
                    }
                }
            }
        }
        let selected_keys: BTreeSet<&str> = selectors
            .iter()
            .flat_map(|s| s.requirements.iter().map(|r| r.key.as_str()))
            .collect();
        let represented = group_owned_pods(&mut c.workloads, owned, &by_key, &selected_keys);
        // A template workload whose pods are in the input, or whose controller is, is shown by
        // them: the pods are what runs, the controller's template is what its children run.
        c.workloads.retain(|w| {
            w.is_pods()
                || !(represented.contains(&(w.namespace.clone(), w.kind.clone(), w.name.clone()))
                    || owner_ref(w.object).is_some_and(|r| {
                        by_key
                            .get(&(w.namespace.as_str(), r.kind.as_str(), r.name.as_str()))
                            .is_some_and(|owner| r.is(owner) && pod_template(owner).is_some())
                    }))
        });
        for ns in used_ns {
            namespaces.entry(ns.clone()).or_insert_with(|| Namespace {
                labels: Labels::from([(NAMESPACE_NAME_LABEL.to_string(), ns.clone())]),
                name: ns,
                declared: false,
            });
        }
        c.namespaces = namespaces.into_values().collect();
        c.workloads.sort_by(|a, b| {
            (&a.namespace, &a.name, &a.kind, &a.variant).cmp(&(
                &b.namespace,
                &b.name,
                &b.kind,
                &b.variant,
            ))
        });
        c
    }

    pub fn namespace(&self, name: &str) -> Option<&Namespace> {
        self.namespaces
            .binary_search_by(|n| n.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.namespaces[i])
    }

    /// Finds a workload by `NS/NAME` (or `NS/KIND/NAME` when a name is shared by two kinds);
    /// pods grouped by owner are also found by the name of any of their pods.
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
        let by_pod = || {
            (0..self.workloads.len()).find(|&i| {
                let w = &self.workloads[i];
                w.namespace == ns
                    && kind.is_none_or(|k| k.eq_ignore_ascii_case("Pod"))
                    && w.pods.iter().any(|p| p == name)
            })
        };
        match hits.as_slice() {
            [one] => Ok(*one),
            [] => by_pod().ok_or_else(|| format!("no workload {spec} in the input")),
            _ => Err(format!(
                "{spec} is ambiguous; use NAMESPACE/KIND/NAME or NAMESPACE/POD-NAME"
            )),
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
        pods: Vec::new(),
        variant: None,
    })
}

impl Workload<'_> {
    /// Whether this stands for running pods grouped by owner (see [`Workload::pods`]).
    pub fn is_pods(&self) -> bool {
        !self.pods.is_empty()
    }
}

/// An object's controlling owner reference (`controller: true`; or its only owner reference).
#[derive(Debug, Clone)]
struct OwnerRef {
    kind: String,
    name: String,
    uid: Option<String>,
}

impl OwnerRef {
    /// Whether `o` is the object referred to (same uid when both have one).
    fn is(&self, o: &Object) -> bool {
        let uid = o.value.pointer("/metadata/uid").and_then(Value::as_str);
        match (&self.uid, uid) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        }
    }
}

fn owner_ref(o: &Object) -> Option<OwnerRef> {
    let refs = o
        .value
        .pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)?;
    let r = refs
        .iter()
        .find(|r| r.get("controller").and_then(Value::as_bool) == Some(true))
        .or(match refs.as_slice() {
            [one] => Some(one),
            _ => None,
        })?;
    let kind = r.get("kind").and_then(Value::as_str)?;
    let name = r.get("name").and_then(Value::as_str)?;
    // Mirror (static) pods are owned by their Node: they belong to no workload.
    if kind == "Node" || name.is_empty() {
        return None;
    }
    Some(OwnerRef {
        kind: kind.to_string(),
        name: name.to_string(),
        uid: r.get("uid").and_then(Value::as_str).map(str::to_string),
    })
}

/// The workload a pod is shown as: its controlling owner, followed up through owners in the
/// input (a ReplicaSet to its Deployment, a Job to its CronJob). A ReplicaSet that is not in
/// the input is shown as its Deployment when its name is `<deployment>-<hash>` and the pod's
/// `pod-template-hash` label is that hash, which is how the Deployment controller names the
/// ReplicaSets it creates. Every owner object met is added to `seen`.
fn resolve_owner(
    pod: &Workload,
    first: OwnerRef,
    by_key: &HashMap<(&str, &str, &str), &Object>,
    seen: &mut HashSet<(String, String, String)>,
) -> (String, String) {
    let ns = pod.namespace.as_str();
    let mut cur = first;
    for hop in 0..8 {
        let found = by_key
            .get(&(ns, cur.kind.as_str(), cur.name.as_str()))
            .copied();
        match found {
            Some(o) if cur.is(o) => {
                seen.insert((ns.to_string(), cur.kind.clone(), cur.name.clone()));
                match owner_ref(o) {
                    Some(next) => cur = next,
                    None => break,
                }
            }
            _ => {
                if hop == 0
                    && cur.kind == "ReplicaSet"
                    && let Some(hash) = pod.labels.get("pod-template-hash")
                    && let Some(deployment) = cur.name.strip_suffix(hash.as_str())
                    && let Some(deployment) = deployment.strip_suffix('-')
                    && !deployment.is_empty()
                {
                    return ("Deployment".to_string(), deployment.to_string());
                }
                break;
            }
        }
    }
    (cur.kind, cur.name)
}

/// Labels controllers give each pod of a workload its own value of (its name, its index):
/// ignored when grouping one owner's pods unless a policy selects pods on them.
const PER_POD_LABELS: &[&str] = &[
    "statefulset.kubernetes.io/pod-name",
    "apps.kubernetes.io/pod-index",
    "batch.kubernetes.io/job-completion-index",
];

/// Groups pods by the workload owning them ([`resolve_owner`]) and, within one owner, by
/// labels (but [`PER_POD_LABELS`] no policy selects on), container ports and hostNetwork; adds
/// one workload per group to `out`. Returns the owner objects met, which the pods now stand for.
fn group_owned_pods<'a>(
    out: &mut Vec<Workload<'a>>,
    owned: Vec<(Workload<'a>, OwnerRef)>,
    by_key: &HashMap<(&str, &str, &str), &Object>,
    selected_keys: &BTreeSet<&str>,
) -> HashSet<(String, String, String)> {
    let ignored: Vec<&str> = PER_POD_LABELS
        .iter()
        .copied()
        .filter(|k| !selected_keys.contains(k))
        .collect();
    let mut seen = HashSet::new();
    // (namespace, kind, name) -> groups of identical pods, in input order.
    let mut owners: BTreeMap<(String, String, String), Vec<Workload<'a>>> = BTreeMap::new();
    for (mut pod, r) in owned {
        let (kind, name) = resolve_owner(&pod, r, by_key, &mut seen);
        // No selector reads them: dropping them changes no answer.
        pod.labels.retain(|k, _| !ignored.contains(&k.as_str()));
        let groups = owners
            .entry((pod.namespace.clone(), kind.clone(), name.clone()))
            .or_default();
        let pod_name = pod.name.clone();
        match groups.iter_mut().find(|g| {
            g.labels == pod.labels && g.ports == pod.ports && g.host_network == pod.host_network
        }) {
            Some(g) => g.pods.push(pod_name),
            None => groups.push(Workload {
                kind,
                name,
                pods: vec![pod_name],
                ..pod
            }),
        }
    }
    for (_, mut groups) in owners {
        if groups.len() > 1 {
            let texts = variants(&groups);
            let unique = texts.iter().collect::<BTreeSet<_>>().len() == texts.len()
                && texts.iter().all(|t| !t.is_empty());
            for (i, (g, t)) in groups.iter_mut().zip(texts).enumerate() {
                g.variant = Some(match (unique, t.is_empty()) {
                    (true, _) => t,
                    (false, true) => format!("#{}", i + 1),
                    (false, false) => format!("{t} #{}", i + 1),
                });
            }
        }
        for g in &mut groups {
            g.pods.sort();
        }
        out.extend(groups);
    }
    seen
}

/// For each group, the labels on which the groups do not all agree: `key=value`, or `!key`
/// when the group lacks it, comma-separated in key order.
fn variants(groups: &[Workload]) -> Vec<String> {
    let keys: BTreeSet<&String> = groups.iter().flat_map(|g| g.labels.keys()).collect();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| {
            let first = groups[0].labels.get(*k);
            groups.iter().any(|g| g.labels.get(*k) != first)
        })
        .collect();
    groups
        .iter()
        .map(|g| {
            differing
                .iter()
                .map(|k| match g.labels.get(*k) {
                    Some(v) => format!("{k}={v}"),
                    None => format!("!{k}"),
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect()
}
