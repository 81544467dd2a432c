//! `audit-policy-shadowed-rule`: rules that can never match because earlier rules match every
//! request they would. Docs: `shadowed_rule.md`.

use kubevigil_model::{Finding, Severity};

use super::probe::{self, Query};
use kubevigil_rule::{Category, RuleMeta};

use super::{Cx, LintRule};

pub static RULE: LintRule = LintRule {
    meta: RuleMeta {
        id: "audit-policy-shadowed-rule",
        title: "Audit policy rule can never match",
        severity: Severity::Medium,
        category: Category::Audit,
        doc: include_str!("shadowed_rule.md"),
        remediation: "Move the rule before the rules that shadow it (the first matching rule wins), narrow the earlier rules, or delete it.",
        references: &[],
    },
    run,
};

fn run(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let rules = &cx.checker.policy().rules;
    let mut reached = vec![false; rules.len()];
    probe::for_each(&cx.checker, &cx.vocab, &Query::default(), |_, d| {
        if let Some(i) = d.rule {
            reached[i] = true;
        }
        true
    });
    for (i, rule) in rules.iter().enumerate() {
        if reached[i] {
            continue;
        }
        // Which earlier rules take the requests this one matches.
        let mut shadows = std::collections::BTreeSet::new();
        probe::for_each(&cx.checker, &cx.vocab, &Query::default(), |p, d| {
            if let Some(j) = d.rule
                && j < i
                && p.matches(rule)
            {
                shadows.insert(j);
            }
            shadows.len() < 5
        });
        let by = if shadows.is_empty() {
            "it matches no request".to_string()
        } else {
            let list: Vec<String> = shadows.iter().map(|&j| cx.rule_label(Some(j))).collect();
            format!(
                "every request it matches is taken first by {}",
                list.join(", ")
            )
        };
        out.push(cx.finding(
            &RULE,
            &cx.rule_path(Some(i)),
            format!("Rule #{i} (line {}) can never match: {by}", rule.pos.line),
        ));
    }
}
