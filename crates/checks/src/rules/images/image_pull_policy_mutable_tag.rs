use kubevigil_model::Object;
use kubevigil_model::{Severity, pod_template};
use serde_json::Value;

use crate::rules::image_ref::ImageRef;
use crate::{Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct ImagePullPolicyMutableTag;

static META: RuleMeta = RuleMeta {
    id: "image-pull-policy-mutable-tag",
    title: "Image with a mutable tag is not always pulled",
    severity: Severity::Low,
    category: Category::Images,
    doc: include_str!("image_pull_policy_mutable_tag.md"),
    remediation: "Pin the image by digest; otherwise set imagePullPolicy: Always so every node resolves the tag against the registry (and its admission and signature checks) at each start.",
    references: &[
        Ref {
            framework: NSA,
            id: "Building secure container images",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1525",
            url: "https://attack.mitre.org/techniques/T1525/",
        },
    ],
};

/// The pull policy the API server stores when the field is unset, as
/// pkg/apis/core/v1/defaults.go `SetDefaults_Container` computes it (also applied to ephemeral
/// containers): `Always` when the tag is `latest` (`parsers.ParseImageName` defaults a missing
/// tag to `latest` unless there is a digest), `IfNotPresent` otherwise.
fn default_pull_policy(image: &ImageRef<'_>) -> &'static str {
    let tag = match (image.tag, image.digest) {
        (Some(t), _) => t,
        (None, None) => "latest",
        (None, Some(_)) => "",
    };
    if tag == "latest" {
        "Always"
    } else {
        "IfNotPresent"
    }
}

impl Check<Config> for ImagePullPolicyMutableTag {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kubevigil_model::is_workload_kind(kind)
    }

    fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
        let Some(pod) = pod_template(object) else {
            return;
        };
        for c in pod.containers() {
            let Some(image) = c.value.get("image").and_then(Value::as_str) else {
                continue;
            };
            let r = ImageRef::parse(image);
            if image.is_empty() || r.is_pinned() {
                continue;
            }
            let explicit = c
                .value
                .get("imagePullPolicy")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty());
            let (policy, path, how) = match explicit {
                Some(p) => (p, c.path.key("imagePullPolicy"), ""),
                None => (
                    default_pull_policy(&r),
                    c.path.key("image"),
                    " (the default)",
                ),
            };
            if policy == "Always" {
                continue;
            }
            out.emit(
                object,
                &path,
                format!(
                    "container {:?} image {image:?} uses a mutable tag with imagePullPolicy {policy}{how}: nodes keep running whatever the tag pointed to when they first pulled it",
                    c.name
                ),
            );
        }
    }
}
