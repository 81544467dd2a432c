//! The registry of built-in checks: one module per check, documentation beside it.

pub mod credentials;
pub mod exposure;
pub mod image_ref;
pub mod images;
pub mod placement;
pub mod resources;
pub mod sensitive_data;

use kubevigil_model::{ContainerRef, FieldPath};
use serde_json::Value;

use crate::{Check, Config};

/// Every built-in check. Add new checks here.
pub static ALL: &[&dyn Check<Config>] = &[
    &images::image_tag_latest::ImageTagLatest,
    &images::image_not_pinned_by_digest::ImageNotPinnedByDigest,
    &images::image_pull_policy_mutable_tag::ImagePullPolicyMutableTag,
    &images::image_registry_not_allowed::ImageRegistryNotAllowed,
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
