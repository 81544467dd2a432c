//! `audit-policy-exec-unrecorded`: exec, attach, port-forward and ephemeral containers not
//! recorded. Docs: `exec_unrecorded.md`.

use kubevigil_model::{Finding, Severity};

use super::probe::Query;
use kubevigil_rule::{Category, Ref, RuleMeta};

use super::{CIS_322, Cx, LintRule, report_unrecorded};

pub static RULE: LintRule = LintRule {
    meta: RuleMeta {
        id: "audit-policy-exec-unrecorded",
        title: "Audit policy does not record exec, attach, port-forward or ephemeral containers",
        severity: Severity::High,
        category: Category::Audit,
        doc: include_str!("exec_unrecorded.md"),
        remediation: "Add a rule recording pods/exec, pods/attach, pods/portforward and pods/ephemeralcontainers at level Metadata (or Request) before any rule that gives them level None.",
        references: &[
            CIS_322,
            Ref {
                framework: super::MITRE,
                id: "T1609",
                url: "https://attack.mitre.org/techniques/T1609/",
            },
        ],
    },
    run,
};

fn run(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    // Exec, attach and port-forward are `create` (POST) or `get` (WebSocket upgrade);
    // ephemeral containers are added with `patch` or `update`.
    let interactive = Query {
        resources: Some(&[
            ("", "pods", "exec"),
            ("", "pods", "attach"),
            ("", "pods", "portforward"),
        ]),
        verbs: Some(&["create", "get"]),
        ..Default::default()
    };
    report_unrecorded(
        cx,
        &RULE,
        &interactive,
        "Exec, attach or port-forward sessions",
        out,
    );
    let ephemeral = Query {
        resources: Some(&[("", "pods", "ephemeralcontainers")]),
        verbs: Some(&["patch", "update"]),
        ..Default::default()
    };
    report_unrecorded(
        cx,
        &RULE,
        &ephemeral,
        "Ephemeral containers added to pods",
        out,
    );
}
