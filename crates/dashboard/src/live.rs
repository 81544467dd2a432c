//! Pages over the objects the monitor holds of the cluster (its last snapshot): Pod Security
//! per namespace, NetworkPolicy isolation and the connectivity map, and who can read secrets.
//! The engines are the ones `kubevigil pss`, `kubevigil netpol` and `kubevigil rbac` run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use kubevigil_model::Store;
use kubevigil_netpol::{Cluster, Direction, EndpointRef};
use kubevigil_pss::config::PodSecurityConfiguration;
use kubevigil_pss::workloads::{NamespaceAware, Namespaces};
use kubevigil_pss::{Level, LevelVersion, Version};
use kubevigil_rbac::answer::{WhoCan, describe_grant};
use kubevigil_rbac::{Rbac, Request};
use kubevigil_store::{HistoryStore, Result};
use maud::{Markup, html};

use crate::{Dashboard, MAX_ROWS, encode, layout, severity_badge, shown};

/// Most workloads the connectivity map draws: beyond, a circle of names is no longer read.
pub const MAX_MAP_WORKLOADS: usize = 40;

fn no_cluster() -> Markup {
    html! {
        p class="muted" id="no-cluster" {
            "No cluster objects yet: the monitor runs without a cluster (--no-cluster), or it has not listed every kind it watches."
        }
    }
}

/// The strictest level `pod` meets at the latest version.
fn strictest(pod: &kubevigil_pss::PodInput) -> Level {
    [Level::Restricted, Level::Baseline]
        .into_iter()
        .find(|&l| {
            pod.evaluate(LevelVersion::new(l, Version::Latest))
                .allowed()
        })
        .unwrap_or(Level::Privileged)
}

/// One namespace under Pod Security Admission.
pub(crate) struct PssRow {
    pub name: String,
    pub exempt: bool,
    pub enforce: LevelVersion,
    pub audit: LevelVersion,
    pub warn: LevelVersion,
    pub workloads: usize,
    pub rejected: usize,
    /// The strictest level all its workloads meet; `None` without workloads.
    pub strictest: Option<Level>,
}

/// Every namespace (declared, or used by a workload), its policy from its labels over the
/// defaults of an empty admission configuration, and its workloads judged as `kubevigil pss`
/// judges them; and how many pod templates could not be read.
pub(crate) fn pss_rows(store: &Store) -> (Vec<PssRow>, usize) {
    let config = PodSecurityConfiguration::default();
    // Read in place: the store's objects are not copied for each page.
    let (evaluated, errors) = kubevigil_pss::scan::workloads_of(store.objects());
    let namespaces = Namespaces::resolve(store.of_kind("Namespace"), &evaluated, &config);
    let admitted = NamespaceAware::admit(&evaluated, &namespaces, &config, None);
    let mut rows: BTreeMap<&str, PssRow> = namespaces
        .iter()
        .map(|ns| {
            let p = &ns.policy;
            let row = PssRow {
                name: p.name.clone(),
                exempt: p.exempt,
                enforce: p.policy.enforce,
                audit: p.policy.audit,
                warn: p.policy.warn,
                workloads: 0,
                rejected: 0,
                strictest: None,
            };
            (p.name.as_str(), row)
        })
        .collect();
    for v in &admitted.verdicts {
        if let Some(row) = rows.get_mut(v.namespace.name.as_str()) {
            row.workloads += 1;
            row.rejected += usize::from(v.rejected());
            let level = strictest(&v.workload.pod);
            row.strictest = Some(row.strictest.map_or(level, |l| l.min(level)));
        }
    }
    (rows.into_values().collect(), errors.len())
}

impl Dashboard {
    /// `/pod-security`: each namespace's enforce, audit and warn levels (its labels over the
    /// defaults of an empty admission configuration), its workloads, how many of them its
    /// enforce level would reject, and the strictest level all of them meet.
    pub fn pod_security(&self, objects: Option<&Store>, now_ms: i64) -> String {
        let body = match objects {
            None => no_cluster(),
            Some(store) => {
                let (rows, errors) = pss_rows(store);
                html! {
                    p class="muted" {
                        "Each namespace's Pod Security Admission labels over the built-in defaults (privileged), its Pods and workloads, "
                        "how many its enforce level would reject, and the strictest level every one of them meets: the level it could enforce today."
                    }
                    div class="scroll" {
                        table id="pod-security" {
                            thead { tr {
                                th { "Namespace" } th { "Enforce" } th { "Audit" } th { "Warn" }
                                th class="n" { "Workloads" } th class="n" { "Rejected by enforce" } th { "All meet" }
                            } }
                            tbody {
                                @for row in rows.iter().take(MAX_ROWS) {
                                    tr {
                                        td { a href={ "/findings?namespace=" (encode(&row.name)) } { (shown(&row.name)) }
                                             @if row.exempt { " " span class="muted" { "(exempt)" } } }
                                        td { (row.enforce.to_string()) }
                                        td { (row.audit.to_string()) }
                                        td { (row.warn.to_string()) }
                                        td class="n" { (row.workloads) }
                                        td class="n" { (row.rejected) }
                                        td { @match row.strictest {
                                            Some(l) => (l.as_str()),
                                            None => span class="muted" { "no workload" },
                                        } }
                                    }
                                }
                            }
                        }
                    }
                    @if errors > 0 {
                        p class="muted" { (errors) " pod templates could not be read; `kubevigil pss --cluster` names them." }
                    }
                }
            }
        };
        layout(
            "Pod Security",
            "/pod-security",
            now_ms,
            html! { h1 { "Pod Security" } (body) },
        )
    }

    /// `/network`: for each workload, the NetworkPolicies that isolate it for ingress and
    /// egress (none: every connection is allowed that way), and the map of the connections the
    /// policies allow, drawn here as SVG.
    pub fn network(&self, objects: Option<&Store>, now_ms: i64) -> String {
        let body = match objects {
            None => no_cluster(),
            Some(store) => {
                let cluster = Cluster::from_objects(store);
                let isolated = |w: &kubevigil_netpol::Workload<'_>, dir| {
                    kubevigil_netpol::engine::isolating_policies(&cluster, w, dir)
                        .into_iter()
                        .map(|i| cluster.policies[i].name.clone())
                        .collect::<Vec<_>>()
                };
                let open = cluster
                    .workloads
                    .iter()
                    .filter(|w| isolated(w, Direction::Ingress).is_empty())
                    .count();
                html! {
                    p { (cluster.workloads.len()) " workloads, " (open) " of them open to every ingress (no NetworkPolicy selects them)." }
                    h2 { "Isolation" }
                    div class="scroll" {
                        table id="isolation" {
                            thead { tr { th { "Workload" } th { "Ingress isolated by" } th { "Egress isolated by" } } }
                            tbody {
                                @for w in cluster.workloads.iter().take(MAX_ROWS) {
                                    tr {
                                        td { (shown(&format!("{} {}/{}", w.kind, w.namespace, w.name))) }
                                        @for dir in [Direction::Ingress, Direction::Egress] {
                                            @let by = isolated(w, dir);
                                            td { @if by.is_empty() { span class="sev sev-high" { "open" } } @else { (shown(&by.join(", "))) } }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    h2 { "Connectivity" }
                    (connectivity_map(&cluster))
                }
            }
        };
        layout(
            "Network",
            "/network",
            now_ms,
            html! { h1 { "NetworkPolicy" } (body) },
        )
    }

    /// `/rbac`: who can read secrets (get, list or watch, in any namespace) and through which
    /// bindings, and the open findings of the RBAC checks.
    pub fn rbac(
        &self,
        objects: Option<&Store>,
        store: &dyn HistoryStore,
        now_ms: i64,
    ) -> Result<String> {
        let mut risky = Vec::new();
        store.open_findings(&mut |f| {
            if f.check_id.starts_with("rbac-") && risky.len() < MAX_ROWS {
                risky.push(f);
            }
            Ok(())
        })?;
        risky.sort_by_key(|f| std::cmp::Reverse(f.severity));
        let readers = objects.map(|store| {
            let rbac = Rbac::from_objects(store);
            // Subject -> verbs, where, and the grants' descriptions.
            let mut by_subject: BTreeMap<String, (Vec<&str>, String, Vec<String>)> =
                BTreeMap::new();
            for verb in ["get", "list", "watch"] {
                let Ok(req) = Request::parse(verb, "secrets", "", None) else {
                    continue;
                };
                for s in WhoCan::new(&rbac, &req, true).subjects {
                    let entry = by_subject.entry(s.subject.to_string()).or_default();
                    entry.0.push(verb);
                    entry.1 = if s.namespaces.iter().any(|n| n == "*") {
                        "every namespace".to_string()
                    } else {
                        s.namespaces.join(", ")
                    };
                    for g in &s.via {
                        let d = describe_grant(&rbac, g);
                        if !entry.2.contains(&d) {
                            entry.2.push(d);
                        }
                    }
                }
            }
            by_subject
        });
        let body = html! {
            h1 { "RBAC" }
            h2 { "Who can read secrets" }
            @match &readers {
                None => (no_cluster()),
                Some(readers) => {
                    p class="muted" { (readers.len()) " subjects can get, list or watch every Secret where listed (system identities included: they are the ones to know; grants limited to Secrets named in resourceNames are not listed)." }
                    div class="scroll" {
                        table id="secret-readers" {
                            thead { tr { th { "Subject" } th { "Verbs" } th { "Where" } th { "Through" } } }
                            tbody {
                                @for (subject, (verbs, wh, via)) in readers.iter().take(MAX_ROWS) {
                                    tr {
                                        td { (shown(subject)) }
                                        td { (verbs.join(", ")) }
                                        td { (shown(wh)) }
                                        td { @for (i, d) in via.iter().enumerate() { @if i > 0 { br; } (shown(d)) } }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Risky grants" }
            @if risky.is_empty() {
                p class="muted" { "No open finding of the RBAC checks." }
            } @else {
                div class="scroll" {
                    table id="risky-grants" {
                        thead { tr { th { "Severity" } th { "Check" } th { "Object" } th { "Message" } } }
                        tbody {
                            @for f in &risky {
                                tr {
                                    td { (severity_badge(f.severity)) }
                                    td { a href=(crate::finding_href(&f.fingerprint)) { (shown(self.check_title(&f.check_id, &f.title))) } }
                                    td { (shown(&crate::object_label(&f.object))) }
                                    td { (shown(&f.message)) }
                                }
                            }
                        }
                    }
                }
            }
        };
        Ok(layout("RBAC", "/rbac", now_ms, body))
    }
}

/// The connections the policies allow, as SVG: workloads on a circle, an arrow per connection
/// (addresses outside the cluster are one node). Too many workloads: a table would serve
/// better, and `kubevigil netpol --cluster` has one.
fn connectivity_map(cluster: &Cluster<'_>) -> Markup {
    if cluster.workloads.len() > MAX_MAP_WORKLOADS {
        return html! {
            p class="muted" {
                (cluster.workloads.len()) " workloads: more than the map draws (" (MAX_MAP_WORKLOADS)
                "). `kubevigil netpol --cluster` lists every connection."
            }
        };
    }
    let connections = kubevigil_netpol::named::connectivity(cluster, None);
    // Nodes: every workload, then "outside the cluster" when a connection involves addresses.
    let mut names: Vec<String> = cluster
        .workloads
        .iter()
        .map(|w| format!("{}/{}", w.namespace, w.name))
        .collect();
    let outside = names.len();
    let node = |e: &EndpointRef| match e {
        EndpointRef::Workload {
            namespace, name, ..
        } => names
            .iter()
            .position(|n| *n == format!("{namespace}/{name}")),
        EndpointRef::Ip(_) => Some(outside),
    };
    let edges: Vec<(usize, usize, String)> = connections
        .conns
        .iter()
        .filter_map(|c| Some((node(&c.src)?, node(&c.dst)?, c.conn.to_string())))
        .collect();
    if edges.iter().any(|(s, d, _)| *s == outside || *d == outside) {
        names.push("outside the cluster".to_string());
    }
    if names.is_empty() {
        return html! { p class="muted" { "No workload." } };
    }
    const SIZE: f64 = 720.0;
    const RADIUS: f64 = 250.0;
    let at = |i: usize| {
        let a = std::f64::consts::TAU * i as f64 / names.len() as f64 - std::f64::consts::FRAC_PI_2;
        (SIZE / 2.0 + RADIUS * a.cos(), SIZE / 2.0 + RADIUS * a.sin())
    };
    // Each arrow stops short of its target node, so that its head shows.
    let arrows: Vec<(String, String)> = edges
        .iter()
        .map(|(s, d, what)| {
            let ((x1, y1), (x2, y2)) = (at(*s), at(*d));
            let (dx, dy) = (x2 - x1, y2 - y1);
            let len = (dx * dx + dy * dy).sqrt().max(1.0);
            let mut d_attr = String::new();
            let _ = write!(
                d_attr,
                "M {x1:.1} {y1:.1} L {:.1} {:.1}",
                x2 - dx / len * 8.0,
                y2 - dy / len * 8.0
            );
            (d_attr, format!("{} → {}: {what}", names[*s], names[*d]))
        })
        .collect();
    html! {
        svg class="chart map" id="connectivity" viewBox={ "0 0 " (SIZE) " " (SIZE) } role="img" xmlns="http://www.w3.org/2000/svg" {
            title { "Connections the NetworkPolicies allow between workloads" }
            defs {
                marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto-start-reverse" {
                    path class="arrow" d="M 0 0 L 10 5 L 0 10 z" {}
                }
            }
            @for (d_attr, title) in &arrows {
                path class="edge" d=(d_attr) marker-end="url(#arrow)" {
                    title { (shown(title)) }
                }
            }
            @for (i, name) in names.iter().enumerate() {
                @let (x, y) = at(i);
                circle class="node" cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="6" {}
                text x=(format!("{x:.1}")) y=(format!("{:.1}", y - 10.0)) text-anchor="middle" { (shown(name)) }
            }
        }
        p class="muted" { (edges.len()) " connections allowed (an arrow each; hover for the ports)." }
    }
}
