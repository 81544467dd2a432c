//! What the rest of kubevigil keeps of an image's scan: counts per severity, the worst few
//! vulnerabilities, and the image's age and base image. `kubevigil scan --images`, the monitor
//! and the admission webhook judge workloads by it; the vulnerability database caches it per
//! image digest.

use serde::{Deserialize, Serialize};

use crate::osv::Severity;
use crate::report::ScanReport;

/// Vulnerabilities named in a summary, most severe first.
pub const TOP: usize = 5;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSummary {
    /// The reference the image was scanned by.
    pub reference: String,
    /// The manifest digest (`sha256:...`), when the image came from a registry or a layout.
    pub digest: Option<String>,
    /// When the image was built (its config's `created`, RFC 3339).
    pub created: Option<String>,
    /// The base image, from the `org.opencontainers.image.base.name` label.
    pub base_image: Option<String>,
    pub critical: usize,
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub unknown: usize,
    /// Vulnerabilities with a fixed version.
    pub fixable: usize,
    pub top: Vec<TopVulnerability>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopVulnerability {
    pub id: String,
    pub package: String,
    pub installed_version: String,
    pub fixed_version: Option<String>,
    pub severity: Severity,
}

impl ImageSummary {
    pub fn of(
        report: &ScanReport,
        digest: Option<String>,
        created: Option<String>,
        base_image: Option<String>,
    ) -> ImageSummary {
        let count = |s: Severity| {
            report
                .vulnerabilities
                .iter()
                .filter(|v| v.severity == s)
                .count()
        };
        ImageSummary {
            reference: report.target.clone(),
            digest,
            created,
            base_image,
            critical: count(Severity::Critical),
            high: count(Severity::High),
            medium: count(Severity::Medium),
            low: count(Severity::Low),
            unknown: count(Severity::Unknown),
            fixable: report
                .vulnerabilities
                .iter()
                .filter(|v| v.fixed_version.is_some())
                .count(),
            // The report is sorted most severe first.
            top: report
                .vulnerabilities
                .iter()
                .take(TOP)
                .map(|v| TopVulnerability {
                    id: v.id.clone(),
                    package: v.package.clone(),
                    installed_version: v.installed_version.clone(),
                    fixed_version: v.fixed_version.clone(),
                    severity: v.severity,
                })
                .collect(),
        }
    }

    pub fn total(&self) -> usize {
        self.critical + self.high + self.medium + self.low + self.unknown
    }

    /// The counts per severity, most severe first.
    pub fn counts(&self) -> [(usize, Severity); 5] {
        [
            (self.critical, Severity::Critical),
            (self.high, Severity::High),
            (self.medium, Severity::Medium),
            (self.low, Severity::Low),
            (self.unknown, Severity::Unknown),
        ]
    }

    /// The most severe vulnerability's severity; `None` without any.
    pub fn worst(&self) -> Option<Severity> {
        self.counts()
            .into_iter()
            .find(|(n, _)| *n > 0)
            .map(|(_, s)| s)
    }

    /// How many vulnerabilities have at least `severity`.
    pub fn at_least(&self, severity: Severity) -> usize {
        self.counts()
            .into_iter()
            .filter(|(_, s)| *s >= severity)
            .map(|(n, _)| n)
            .sum()
    }

    /// One sentence for a finding or an admission denial: counts, the worst vulnerabilities
    /// with their fixes, the image's age (against `now_ms`) and base image.
    pub fn describe(&self, now_ms: Option<i64>) -> String {
        let mut counts = Vec::new();
        for (n, s) in self.counts() {
            if n > 0 {
                let s = if s == Severity::Unknown {
                    "of unknown severity"
                } else {
                    s.as_str()
                };
                counts.push(format!("{n} {s}"));
            }
        }
        let mut out = format!(
            "{} vulnerabilit{} ({}; {} with a fix)",
            self.total(),
            if self.total() == 1 { "y" } else { "ies" },
            counts.join(", "),
            self.fixable
        );
        if !self.top.is_empty() {
            let worst: Vec<String> = self
                .top
                .iter()
                .map(|v| {
                    let fix = v
                        .fixed_version
                        .as_deref()
                        .map_or("no fix yet".to_string(), |f| format!("fixed in {f}"));
                    format!("{} in {} {} ({fix})", v.id, v.package, v.installed_version)
                })
                .collect();
            out.push_str(&format!(": {}", worst.join(", ")));
        }
        if let Some(created) = &self.created {
            out.push_str(&format!("; built {created}"));
            if let (Some(now), Some(at)) =
                (now_ms, kubevigil_model::time::parse_rfc3339_ms(created))
            {
                let days = (now - at).div_euclid(86_400_000);
                if days >= 0 {
                    out.push_str(&format!(" ({days} days ago)"));
                }
            }
        }
        if let Some(base) = &self.base_image {
            out.push_str(&format!("; base image {base}"));
        }
        out
    }
}
