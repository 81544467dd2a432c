//! JUnit XML, as CI systems (Jenkins, GitLab, Azure DevOps) read it: one `<testsuite>`, one
//! `<testcase>` per object and check (`classname` is the object, `name` the check), a
//! `<failure>` per failing pair, `<skipped>` for suppressed ones, and input errors as `<error>`
//! test cases.

use std::fmt::Write;

use crate::{Report, object_label};

/// Escapes text for XML content and attribute values; drops characters XML 1.0 forbids.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

pub fn render(report: &Report<'_>) -> String {
    let mut cases = String::new();
    let (mut tests, mut failures, mut skipped, mut errors) = (0usize, 0usize, 0usize, 0usize);
    for d in report
        .diagnostics
        .iter()
        .filter(|d| d.level == kubevigil_model::DiagLevel::Error)
    {
        tests += 1;
        errors += 1;
        let _ = writeln!(
            cases,
            "    <testcase classname=\"{}\" name=\"load\">\n      <error message=\"{}\" type=\"input-error\">{}</error>\n    </testcase>",
            escape(&d.file),
            escape(&d.message),
            escape(&d.to_string())
        );
    }
    for object in report.objects {
        let label = object_label(object);
        for rule in report.rules {
            tests += 1;
            let matches =
                |f: &&kubevigil_model::Finding| f.check_id == rule.id && &f.object == object;
            let failed: Vec<_> = report.findings.iter().filter(matches).collect();
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&label),
                escape(&rule.id)
            );
            if let Some(first) = failed.first() {
                failures += 1;
                let _ = writeln!(
                    cases,
                    " file=\"{}\" line=\"{}\">",
                    escape(&first.location.file),
                    first.location.line
                );
                let body: Vec<String> = failed
                    .iter()
                    .map(|f| {
                        format!(
                            "{}:{}:{} {} ({})",
                            f.location.file,
                            f.location.line,
                            f.location.col,
                            f.message,
                            f.location.field_path
                        )
                    })
                    .collect();
                let _ = writeln!(
                    cases,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    escape(&first.message),
                    first.severity.as_str(),
                    escape(&body.join("\n"))
                );
            } else if let Some(s) = report
                .suppressed
                .iter()
                .find(|s| s.finding.check_id == rule.id && s.finding.object == *object)
            {
                skipped += 1;
                let _ = writeln!(
                    cases,
                    ">\n      <skipped message=\"suppressed by {}{}\"/>\n    </testcase>",
                    escape(&s.by),
                    if s.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", escape(&s.reason))
                    }
                );
            } else {
                cases.push_str("/>\n");
            }
        }
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"kubevigil\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">"
    );
    let _ = writeln!(
        out,
        "  <testsuite name=\"kubevigil scan\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">"
    );
    out.push_str(&cases);
    out.push_str("  </testsuite>\n</testsuites>\n");
    out
}
