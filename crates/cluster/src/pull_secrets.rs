//! The registry credentials of the image pull secrets that pods name (`imagePullSecrets`, their
//! own or their service account's), for pulling the images a cluster runs. Each Secret is read
//! with a list narrowed to its name: the read-only ClusterRole grants `list` on secrets, not
//! `get` (see [`crate::SECRETS_NOTE`]). Values never leave this function but as the docker
//! config JSON the image puller reads; errors name the Secret, never its content.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};

use crate::Connection;

/// A pull secret's credentials: `kubernetes.io/dockerconfigjson`'s `.dockerconfigjson`, or the
/// legacy `kubernetes.io/dockercfg`'s `.dockercfg` made into the same `{"auths": ...}` shape
/// (<https://kubernetes.io/docs/concepts/containers/images/#specifying-imagepullsecrets-on-a-pod>).
pub type DockerConfig = Vec<u8>;

/// The docker config of each `(namespace, name)` Secret, or why there is none.
pub async fn pull_secrets(
    conn: &Connection,
    refs: &[(String, String)],
) -> Vec<((String, String), Result<DockerConfig, String>)> {
    let mut out = Vec::with_capacity(refs.len());
    for (namespace, name) in refs {
        let api: Api<Secret> = Api::namespaced(conn.client.clone(), namespace);
        let params = ListParams::default().fields(&format!("metadata.name={name}"));
        let found = match api.list(&params).await {
            Ok(list) => list
                .items
                .into_iter()
                .next()
                .ok_or_else(|| "not found".to_string())
                .and_then(docker_config),
            Err(e) => Err(crate::chain(&e)),
        };
        out.push(((namespace.clone(), name.clone()), found));
    }
    out
}

fn docker_config(secret: Secret) -> Result<DockerConfig, String> {
    let data = secret.data.unwrap_or_default();
    if let Some(json) = data.get(".dockerconfigjson") {
        return Ok(json.0.clone());
    }
    if let Some(legacy) = data.get(".dockercfg") {
        let auths: serde_json::Value = serde_json::from_slice(&legacy.0)
            .map_err(|_| "its .dockercfg is not JSON".to_string())?;
        return Ok(serde_json::json!({ "auths": auths })
            .to_string()
            .into_bytes());
    }
    Err(format!(
        "type {:?} holds neither .dockerconfigjson nor .dockercfg",
        secret.type_.unwrap_or_default()
    ))
}

/// The image pull secrets (`namespace`, `name`) the pods of a workload are pulled with: its pod
/// spec's `imagePullSecrets`, then its service account's (`serviceAccountName`, else
/// `default`), which the ServiceAccount admission plugin copies into each pod
/// (<https://kubernetes.io/docs/tasks/configure-pod-container/configure-service-account/#add-imagepullsecrets-to-a-service-account>).
/// `service_account(namespace, name)` finds the ServiceAccount among the objects held.
pub fn pull_secret_refs<'a>(
    workload: &kubevigil_model::Object,
    service_account: impl Fn(&str, &str) -> Option<&'a kubevigil_model::Object>,
) -> Vec<(String, String)> {
    let Some(pod) = kubevigil_model::pod_template(workload) else {
        return Vec::new();
    };
    let namespace = workload.namespace.as_deref().unwrap_or("default");
    let account = pod
        .spec
        .get("serviceAccountName")
        .and_then(|v| v.as_str())
        .unwrap_or("default");
    let names = |value: &serde_json::Value| -> Vec<String> {
        value
            .get("imagePullSecrets")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|r| r.get("name").and_then(|n| n.as_str()).map(str::to_string))
            .collect()
    };
    let mut out: Vec<(String, String)> = Vec::new();
    let account = service_account(namespace, account).map(|a| names(&a.value));
    for name in names(pod.spec)
        .into_iter()
        .chain(account.into_iter().flatten())
    {
        let r = (namespace.to_string(), name);
        if !out.contains(&r) {
            out.push(r);
        }
    }
    out
}
