//! Namespace-aware decisions: what the PodSecurity admission plugin does with a pod or a
//! workload created in a namespace, and what it warns when a namespace's enforce label changes.
//!
//! Upstream: `admission/admission.go` (`ValidatePod`, `ValidatePodController`, `EvaluatePod`,
//! `EvaluatePodsInNamespace`, `decoratePodWarnings`, `exemptNamespaceWarning`).

use std::collections::HashMap;

use crate::api::{Level, LevelVersion, Policy, policy_to_evaluate};
use crate::config::PodSecurityConfiguration;
use crate::{Evaluation, PodInput, highest_level};

pub const AUDIT_VIOLATIONS_ANNOTATION: &str = "pod-security.kubernetes.io/audit-violations";
pub const ENFORCE_POLICY_ANNOTATION: &str = "pod-security.kubernetes.io/enforce-policy";
pub const EXEMPT_ANNOTATION: &str = "pod-security.kubernetes.io/exempt";

/// A namespace's effective policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamespacePolicy {
    pub name: String,
    pub policy: Policy,
    /// Invalid pod-security labels, as upstream formats them.
    pub errors: Vec<String>,
    /// Listed in the configuration's exempt namespaces.
    pub exempt: bool,
}

/// Resolves a namespace's labels (non-string values are ignored) over the configured defaults.
pub fn resolve_namespace(
    name: &str,
    labels: Option<&serde_json::Map<String, serde_json::Value>>,
    config: &PodSecurityConfiguration,
) -> NamespacePolicy {
    let get = |k: &str| labels.and_then(|l| l.get(k)).and_then(|v| v.as_str());
    let (policy, errs) = policy_to_evaluate(get, &config.defaults);
    NamespacePolicy {
        name: name.to_string(),
        policy,
        errors: errs.iter().map(ToString::to_string).collect(),
        exempt: config.exempt_namespace(name),
    }
}

/// Why a request was not evaluated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exemption {
    Namespace,
    User,
    RuntimeClass,
}

impl Exemption {
    /// The value of the `pod-security.kubernetes.io/exempt` audit annotation.
    pub fn as_str(self) -> &'static str {
        match self {
            Exemption::Namespace => "namespace",
            Exemption::User => "user",
            Exemption::RuntimeClass => "runtimeClass",
        }
    }
}

/// The evaluations of one pod or workload under its namespace's policy.
#[derive(Debug, Clone)]
pub struct Modes {
    pub enforce: Evaluation,
    pub audit: Evaluation,
    pub warn: Evaluation,
}

/// What admission does with a create request for a pod or a workload.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub exempt: Option<Exemption>,
    /// `None` when exempt.
    pub modes: Option<Modes>,
    /// Rejected: only Pods are enforced; workloads are only warned and audited
    /// (`ValidatePodController` passes `enforce=false`), though their pods would be rejected.
    pub denied: bool,
    /// The rejection message (`violates PodSecurity ...`), for a denied Pod.
    pub message: Option<String>,
    /// Warnings returned to the client (none when the request is denied).
    pub warnings: Vec<String>,
    /// Audit annotations the plugin adds, sorted by key.
    pub audit_annotations: Vec<(String, String)>,
    /// The strictest level the pod satisfies at its namespace's enforce version.
    pub highest_level: Level,
}

/// Mirrors `ValidatePod` / `ValidatePodController` + `EvaluatePod` for a create request.
pub fn admit(
    config: &PodSecurityConfiguration,
    ns: &NamespacePolicy,
    username: Option<&str>,
    pod: &PodInput,
    is_pod: bool,
) -> Verdict {
    let highest = highest_level(ns.policy.enforce.version, &pod.meta, &pod.spec);
    let exempt = if ns.exempt {
        Some(Exemption::Namespace)
    } else if username.is_some_and(|u| config.exempt_user(u)) {
        Some(Exemption::User)
    } else if config.exempt_runtime_class(pod.spec.runtime_class_name.as_deref()) {
        Some(Exemption::RuntimeClass)
    } else {
        None
    };
    if let Some(e) = exempt {
        return Verdict {
            exempt: Some(e),
            modes: None,
            denied: false,
            message: None,
            warnings: Vec::new(),
            audit_annotations: vec![(EXEMPT_ANNOTATION.to_string(), e.as_str().to_string())],
            highest_level: highest,
        };
    }

    let mut cache: HashMap<LevelVersion, Evaluation> = HashMap::new();
    let mut eval = |lv: LevelVersion| cache.entry(lv).or_insert_with(|| pod.evaluate(lv)).clone();
    let p = ns.policy;
    let modes = Modes {
        enforce: eval(p.enforce),
        audit: eval(p.audit),
        warn: eval(p.warn),
    };

    let mut annotations = Vec::new();
    if !ns.errors.is_empty() {
        annotations.push((
            "error".to_string(),
            format!("Failed to parse policy: {}", aggregate(&ns.errors)),
        ));
    }
    let denied = is_pod && !modes.enforce.allowed();
    if is_pod {
        annotations.push((ENFORCE_POLICY_ANNOTATION.to_string(), p.enforce.to_string()));
    }
    if let Some(w) = modes.audit.warning() {
        annotations.push((AUDIT_VIOLATIONS_ANNOTATION.to_string(), w));
    }
    annotations.sort();
    let warnings = if denied {
        Vec::new()
    } else {
        modes.warn.warning().into_iter().collect()
    };
    Verdict {
        exempt: None,
        message: if denied {
            modes.enforce.message()
        } else {
            None
        },
        modes: Some(modes),
        denied,
        warnings,
        audit_annotations: annotations,
        highest_level: highest,
    }
}

/// `utilerrors.Aggregate.Error()`: one error as is, several as `[a, b]`.
pub fn aggregate(errs: &[String]) -> String {
    if errs.len() == 1 {
        errs[0].clone()
    } else {
        format!("[{}]", errs.join(", "))
    }
}

/// One pod evaluated for a namespace dry run.
pub struct DryRunPod<'a> {
    pub name: &'a str,
    pub evaluation: &'a Evaluation,
}

/// `EvaluatePodsInNamespace`: the warnings returned when `namespace`'s enforce level is set to
/// `enforce`. Pods with identical forbidden reasons are grouped under the lexically first name
/// (`name (and N other pods): reasons`), and the pod lines are sorted.
pub fn namespace_dry_run_warnings(
    namespace: &str,
    enforce: LevelVersion,
    pods: &[DryRunPod<'_>],
) -> Vec<String> {
    let mut order: Vec<String> = Vec::new();
    let mut counts: HashMap<String, (String, usize)> = HashMap::new();
    for pod in pods {
        if pod.evaluation.allowed() {
            continue;
        }
        let warning = pod.evaluation.forbidden_reason();
        match counts.get_mut(&warning) {
            Some((first, n)) => {
                if pod.name < first.as_str() {
                    *first = pod.name.to_string();
                }
                *n += 1;
            }
            None => {
                order.push(warning.clone());
                counts.insert(warning, (pod.name.to_string(), 1));
            }
        }
    }
    let mut warnings = Vec::new();
    if !order.is_empty() {
        warnings.push(format!(
            "existing pods in namespace {} violate the new PodSecurity enforce level {}",
            crate::api::go_quote(namespace),
            crate::api::go_quote(&enforce.to_string())
        ));
    }
    let mut lines: Vec<String> = order
        .iter()
        .map(|w| {
            let (name, n) = &counts[w];
            match n {
                1 => format!("{name}: {w}"),
                2 => format!("{name} (and 1 other pod): {w}"),
                _ => format!("{name} (and {} other pods): {w}", n - 1),
            }
        })
        .collect();
    lines.sort();
    warnings.extend(lines);
    warnings
}

/// `exemptNamespaceWarning`: the warning when pod-security labels are set on an exempt
/// namespace; `None` when the policy is fully privileged or equals the defaults.
pub fn exempt_namespace_warning(
    ns: &NamespacePolicy,
    labels: Option<&serde_json::Map<String, serde_json::Value>>,
    defaults: &Policy,
) -> Option<String> {
    let p = &ns.policy;
    if p.fully_privileged() || p.equivalent(defaults) {
        return None;
    }
    let has = |k: &str| labels.is_some_and(|l| l.contains_key(k));
    let mut parts = Vec::new();
    use crate::api::*;
    for (name, lv, level_label, version_label) in [
        (
            "enforce",
            p.enforce,
            ENFORCE_LEVEL_LABEL,
            ENFORCE_VERSION_LABEL,
        ),
        ("audit", p.audit, AUDIT_LEVEL_LABEL, AUDIT_VERSION_LABEL),
        ("warn", p.warn, WARN_LEVEL_LABEL, WARN_VERSION_LABEL),
    ] {
        if lv.level != Level::Privileged && (has(level_label) || has(version_label)) {
            parts.push(format!("{name}={lv}"));
        }
    }
    Some(format!(
        "namespace {} is exempt from Pod Security, and the policy ({}) will be ignored",
        go_quote(&ns.name),
        parts.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Version;
    use serde_json::json;

    fn pod(spec: serde_json::Value) -> PodInput {
        PodInput::from_values(&json!({}), &spec, true).unwrap()
    }

    fn labels(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn enforce_denies_pods_and_suppresses_warnings() {
        let cfg = PodSecurityConfiguration::default();
        let l = labels(json!({
            "pod-security.kubernetes.io/enforce": "baseline",
            "pod-security.kubernetes.io/enforce-version": "v1.29",
            "pod-security.kubernetes.io/warn": "restricted",
        }));
        let ns = resolve_namespace("team", Some(&l), &cfg);
        let p = pod(
            json!({"hostNetwork": true, "containers": [{"name": "app", "securityContext": {"privileged": true}}]}),
        );
        let v = admit(&cfg, &ns, None, &p, true);
        assert!(v.denied);
        assert_eq!(
            v.message.as_deref(),
            Some(
                r#"violates PodSecurity "baseline:v1.29": host namespaces (hostNetwork=true), privileged (container "app" must not set securityContext.privileged=true)"#
            )
        );
        assert!(v.warnings.is_empty());
        assert_eq!(v.highest_level, Level::Privileged);

        // The same template in a Deployment is not enforced, only warned.
        let v = admit(
            &cfg,
            &ns,
            None,
            &PodInput::from_values(&json!({}), &json!({"containers": [{"name": "app"}]}), false)
                .unwrap(),
            false,
        );
        assert!(!v.denied);
        assert_eq!(v.highest_level, Level::Baseline);
        assert_eq!(v.warnings.len(), 1);
        assert!(v.warnings[0].starts_with(r#"would violate PodSecurity "restricted:latest": allowPrivilegeEscalation != false"#), "{:?}", v.warnings);
    }

    #[test]
    fn exemptions_short_circuit_in_upstream_order() {
        let cfg = crate::config::PodSecurityConfiguration {
            defaults: Policy {
                enforce: LevelVersion::new(Level::Restricted, Version::Latest),
                ..Policy::default()
            },
            exemptions: crate::config::Exemptions {
                usernames: vec!["admin".into()],
                namespaces: vec!["kube-system".into()],
                runtime_classes: vec!["kata".into()],
            },
        };
        let bad =
            pod(json!({"containers": [{"name": "a", "securityContext": {"privileged": true}}]}));
        let sys = resolve_namespace("kube-system", None, &cfg);
        assert_eq!(
            admit(&cfg, &sys, Some("admin"), &bad, true).exempt,
            Some(Exemption::Namespace)
        );
        let other = resolve_namespace("apps", None, &cfg);
        assert_eq!(
            admit(&cfg, &other, Some("admin"), &bad, true).exempt,
            Some(Exemption::User)
        );
        let v = admit(&cfg, &other, Some("someone"), &bad, true);
        assert!(v.denied, "defaults apply to unlabelled namespaces");
        let kata = pod(
            json!({"runtimeClassName": "kata", "containers": [{"name": "a", "securityContext": {"privileged": true}}]}),
        );
        let v = admit(&cfg, &other, None, &kata, true);
        assert_eq!(v.exempt, Some(Exemption::RuntimeClass));
        assert_eq!(
            v.audit_annotations,
            vec![(EXEMPT_ANNOTATION.into(), "runtimeClass".into())]
        );
    }

    #[test]
    fn invalid_labels_fail_closed_for_enforce_and_are_annotated() {
        let cfg = PodSecurityConfiguration::default();
        let l = labels(
            json!({"pod-security.kubernetes.io/enforce": "strict", "pod-security.kubernetes.io/audit": "strict"}),
        );
        let ns = resolve_namespace("x", Some(&l), &cfg);
        assert_eq!(ns.policy.enforce.to_string(), "restricted:latest");
        assert_eq!(ns.policy.audit.to_string(), "privileged:latest");
        let v = admit(
            &cfg,
            &ns,
            None,
            &pod(json!({"containers": [{"name": "a"}]})),
            true,
        );
        assert!(v.denied);
        let err = &v
            .audit_annotations
            .iter()
            .find(|(k, _)| k == "error")
            .unwrap()
            .1;
        assert!(err.starts_with("Failed to parse policy: [metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"strict\""), "{err}");
    }

    #[test]
    fn dry_run_groups_pods_by_reasons() {
        let lv = LevelVersion::new(Level::Baseline, Version::Latest);
        let bad = pod(json!({"hostPID": true, "containers": [{"name": "a"}]})).evaluate(lv);
        let worse = pod(json!({"hostPID": true, "containers": [{"name": "a", "securityContext": {"privileged": true}}]})).evaluate(lv);
        let ok = pod(json!({"containers": [{"name": "a"}]})).evaluate(lv);
        let pods = [
            DryRunPod {
                name: "web-2",
                evaluation: &bad,
            },
            DryRunPod {
                name: "web-1",
                evaluation: &bad,
            },
            DryRunPod {
                name: "db",
                evaluation: &worse,
            },
            DryRunPod {
                name: "web-3",
                evaluation: &bad,
            },
            DryRunPod {
                name: "fine",
                evaluation: &ok,
            },
        ];
        assert_eq!(
            namespace_dry_run_warnings("prod", lv, &pods),
            vec![
                r#"existing pods in namespace "prod" violate the new PodSecurity enforce level "baseline:latest""#,
                "db: host namespaces, privileged",
                "web-1 (and 2 other pods): host namespaces",
            ]
        );
        assert!(namespace_dry_run_warnings("prod", lv, &pods[4..]).is_empty());
    }

    #[test]
    fn exempt_namespace_warning_lists_explicit_non_privileged_modes() {
        let cfg = PodSecurityConfiguration {
            exemptions: crate::config::Exemptions {
                namespaces: vec!["kube-system".into()],
                ..Default::default()
            },
            ..Default::default()
        };
        let l = labels(
            json!({"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn-version": "v1.30"}),
        );
        let ns = resolve_namespace("kube-system", Some(&l), &cfg);
        assert_eq!(
            exempt_namespace_warning(&ns, Some(&l), &cfg.defaults).as_deref(),
            Some(
                r#"namespace "kube-system" is exempt from Pod Security, and the policy (enforce=restricted:latest) will be ignored"#
            )
        );
    }
}
