pub mod container_liveness_probe_missing;
pub mod container_readiness_probe_missing;
pub mod container_resources_missing;
pub mod namespace_without_limitrange;
pub mod namespace_without_resourcequota;

use std::collections::{BTreeMap, HashSet};

use kubevigil_model::{FieldPath, Object, Objects, pod_template};

/// Namespaces the cluster manages itself; quotas there are the platform's business.
const SYSTEM_NAMESPACES: &[&str] = &["kube-system", "kube-public", "kube-node-lease"];

/// A namespace present in the input and the object a finding about it is reported on: the
/// Namespace object when the input has one (at `metadata.name`), else the first workload of the
/// namespace (at `metadata.namespace`).
pub struct NamespaceAnchor<'a> {
    pub namespace: &'a str,
    pub object: &'a Object,
    pub path: FieldPath,
}

/// Namespaces of Namespace objects and of workloads, except the system ones, lacking an object of
/// `kind` (`ResourceQuota`, `LimitRange`) in the input.
pub fn namespaces_without<'a>(objects: &'a dyn Objects, kind: &str) -> Vec<NamespaceAnchor<'a>> {
    let covered: HashSet<&str> = objects
        .all()
        .filter(|o| o.kind == kind && o.api_version == "v1")
        .filter_map(|o| o.namespace.as_deref())
        .collect();
    let mut anchors: BTreeMap<&str, NamespaceAnchor<'a>> = BTreeMap::new();
    for o in objects.all() {
        let anchor = if o.kind == "Namespace" && o.api_version == "v1" {
            NamespaceAnchor {
                namespace: o.name.as_str(),
                object: o,
                path: FieldPath::parse_keys("metadata.name"),
            }
        } else if let Some(ns) = o.namespace.as_deref()
            && pod_template(o).is_some()
        {
            NamespaceAnchor {
                namespace: ns,
                object: o,
                path: FieldPath::parse_keys("metadata.namespace"),
            }
        } else {
            continue;
        };
        if anchor.namespace.is_empty()
            || SYSTEM_NAMESPACES.contains(&anchor.namespace)
            || covered.contains(anchor.namespace)
        {
            continue;
        }
        match anchors.get(anchor.namespace) {
            // A Namespace object takes precedence over a workload seen earlier.
            Some(existing) if existing.object.kind == "Namespace" || o.kind != "Namespace" => {}
            _ => {
                anchors.insert(anchor.namespace, anchor);
            }
        }
    }
    anchors.into_values().collect()
}
