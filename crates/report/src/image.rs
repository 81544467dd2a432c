//! `kubevigil image scan`'s report for people: the image, its OS, the counts per severity, then
//! one row per vulnerability, most severe first, summaries whole (never cut). Every string from
//! the image is escaped: package names and summaries are the image author's words.

use std::fmt::Write as _;

use kubevigil_image::osv::Severity;
use kubevigil_image::report::ScanReport;
use kubevigil_image::summary::ImageSummary;
use kubevigil_model::Escaped;

use crate::table::paint;

/// The scan's colours: an advisory's severity as the finding severity it reads like (an unknown
/// one dimmed, as info).
fn severity_color(s: Severity) -> &'static str {
    use kubevigil_model::Severity as Finding;
    crate::table::severity_color(match s {
        Severity::Critical => Finding::Critical,
        Severity::High => Finding::High,
        Severity::Medium => Finding::Medium,
        Severity::Low => Finding::Low,
        Severity::Unknown => Finding::Info,
    })
}

pub fn table(report: &ScanReport, color: bool) -> String {
    let mut out = String::new();
    let os = report.os.as_ref().map_or("unknown OS".to_string(), |o| {
        format!("{} {}", o.family, o.version)
    });
    let _ = writeln!(
        out,
        "{} ({}): {} packages, {} vulnerabilities",
        Escaped(&report.target),
        Escaped(&os),
        report.packages.len(),
        report.vulnerabilities.len()
    );
    let counts: Vec<String> = ImageSummary::of(report, None, None, None)
        .counts()
        .iter()
        .map(|(n, s)| format!("{n} {}", s.as_str()))
        .collect();
    let _ = writeln!(out, "{}\n", counts.join(", "));
    if report.vulnerabilities.is_empty() {
        return out;
    }
    let header = ["SEVERITY", "ID", "PACKAGE", "INSTALLED", "FIXED", "SUMMARY"].map(String::from);
    let rows: Vec<[String; 6]> = report
        .vulnerabilities
        .iter()
        .map(|v| {
            [
                v.severity.as_str().to_string(),
                Escaped(&v.id).to_string(),
                Escaped(&v.package).to_string(),
                Escaped(&v.installed_version).to_string(),
                v.fixed_version
                    .as_deref()
                    .map_or("-".to_string(), |f| Escaped(f).to_string()),
                Escaped(&v.summary).to_string(),
            ]
        })
        .collect();
    // Every column but the last (the summary) padded to its widest cell.
    let mut widths = [0usize; 5];
    for r in std::iter::once(&header).chain(&rows) {
        for (w, cell) in widths.iter_mut().zip(r) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let rows = std::iter::once((&header, None)).chain(
        rows.iter()
            .zip(&report.vulnerabilities)
            .map(|(r, v)| (r, Some(v.severity))),
    );
    for (cells, severity) in rows {
        let mut line = String::new();
        for (i, cell) in cells.iter().enumerate() {
            let pad = widths
                .get(i)
                .map_or(0, |w| w.saturating_sub(cell.chars().count()));
            let shown = match severity.filter(|_| i == 0) {
                Some(s) => paint(color, severity_color(s), cell),
                None => cell.clone(),
            };
            let _ = write!(line, "{shown}{}  ", " ".repeat(pad));
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
    out
}
