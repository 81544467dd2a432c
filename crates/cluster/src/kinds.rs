//! The kinds a cluster snapshot reads: every kind a check or an engine reads
//! (`Check::reads` over `kubevigil_checks::evaluator_checks`, held by a test), at the API
//! versions served today, and the optional groups of CNIs, meshes and Gateway API, read when
//! discovery finds them.

/// One kind to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WantedKind {
    /// `""` for the core group.
    pub group: &'static str,
    /// Versions in order of preference; discovery picks the first one served.
    pub versions: &'static [&'static str],
    pub plural: &'static str,
    pub kind: &'static str,
    /// Part of every conformant cluster: its absence from discovery is a warning.
    pub builtin: bool,
    /// Read as metadata only (`PartialObjectMetadataList`): Secrets, whose values kubevigil
    /// never reads from a cluster.
    pub metadata_only: bool,
}

const fn builtin(group: &'static str, plural: &'static str, kind: &'static str) -> WantedKind {
    WantedKind {
        group,
        versions: &["v1"],
        plural,
        kind,
        builtin: true,
        metadata_only: false,
    }
}

const fn optional(
    group: &'static str,
    versions: &'static [&'static str],
    plural: &'static str,
    kind: &'static str,
) -> WantedKind {
    WantedKind {
        group,
        versions,
        plural,
        kind,
        builtin: false,
        metadata_only: false,
    }
}

/// Every kind a snapshot reads.
pub const KINDS: &[WantedKind] = &[
    builtin("", "namespaces", "Namespace"),
    builtin("", "pods", "Pod"),
    builtin("", "services", "Service"),
    builtin("", "configmaps", "ConfigMap"),
    WantedKind {
        metadata_only: true,
        ..builtin("", "secrets", "Secret")
    },
    builtin("", "serviceaccounts", "ServiceAccount"),
    builtin("", "limitranges", "LimitRange"),
    builtin("", "resourcequotas", "ResourceQuota"),
    builtin("", "replicationcontrollers", "ReplicationController"),
    builtin("", "podtemplates", "PodTemplate"),
    builtin("apps", "deployments", "Deployment"),
    builtin("apps", "statefulsets", "StatefulSet"),
    builtin("apps", "daemonsets", "DaemonSet"),
    builtin("apps", "replicasets", "ReplicaSet"),
    builtin("batch", "jobs", "Job"),
    builtin("batch", "cronjobs", "CronJob"),
    builtin("networking.k8s.io", "networkpolicies", "NetworkPolicy"),
    builtin("networking.k8s.io", "ingresses", "Ingress"),
    // RBAC: the authorizer's inputs (rbac checks, `rbac ... --cluster`).
    builtin("rbac.authorization.k8s.io", "roles", "Role"),
    builtin("rbac.authorization.k8s.io", "clusterroles", "ClusterRole"),
    builtin("rbac.authorization.k8s.io", "rolebindings", "RoleBinding"),
    builtin(
        "rbac.authorization.k8s.io",
        "clusterrolebindings",
        "ClusterRoleBinding",
    ),
    // Calico: the projectcalico.org API server, or the CRDs it is stored in.
    optional(
        "projectcalico.org",
        &["v3"],
        "networkpolicies",
        "NetworkPolicy",
    ),
    optional(
        "projectcalico.org",
        &["v3"],
        "globalnetworkpolicies",
        "GlobalNetworkPolicy",
    ),
    optional(
        "projectcalico.org",
        &["v3"],
        "stagednetworkpolicies",
        "StagedNetworkPolicy",
    ),
    optional(
        "projectcalico.org",
        &["v3"],
        "stagedglobalnetworkpolicies",
        "StagedGlobalNetworkPolicy",
    ),
    optional(
        "crd.projectcalico.org",
        &["v1"],
        "networkpolicies",
        "NetworkPolicy",
    ),
    optional(
        "crd.projectcalico.org",
        &["v1"],
        "globalnetworkpolicies",
        "GlobalNetworkPolicy",
    ),
    // Cilium.
    optional(
        "cilium.io",
        &["v2"],
        "ciliumnetworkpolicies",
        "CiliumNetworkPolicy",
    ),
    optional(
        "cilium.io",
        &["v2"],
        "ciliumclusterwidenetworkpolicies",
        "CiliumClusterwideNetworkPolicy",
    ),
    // Admin network policies (sig-network).
    optional(
        "policy.networking.k8s.io",
        &["v1alpha1"],
        "adminnetworkpolicies",
        "AdminNetworkPolicy",
    ),
    optional(
        "policy.networking.k8s.io",
        &["v1alpha1"],
        "baselineadminnetworkpolicies",
        "BaselineAdminNetworkPolicy",
    ),
    // Istio.
    optional(
        "security.istio.io",
        &["v1", "v1beta1"],
        "peerauthentications",
        "PeerAuthentication",
    ),
    optional(
        "security.istio.io",
        &["v1", "v1beta1"],
        "authorizationpolicies",
        "AuthorizationPolicy",
    ),
    // Gateway API.
    optional(
        "gateway.networking.k8s.io",
        &["v1", "v1beta1"],
        "gateways",
        "Gateway",
    ),
    optional(
        "gateway.networking.k8s.io",
        &["v1", "v1beta1"],
        "httproutes",
        "HTTPRoute",
    ),
];

impl WantedKind {
    /// `group/version`, or `version` for the core group.
    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{version}", self.group)
        }
    }

    /// `Kind.group` (`Pod`, `Deployment.apps`), as kubectl names resources.
    pub fn display(&self) -> String {
        if self.group.is_empty() {
            self.kind.to_string()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    /// Whether the kind is cluster-scoped.
    pub fn cluster_scoped(&self) -> bool {
        kubevigil_model::is_cluster_scoped_kind(self.kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind a check or engine reads is in the snapshot (a new check reading a new kind
    /// must add it here, or a cluster scan would silently miss it).
    #[test]
    fn the_snapshot_reads_every_kind_the_checks_read() {
        let candidates = [
            "Pod",
            "Deployment",
            "StatefulSet",
            "DaemonSet",
            "ReplicaSet",
            "ReplicationController",
            "Job",
            "CronJob",
            "PodTemplate",
            "Namespace",
            "Service",
            "ConfigMap",
            "Secret",
            "ServiceAccount",
            "LimitRange",
            "ResourceQuota",
            "NetworkPolicy",
            "Ingress",
            "GlobalNetworkPolicy",
            "StagedNetworkPolicy",
            "StagedGlobalNetworkPolicy",
            "CiliumNetworkPolicy",
            "CiliumClusterwideNetworkPolicy",
            "AdminNetworkPolicy",
            "BaselineAdminNetworkPolicy",
            "Node",
            "Role",
            "ClusterRole",
            "RoleBinding",
            "ClusterRoleBinding",
            "Endpoints",
            "EndpointSlice",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "StorageClass",
            "Event",
            "ValidatingWebhookConfiguration",
            "MutatingWebhookConfiguration",
            "CustomResourceDefinition",
            "PodDisruptionBudget",
            "HorizontalPodAutoscaler",
            "CertificateSigningRequest",
            "PriorityClass",
            "RuntimeClass",
            "Lease",
        ];
        let checks = kubevigil_checks::evaluator_checks();
        for kind in candidates {
            // The audit Policy is a file, never a cluster object.
            let readers: Vec<&str> = checks
                .iter()
                // A check that reads every kind (annotations) is served by whatever is read.
                .filter(|c| c.reads(kind) && !c.reads("NoSuchKindAnywhere"))
                .map(|c| c.meta().id)
                .collect();
            if !readers.is_empty() {
                assert!(
                    KINDS.iter().any(|k| k.kind == kind),
                    "{kind} is read by {readers:?} but not by the cluster snapshot"
                );
            }
        }
    }
}
