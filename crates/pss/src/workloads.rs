//! Pod Security over the workloads of a set of manifests, three ways: every workload at one
//! level; each workload under the policy of the namespace it lands in (resolved from the
//! Namespace objects among the manifests over the configured defaults); and the what-if
//! question "which workloads would be rejected if every namespace enforced this level?",
//! answered with the same [`admit`] decision.
//!
//! Upstream: `admission/admission.go` (`ValidatePod`, `ValidatePodController`,
//! `ValidateNamespace`, `EvaluatePodsInNamespace`).

use std::collections::BTreeMap;

use kubevigil_model::Object;
use serde_json::{Map, Value};

use crate::Evaluation;
use crate::admission::{
    self, DryRunPod, Exemption, NamespacePolicy, Verdict, admit, resolve_namespace,
};
use crate::api::{ENFORCE_LEVEL_LABEL, LevelVersion, Policy};
use crate::config::PodSecurityConfiguration;
use crate::scan::Evaluated;

/// Every workload evaluated at one level.
pub struct FixedLevel<'e, 'o> {
    pub level_version: LevelVersion,
    /// In input order.
    pub results: Vec<(&'e Evaluated<'o>, Evaluation)>,
}

impl<'e, 'o> FixedLevel<'e, 'o> {
    pub fn evaluate(evaluated: &'e [Evaluated<'o>], lv: LevelVersion) -> Self {
        FixedLevel {
            level_version: lv,
            results: evaluated.iter().map(|w| (w, w.pod.evaluate(lv))).collect(),
        }
    }

    pub fn denied(&self) -> usize {
        self.results.iter().filter(|(_, e)| !e.allowed()).count()
    }
}

/// The namespace a namespaced object lands in when its manifest does not say (as `kubectl
/// apply` without `-n` against the default context).
pub const DEFAULT_NAMESPACE: &str = "default";

/// The namespace `o` lands in.
pub fn namespace_of(o: &Object) -> &str {
    o.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
}

/// A namespace's policy and the Namespace object it came from (`None`: not among the
/// manifests, so the configured defaults apply).
#[derive(Debug)]
pub struct ResolvedNamespace<'a> {
    pub policy: NamespacePolicy,
    pub object: Option<&'a Object>,
}

impl ResolvedNamespace<'_> {
    fn labels(&self) -> Option<&Map<String, Value>> {
        self.object.and_then(labels)
    }
}

/// `metadata.labels`, when it is a mapping.
fn labels(o: &Object) -> Option<&Map<String, Value>> {
    o.value
        .get("metadata")
        .and_then(|m| m.get("labels"))
        .and_then(Value::as_object)
}

/// The policy of every namespace that is declared or used, sorted by name.
#[derive(Debug)]
pub struct Namespaces<'a> {
    by_name: BTreeMap<String, ResolvedNamespace<'a>>,
}

impl<'a> Namespaces<'a> {
    /// Resolves the `v1` Namespace objects among `objects`, and the defaults for every other
    /// namespace a workload of `evaluated` lands in.
    pub fn resolve(
        objects: impl IntoIterator<Item = &'a Object>,
        evaluated: &[Evaluated<'_>],
        config: &PodSecurityConfiguration,
    ) -> Namespaces<'a> {
        let mut by_name = BTreeMap::new();
        for o in objects
            .into_iter()
            .filter(|o| o.kind == "Namespace" && o.api_version == "v1")
        {
            let ns = ResolvedNamespace {
                policy: resolve_namespace(&o.name, labels(o), config),
                object: Some(o),
            };
            by_name.insert(o.name.clone(), ns);
        }
        for e in evaluated {
            let name = namespace_of(e.template.object);
            if !by_name.contains_key(name) {
                let ns = ResolvedNamespace {
                    policy: resolve_namespace(name, None, config),
                    object: None,
                };
                by_name.insert(name.to_string(), ns);
            }
        }
        Namespaces { by_name }
    }

    /// In name order.
    pub fn iter(&self) -> impl Iterator<Item = &ResolvedNamespace<'a>> {
        self.by_name.values()
    }

    /// The namespace `o` lands in; every workload passed to [`Namespaces::resolve`] has one.
    fn of(&self, o: &Object) -> &ResolvedNamespace<'a> {
        &self.by_name[namespace_of(o)]
    }
}

/// What admission does with one workload in its namespace.
pub struct WorkloadVerdict<'e, 'o> {
    pub workload: &'e Evaluated<'o>,
    pub namespace: &'e NamespacePolicy,
    pub verdict: Verdict,
}

impl WorkloadVerdict<'_, '_> {
    /// The pods this workload is or creates would be rejected (a Pod is denied; a workload is
    /// only warned, but its pods would be denied).
    pub fn rejected(&self) -> bool {
        self.verdict
            .modes
            .as_ref()
            .is_some_and(|m| !m.enforce.allowed())
    }

    /// The enforce evaluation; an exempt workload is reported as allowed at its namespace's
    /// enforce level.
    pub fn enforce(&self) -> Evaluation {
        self.verdict
            .modes
            .as_ref()
            .map(|m| m.enforce.clone())
            .unwrap_or_else(|| Evaluation {
                level_version: self.namespace.policy.enforce,
                violations: Vec::new(),
            })
    }
}

/// Every workload under its namespace's policy.
pub struct NamespaceAware<'e, 'o> {
    pub namespaces: &'e Namespaces<'o>,
    /// In input order.
    pub verdicts: Vec<WorkloadVerdict<'e, 'o>>,
}

impl<'e, 'o> NamespaceAware<'e, 'o> {
    /// Asks [`admit`] about every workload, as a create request by `username` in its namespace.
    pub fn admit(
        evaluated: &'e [Evaluated<'o>],
        namespaces: &'e Namespaces<'o>,
        config: &PodSecurityConfiguration,
        username: Option<&str>,
    ) -> Self {
        let verdicts = evaluated
            .iter()
            .map(|w| {
                let o = w.template.object;
                let namespace = &namespaces.of(o).policy;
                WorkloadVerdict {
                    workload: w,
                    namespace,
                    verdict: admit(config, namespace, username, &w.pod, o.kind == "Pod"),
                }
            })
            .collect();
        NamespaceAware {
            namespaces,
            verdicts,
        }
    }

    pub fn rejected(&self) -> usize {
        self.verdicts.iter().filter(|v| v.rejected()).count()
    }
}

/// One workload under the what-if level.
pub struct WhatIfWorkload<'e, 'o> {
    pub workload: &'e Evaluated<'o>,
    pub exempt: Option<Exemption>,
    /// At the what-if level (evaluated for exempt workloads too, to show what they hold).
    pub evaluation: Evaluation,
}

impl WhatIfWorkload<'_, '_> {
    pub fn rejected(&self) -> bool {
        self.exempt.is_none() && !self.evaluation.allowed()
    }
}

/// One namespace under the what-if level.
pub struct WhatIfNamespace<'e, 'o> {
    /// The namespace's current policy.
    pub namespace: &'e NamespacePolicy,
    pub workloads: Vec<WhatIfWorkload<'e, 'o>>,
    /// What the API server would warn when the enforce label is set to the what-if level.
    pub warnings: Vec<String>,
}

impl WhatIfNamespace<'_, '_> {
    pub fn rejected(&self) -> usize {
        self.workloads.iter().filter(|w| w.rejected()).count()
    }
}

/// Which workloads would be rejected if every namespace enforced one level.
pub struct WhatIf<'e, 'o> {
    pub level_version: LevelVersion,
    /// Namespaces that hold workloads, by name.
    pub namespaces: Vec<WhatIfNamespace<'e, 'o>>,
}

impl WhatIf<'_, '_> {
    pub fn rejected(&self) -> usize {
        self.namespaces.iter().map(WhatIfNamespace::rejected).sum()
    }
}

impl<'e, 'o> WhatIf<'e, 'o> {
    /// Sets every namespace's enforce level to `lv` and asks [`admit`] about each workload (for
    /// the exemptions, in upstream's order); each namespace gets the warnings `kubectl label`
    /// would print: the dry run over its pods, or, for an exempt namespace, the exemption
    /// warning.
    pub fn evaluate(
        evaluated: &'e [Evaluated<'o>],
        namespaces: &'e Namespaces<'o>,
        config: &PodSecurityConfiguration,
        username: Option<&str>,
        lv: LevelVersion,
    ) -> Self {
        let mut by_namespace: BTreeMap<&str, Vec<&'e Evaluated<'o>>> = BTreeMap::new();
        for w in evaluated {
            by_namespace
                .entry(namespace_of(w.template.object))
                .or_default()
                .push(w);
        }
        let mut out = Vec::new();
        for (name, members) in by_namespace {
            let ns = &namespaces.by_name[name];
            // Audit and warn at the same level: admit evaluates each distinct level once.
            let enforced = NamespacePolicy {
                policy: Policy {
                    enforce: lv,
                    audit: lv,
                    warn: lv,
                },
                ..ns.policy.clone()
            };
            let workloads: Vec<WhatIfWorkload<'e, 'o>> = members
                .into_iter()
                .map(|w| {
                    let is_pod = w.template.object.kind == "Pod";
                    let verdict = admit(config, &enforced, username, &w.pod, is_pod);
                    WhatIfWorkload {
                        workload: w,
                        exempt: verdict.exempt,
                        evaluation: match verdict.modes {
                            Some(m) => m.enforce,
                            None => w.pod.evaluate(lv),
                        },
                    }
                })
                .collect();
            let warnings = if ns.policy.exempt {
                // Upstream skips the dry run for exempt namespaces and only warns about the labels.
                let mut labelled = ns.policy.clone();
                labelled.policy.enforce = lv;
                let mut labels = ns.labels().cloned().unwrap_or_default();
                labels.insert(
                    ENFORCE_LEVEL_LABEL.into(),
                    Value::String(lv.level.as_str().into()),
                );
                admission::exempt_namespace_warning(&labelled, Some(&labels), &config.defaults)
                    .into_iter()
                    .collect()
            } else {
                let names: Vec<String> = workloads
                    .iter()
                    .map(|w| dry_run_name(w.workload.template.object))
                    .collect();
                let pods: Vec<DryRunPod<'_>> = workloads
                    .iter()
                    .zip(&names)
                    .filter(|(w, _)| w.exempt.is_none())
                    .map(|(w, name)| DryRunPod {
                        name,
                        evaluation: &w.evaluation,
                    })
                    .collect();
                admission::namespace_dry_run_warnings(name, lv, &pods)
            };
            out.push(WhatIfNamespace {
                namespace: &ns.policy,
                workloads,
                warnings,
            });
        }
        WhatIf {
            level_version: lv,
            namespaces: out,
        }
    }
}

/// The name a workload goes by in dry-run warnings: a Pod by its name, the pods a workload
/// would create by `Kind/name`.
fn dry_run_name(o: &Object) -> String {
    if o.kind == "Pod" {
        o.name.clone()
    } else {
        format!("{}/{}", o.kind, o.name)
    }
}
