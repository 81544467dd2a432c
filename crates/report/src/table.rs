//! Human-readable report: findings grouped by file and object, worst first within an object,
//! and a summary line with counts by severity.

use std::fmt::Write;

use kubevigil_model::{DiagLevel, Severity, escape_controls};

use crate::{Report, object_label};

/// `text` in the colour `code`. The tool's own escape codes are added here, around text that
/// has already been through [`escape_controls`] where it comes from the input.
pub(crate) fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

pub(crate) fn severity_color(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "1;31",
        Severity::High => "31",
        Severity::Medium => "33",
        Severity::Low => "34",
        Severity::Info => "2",
    }
}

pub fn render(report: &Report<'_>, color: bool) -> String {
    let mut out = String::new();
    for d in report.diagnostics {
        let code = match d.level {
            DiagLevel::Error => "31",
            DiagLevel::Warning => "33",
            DiagLevel::Note => "2",
        };
        // `Diagnostic`'s Display escapes its file name and message.
        let _ = writeln!(out, "{}", paint(color, code, &d.to_string()));
    }
    if !report.diagnostics.is_empty() {
        out.push('\n');
    }
    // Findings arrive sorted by file and line; group consecutive findings of one object.
    // Objects read from a cluster are headed by their `cluster:` locator instead of a file;
    // an admission request's object has no heading. Neither has a `line:col`.
    type Group<'a> = (Option<&'a str>, String, Vec<&'a kubevigil_model::Finding>);
    let mut groups: Vec<Group<'_>> = Vec::new();
    let mut index: std::collections::HashMap<(Option<&str>, &kubevigil_model::ObjectRef), usize> =
        Default::default();
    for f in report.findings {
        let key = (f.location.place(), &*f.object);
        match index.get(&key) {
            Some(&i) => groups[i].2.push(f),
            None => {
                index.insert(key, groups.len());
                groups.push((f.location.place(), object_label(&f.object), vec![f]));
            }
        }
    }
    let mut last_file = "";
    for (file, label, mut findings) in groups {
        if let Some(file) = file.filter(|f| *f != last_file) {
            let _ = writeln!(out, "{}", paint(color, "1", &escape_controls(file)));
            last_file = file;
        }
        let _ = writeln!(out, "  {}", escape_controls(&label));
        findings.sort_by(|a, b| {
            b.severity
                .cmp(&a.severity)
                .then(a.location.line.cmp(&b.location.line))
        });
        for f in findings {
            let sev = format!("{:<8}", f.severity.as_str().to_uppercase());
            let position = match f.location.file_pos() {
                Some((_, line, col)) => format!("{line}:{col}  "),
                None => String::new(),
            };
            let _ = writeln!(
                out,
                "    {} {}  {position}{}",
                paint(color, severity_color(f.severity), &sev),
                f.check_id,
                escape_controls(&f.message)
            );
            if !f.location.field_path.is_empty() {
                let _ = writeln!(
                    out,
                    "             {}",
                    paint(color, "2", &escape_controls(&f.location.field_path))
                );
            }
        }
    }
    if !report.findings.is_empty() {
        out.push('\n');
    }
    let s = report.summary();
    let counts: Vec<String> = Severity::ALL
        .iter()
        .map(|sev| format!("{} {}", sev.as_str(), s.by_severity[sev.as_str()]))
        .collect();
    let _ = writeln!(
        out,
        "Summary: {} finding{} ({}), {} suppressed, {} object{} scanned, {} error{}",
        s.findings,
        if s.findings == 1 { "" } else { "s" },
        counts.join(", "),
        s.suppressed,
        s.objects,
        if s.objects == 1 { "" } else { "s" },
        s.errors,
        if s.errors == 1 { "" } else { "s" },
    );
    out
}
