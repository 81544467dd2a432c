//! JSON report: `{"tool", "version", "summary", "findings", "suppressed", "diagnostics"}`.

use serde::Serialize;

use crate::{Report, Summary, SuppressedFinding};

#[derive(Serialize)]
struct JsonReport<'a> {
    tool: &'static str,
    version: &'a str,
    summary: Summary,
    findings: &'a [kubevigil_model::Finding],
    suppressed: &'a [SuppressedFinding],
    diagnostics: &'a [kubevigil_model::Diagnostic],
}

/// Writes the report straight to `out` (no intermediate tree or string of the whole report).
pub fn write(report: &Report<'_>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let doc = JsonReport {
        tool: "kubevigil",
        version: report.tool_version,
        summary: report.summary(),
        findings: report.findings,
        suppressed: report.suppressed,
        diagnostics: report.diagnostics,
    };
    crate::emit::write_json(out, &doc)
}

pub fn render(report: &Report<'_>) -> String {
    let doc = JsonReport {
        tool: "kubevigil",
        version: report.tool_version,
        summary: report.summary(),
        findings: report.findings,
        suppressed: report.suppressed,
        diagnostics: report.diagnostics,
    };
    // Serialised straight from the findings: no intermediate JSON tree of the whole report.
    let mut out = kubevigil_model::text::json::to_string(&doc, true).expect("report serialises");
    out.push('\n');
    out
}
