//! `audit-policy-no-catch-all`: some requests match no rule and are silently not recorded.
//! Docs: `no_catch_all.md`.

use kubevigil_model::{Finding, Severity};

use super::probe::{self, Query};
use kubevigil_rule::{Category, RuleMeta};

use super::{CIS_321, Cx, LintRule};

pub static RULE: LintRule = LintRule {
    meta: RuleMeta {
        id: "audit-policy-no-catch-all",
        title: "Audit policy has no catch-all final rule",
        severity: Severity::Medium,
        category: Category::Audit,
        doc: include_str!("no_catch_all.md"),
        remediation: "End the rules with a catch-all rule without selectors, e.g. `- level: Metadata`.",
        references: &[CIS_321],
    },
    run,
};

fn run(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let rules = &cx.checker.policy().rules;
    if rules.iter().any(|r| r.is_catch_all()) {
        return;
    }
    let mut example = None;
    probe::for_each(&cx.checker, &cx.vocab, &Query::default(), |p, d| {
        if d.rule.is_none() {
            example = Some(p.describe());
            return false;
        }
        true
    });
    let Some(example) = example else { return };
    let last = rules.len().checked_sub(1);
    out.push(cx.finding(
        &RULE,
        &cx.rule_path(last),
        format!("No catch-all final rule: requests that match no rule are not recorded at all (e.g. {example})"),
    ));
}
