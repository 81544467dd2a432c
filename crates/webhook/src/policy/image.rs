//! Image policy: allowed registries, no `:latest`, a tag required, a digest required.
//!
//! Applies to Pods (create, and on update to containers whose image changed, e.g. ephemeral
//! containers added through the `ephemeralcontainers` subresource) and to pod templates of
//! workload resources. References are parsed with `kubevigil_checks::rules::image_ref`
//! (distribution/reference normalisation), the same parser `kubevigil scan` uses, and judged
//! with its predicates (`allowed_by_any`, `is_pinned`, `latest_tag`), which the scan's image
//! checks call too: both give the same verdict on the same reference, each in its own words.

use kubevigil_checks::rules::image_ref::{ImageRef, LatestTag};
use kubevigil_model::spec_containers;
use serde::Deserialize;
use serde_json::Value;

use super::pod_security::IGNORED_POD_SUBRESOURCES;
use super::{Decision, is_pod_controller, is_resource, pod_template};
use crate::review::{AdmissionRequest, Operation, Status};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImagePolicy {
    /// Registry hosts or `registry/path` prefixes; empty admits every registry.
    #[serde(default)]
    pub allowed_registries: Vec<String>,
    /// Refuse the `latest` tag (a digest-pinned reference is accepted whatever its tag).
    #[serde(default = "yes")]
    pub forbid_latest: bool,
    /// Refuse references with neither tag nor digest.
    #[serde(default = "yes")]
    pub require_tag: bool,
    #[serde(default)]
    pub require_digest: bool,
}

fn yes() -> bool {
    true
}

impl Default for ImagePolicy {
    fn default() -> Self {
        ImagePolicy {
            allowed_registries: Vec::new(),
            forbid_latest: true,
            require_tag: true,
            require_digest: false,
        }
    }
}

impl ImagePolicy {
    pub fn validate(&self, req: &AdmissionRequest) -> Decision {
        let Some(judged) = judged_images(req) else {
            return Decision::skip();
        };
        let mut problems = Vec::new();
        for (container, image) in judged {
            if let Some(why) = self.problem(image) {
                problems.push(format!("container {container:?}: image {image:?} {why}"));
            }
        }
        if problems.is_empty() {
            Decision::allow()
        } else {
            Decision::deny(Status::forbidden(
                &req.resource,
                &req.name,
                &format!("image policy: {}", problems.join("; ")),
            ))
        }
    }

    /// Why an image reference is refused, or `None`.
    pub fn problem(&self, image: &str) -> Option<String> {
        let r = ImageRef::parse(image);
        if !r.allowed_by_any(&self.allowed_registries) {
            return Some(format!(
                "is not from an allowed registry ({})",
                self.allowed_registries.join(", ")
            ));
        }
        if self.require_digest && !r.is_pinned() {
            return Some("is not pinned by digest".into());
        }
        match r.latest_tag() {
            Some(LatestTag::Latest) if self.forbid_latest => Some("uses the latest tag".into()),
            Some(LatestTag::Missing) if self.require_tag || self.forbid_latest => {
                Some("has no tag (means latest)".into())
            }
            _ => None,
        }
    }
}

/// The `(container, image)` pairs an image policy judges in a request, or `None` when it does not
/// look at the request: Pods (CREATE, and UPDATE of the pod or of a subresource Pod Security does
/// not ignore, e.g. `ephemeralcontainers`) and pod controllers (no subresource). On UPDATE only
/// images not already on the old object: a policy change must not block unrelated updates.
/// Shared by the image policy and the image vulnerability policy.
pub(crate) fn judged_images(req: &AdmissionRequest) -> Option<Vec<(&str, &str)>> {
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return None;
    }
    let is_pod = is_resource(&req.resource, "", "pods");
    if is_pod {
        if IGNORED_POD_SUBRESOURCES.contains(&req.sub_resource.as_str()) {
            return None;
        }
    } else if !is_pod_controller(&req.resource) || !req.sub_resource.is_empty() {
        return None;
    }
    let Some((_, spec)) = pod_template(req, &req.object) else {
        return Some(Vec::new());
    };
    let old_images: Vec<&str> = match (req.operation, pod_template(req, &req.old_object)) {
        (Operation::Update, Some((_, old))) => images(old).map(|(_, i)| i).collect(),
        _ => Vec::new(),
    };
    Some(
        images(spec)
            .filter(|(_, image)| !old_images.contains(image))
            .collect(),
    )
}

/// `(name, image)` of every container (init, regular, ephemeral), `""` when absent.
fn images(spec: &Value) -> impl Iterator<Item = (&str, &str)> {
    spec_containers(spec).map(|(_, _, c)| {
        (
            c.get("name").and_then(Value::as_str).unwrap_or(""),
            c.get("image").and_then(Value::as_str).unwrap_or(""),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod_req(op: &str, images: &[&str], old: &[&str]) -> AdmissionRequest {
        let pod = |imgs: &[&str]| json!({"spec": {"containers": imgs.iter().enumerate().map(|(i, im)| json!({"name": format!("c{i}"), "image": im})).collect::<Vec<_>>()}});
        serde_json::from_value(json!({
            "uid": "1", "operation": op, "name": "p", "namespace": "ns",
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "object": pod(images), "oldObject": if old.is_empty() { Value::Null } else { pod(old) },
        }))
        .unwrap()
    }

    #[test]
    fn registries_tags_and_digests() {
        let p = ImagePolicy {
            allowed_registries: vec!["ghcr.io/acme".into(), "docker.io/library".into()],
            ..Default::default()
        };
        assert_eq!(p.problem("nginx:1.27"), None);
        assert_eq!(p.problem("ghcr.io/acme/api:v1"), None);
        assert!(
            p.problem("ghcr.io/acme-evil/api:v1")
                .unwrap()
                .contains("not from an allowed registry")
        );
        assert_eq!(
            p.problem("nginx:latest").as_deref(),
            Some("uses the latest tag")
        );
        assert_eq!(
            p.problem("nginx").as_deref(),
            Some("has no tag (means latest)")
        );
        assert_eq!(p.problem("nginx@sha256:abc"), None);
        let strict = ImagePolicy {
            require_digest: true,
            ..Default::default()
        };
        assert_eq!(
            strict.problem("nginx:1.27").as_deref(),
            Some("is not pinned by digest")
        );
        assert_eq!(strict.problem("nginx:latest@sha256:abc"), None);
        let lax = ImagePolicy {
            forbid_latest: false,
            require_tag: false,
            ..Default::default()
        };
        assert_eq!(lax.problem("nginx"), None);
        assert_eq!(lax.problem("nginx:latest"), None);
        // Either setting refuses a missing tag: it means latest.
        for (forbid_latest, require_tag) in [(false, true), (true, false)] {
            let p = ImagePolicy {
                forbid_latest,
                require_tag,
                ..Default::default()
            };
            assert_eq!(
                p.problem("nginx").as_deref(),
                Some("has no tag (means latest)"),
                "forbid_latest {forbid_latest}, require_tag {require_tag}"
            );
        }
        let tag_only = ImagePolicy {
            forbid_latest: false,
            ..Default::default()
        };
        assert_eq!(tag_only.problem("nginx:latest"), None);
    }

    /// A policy configured as `image: {}` keeps both defaults on.
    #[test]
    fn omitted_settings_default_to_forbidding_latest_and_requiring_a_tag() {
        let p: ImagePolicy = serde_json::from_value(json!({})).unwrap();
        assert!(p.forbid_latest && p.require_tag && !p.require_digest);
        assert!(p.allowed_registries.is_empty());
    }

    /// Subresources of a controller (`deployments/scale`, `/status`) carry no pod template to
    /// judge: not looked at.
    #[test]
    fn controller_subresources_are_not_judged() {
        let mut r: AdmissionRequest = serde_json::from_value(json!({
            "uid": "1", "operation": "UPDATE", "name": "d", "namespace": "ns",
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "subResource": "status",
            "object": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:latest"}]}}}},
        }))
        .unwrap();
        assert!(ImagePolicy::default().validate(&r).not_applicable);
        r.sub_resource.clear();
        assert!(!ImagePolicy::default().validate(&r).allowed);
    }

    #[test]
    fn denial_message_and_update_only_judges_new_images() {
        let p = ImagePolicy::default();
        let d = p.validate(&pod_req("CREATE", &["nginx:latest"], &[]));
        assert_eq!(
            d.status.unwrap().message,
            r#"pods "p" is forbidden: image policy: container "c0": image "nginx:latest" uses the latest tag"#
        );
        assert!(
            p.validate(&pod_req("UPDATE", &["nginx:latest"], &["nginx:latest"]))
                .allowed
        );
        assert!(
            !p.validate(&pod_req("UPDATE", &["nginx:latest"], &["nginx:1.0"]))
                .allowed
        );
    }
}
