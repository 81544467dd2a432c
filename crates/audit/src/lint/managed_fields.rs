//! `audit-policy-managed-fields`: bodies are recorded with their managedFields.
//! Docs: `managed_fields.md`.

use kubevigil_model::{FieldPath, Finding, Severity};

use kubevigil_rule::{Category, RuleMeta};

use super::{Cx, LintRule};
use crate::event::Level;

pub static RULE: LintRule = LintRule {
    meta: RuleMeta {
        id: "audit-policy-managed-fields",
        title: "Audit policy keeps managedFields in recorded bodies",
        severity: Severity::Low,
        category: Category::Audit,
        doc: include_str!("managed_fields.md"),
        remediation: "Set `omitManagedFields: true` at the top level of the policy.",
        references: &[],
    },
    run,
};

fn run(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let policy = cx.checker.policy();
    let offending: Vec<String> = policy
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.level >= Level::Request
                && !r.omit_managed_fields.unwrap_or(policy.omit_managed_fields)
        })
        .map(|(i, r)| format!("#{i} (line {})", r.pos.line))
        .collect();
    if offending.is_empty() {
        return;
    }
    let path = if cx.loaded.object.value.get("omitManagedFields").is_some() {
        FieldPath::root().key("omitManagedFields")
    } else {
        FieldPath::root().key("rules")
    };
    out.push(cx.finding(
        &RULE,
        &path,
        format!(
            "Rule(s) {} record request or response bodies with metadata.managedFields, which often outweighs the object itself",
            offending.join(", ")
        ),
    ));
}
