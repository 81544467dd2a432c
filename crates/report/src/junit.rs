//! JUnit XML, as CI systems (Jenkins, GitLab, Azure DevOps) read it: one `<testsuite>`, one
//! `<testcase>` per object and check (`classname` is the object, `name` the check), a
//! `<failure>` per failing pair, `<skipped>` for suppressed ones, and input errors as `<error>`
//! test cases.

use std::collections::HashMap;
use std::io::{self, Write};

use kubevigil_model::{Finding, ObjectRef};

use crate::{Report, SuppressedFinding, escape_markup as escape, object_label};

/// The whole document as a string (see [`write`]).
pub fn render(report: &Report<'_>) -> String {
    let mut out = Vec::new();
    write(report, &mut out).expect("writing to a vector does not fail");
    String::from_utf8(out).expect("the report is UTF-8")
}

/// Writes the document to `out` as it goes: one test case per object and check makes it the
/// largest report by far (about 10 KB per object), so it is never held whole. The counts the
/// `<testsuite>` element opens with are worked out first, from the findings alone.
pub fn write(report: &Report<'_>, out: &mut dyn Write) -> io::Result<()> {
    let errors: Vec<&kubevigil_model::Diagnostic> = report
        .diagnostics
        .iter()
        .filter(|d| d.level == kubevigil_model::DiagLevel::Error)
        .collect();
    // Findings and suppressions by rule and object, in report order: one pass over each, not
    // one per test case.
    type Key<'a> = (&'a str, &'a ObjectRef);
    let mut found: HashMap<Key<'_>, Vec<&Finding>> = HashMap::new();
    for f in report.findings {
        found.entry((&f.check_id, &f.object)).or_default().push(f);
    }
    let mut suppressed: HashMap<Key<'_>, &SuppressedFinding> = HashMap::new();
    for s in report.suppressed {
        suppressed
            .entry((&s.finding.check_id, &s.finding.object))
            .or_insert(s);
    }
    // One test case per object and rule listed (an object listed twice has its cases twice).
    let mut listed: HashMap<&ObjectRef, usize> = HashMap::new();
    for object in report.objects {
        *listed.entry(object).or_default() += 1;
    }
    let mut rules: HashMap<&str, usize> = HashMap::new();
    for rule in report.rules {
        *rules.entry(rule.id.as_str()).or_default() += 1;
    }
    let cases_of = |(rule, object): &Key<'_>| {
        rules.get(rule).copied().unwrap_or(0) * listed.get(object).copied().unwrap_or(0)
    };
    let failures: usize = found.keys().map(cases_of).sum();
    let skipped: usize = suppressed
        .keys()
        .filter(|k| !found.contains_key(*k))
        .map(cases_of)
        .sum();
    let tests = errors.len() + report.objects.len() * report.rules.len();
    let errors_n = errors.len();
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
    writeln!(
        out,
        "<testsuites name=\"kubevigil\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors_n}\" skipped=\"{skipped}\">"
    )?;
    writeln!(
        out,
        "  <testsuite name=\"kubevigil scan\" tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors_n}\" skipped=\"{skipped}\">"
    )?;
    for d in errors {
        writeln!(
            out,
            "    <testcase classname=\"{}\" name=\"load\">\n      <error message=\"{}\" type=\"input-error\">{}</error>\n    </testcase>",
            escape(&d.file),
            escape(&d.message),
            escape(&d.to_string())
        )?;
    }
    for object in report.objects {
        let label = escape(&object_label(object));
        for rule in report.rules {
            write!(
                out,
                "    <testcase classname=\"{label}\" name=\"{}\"",
                escape(&rule.id)
            )?;
            let failed: &[&Finding] = found
                .get(&(rule.id.as_str(), object))
                .map_or(&[], Vec::as_slice);
            if let Some(first) = failed.first() {
                // Objects that did not come from a file have no file and line attributes.
                match (first.location.file_pos(), &first.location.uri) {
                    (Some((file, line, _)), _) => {
                        writeln!(out, " file=\"{}\" line=\"{line}\">", escape(file))?
                    }
                    (None, Some(uri)) => writeln!(out, " file=\"{}\">", escape(uri))?,
                    (None, None) => out.write_all(b">\n")?,
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
                writeln!(
                    out,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>\n    </testcase>",
                    escape(&first.message),
                    first.severity.as_str(),
                    escape(&body.join("\n"))
                )?;
            } else if let Some(s) = suppressed.get(&(rule.id.as_str(), object)) {
                writeln!(
                    out,
                    ">\n      <skipped message=\"suppressed by {}{}\"/>\n    </testcase>",
                    escape(&s.by),
                    if s.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", escape(&s.reason))
                    }
                )?;
            } else {
                out.write_all(b"/>\n")?;
            }
        }
    }
    out.write_all(b"  </testsuite>\n</testsuites>\n")?;
    out.flush()
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
