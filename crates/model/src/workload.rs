//! One accessor for the pod template of every workload kind.
//!
//! Paths follow the Kubernetes API: a Pod's spec is at `spec`, a Deployment's at
//! `spec.template.spec`, a CronJob's at `spec.jobTemplate.spec.template.spec`, a PodTemplate's at
//! `template.spec` (core/v1 PodTemplate has `template` at the top level).

use serde_json::Value;

use crate::object::Object;
use crate::span::FieldPath;

/// Kinds that carry a pod template, with the path of the template (`""` for a Pod itself).
pub const WORKLOAD_KINDS: &[(&str, &str)] = &[
    ("Pod", ""),
    ("Deployment", "spec.template"),
    ("StatefulSet", "spec.template"),
    ("DaemonSet", "spec.template"),
    ("ReplicaSet", "spec.template"),
    ("ReplicationController", "spec.template"),
    ("Job", "spec.template"),
    ("CronJob", "spec.jobTemplate.spec.template"),
    ("PodTemplate", "template"),
];

/// The resources (API group, resource) whose objects carry a pod template, with their kind, as
/// the API server names them in admission requests and watches: Pods and the pod controllers of
/// upstream's `DefaultPodSpecExtractor` (pod-security-admission `admission/admission.go`).
pub const WORKLOAD_RESOURCES: &[(&str, &str, &str)] = &[
    ("", "pods", "Pod"),
    ("", "podtemplates", "PodTemplate"),
    ("", "replicationcontrollers", "ReplicationController"),
    ("apps", "replicasets", "ReplicaSet"),
    ("apps", "deployments", "Deployment"),
    ("apps", "statefulsets", "StatefulSet"),
    ("apps", "daemonsets", "DaemonSet"),
    ("batch", "jobs", "Job"),
    ("batch", "cronjobs", "CronJob"),
];

/// The workload kind of a resource (`("apps", "deployments")` is `Deployment`), or `None` for
/// resources without a pod template.
pub fn workload_kind_of_resource(group: &str, resource: &str) -> Option<&'static str> {
    WORKLOAD_RESOURCES
        .iter()
        .find(|(g, r, _)| *g == group && *r == resource)
        .map(|(_, _, kind)| *kind)
}

/// Whether objects of `kind` can carry a pod template (in a built-in API group; see
/// [`pod_template`]).
pub fn is_workload_kind(kind: &str) -> bool {
    WORKLOAD_KINDS.iter().any(|(k, _)| *k == kind)
}

/// The pod metadata and spec of a workload.
#[derive(Debug, Clone)]
pub struct PodTemplate<'a> {
    pub object: &'a Object,
    /// Pod metadata (labels, annotations); for a Pod, the object's own metadata.
    pub metadata: &'a Value,
    pub spec: &'a Value,
    pub metadata_path: &'static FieldPath,
    pub spec_path: &'static FieldPath,
}

/// The paths of the template's metadata and spec, per kind of [`WORKLOAD_KINDS`], made once:
/// every check asks for the template of every workload, and making the paths each time was a
/// dozen allocations per check and object.
fn template_paths(index: usize) -> (&'static FieldPath, &'static FieldPath) {
    static PATHS: std::sync::OnceLock<Vec<(FieldPath, FieldPath)>> = std::sync::OnceLock::new();
    let (metadata, spec) = &PATHS.get_or_init(|| {
        WORKLOAD_KINDS
            .iter()
            .map(|(_, path)| {
                let base = FieldPath::parse_keys(path);
                (base.key("metadata"), base.key("spec"))
            })
            .collect()
    })[index];
    (metadata, spec)
}

static NULL: Value = Value::Null;

/// The pod template of a workload object, or `None` for kinds without one (or without a spec).
pub fn pod_template(object: &Object) -> Option<PodTemplate<'_>> {
    let index = WORKLOAD_KINDS.iter().position(|(k, _)| *k == object.kind)?;
    // Only the built-in API groups carry these kinds; a CRD named "Deployment" is not a workload.
    if !matches!(object.group(), "" | "apps" | "batch" | "extensions") {
        return None;
    }
    let (metadata, spec) = pod_template_value(&object.kind, &object.value)?;
    if !spec.is_object() {
        return None;
    }
    let (metadata_path, spec_path) = template_paths(index);
    Some(PodTemplate {
        object,
        metadata,
        spec,
        metadata_path,
        spec_path,
    })
}

/// The pod metadata (`null` when absent) and spec of the JSON `value` of a workload of `kind`,
/// whatever the spec holds: for raw objects such as an admission request's, where the caller
/// knows the kind (see [`workload_kind_of_resource`]) and decodes the spec itself. `None` for
/// kinds without a template or when the template or its spec is absent.
pub fn pod_template_value<'a>(kind: &str, value: &'a Value) -> Option<(&'a Value, &'a Value)> {
    let (_, template_path) = WORKLOAD_KINDS.iter().find(|(k, _)| *k == kind)?;
    let mut template = value;
    for key in template_path.split('.').filter(|s| !s.is_empty()) {
        template = template.get(key)?;
    }
    let spec = template.get("spec")?;
    Some((template.get("metadata").unwrap_or(&NULL), spec))
}

/// One container list of a pod spec: empty when absent or not a list.
pub fn container_list(spec: &Value, kind: ContainerKind) -> &[Value] {
    spec.get(kind.field())
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Every container of a pod spec with its list and index: initContainers, containers and
/// ephemeralContainers, in that order (the order the API server's pod-spec visitors use).
pub fn spec_containers(spec: &Value) -> impl Iterator<Item = (ContainerKind, usize, &Value)> {
    ContainerKind::ALL.into_iter().flat_map(move |kind| {
        container_list(spec, kind)
            .iter()
            .enumerate()
            .map(move |(index, value)| (kind, index, value))
    })
}

/// Which list of the pod spec a container comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Init,
    Regular,
    Ephemeral,
}

impl ContainerKind {
    /// In visiting order.
    pub const ALL: [ContainerKind; 3] = [
        ContainerKind::Init,
        ContainerKind::Regular,
        ContainerKind::Ephemeral,
    ];

    /// The field of the pod spec that holds the list.
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Init => "initContainers",
            ContainerKind::Regular => "containers",
            ContainerKind::Ephemeral => "ephemeralContainers",
        }
    }
}

/// One container of a pod spec, with its path.
#[derive(Debug, Clone)]
pub struct ContainerRef<'a> {
    pub kind: ContainerKind,
    pub index: usize,
    pub name: &'a str,
    pub value: &'a Value,
    pub path: FieldPath,
}

impl<'a> PodTemplate<'a> {
    /// The ServiceAccount the pod names, with the field that names it: `serviceAccountName`,
    /// else the deprecated `serviceAccount` (pkg/apis/core/v1/conversion.go); empty values are
    /// unset. `None`: the pod runs as its namespace's `default`.
    pub fn service_account(&self) -> Option<(&'static str, &'a str)> {
        ["serviceAccountName", "serviceAccount"]
            .into_iter()
            .find_map(|k| {
                self.spec
                    .get(k)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(|s| (k, s))
            })
    }

    /// Visits initContainers, containers and ephemeralContainers, in that order (the order the
    /// API server's pod-spec visitors use).
    pub fn containers(&self) -> impl Iterator<Item = ContainerRef<'a>> + '_ {
        spec_containers(self.spec).map(move |(kind, index, value)| ContainerRef {
            kind,
            index,
            name: value.get("name").and_then(Value::as_str).unwrap_or(""),
            value,
            path: self.spec_path.key(kind.field()).index(index),
        })
    }

    /// Pod template labels.
    pub fn labels(&self) -> Option<&'a serde_json::Map<String, Value>> {
        self.metadata.get("labels").and_then(Value::as_object)
    }
}

/// Kinds whose objects are cluster-scoped: the built-in ones (`kubectl api-resources
/// --namespaced=false` of Kubernetes 1.33) and the cluster-wide network policy kinds of the
/// CNIs kubevigil reads. Any other kind is taken as namespaced, as kubectl does with an object
/// that names no namespace.
pub fn is_cluster_scoped_kind(kind: &str) -> bool {
    matches!(
        kind,
        "ComponentStatus"
            | "Namespace"
            | "Node"
            | "PersistentVolume"
            | "MutatingWebhookConfiguration"
            | "ValidatingWebhookConfiguration"
            | "ValidatingAdmissionPolicy"
            | "ValidatingAdmissionPolicyBinding"
            | "MutatingAdmissionPolicy"
            | "MutatingAdmissionPolicyBinding"
            | "CustomResourceDefinition"
            | "APIService"
            | "SelfSubjectReview"
            | "TokenReview"
            | "SelfSubjectAccessReview"
            | "SelfSubjectRulesReview"
            | "SubjectAccessReview"
            | "CertificateSigningRequest"
            | "ClusterTrustBundle"
            | "FlowSchema"
            | "PriorityLevelConfiguration"
            | "IngressClass"
            | "IPAddress"
            | "ServiceCIDR"
            | "RuntimeClass"
            | "ClusterRole"
            | "ClusterRoleBinding"
            | "PriorityClass"
            | "CSIDriver"
            | "CSINode"
            | "StorageClass"
            | "VolumeAttachment"
            | "VolumeAttributesClass"
            | "DeviceClass"
            | "ResourceSlice"
            | "PodSecurityPolicy"
            | "GlobalNetworkPolicy"
            | "StagedGlobalNetworkPolicy"
            | "CiliumClusterwideNetworkPolicy"
            | "AdminNetworkPolicy"
            | "BaselineAdminNetworkPolicy"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::{LoadOptions, Loaded, load_text_into};

    #[test]
    fn the_service_account_is_serviceaccountname_else_serviceaccount() {
        let cases = [
            (
                "{serviceAccountName: api}",
                Some(("serviceAccountName", "api")),
            ),
            (
                "{serviceAccountName: api, serviceAccount: old}",
                Some(("serviceAccountName", "api")),
            ),
            (
                "{serviceAccountName: '', serviceAccount: old}",
                Some(("serviceAccount", "old")),
            ),
            ("{serviceAccount: ''}", None),
            ("{}", None),
        ];
        for (spec, want) in cases {
            let text = format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: p}}\nspec: {spec}\n");
            let mut loaded = Loaded::default();
            load_text_into("p.yaml", &text, &LoadOptions::default(), &mut loaded);
            let o = &loaded.inventory.objects[0];
            assert_eq!(pod_template(o).unwrap().service_account(), want, "{spec}");
        }
    }

    #[test]
    fn every_workload_kind_yields_its_template() {
        let text = include_str!("../tests/fixtures/workloads.yaml");
        let mut loaded = Loaded::default();
        load_text_into("workloads.yaml", text, &LoadOptions::default(), &mut loaded);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let mut seen = Vec::new();
        for obj in &loaded.inventory.objects {
            let Some(t) = pod_template(obj) else {
                seen.push(format!("{}: none", obj.kind));
                continue;
            };
            let containers: Vec<String> = t
                .containers()
                .map(|c| format!("{}@{}", c.path, obj.pos_of(&c.path.key("image")).line))
                .collect();
            seen.push(format!("{}: {}", obj.kind, containers.join(", ")));
        }
        insta::assert_snapshot!(seen.join("\n"));
    }
}
