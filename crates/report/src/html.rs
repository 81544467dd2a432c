//! `scan -o html`: one self-contained HTML file for people who would rather look than read (CI
//! artifacts, a link in a pull request): a summary by severity and namespace, the findings with
//! filters (severity, namespace, check, status, text), a section per object with its findings,
//! field paths and remediation, the findings by compliance framework (CIS Kubernetes Benchmark,
//! NSA/CISA hardening guide, MITRE ATT&CK), and the input errors.
//!
//! No external resource (it works offline and air-gapped); the one style sheet and the one
//! script are inline and allowed by their SHA-256 in a Content-Security-Policy that allows
//! nothing else. Every value from the input (names, labels, messages, file names) is
//! HTML-escaped ([`crate::escape_markup`], JUnit's escape), and control and bidi characters are
//! shown as visible escapes, never raw.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write;

use base64::Engine as _;
use kubevigil_model::{Finding, ObjectRef, Severity};
use sha2::{Digest, Sha256};

pub use crate::escape_markup as escape;
use crate::{Report, object_label};

const STYLE: &str = include_str!("html/report.css");
const SCRIPT: &str = include_str!("html/report.js");

/// Most findings rows (and object entries) a page lists: what a browser still opens at ease.
pub const MAX_ROWS: usize = 10_000;

/// `'sha256-…'`: a CSP source that allows exactly this inline text.
fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The Content-Security-Policy of the report: its own style sheet and script, nothing else.
pub fn content_security_policy() -> String {
    format!(
        "default-src 'none'; style-src {}; script-src {}; img-src data:; base-uri 'none'; form-action 'none'",
        csp_hash(STYLE),
        csp_hash(SCRIPT)
    )
}

/// One row of the findings list: a finding, or a suppressed one with who suppressed it.
struct Row<'a> {
    finding: &'a Finding,
    suppressed: Option<(&'a str, &'a str)>,
}

pub fn render(report: &Report<'_>) -> String {
    let mut rows: Vec<Row<'_>> = report
        .findings
        .iter()
        .map(|finding| Row {
            finding,
            suppressed: None,
        })
        .chain(report.suppressed.iter().map(|s| Row {
            finding: &s.finding,
            suppressed: Some((&s.by, &s.reason)),
        }))
        .collect();
    rows.sort_by(|a, b| row_order(a).cmp(&row_order(b)));
    // A page a browser can still open: the most severe rows; the counts cover everything.
    let total_rows = rows.len();
    rows.truncate(MAX_ROWS);
    // Objects with findings, by namespace, kind and name, each with its anchor.
    let mut objects: Vec<&ObjectRef> = rows.iter().map(|r| &*r.finding.object).collect();
    objects.sort_by(|a, b| object_order(a).cmp(&object_order(b)));
    objects.dedup();
    let anchors: HashMap<&ObjectRef, usize> =
        objects.iter().enumerate().map(|(i, o)| (*o, i)).collect();
    let anchor_of = |o: &ObjectRef| anchors.get(o).map_or_else(String::new, |i| format!("o{i}"));
    let summary = report.summary();
    let mut h = String::new();
    let _ = writeln!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{}\">\n\
         <title>kubevigil scan report</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        escape(&content_security_policy())
    );
    let _ = writeln!(
        h,
        "<header><h1>kubevigil scan report</h1><p>kubevigil {} · {} objects · {} findings · {} suppressed · {} input errors</p>\n\
         <nav><a href=\"#summary\">Summary</a> <a href=\"#findings\">Findings</a> <a href=\"#objects\">Objects</a> <a href=\"#compliance\">Compliance</a> <a href=\"#errors\">Input errors</a></nav></header>\n<main>",
        escape(report.tool_version),
        summary.objects,
        summary.findings,
        summary.suppressed,
        summary.errors
    );
    summary_section(&mut h, report);
    findings_section(&mut h, &rows, total_rows, &anchor_of);
    let mut by_object: Vec<Vec<&Row<'_>>> = vec![Vec::new(); objects.len()];
    for r in &rows {
        if let Some(&i) = anchors.get(&*r.finding.object) {
            by_object[i].push(r);
        }
    }
    objects_section(&mut h, &objects, &by_object, &anchor_of);
    compliance_section(&mut h, report);
    errors_section(&mut h, report);
    let _ = write!(h, "</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n");
    h
}

/// Rows: open before suppressed, most severe first, then by object and check. Borrowed, so a
/// large scan's sort allocates nothing per comparison.
fn row_order<'r>(
    r: &Row<'r>,
) -> (
    bool,
    Reverse<Severity>,
    Option<&'r str>,
    &'r str,
    &'r str,
    &'r str,
) {
    let f = r.finding;
    let o: &'r ObjectRef = &f.object;
    (
        r.suppressed.is_some(),
        Reverse(f.severity),
        o.namespace.as_deref(),
        &o.kind,
        &o.name,
        &f.check_id,
    )
}

fn object_order(o: &ObjectRef) -> (Option<&str>, &str, &str, &str) {
    (o.namespace.as_deref(), &o.kind, &o.name, &o.api_version)
}

fn severity_badge(s: Severity) -> String {
    format!("<span class=\"sev sev-{0}\">{0}</span>", s.as_str())
}

fn namespace_of(o: &ObjectRef) -> &str {
    o.namespace.as_deref().unwrap_or("")
}

fn summary_section(h: &mut String, report: &Report<'_>) {
    h.push_str("<section id=\"summary\"><h2>Summary</h2><p class=\"counts\">");
    for s in Severity::ALL {
        let n = report.findings.iter().filter(|f| f.severity == s).count();
        let _ = write!(h, "{} <b>{n}</b> ", severity_badge(s));
    }
    h.push_str(
        "</p>\n<div class=\"scroll\"><table><caption>Findings by namespace</caption><thead><tr><th>Namespace</th>",
    );
    for s in Severity::ALL {
        let _ = write!(h, "<th>{}</th>", s.as_str());
    }
    h.push_str("</tr></thead><tbody>\n");
    let mut by_ns: BTreeMap<&str, [usize; 5]> = BTreeMap::new();
    for f in report.findings {
        let i = Severity::ALL
            .iter()
            .position(|s| *s == f.severity)
            .unwrap_or(0);
        by_ns.entry(namespace_of(&f.object)).or_default()[i] += 1;
    }
    for (ns, counts) in by_ns {
        let name = if ns.is_empty() {
            "<i>cluster-scoped or none</i>".to_string()
        } else {
            escape(ns)
        };
        let _ = write!(h, "<tr><td>{name}</td>");
        for c in counts {
            let _ = write!(h, "<td>{c}</td>");
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody></table></div></section>\n");
}

fn options(h: &mut String, name: &str, label: &str, values: &BTreeSet<&str>) {
    let _ = write!(
        h,
        "<label>{label} <select name=\"{name}\"><option value=\"\">all</option>"
    );
    for v in values {
        let shown = if v.is_empty() { "(none)" } else { v };
        let _ = write!(
            h,
            "<option value=\"{}\">{}</option>",
            escape(v),
            escape(shown)
        );
    }
    h.push_str("</select></label> ");
}

fn findings_section(
    h: &mut String,
    rows: &[Row<'_>],
    total: usize,
    anchor_of: &dyn Fn(&ObjectRef) -> String,
) {
    h.push_str("<section id=\"findings\"><h2>Findings</h2>\n<form id=\"filters\">");
    let severities: BTreeSet<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
    let namespaces: BTreeSet<&str> = rows
        .iter()
        .map(|r| namespace_of(&r.finding.object))
        .collect();
    let checks: BTreeSet<&str> = rows.iter().map(|r| &*r.finding.check_id).collect();
    let statuses: BTreeSet<&str> = ["open", "suppressed"].into_iter().collect();
    options(h, "severity", "Severity", &severities);
    options(h, "namespace", "Namespace", &namespaces);
    options(h, "check", "Check", &checks);
    options(h, "status", "Status", &statuses);
    h.push_str(
        "<label>Text <input name=\"q\" type=\"search\" placeholder=\"name, message, field\"></label></form>\n",
    );
    if total > rows.len() {
        let _ = writeln!(
            h,
            "<p class=\"omitted\">The {} most severe of {total} findings are listed (the counts cover \
             them all; <code>-o json</code> has every one).</p>",
            rows.len()
        );
    }
    h.push_str(
        "<p id=\"shown\" aria-live=\"polite\"></p>\n\
         <div class=\"scroll\"><table id=\"finding-list\"><thead><tr><th>Severity</th><th>Check</th><th>Object</th><th>Message</th><th>Where</th><th>Status</th></tr></thead><tbody>\n",
    );
    for r in rows {
        let f = r.finding;
        let status = if r.suppressed.is_some() {
            "suppressed"
        } else {
            "open"
        };
        let text = format!(
            "{} {} {} {}",
            object_label(&f.object),
            f.check_id,
            f.message,
            f.location.field_path
        )
        .to_lowercase();
        let status_cell = match r.suppressed {
            Some((by, reason)) if !reason.is_empty() => {
                format!("suppressed by {} ({})", escape(by), escape(reason))
            }
            Some((by, _)) => format!("suppressed by {}", escape(by)),
            None => "open".into(),
        };
        let _ = writeln!(
            h,
            "<tr data-severity=\"{}\" data-namespace=\"{}\" data-check=\"{}\" data-status=\"{status}\" data-text=\"{}\">\
             <td>{}</td><td>{}</td><td><a href=\"#{}\">{}</a></td><td>{}</td><td><code>{}</code></td><td>{status_cell}</td></tr>",
            f.severity.as_str(),
            escape(namespace_of(&f.object)),
            escape(&f.check_id),
            escape(&text),
            severity_badge(f.severity),
            escape(&f.check_id),
            anchor_of(&f.object),
            escape(&object_label(&f.object)),
            escape(&f.message),
            escape(&place(f)),
        );
    }
    h.push_str("</tbody></table></div></section>\n");
}

/// `file:line:col` (or the cluster locator) and the field path.
fn place(f: &Finding) -> String {
    let at = match f.location.file_pos() {
        Some((file, line, col)) => format!("{file}:{line}:{col}"),
        None => f.location.place().unwrap_or("").to_string(),
    };
    if at.is_empty() {
        f.location.field_path.clone()
    } else {
        format!("{at} {}", f.location.field_path)
    }
}

/// Each object with its rows (`by_object[i]` are `objects[i]`'s).
fn objects_section(
    h: &mut String,
    objects: &[&ObjectRef],
    by_object: &[Vec<&Row<'_>>],
    anchor_of: &dyn Fn(&ObjectRef) -> String,
) {
    h.push_str("<section id=\"objects\"><h2>Objects</h2>\n");
    for (o, rows) in objects.iter().zip(by_object) {
        let _ = writeln!(
            h,
            "<article id=\"{}\"><h3>{}</h3><p class=\"api\">{}</p><ul>",
            anchor_of(o),
            escape(&object_label(o)),
            escape(&o.api_version)
        );
        for r in rows {
            let f = r.finding;
            let refs: Vec<String> = f
                .references
                .iter()
                .map(|r| format!("{} {}", escape(&r.framework), escape(&r.id)))
                .collect();
            let _ = writeln!(
                h,
                "<li>{} <b>{}</b>{}: {}<br><code>{}</code><br><span class=\"fix\">{}</span>{}</li>",
                severity_badge(f.severity),
                escape(&f.title),
                if r.suppressed.is_some() {
                    " <i>(suppressed)</i>"
                } else {
                    ""
                },
                escape(&f.message),
                escape(&place(f)),
                escape(&f.remediation),
                if refs.is_empty() {
                    String::new()
                } else {
                    format!("<br><small>{}</small>", refs.join(" · "))
                }
            );
        }
        h.push_str("</ul></article>\n");
    }
    h.push_str("</section>\n");
}

/// Per framework, every control the checks that ran cover: the checks, and the findings of
/// this scan (none: nothing in the input breaks it).
fn compliance_section(h: &mut String, report: &Report<'_>) {
    let mut compliance = crate::compliance::Compliance::default();
    for rule in report.rules {
        for r in rule.references {
            compliance.covers(&rule.id, r);
        }
    }
    for f in report.findings {
        for r in f.references.iter() {
            compliance.found(&f.check_id, &r.framework, &r.id, r.url.as_deref());
        }
    }
    let frameworks = compliance.frameworks;
    h.push_str("<section id=\"compliance\"><h2>Compliance</h2>\n");
    if frameworks.is_empty() {
        h.push_str("<p>No check that ran maps to a framework control.</p>\n");
    }
    for (framework, controls) in frameworks {
        let failing = controls.values().filter(|c| c.findings > 0).count();
        let _ = writeln!(
            h,
            "<div class=\"scroll\"><table><caption>{}: {} controls checked, {failing} with findings, {} without</caption>\
             <thead><tr><th>Control</th><th>Findings</th><th>Checks</th></tr></thead><tbody>",
            escape(framework),
            controls.len(),
            controls.len() - failing
        );
        for (id, c) in controls {
            let id = match crate::compliance::link(c.url) {
                Some(u) => {
                    format!(
                        "<a href=\"{}\" rel=\"noreferrer\">{}</a>",
                        escape(u),
                        escape(id)
                    )
                }
                _ => escape(id),
            };
            let checks: Vec<String> = c.checks.iter().map(|c| escape(c)).collect();
            let findings = if c.findings == 0 {
                "<span class=\"pass\">none</span>".to_string()
            } else {
                c.findings.to_string()
            };
            let _ = writeln!(
                h,
                "<tr><td>{id}</td><td>{findings}</td><td>{}</td></tr>",
                checks.join(", ")
            );
        }
        h.push_str("</tbody></table></div>\n");
    }
    h.push_str("</section>\n");
}

fn errors_section(h: &mut String, report: &Report<'_>) {
    h.push_str("<section id=\"errors\"><h2>Input errors</h2>\n");
    if report.diagnostics.is_empty() {
        h.push_str("<p>None.</p>\n");
    } else {
        h.push_str("<ul>\n");
        for d in report.diagnostics {
            let _ = writeln!(h, "<li><code>{}</code></li>", escape(&d.to_string()));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("</section>\n");
}
