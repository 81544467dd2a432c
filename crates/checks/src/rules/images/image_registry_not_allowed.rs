use kubevigil_model::Object;
use kubevigil_model::{Severity, pod_template};
use serde_json::Value;

use crate::rules::image_ref::ImageRef;
use crate::{CIS, Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct ImageRegistryNotAllowed;

static META: RuleMeta = RuleMeta {
    id: "image-registry-not-allowed",
    title: "Image comes from a registry outside the allow-list",
    severity: Severity::High,
    category: Category::Images,
    doc: include_str!("image_registry_not_allowed.md"),
    remediation: "Mirror the image into an allowed registry (images.allowedRegistries in .kubevigil.yaml) and reference it from there, or extend the allow-list after review.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.5.1",
            url: "",
        },
        Ref {
            framework: NSA,
            id: "Building secure container images",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1195.002",
            url: "https://attack.mitre.org/techniques/T1195/002/",
        },
    ],
};

impl Check<Config> for ImageRegistryNotAllowed {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kubevigil_model::is_workload_kind(kind)
    }

    fn check_object(&self, config: &Config, object: &Object, out: &mut Emitter) {
        let allowed = &config.images.allowed_registries;
        if allowed.is_empty() {
            return;
        }
        let Some(pod) = pod_template(object) else {
            return;
        };
        for c in pod.containers() {
            let Some(image) = c.value.get("image").and_then(Value::as_str) else {
                continue;
            };
            if image.is_empty() {
                continue;
            }
            let r = ImageRef::parse(image);
            if r.allowed_by_any(allowed) {
                continue;
            }
            out.emit(
                object,
                &c.path.key("image"),
                format!(
                    "container {:?} image {image:?} resolves to {} which is not in the allowed registries ({})",
                    c.name,
                    r.normalized_name(),
                    allowed.join(", ")
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ImageRegistryNotAllowed;
    use crate::Config;
    use crate::rules::fixture_findings;

    #[test]
    fn inactive_without_allow_list() {
        let id = "image-registry-not-allowed";
        let findings = fixture_findings(&ImageRegistryNotAllowed, id, "fail", &Config::default());
        assert!(findings.is_empty(), "{findings:#?}");
    }
}
