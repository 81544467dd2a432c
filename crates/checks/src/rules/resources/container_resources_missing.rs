use std::collections::{HashMap, HashSet};

use kubevigil_model::{ContainerKind, Objects, Severity, pod_template};
use serde_json::Value;

use crate::{Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct ContainerResourcesMissing;

static META: RuleMeta = RuleMeta {
    id: "container-resources-missing",
    title: "Container without CPU/memory requests or limits",
    severity: Severity::Medium,
    category: Category::Resources,
    doc: include_str!("container_resources_missing.md"),
    remediation: "Set resources.requests and resources.limits for cpu and memory on every container (or give the namespace a LimitRange with defaults).",
    references: &[
        Ref {
            framework: NSA,
            id: "Resource policies",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1499",
            url: "https://attack.mitre.org/techniques/T1499/",
        },
    ],
};

const REQUIRED: [(&str, &str); 4] = [
    ("requests", "cpu"),
    ("requests", "memory"),
    ("limits", "cpu"),
    ("limits", "memory"),
];

/// `(section, resource)` pairs that a namespace's LimitRanges fill in for containers that omit
/// them. Items of type Container are defaulted as pkg/apis/core/v1/defaults.go
/// `SetDefaults_LimitRangeItem` does (default limit ← max; default request ← default limit, then
/// min), then applied by the LimitRanger admission plugin
/// (plugin/pkg/admission/limitranger/admission.go, `defaultContainerResourceRequirements`).
fn limit_range_defaults(
    objects: &dyn Objects,
) -> HashMap<Option<&str>, HashSet<(&'static str, String)>> {
    let mut out: HashMap<Option<&str>, HashSet<(&'static str, String)>> = HashMap::new();
    for lr in objects
        .all()
        .filter(|o| o.kind == "LimitRange" && o.api_version == "v1")
    {
        let items = lr.value.pointer("/spec/limits").and_then(Value::as_array);
        for item in items.into_iter().flatten() {
            if item.get("type").and_then(Value::as_str) != Some("Container") {
                continue;
            }
            let keys = |field: &str| -> Vec<String> {
                item.get(field)
                    .and_then(Value::as_object)
                    .map(|m| m.keys().cloned().collect())
                    .unwrap_or_default()
            };
            let set = out.entry(lr.namespace.as_deref()).or_default();
            for k in keys("default").into_iter().chain(keys("max")) {
                set.insert(("limits", k.clone()));
                set.insert(("requests", k));
            }
            for k in keys("defaultRequest").into_iter().chain(keys("min")) {
                set.insert(("requests", k));
            }
        }
    }
    out
}

impl Check<Config> for ContainerResourcesMissing {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "LimitRange" || kubevigil_model::is_workload_kind(kind)
    }

    fn check_cluster(&self, _: &Config, objects: &dyn Objects, out: &mut Emitter) {
        let defaults = limit_range_defaults(objects);
        for object in objects.all() {
            let Some(pod) = pod_template(object) else {
                continue;
            };
            let from_limit_range = defaults.get(&object.namespace.as_deref());
            let has = |resources: Option<&Value>, section: &str, resource: &str| {
                resources
                    .and_then(|r| r.get(section))
                    .and_then(|s| s.get(resource))
                    .is_some_and(|v| !v.is_null())
            };
            let pod_level = pod.spec.get("resources");
            // Ephemeral containers may not set resources (validation rejects them).
            for c in pod
                .containers()
                .filter(|c| c.kind != ContainerKind::Ephemeral)
            {
                let own = c.value.get("resources");
                let missing: Vec<String> = REQUIRED
                    .iter()
                    .filter(|(section, resource)| {
                        let set = has(own, section, resource)
                            // SetDefaults_Pod (pkg/apis/core/v1/defaults.go): a missing request
                            // defaults to the container's limit.
                            || (*section == "requests" && has(own, "limits", resource))
                            // Pod-level resources bound the containers that set none.
                            || has(pod_level, section, resource)
                            || from_limit_range
                                .is_some_and(|d| d.contains(&(*section, resource.to_string())));
                        !set
                    })
                    .map(|(section, resource)| {
                        format!("{resource} {}", section.trim_end_matches('s'))
                    })
                    .collect();
                if missing.is_empty() {
                    continue;
                }
                out.emit(
                    object,
                    &c.path.key("resources"),
                    format!("container {:?} has no {}", c.name, missing.join(", ")),
                );
            }
        }
    }
}
