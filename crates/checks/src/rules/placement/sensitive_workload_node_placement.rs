use kubevigil_model::Object;
use kubevigil_model::{FieldPath, Severity, pod_template};
use serde_json::Value;

use crate::config::NodeLabel;
use crate::{Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct SensitiveWorkloadNodePlacement;

static META: RuleMeta = RuleMeta {
    id: "sensitive-workload-node-placement",
    title: "Sensitive workload does not require its dedicated nodes",
    severity: Severity::High,
    category: Category::Placement,
    doc: include_str!("sensitive_workload_node_placement.md"),
    remediation: "Require the configured node label (placement.nodeLabel) with spec.nodeSelector, or with a requiredDuringSchedulingIgnoredDuringExecution node affinity term carrying it in every nodeSelectorTerm; taint those nodes so other workloads stay off.",
    references: &[
        Ref {
            framework: NSA,
            id: "Worker node segmentation",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1611",
            url: "https://attack.mitre.org/techniques/T1611/",
        },
    ],
};

/// Whether a node selector requirement (core/v1 NodeSelectorRequirement) only admits nodes carrying
/// the label: `In` with every value equal to the required one (any values when no value is
/// required), or, when no value is required, `Exists`, `Gt` or `Lt` (which need the key too).
fn requirement_requires(expr: &Value, label: &NodeLabel) -> bool {
    if expr.get("key").and_then(Value::as_str) != Some(label.key.as_str()) {
        return false;
    }
    let values: Vec<&str> = expr
        .get("values")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    match (expr.get("operator").and_then(Value::as_str), &label.value) {
        (Some("In"), Some(v)) => !values.is_empty() && values.iter().all(|x| x == v),
        (Some("In"), None) => !values.is_empty(),
        (Some("Exists" | "Gt" | "Lt"), None) => true,
        _ => false,
    }
}

/// Why the pod spec does not pin the pod to labelled nodes, with the path to report; `None` when
/// it does. nodeSelector and required node affinity are ANDed by the scheduler, so either one
/// suffices; nodeSelectorTerms are ORed, so every term must carry the requirement
/// (k8s.io/component-helpers/scheduling/corev1/nodeaffinity `GetRequiredNodeAffinity`).
fn missing_requirement(
    spec: &Value,
    spec_path: &FieldPath,
    label: &NodeLabel,
) -> Option<(FieldPath, String)> {
    let node_selector = spec.get("nodeSelector").and_then(Value::as_object);
    if let Some(v) = node_selector
        .and_then(|s| s.get(&label.key))
        .and_then(Value::as_str)
        && label.value.as_deref().is_none_or(|want| want == v)
    {
        return None;
    }
    let terms_path = spec_path
        .key("affinity")
        .key("nodeAffinity")
        .key("requiredDuringSchedulingIgnoredDuringExecution")
        .key("nodeSelectorTerms");
    let terms = spec
        .pointer("/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")
        .and_then(Value::as_array)
        .filter(|t| !t.is_empty());
    if let Some(terms) = terms {
        let lacking = terms.iter().position(|term| {
            !term
                .get("matchExpressions")
                .and_then(Value::as_array)
                .is_some_and(|exprs| exprs.iter().any(|e| requirement_requires(e, label)))
        });
        return lacking.map(|i| {
            (
                terms_path.index(i),
                format!("required node affinity term {i} does not require it, and terms are ORed"),
            )
        });
    }
    if let Some(other) = node_selector
        .and_then(|s| s.get(&label.key))
        .and_then(Value::as_str)
    {
        return Some((
            spec_path.key("nodeSelector").key(&label.key),
            format!("nodeSelector asks for {}={other}", label.key),
        ));
    }
    let path = if node_selector.is_some() {
        spec_path.key("nodeSelector")
    } else {
        spec_path.key("affinity")
    };
    Some((
        path,
        "neither nodeSelector nor required node affinity requires it".to_string(),
    ))
}

impl Check<Config> for SensitiveWorkloadNodePlacement {
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
        let placement = &config.placement;
        let (Some(selector), Some(label)) = (&placement.sensitive_workloads, &placement.node_label)
        else {
            return;
        };
        let wanted = match &label.value {
            Some(v) => format!("{}={v}", label.key),
            None => label.key.clone(),
        };
        let Some(pod) = pod_template(object) else {
            return;
        };
        if !selector.matches(pod.labels()) {
            return;
        }
        if let Some((path, why)) = missing_requirement(pod.spec, pod.spec_path, label) {
            out.emit(
                object,
                &path,
                format!("pod labels mark this workload sensitive but it does not require node label {wanted}: {why}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::SensitiveWorkloadNodePlacement;
    use crate::Config;
    use crate::rules::fixture_findings;

    #[test]
    fn inactive_without_configuration() {
        let id = "sensitive-workload-node-placement";
        let findings = fixture_findings(
            &SensitiveWorkloadNodePlacement,
            id,
            "fail",
            &Config::default(),
        );
        assert!(findings.is_empty(), "{findings:#?}");
    }
}
