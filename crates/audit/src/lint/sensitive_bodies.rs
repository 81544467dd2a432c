//! `audit-policy-sensitive-bodies`: Secrets, token requests, token reviews (and ConfigMaps
//! outside explicitly chosen namespaces) recorded with bodies. Docs: `sensitive_bodies.md`.

use std::collections::BTreeMap;

use kubevigil_model::{Finding, Severity};

use super::probe::{self, OTHER_NAMESPACE, Query};
use kubevigil_rule::{Category, Ref, RuleMeta};

use super::{CIS_322, Cx, LintRule};
use crate::event::Level;

pub static RULE: LintRule = LintRule {
    meta: RuleMeta {
        id: "audit-policy-sensitive-bodies",
        title: "Audit policy writes secret values to the audit log",
        severity: Severity::High,
        category: Category::Audit,
        doc: include_str!("sensitive_bodies.md"),
        remediation: "Record secrets, configmaps, serviceaccounts/token and tokenreviews at level Metadata in a rule placed before any Request or RequestResponse rule that would match them.",
        references: &[
            CIS_322,
            Ref {
                framework: super::MITRE,
                id: "T1552",
                url: "https://attack.mitre.org/techniques/T1552/",
            },
        ],
    },
    run,
};

struct Target {
    what: &'static str,
    resources: &'static [(&'static str, &'static str, &'static str)],
    /// `None`: every verb (the policy's and others).
    verbs: Option<&'static [&'static str]>,
    /// ConfigMaps recorded with bodies in namespaces the policy names are a deliberate choice.
    only_unchosen_namespaces: bool,
}

const TARGETS: &[Target] = &[
    Target {
        what: "Secret data",
        resources: &[("", "secrets", "")],
        verbs: None,
        only_unchosen_namespaces: false,
    },
    Target {
        what: "service account tokens (TokenRequest)",
        resources: &[("", "serviceaccounts", "token")],
        verbs: Some(&["create"]),
        only_unchosen_namespaces: false,
    },
    Target {
        what: "bearer tokens (TokenReview)",
        resources: &[("authentication.k8s.io", "tokenreviews", "")],
        verbs: Some(&["create"]),
        only_unchosen_namespaces: false,
    },
    Target {
        what: "ConfigMap data",
        resources: &[("", "configmaps", "")],
        verbs: None,
        only_unchosen_namespaces: true,
    },
];

fn run(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    for t in TARGETS {
        let unchosen: &[&str] = &["", OTHER_NAMESPACE, "kube-system"];
        let query = Query {
            resources: Some(t.resources),
            verbs: t.verbs,
            namespaces: t.only_unchosen_namespaces.then_some(unchosen),
            ..Default::default()
        };
        // Per deciding rule: the highest level and an example request.
        let mut hits: BTreeMap<usize, (Level, String)> = BTreeMap::new();
        probe::for_each(&cx.checker, &cx.vocab, &query, |p, d| {
            if d.level >= Level::Request
                && let Some(i) = d.rule
            {
                let e = hits.entry(i).or_insert((d.level, p.describe()));
                if d.level > e.0 {
                    *e = (d.level, p.describe());
                }
            }
            true
        });
        for (i, (level, example)) in hits {
            let scope = if t.only_unchosen_namespaces {
                " outside the namespaces the policy names"
            } else {
                ""
            };
            out.push(cx.finding(
                &RULE,
                &cx.rule_path(Some(i)).key("level"),
                format!(
                    "{} records requests at level {level}{scope} (e.g. {example}): {} would be written to the audit log",
                    capitalize(&cx.rule_label(Some(i))),
                    t.what
                ),
            ));
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
