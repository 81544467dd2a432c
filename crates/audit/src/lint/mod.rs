//! `audit policy lint`: findings about what an audit policy records, in the scan's finding model.
//!
//! Each rule lives in its own file with its documentation beside it (`<rule>.md`). Rules that
//! ask "what level does this kind of request get?" answer it by evaluating representative
//! requests with the real checker ([`probe`]), so they follow kube-apiserver's first-match
//! semantics exactly, shadowing and all.

pub mod probe;

mod exec_unrecorded;
mod managed_fields;
mod no_catch_all;
mod noisy_system_traffic;
mod rbac_unrecorded;
mod request_received;
mod sensitive_bodies;
mod shadowed_rule;

use kubevigil_model::{FieldPath, Finding};
use kubevigil_rule::{Check, Emitter, Ref, RuleMeta, Scope};

use crate::checker::{Checker, Decision};
use crate::event::{Level, Stage};
use crate::policy::LoadedPolicy;
use probe::Vocabulary;

/// A lint rule: its metadata (id `audit-policy-...`) and what it runs.
pub struct LintRule {
    pub meta: RuleMeta,
    pub run: fn(&Cx<'_>, &mut Vec<Finding>),
}

/// Every lint rule, in a stable order.
pub static RULES: &[&LintRule] = &[
    &sensitive_bodies::RULE,
    &exec_unrecorded::RULE,
    &rbac_unrecorded::RULE,
    &no_catch_all::RULE,
    &shadowed_rule::RULE,
    &request_received::RULE,
    &noisy_system_traffic::RULE,
    &managed_fields::RULE,
];

use kubevigil_rule::refs::{CIS, MITRE};
const CIS_321: Ref = Ref {
    framework: CIS,
    id: "3.2.1",
    url: "",
};
const CIS_322: Ref = Ref {
    framework: CIS,
    id: "3.2.2",
    url: "",
};

/// What a rule sees.
pub struct Cx<'a> {
    pub loaded: &'a LoadedPolicy,
    pub checker: Checker,
    pub vocab: Vocabulary,
}

impl Cx<'_> {
    /// A finding of `rule` at `path` of the policy document.
    pub fn finding(&self, rule: &LintRule, path: &FieldPath, message: String) -> Finding {
        let m = &rule.meta;
        Finding::at(
            m.id,
            m.severity,
            m.title,
            message,
            &self.loaded.object,
            path,
            m.remediation,
            kubevigil_model::Ref::static_list(m.references),
        )
    }

    /// `rules[i]`, or the policy's `rules` list when no rule decided.
    pub fn rule_path(&self, rule: Option<usize>) -> FieldPath {
        match rule {
            Some(i) => FieldPath::root().key("rules").index(i),
            None => FieldPath::root().key("rules"),
        }
    }

    /// `rule #i (line n)` or `no rule (default level None)`.
    pub fn rule_label(&self, rule: Option<usize>) -> String {
        match rule {
            Some(i) => format!(
                "rule #{i} (line {})",
                self.checker.policy().rules[i].pos.line
            ),
            None => "no rule matches, so the default level None applies".into(),
        }
    }
}

/// Whether a decision writes nothing for a request: level None, or every stage a request can
/// be logged at before completion (RequestReceived, ResponseStarted, ResponseComplete) omitted.
pub fn unrecorded(d: &Decision) -> bool {
    d.level == Level::None
        || [
            Stage::RequestReceived,
            Stage::ResponseStarted,
            Stage::ResponseComplete,
        ]
        .iter()
        .all(|s| d.omit_stages.contains(*s))
}

/// Lints a loaded policy. Findings are sorted by line, then rule id.
pub fn lint(loaded: &LoadedPolicy) -> Vec<Finding> {
    lint_with(loaded, RULES)
}

/// [`lint`] with `rules` only.
fn lint_with(loaded: &LoadedPolicy, rules: &[&LintRule]) -> Vec<Finding> {
    let cx = Cx {
        loaded,
        checker: Checker::new(loaded.policy.clone()),
        vocab: Vocabulary::of(&loaded.policy),
    };
    let mut out = Vec::new();
    for rule in rules {
        (rule.run)(&cx, &mut out);
    }
    out.sort_by(|a, b| (a.location.line, &a.check_id).cmp(&(b.location.line, &b.check_id)));
    out
}

/// Lint findings for every audit Policy in an inventory (the hook for `kubevigil scan`),
/// with the diagnostics of policies that do not validate.
pub fn findings(
    inventory: &kubevigil_model::Inventory,
) -> (Vec<Finding>, Vec<kubevigil_model::Diagnostic>) {
    let (mut findings, mut diagnostics) = (Vec::new(), Vec::new());
    for object in inventory.objects.iter() {
        lint_object(object, RULES, &mut findings, &mut diagnostics);
    }
    (findings, diagnostics)
}

/// [`findings`] for one object: nothing unless it is an audit Policy.
pub fn object_findings(
    object: &kubevigil_model::Object,
    findings: &mut Vec<Finding>,
    diagnostics: &mut Vec<kubevigil_model::Diagnostic>,
) {
    lint_object(object, RULES, findings, diagnostics);
}

/// Lints `object` with `rules` if it is an audit Policy: its findings, or the diagnostics of a
/// policy that does not validate.
fn lint_object(
    object: &kubevigil_model::Object,
    rules: &[&LintRule],
    findings: &mut Vec<Finding>,
    diagnostics: &mut Vec<kubevigil_model::Diagnostic>,
) {
    if !crate::policy::is_audit_policy(object) {
        return;
    }
    match crate::policy::policy_from_object(object.clone()) {
        Ok(loaded) => findings.extend(lint_with(&loaded, rules)),
        Err(errors) => diagnostics.extend(errors),
    }
}

/// One lint rule as a [`Check`] over audit Policy objects, for runners that evaluate objects
/// one at a time (the monitor's incremental evaluator); it finds what [`findings`] finds for
/// that rule. No settings.
#[derive(Clone, Copy)]
pub struct LintCheck {
    rule: &'static LintRule,
}

/// Every lint rule as a check, in [`RULES`] order.
pub static LINT_CHECKS: [LintCheck; 8] = {
    let mut out = [LintCheck { rule: RULES[0] }; 8];
    let mut i = 1;
    while i < out.len() {
        out[i] = LintCheck { rule: RULES[i] };
        i += 1;
    }
    out
};

impl<S: ?Sized> Check<S> for LintCheck {
    fn meta(&self) -> &'static RuleMeta {
        &self.rule.meta
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "Policy"
    }

    fn check_object(&self, _: &S, object: &kubevigil_model::Object, out: &mut Emitter) {
        // Every rule reports a policy that does not validate; runners keep one copy per object.
        lint_object(
            object,
            &[self.rule],
            &mut out.findings,
            &mut out.diagnostics,
        );
    }
}

/// Every lint rule's metadata, in a stable order.
pub fn rules() -> impl Iterator<Item = &'static RuleMeta> {
    RULES.iter().map(|r| &r.meta)
}

/// Looks a rule up by id.
pub fn find_rule(id: &str) -> Option<&'static RuleMeta> {
    rules().find(|r| r.id == id)
}

/// Reports, per deciding rule (or no rule), requests of `query` that would not be recorded.
fn report_unrecorded(
    cx: &Cx<'_>,
    rule: &LintRule,
    query: &probe::Query<'_>,
    what: &str,
    out: &mut Vec<Finding>,
) {
    let mut hits: std::collections::BTreeMap<Option<usize>, String> = Default::default();
    probe::for_each(&cx.checker, &cx.vocab, query, |p, d| {
        if unrecorded(d) {
            hits.entry(d.rule).or_insert_with(|| p.describe());
        }
        true
    });
    for (i, example) in hits {
        let how = match i {
            Some(idx) if cx.checker.policy().rules[idx].level == Level::None => {
                "level None".to_string()
            }
            Some(_) => "omitted stages that leave nothing to log".to_string(),
            None => "the default level None".to_string(),
        };
        let path = match i {
            Some(_) => cx.rule_path(i).key("level"),
            None => cx.rule_path(None),
        };
        out.push(cx.finding(
            rule,
            &path,
            format!(
                "{what} are not recorded: {} gives them {how} (e.g. {example})",
                cx.rule_label(i)
            ),
        ));
    }
}

/// What `kubevigil audit policy lint` reports on one policy file.
#[derive(Debug, Clone, Default)]
pub struct LintRun {
    pub findings: Vec<Finding>,
    /// Load errors (then there are no findings), warnings, and a warning when the policy names
    /// too many values for an exhaustive analysis.
    pub diagnostics: Vec<kubevigil_model::Diagnostic>,
    /// The policy, when it loaded.
    pub objects: Vec<kubevigil_model::ObjectRef>,
}

impl LintRun {
    /// Loads the policy text of `name` and lints it.
    pub fn of_text(name: &str, text: &str) -> LintRun {
        match crate::policy::load_policy(name, text) {
            Ok(mut loaded) => {
                let findings = lint(&loaded);
                if Vocabulary::of(&loaded.policy).truncated {
                    loaded.warnings.push(kubevigil_model::Diagnostic {
                        level: kubevigil_model::DiagLevel::Warning,
                        file: name.to_string(),
                        line: 0,
                        col: 0,
                        message: "the policy names too many distinct values for an exhaustive analysis; some were left out, findings may be incomplete".into(),
                    });
                }
                let objects = vec![kubevigil_model::ObjectRef::of(&loaded.object)];
                LintRun {
                    findings,
                    diagnostics: loaded.warnings,
                    objects,
                }
            }
            Err(errors) => LintRun {
                diagnostics: errors,
                ..LintRun::default()
            },
        }
    }

    /// The policy could not be loaded.
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.level == kubevigil_model::DiagLevel::Error)
    }
}

#[cfg(test)]
mod check_tests {
    use super::*;

    #[test]
    fn one_check_per_rule_in_order() {
        let ids: Vec<&str> = LINT_CHECKS.iter().map(|c| c.rule.meta.id).collect();
        let want: Vec<&str> = rules().map(|r| r.id).collect();
        assert_eq!(ids, want);
    }
}
