//! JUnit XML, as CI systems (Jenkins, GitLab, Azure DevOps) read it: one `<testsuite>`, one
//! `<testcase>` per object and check (`classname` is the object, `name` the check), a
//! `<failure>` per failing pair, `<skipped>` for suppressed ones, and input errors as `<error>`
//! test cases.

use std::collections::HashMap;
use std::fmt::Write;

use crate::{Report, escape_markup as escape, object_label};

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
    // Findings and suppressions by rule and object, in report order: one pass over each, not
    // one per test case.
    type Key<'a> = (&'a str, &'a kubevigil_model::ObjectRef);
    let mut found: HashMap<Key<'_>, Vec<&kubevigil_model::Finding>> = HashMap::new();
    for f in report.findings {
        found.entry((&f.check_id, &f.object)).or_default().push(f);
    }
    let mut suppressed: HashMap<Key<'_>, &crate::SuppressedFinding> = HashMap::new();
    for s in report.suppressed {
        suppressed
            .entry((&s.finding.check_id, &s.finding.object))
            .or_insert(s);
    }
    for object in report.objects {
        let label = object_label(object);
        for rule in report.rules {
            tests += 1;
            let failed: &[&kubevigil_model::Finding] = found
                .get(&(rule.id.as_str(), object))
                .map_or(&[], Vec::as_slice);
            let _ = write!(
                cases,
                "    <testcase classname=\"{}\" name=\"{}\"",
                escape(&label),
                escape(&rule.id)
            );
            if let Some(first) = failed.first() {
                failures += 1;
                // Objects that did not come from a file have no file and line attributes.
                match (first.location.file_pos(), &first.location.uri) {
                    (Some((file, line, _)), _) => {
                        let _ = writeln!(cases, " file=\"{}\" line=\"{line}\">", escape(file));
                    }
                    (None, Some(uri)) => {
                        let _ = writeln!(cases, " file=\"{}\">", escape(uri));
                    }
                    (None, None) => cases.push_str(">\n"),
                }
                let body: Vec<String> = failed
                    .iter()
                    .map(|f| match f.location.file_pos() {
                        Some((file, line, col)) => format!(
                            "{file}:{line}:{col} {} ({})",
                            f.message, f.location.field_path
                        ),
                        None => match &f.location.uri {
                            Some(uri) => {
                                format!("{uri} {} ({})", f.message, f.location.field_path)
                            }
                            None => format!("{} ({})", f.message, f.location.field_path),
                        },
                    })
                    .collect();
                let _ = writeln!(
                    cases,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    escape(&first.message),
                    first.severity.as_str(),
                    escape(&body.join("\n"))
                );
            } else if let Some(s) = suppressed.get(&(rule.id.as_str(), object)) {
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

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn forbidden_characters_are_shown_not_dropped() {
        assert_eq!(
            escape("e\u{1b}]0;owned\u{7}<\u{1b}[2J>\u{9b}\u{202e}\u{fffe}\tx\r\n"),
            "e\\e]0;owned\\a&lt;\\e[2J&gt;\\u{9b}\\u{202e}\\u{fffe}\tx\\r\n"
        );
        let xml = format!(
            "<a b=\"{0}\">{0}</a>",
            escape("\u{0}\u{1}\u{1f}\u{ffff}&\"")
        );
        let mut reader = quick_xml::Reader::from_str(&xml);
        loop {
            match reader.read_event() {
                Ok(quick_xml::events::Event::Eof) => break,
                Ok(_) => {}
                Err(e) => panic!("malformed XML {xml}: {e}"),
            }
        }
    }
}
