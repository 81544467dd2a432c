use kubevigil_model::Object;
use kubevigil_model::{Severity, pod_template};

use crate::rules::image_ref::{ImageRef, LatestTag};
use crate::{CIS, Category, Check, Config, Emitter, NSA, Ref, RuleMeta, Scope};

pub struct ImageTagLatest;

static META: RuleMeta = RuleMeta {
    id: "image-tag-latest",
    title: "Image uses the latest tag or no tag",
    severity: Severity::Medium,
    category: Category::Images,
    doc: include_str!("image_tag_latest.md"),
    remediation: "Use an explicit, immutable version tag (and preferably a digest), e.g. nginx:1.27.2@sha256:...",
    references: &[
        Ref {
            framework: NSA,
            id: "Container image security",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: CIS,
            id: "5.5.1",
            url: "",
        },
    ],
};

impl Check<Config> for ImageTagLatest {
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
            let Some(image) = c.value.get("image").and_then(|v| v.as_str()) else {
                continue;
            };
            let problem = match ImageRef::parse(image).latest_tag() {
                Some(LatestTag::Missing) => "has no tag (it resolves to :latest)",
                Some(LatestTag::Latest) => "uses the :latest tag",
                None => continue,
            };
            out.emit(
                object,
                &c.path.key("image"),
                format!("container {:?} image {image:?} {problem}", c.name),
            );
        }
    }
}
