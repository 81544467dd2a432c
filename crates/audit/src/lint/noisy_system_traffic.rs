//! `audit-policy-noisy-system-traffic`: high-volume system traffic (health checks, events,
//! leases, node status) recorded with bodies. Docs: `noisy_system_traffic.md`.

use kubevigil_model::{Finding, Severity};

use super::probe::{self, Identity, OTHER_NAMESPACE, Query};
use kubevigil_rule::{Category, RuleMeta};

use super::{Cx, LintRule};
use crate::event::Level;

pub static RULE: LintRule = LintRule {
    meta: RuleMeta {
        id: "audit-policy-noisy-system-traffic",
        title: "Audit policy records high-volume system traffic with bodies",
        severity: Severity::Low,
        category: Category::Audit,
        doc: include_str!("noisy_system_traffic.md"),
        remediation: "Before the general rules, add rules giving health endpoints, events, leases and node status updates by system components level None (or Metadata).",
        references: &[],
    },
    run,
};

fn system_identities() -> Vec<Option<Identity>> {
    [
        Identity::new(
            "system:node:node-1",
            &["system:nodes", "system:authenticated"],
        ),
        Identity::new("system:kube-controller-manager", &["system:authenticated"]),
        Identity::new("system:kube-scheduler", &["system:authenticated"]),
        Identity::new(
            "system:apiserver",
            &["system:masters", "system:authenticated"],
        ),
        Identity::new(
            "system:serviceaccount:kube-system:endpointslice-controller",
            &[
                "system:serviceaccounts",
                "system:serviceaccounts:kube-system",
                "system:authenticated",
            ],
        ),
        Identity::new(
            "system:serviceaccount:monitoring:prometheus",
            &[
                "system:serviceaccounts",
                "system:serviceaccounts:monitoring",
                "system:authenticated",
            ],
        ),
        Identity::new("system:anonymous", &["system:unauthenticated"]),
    ]
    .into_iter()
    .map(Some)
    .collect()
}

fn run(cx: &Cx<'_>, out: &mut Vec<Finding>) {
    let namespaces: &[&str] = &["kube-system", "kube-node-lease", OTHER_NAMESPACE];
    let checks: [(&str, Query<'_>); 4] = [
        (
            "Health and metrics probes",
            Query {
                paths: Some(&[
                    "/healthz",
                    "/livez",
                    "/readyz",
                    "/healthz/etcd",
                    "/readyz/ping",
                    "/metrics",
                    "/version",
                ]),
                verbs: Some(&["get"]),
                identities: Some(system_identities()),
                ..Default::default()
            },
        ),
        (
            "Events written by system components",
            Query {
                resources: Some(&[("", "events", ""), ("events.k8s.io", "events", "")]),
                verbs: Some(&["create", "update", "patch", "get", "list", "watch"]),
                identities: Some(system_identities()),
                namespaces: Some(namespaces),
                ..Default::default()
            },
        ),
        (
            "Lease renewals (node heartbeats, leader election)",
            Query {
                resources: Some(&[("coordination.k8s.io", "leases", "")]),
                verbs: Some(&["get", "update", "list", "watch"]),
                identities: Some(system_identities()),
                namespaces: Some(namespaces),
                ..Default::default()
            },
        ),
        (
            "Node status updates",
            Query {
                resources: Some(&[("", "nodes", "status")]),
                verbs: Some(&["patch", "update", "get"]),
                identities: Some(system_identities()),
                namespaces: Some(&[""]),
                ..Default::default()
            },
        ),
    ];
    for (what, query) in &checks {
        let mut hits: std::collections::BTreeMap<usize, (Level, String)> = Default::default();
        probe::for_each(&cx.checker, &cx.vocab, query, |p, d| {
            if d.level >= Level::Request
                && let Some(i) = d.rule
            {
                hits.entry(i).or_insert_with(|| (d.level, p.describe()));
            }
            true
        });
        for (i, (level, example)) in hits {
            out.push(cx.finding(
                &RULE,
                &cx.rule_path(Some(i)).key("level"),
                format!("{what} are recorded at level {level} by {} (e.g. {example}): high volume, little security value", cx.rule_label(Some(i))),
            ));
        }
    }
}
