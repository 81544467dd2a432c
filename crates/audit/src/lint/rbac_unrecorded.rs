//! `audit-policy-rbac-unrecorded`: changes to RBAC and admission configuration not recorded.
//! Docs: `rbac_unrecorded.md`.

use kubevigil_model::{Finding, Severity};

use super::probe::Query;
use kubevigil_rule::{Category, Ref, RuleMeta};

use super::{CIS_322, Cx, LintRule, report_unrecorded};

pub static RULE: LintRule = LintRule {
    meta: RuleMeta {
        id: "audit-policy-rbac-unrecorded",
        title: "Audit policy does not record RBAC or admission webhook changes",
        severity: Severity::High,
        category: Category::Audit,
        doc: include_str!("rbac_unrecorded.md"),
        remediation: "Record create, update, patch, delete and deletecollection on rbac.authorization.k8s.io and admissionregistration.k8s.io resources at least at level Metadata, before any rule that gives them level None.",
        references: &[
            CIS_322,
            Ref {
                framework: super::MITRE,
                id: "T1098",
                url: "https://attack.mitre.org/techniques/T1098/",
            },
        ],
    },
    run,
};

const WRITES: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];

fn run(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let rbac = Query {
        resources: Some(&[
            ("rbac.authorization.k8s.io", "roles", ""),
            ("rbac.authorization.k8s.io", "rolebindings", ""),
            ("rbac.authorization.k8s.io", "clusterroles", ""),
            ("rbac.authorization.k8s.io", "clusterrolebindings", ""),
        ]),
        verbs: Some(WRITES),
        ..Default::default()
    };
    report_unrecorded(cx, &RULE, &rbac, "RBAC changes (roles, bindings)", out);
    let admission = Query {
        resources: Some(&[
            (
                "admissionregistration.k8s.io",
                "mutatingwebhookconfigurations",
                "",
            ),
            (
                "admissionregistration.k8s.io",
                "validatingwebhookconfigurations",
                "",
            ),
            (
                "admissionregistration.k8s.io",
                "validatingadmissionpolicies",
                "",
            ),
            (
                "admissionregistration.k8s.io",
                "validatingadmissionpolicybindings",
                "",
            ),
        ]),
        verbs: Some(WRITES),
        ..Default::default()
    };
    report_unrecorded(
        cx,
        &RULE,
        &admission,
        "Admission webhook and policy changes",
        out,
    );
}
