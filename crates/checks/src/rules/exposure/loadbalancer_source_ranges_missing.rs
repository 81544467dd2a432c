use kubevigil_model::Object;
use kubevigil_model::{FieldPath, Severity};
use serde_json::Value;

use crate::{Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct LoadBalancerSourceRangesMissing;

static META: RuleMeta = RuleMeta {
    id: "loadbalancer-source-ranges-missing",
    title: "LoadBalancer Service open to any source",
    severity: Severity::Medium,
    category: Category::Exposure,
    doc: include_str!("loadbalancer_source_ranges_missing.md"),
    remediation: "Set spec.loadBalancerSourceRanges to the client networks that need access (or use an internal load balancer), and put public endpoints behind an Ingress or Gateway.",
    references: &[
        Ref {
            framework: NSA,
            id: "Network separation and hardening",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1190",
            url: "https://attack.mitre.org/techniques/T1190/",
        },
    ],
};

/// The annotation cloud providers read when `spec.loadBalancerSourceRanges` is empty
/// (k8s.io/api/core/v1 `AnnotationLoadBalancerSourceRangesKey`).
const SOURCE_RANGES_ANNOTATION: &str = "service.beta.kubernetes.io/load-balancer-source-ranges";

const ALLOW_ALL: &[&str] = &["0.0.0.0/0", "::/0"];

impl Check<Config> for LoadBalancerSourceRangesMissing {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "Service"
    }

    /// Effective ranges as k8s.io/cloud-provider/service/helpers `GetLoadBalancerSourceRanges`
    /// computes them: the spec field when non-empty, else the comma-separated annotation, else
    /// `0.0.0.0/0`.
    fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
        if object.api_version != "v1" {
            return;
        }
        if object.value.pointer("/spec/type").and_then(Value::as_str) != Some("LoadBalancer") {
            return;
        }
        let spec_ranges: Vec<&str> = object
            .value
            .pointer("/spec/loadBalancerSourceRanges")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::trim)
            .collect();
        let annotation = object
            .annotations()
            .get(SOURCE_RANGES_ANNOTATION)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty());
        let (ranges, path): (Vec<&str>, FieldPath) = if !spec_ranges.is_empty() {
            (
                spec_ranges,
                FieldPath::parse_keys("spec.loadBalancerSourceRanges"),
            )
        } else if let Some(a) = annotation {
            (
                a.split(',').map(str::trim).collect(),
                FieldPath::parse_keys("metadata.annotations").key(SOURCE_RANGES_ANNOTATION),
            )
        } else {
            out.emit(
                object,
                &FieldPath::parse_keys("spec.type"),
                "LoadBalancer Service sets neither spec.loadBalancerSourceRanges nor the load-balancer-source-ranges annotation: it accepts traffic from any address (0.0.0.0/0)".to_string(),
            );
            return;
        };
        if let Some(open) = ranges.iter().find(|r| ALLOW_ALL.contains(r)) {
            out.emit(
                object,
                &path,
                format!("LoadBalancer Service source ranges include {open}: it accepts traffic from any address"),
            );
        }
    }
}
