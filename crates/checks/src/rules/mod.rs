//! The registry of built-in checks: one module per check, documentation beside it.

pub mod credentials;
pub mod exposure;
pub mod image_ref;
pub mod images;
pub mod placement;
pub mod pod_security;
pub mod rbac;
pub mod resources;
pub mod secrets;
pub mod sensitive_data;

use kubevigil_model::{ContainerRef, FieldPath, PodTemplate};
use serde_json::Value;

use crate::{Check, Config};

/// Every built-in check. Add new checks here.
pub static ALL: &[&dyn Check<Config>] = &[
    &images::image_tag_latest::ImageTagLatest,
    &images::image_not_pinned_by_digest::ImageNotPinnedByDigest,
    &images::image_pull_policy_mutable_tag::ImagePullPolicyMutableTag,
    &images::image_registry_not_allowed::ImageRegistryNotAllowed,
    &images::image_vulnerable::ImageVulnerable,
    &sensitive_data::env_literal_credential::EnvLiteralCredential,
    &sensitive_data::configmap_credential::ConfigMapCredential,
    &sensitive_data::secret_literal_values::SecretLiteralValues,
    &sensitive_data::annotation_credential::AnnotationCredential,
    &sensitive_data::secret_as_env_var::SecretAsEnvVar,
    &sensitive_data::service_account_token_automount::ServiceAccountTokenAutomount,
    &resources::container_resources_missing::ContainerResourcesMissing,
    &resources::namespace_without_resourcequota::NamespaceWithoutResourceQuota,
    &resources::namespace_without_limitrange::NamespaceWithoutLimitRange,
    &exposure::service_external_ips::ServiceExternalIps,
    &exposure::service_nodeport::ServiceNodePort,
    &exposure::loadbalancer_source_ranges_missing::LoadBalancerSourceRangesMissing,
    &exposure::ingress_without_tls::IngressWithoutTls,
    &placement::sensitive_workload_node_placement::SensitiveWorkloadNodePlacement,
    &pod_security::container_root_filesystem_writable::ContainerRootFilesystemWritable,
    &pod_security::container_runtime_socket_mounted::ContainerRuntimeSocketMounted,
    &pod_security::host_path_sensitive::HostPathSensitive,
    &pod_security::pod_share_process_namespace::PodShareProcessNamespace,
    &resources::container_liveness_probe_missing::ContainerLivenessProbeMissing,
    &resources::container_readiness_probe_missing::ContainerReadinessProbeMissing,
    &placement::workload_in_default_namespace::WorkloadInDefaultNamespace,
    &sensitive_data::service_account_default_used::ServiceAccountDefaultUsed,
    &exposure::ingress_nginx_snippet_annotation::IngressNginxSnippetAnnotation,
    &rbac::rbac_wildcard::RbacWildcard,
    &rbac::rbac_cluster_admin_binding::RbacClusterAdminBinding,
    &rbac::rbac_secrets_read::RbacSecretsRead,
    &rbac::rbac_workload_create::RbacWorkloadCreate,
    &rbac::rbac_pod_exec::RbacPodExec,
    &rbac::rbac_nodes_proxy::RbacNodesProxy,
    &rbac::rbac_escalate_bind_impersonate::RbacEscalateBindImpersonate,
    &rbac::rbac_rolebinding_write::RbacRolebindingWrite,
    &rbac::rbac_csr_approve::RbacCsrApprove,
    &rbac::rbac_token_create::RbacTokenCreate,
    &rbac::rbac_webhook_config_write::RbacWebhookConfigWrite,
    &rbac::rbac_namespace_patch::RbacNamespacePatch,
    &rbac::rbac_persistentvolume_create::RbacPersistentvolumeCreate,
    &rbac::rbac_status_write::RbacStatusWrite,
    &rbac::rbac_events_delete::RbacEventsDelete,
    &rbac::rbac_binding_anonymous::RbacBindingAnonymous,
    &rbac::rbac_default_service_account_bound::RbacDefaultServiceAccountBound,
    &rbac::rbac_workload_risky_service_account::RbacWorkloadRiskyServiceAccount,
    &secrets::secret_unreferenced::SecretUnreferenced,
    &secrets::secret_not_rotated::SecretNotRotated,
    &secrets::encryption_config_weak::EncryptionConfigWeak,
];

/// One entry of a container's `env` list.
pub struct EnvVar<'a> {
    pub name: &'a str,
    pub value: &'a Value,
    /// `...containers[i].env[j]`
    pub path: FieldPath,
}

/// The `env` entries of a container, with their paths.
pub fn env_vars<'a>(container: &'a ContainerRef<'a>) -> impl Iterator<Item = EnvVar<'a>> + 'a {
    container
        .value
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
        .map(move |(i, value)| EnvVar {
            name: value.get("name").and_then(Value::as_str).unwrap_or(""),
            value,
            path: container.path.key("env").index(i),
        })
}

/// A hostPath volume of a pod spec that at least one container mounts.
pub struct MountedHostPath<'a> {
    pub volume: &'a str,
    /// `spec.volumes[i].hostPath.path` as written.
    pub host_path: &'a str,
    /// `...volumes[i].hostPath.path`
    pub path: FieldPath,
    /// The containers (init, regular, ephemeral) whose `volumeMounts` name the volume.
    pub containers: Vec<&'a str>,
}

impl MountedHostPath<'_> {
    /// `container "a"` or `containers "a" and "b"`: who mounts it, for a message.
    pub fn mounted_by(&self) -> String {
        let plural = if self.containers.len() == 1 { "" } else { "s" };
        format!("container{plural} {}", quoted_list(&self.containers))
    }
}

/// The hostPath volumes of `pod` that some container mounts (a volume no container mounts gives
/// nothing inside the pod).
pub fn mounted_host_paths<'a>(pod: &PodTemplate<'a>) -> Vec<MountedHostPath<'a>> {
    let volumes = pod.spec.get("volumes").and_then(Value::as_array);
    let mut out = Vec::new();
    for (i, volume) in volumes.into_iter().flatten().enumerate() {
        let Some(host_path) = volume.pointer("/hostPath/path").and_then(Value::as_str) else {
            continue;
        };
        let name = volume.get("name").and_then(Value::as_str).unwrap_or("");
        let containers: Vec<&str> = pod
            .containers()
            .filter(|c| {
                c.value
                    .get("volumeMounts")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|m| m.get("name").and_then(Value::as_str) == Some(name))
            })
            .map(|c| c.name)
            .collect();
        if containers.is_empty() {
            continue;
        }
        out.push(MountedHostPath {
            volume: name,
            host_path,
            path: pod
                .spec_path
                .key("volumes")
                .index(i)
                .key("hostPath")
                .key("path"),
            containers,
        });
    }
    out
}

/// Whether a workload runs to completion, so that probes have no use: Jobs, CronJobs, and Pods
/// a Job created (an owner reference of kind Job).
pub fn runs_to_completion(object: &kubevigil_model::Object) -> bool {
    matches!(object.kind.as_str(), "Job" | "CronJob")
        || object
            .value
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|o| o.get("kind").and_then(Value::as_str) == Some("Job"))
}

/// Reports every regular container of a long-running workload without `probe` (`livenessProbe`,
/// `readinessProbe`). Init containers (sidecars included) and ephemeral containers are skipped:
/// ephemeral containers may not set probes, and an init container's probes only matter for a
/// sidecar, whose main container is judged here. With `per_pod`, nothing is reported when some
/// regular container has the probe (a pod is ready only when all its containers are, so one
/// readiness probe already gates the pod).
pub fn report_missing_probe(
    object: &kubevigil_model::Object,
    probe: &str,
    per_pod: bool,
    consequence: &str,
    out: &mut crate::Emitter,
) {
    let Some(pod) = kubevigil_model::pod_template(object) else {
        return;
    };
    if runs_to_completion(object) {
        return;
    }
    let regular = || {
        pod.containers()
            .filter(|c| c.kind == kubevigil_model::ContainerKind::Regular)
    };
    let has_probe = |c: &ContainerRef| c.value.get(probe).is_some_and(Value::is_object);
    if per_pod && regular().any(|c| has_probe(&c)) {
        return;
    }
    for c in regular() {
        if has_probe(&c) {
            continue;
        }
        out.emit(
            object,
            &c.path,
            format!("container {:?} has no {probe}: {consequence}", c.name),
        );
    }
}

/// `"a"`, `"a" and "b"`, `"a", "b" and "c"`: names for a message.
pub fn quoted_list(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    match quoted.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
    }
}

/// Findings of `check` over `fixtures/<id>/<kind>/` with `config`: for tests that the fixture
/// harness cannot express (a check staying silent without its configuration).
#[cfg(test)]
pub(crate) fn fixture_findings(
    check: &'static dyn Check<Config>,
    id: &str,
    kind: &str,
    config: &crate::Config,
) -> Vec<kubevigil_model::Finding> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(id)
        .join(kind);
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let loaded = kubevigil_model::load_paths(&files, &kubevigil_model::LoadOptions::default());
    assert!(!loaded.inventory.objects.is_empty());
    crate::run_scan(&loaded.inventory, config, &[check], Vec::new(), None).findings
}
