use kubevigil_model::Object;
use kubevigil_model::{Severity, pod_template};
use serde_json::Value;

use crate::rules::image_ref::ImageRef;
use crate::{CIS, Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct ImageNotPinnedByDigest;

static META: RuleMeta = RuleMeta {
    id: "image-not-pinned-by-digest",
    title: "Image is not pinned by digest",
    severity: Severity::Low,
    category: Category::Images,
    doc: include_str!("image_not_pinned_by_digest.md"),
    remediation: "Reference the image by digest (name:tag@sha256:...), e.g. with `crane digest` or your CI's image build output, and let a bot such as Renovate bump it.",
    references: &[
        Ref {
            framework: NSA,
            id: "Building secure container images",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: CIS,
            id: "5.5.1",
            url: "",
        },
        Ref {
            framework: MITRE,
            id: "T1525",
            url: "https://attack.mitre.org/techniques/T1525/",
        },
    ],
};

impl Check<Config> for ImageNotPinnedByDigest {
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
            if image.is_empty() || ImageRef::parse(image).is_pinned() {
                continue;
            }
            out.emit(
                object,
                &c.path.key("image"),
                format!(
                    "container {:?} image {image:?} is not pinned by digest: the tag can be moved to other content",
                    c.name
                ),
            );
        }
    }
}
