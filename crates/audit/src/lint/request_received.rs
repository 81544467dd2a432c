//! `audit-policy-request-received`: the RequestReceived stage is logged, doubling the volume.
//! Docs: `request_received.md`.

use kubevigil_model::{FieldPath, Finding, Severity};

use kubevigil_rule::{Category, RuleMeta};

use super::{Cx, LintRule};
use crate::event::{Level, Stage};

pub static RULE: LintRule = LintRule {
    meta: RuleMeta {
        id: "audit-policy-request-received",
        title: "Audit policy logs the RequestReceived stage",
        severity: Severity::Low,
        category: Category::Audit,
        doc: include_str!("request_received.md"),
        remediation: "Add `omitStages: [RequestReceived]` at the top level of the policy.",
        references: &[],
    },
    run,
};

fn run(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    // The checker has already united each rule's omitStages with the policy's.
    let offending: Vec<String> = cx
        .checker
        .policy()
        .rules
        .iter()
        .enumerate()
        .filter(|(_, r)| r.level > Level::None && !r.omit_stages.contains(Stage::RequestReceived))
        .map(|(i, r)| format!("#{i} (line {})", r.pos.line))
        .collect();
    if offending.is_empty() {
        return;
    }
    let path = if cx.loaded.object.value.get("omitStages").is_some() {
        FieldPath::root().key("omitStages")
    } else {
        FieldPath::root().key("rules")
    };
    out.push(cx.finding(
        &RULE,
        &path,
        format!(
            "The RequestReceived stage is logged by rule(s) {}: every request recorded by them is written twice (RequestReceived and ResponseComplete)",
            offending.join(", ")
        ),
    ));
}
