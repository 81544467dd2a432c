use kubevigil_image::osv::Severity as VulnSeverity;
use kubevigil_model::Object;
use kubevigil_model::{Severity, pod_template};

use crate::{Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct ImageVulnerable;

pub const ID: &str = "image-vulnerable";

static META: RuleMeta = RuleMeta {
    id: ID,
    title: "Image has known vulnerabilities",
    severity: Severity::Critical,
    category: Category::Images,
    doc: include_str!("image_vulnerable.md"),
    remediation: "Rebuild the image on a patched base image (or upgrade the named packages to their fixed versions), push it, and roll the workload to the new digest.",
    references: &[
        Ref {
            framework: NSA,
            id: "Container image security",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1190",
            url: "https://attack.mitre.org/techniques/T1190/",
        },
    ],
};

/// The finding's severity: the image's worst vulnerability (one of unknown severity counts as
/// low: it is known to affect the package, not how much).
fn severity_of(worst: VulnSeverity) -> Severity {
    match worst {
        VulnSeverity::Critical => Severity::Critical,
        VulnSeverity::High => Severity::High,
        VulnSeverity::Medium => Severity::Medium,
        VulnSeverity::Low | VulnSeverity::Unknown => Severity::Low,
    }
}

impl Check<Config> for ImageVulnerable {
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
        let Some(scans) = config.images.scans.as_deref() else {
            return;
        };
        let Some(pod) = pod_template(object) else {
            return;
        };
        for c in pod.containers() {
            let Some(image) = c.value.get("image").and_then(|v| v.as_str()) else {
                continue;
            };
            let Some(summary) = scans.get(image) else {
                continue;
            };
            let Some(worst) = summary.worst() else {
                continue;
            };
            out.emit_with_severity(
                object,
                &c.path.key("image"),
                format!(
                    "container {:?} image {image:?} has {}",
                    c.name,
                    summary.describe(config.images.now_ms)
                ),
                severity_of(worst),
            );
        }
    }
}
