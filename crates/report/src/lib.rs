//! Renderers. Findings: one module per format, each returning a `String`; every format
//! receives the same [`Report`]: the findings to show, those suppressed (counted, never
//! silently lost), the input diagnostics, and the rules that ran.
//!
//! Detection alerts, which stream, are written one at a time by [`alerts`].
//!
//! Other results (Pod Security verdicts, NetworkPolicy connectivity and reachability) go
//! through one interface, [`Emitter`]: a format ([`Table`], [`Json`], [`Csv`], [`Markdown`],
//! [`Dot`], [`Text`]) implements it for each result it can show.

pub mod alerts;
pub mod audit;
pub mod compliance;
pub mod emit;
pub mod html;
pub mod image;
pub mod json;
pub mod junit;
pub mod netpol;
pub mod policyreport;
pub mod pss;
pub mod sarif;
pub mod table;

pub use emit::{Csv, Dot, Emitter, Json, Markdown, Table, Text};

use kubevigil_model::{Diagnostic, Finding, ObjectRef, Severity};
use serde::Serialize;

/// A rule (check or lint rule) as reports describe it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleInfo {
    pub id: String,
    pub title: String,
    pub severity: Severity,
    pub category: String,
    /// Markdown documentation.
    pub doc: String,
    /// The framework controls the rule checks (CIS, NSA/CISA, MITRE ATT&CK): the HTML report's
    /// compliance coverage. Not part of any machine format.
    #[serde(skip)]
    pub references: &'static [kubevigil_model::Ref],
}

impl RuleInfo {
    /// A rule's metadata as reports show it, under `category`.
    pub fn of(meta: &kubevigil_rule::RuleMeta, category: &str) -> RuleInfo {
        RuleInfo {
            id: meta.id.to_string(),
            title: meta.title.to_string(),
            severity: meta.severity,
            category: category.to_string(),
            doc: meta.doc.to_string(),
            references: meta.references,
        }
    }
}

/// A suppressed finding and why.
#[derive(Debug, Clone, Serialize)]
pub struct SuppressedFinding {
    pub finding: Finding,
    /// `annotation`, `exemption` or `baseline`.
    pub by: String,
    pub reason: String,
}

/// Everything a report shows.
#[derive(Debug, Clone)]
pub struct Report<'a> {
    pub tool_version: &'a str,
    pub rules: &'a [RuleInfo],
    pub findings: &'a [Finding],
    pub suppressed: &'a [SuppressedFinding],
    pub diagnostics: &'a [Diagnostic],
    /// Objects analysed, for per-object formats (JUnit) and the summary.
    pub objects: &'a [ObjectRef],
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub objects: usize,
    pub findings: usize,
    pub by_severity: std::collections::BTreeMap<&'static str, usize>,
    pub suppressed: usize,
    pub errors: usize,
}

impl Report<'_> {
    pub fn summary(&self) -> Summary {
        let mut by_severity = std::collections::BTreeMap::new();
        for s in Severity::ALL {
            by_severity.insert(
                s.as_str(),
                self.findings.iter().filter(|f| f.severity == s).count(),
            );
        }
        Summary {
            objects: self.objects.len(),
            findings: self.findings.len(),
            by_severity,
            suppressed: self.suppressed.len(),
            errors: self
                .diagnostics
                .iter()
                .filter(|d| d.level == kubevigil_model::DiagLevel::Error)
                .count(),
        }
    }
}

/// `Kind namespace/name` or `Kind name`.
pub fn object_label(o: &ObjectRef) -> String {
    match &o.namespace {
        Some(ns) => format!("{} {}/{}", o.kind, ns, o.name),
        None => format!("{} {}", o.kind, o.name),
    }
}

/// Escapes text for XML and HTML content and attribute values (JUnit, the HTML report). The C0 controls XML 1.0 forbids (all but
/// TAB, LF and CR), CR (which XML parsers turn into LF anyway), and DEL, C1 and bidi controls
/// (allowed, but they act on a terminal that shows the file) are written in the visible form
/// of [`kubevigil_model::escape_controls`]; the non-characters U+FFFE and U+FFFF, also forbidden, as `\u{fffe}`
/// and `\u{ffff}`. TAB and LF stay: the report's layout uses them.
pub fn escape_markup(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' => out.push(c),
            c if kubevigil_model::text::is_unsafe(c) => out.push_str(
                &kubevigil_model::escape_controls(c.encode_utf8(&mut [0; 4])),
            ),
            '\u{FFFE}' | '\u{FFFF}' => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}
