//! JSON report: `{"tool", "version", "summary", "findings", "suppressed", "diagnostics"}`.

use crate::Report;

pub fn render(report: &Report<'_>) -> String {
    let doc = serde_json::json!({
        "tool": "kubevigil",
        "version": report.tool_version,
        "summary": report.summary(),
        "findings": report.findings,
        "suppressed": report.suppressed,
        "diagnostics": report.diagnostics,
    });
    let mut out = serde_json::to_string_pretty(&doc).expect("report serialises");
    out.push('\n');
    out
}
