//! OSV records (the Open Source Vulnerability format, schema 1.x) and whether one affects a
//! package version.
//!
//! Follows <https://ossf.github.io/osv-schema/> (ossf/osv-schema `docs/schema.md`):
//! - the record fields of "Field details" and the requirements of `validation/schema.json`
//!   (`id` and `modified` required, `ranges[].type` one of ECOSYSTEM/SEMVER/GIT, a GIT range
//!   needs `repo`, every event object has exactly one of `introduced`, `fixed`,
//!   `last_affected`, `limit`);
//! - "Evaluation" (section `affected[].ranges[].events` and its pseudo-code): events sorted by
//!   version, `introduced: "0"` before every version, a version is affected while the last
//!   event at or below it is an introduction; `limit` caps the range;
//! - `affected[].package.ecosystem` ("Defined ecosystems"): `Debian:12`, `Ubuntu:22.04:LTS`,
//!   `Alpine:v3.19`; the part after the first `:` is the release.
//!
//! Records come from the internet: parsing never panics, caps the input at
//! [`MAX_RECORD_BYTES`], and an error names the JSON path that broke the schema. Matching skips
//! what it cannot evaluate (an event version the comparator refuses) instead of failing.

use std::cmp::Ordering;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::cvss;

/// A record larger than this is refused unparsed (the largest osv.dev records, Linux kernel
/// CVEs with thousands of commits, are a few hundred KiB).
pub const MAX_RECORD_BYTES: usize = 8 << 20;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OsvError {
    #[error("record of {0} bytes is over the {MAX_RECORD_BYTES} byte cap")]
    TooLarge(usize),
    #[error("{path}: {message}")]
    Json { path: String, message: String },
    #[error("{id}: {path}: {message}")]
    Schema {
        id: String,
        path: String,
        message: String,
    },
}

impl OsvError {
    /// The record id, when the record got far enough to have one.
    pub fn id(&self) -> Option<&str> {
        match self {
            OsvError::Schema { id, .. } if !id.is_empty() => Some(id),
            _ => None,
        }
    }
}

/// One OSV record. Unknown fields are ignored (later schema minor versions add some).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_version: Option<String>,
    pub id: String,
    /// RFC 3339 UTC timestamp of the last change; see [`timestamp`].
    pub modified: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawn: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub aliases: Vec<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub related: Vec<String>,
    /// The upstream vulnerabilities this record was derived from (schema 1.7): Debian's
    /// `DEBIAN-CVE-2024-0727` names `CVE-2024-0727`.
    #[serde(
        default,
        deserialize_with = "null_default",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub upstream: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub severity: Vec<SeverityScore>,
    #[serde(default, deserialize_with = "null_default")]
    pub affected: Vec<Affected>,
    #[serde(default, deserialize_with = "null_default")]
    pub references: Vec<Reference>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

/// `severity[]`: a scoring system and its score (a CVSS vector, or Ubuntu's priority word).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityScore {
    /// `CVSS_V2`, `CVSS_V3`, `CVSS_V4`, `Ubuntu`; others are kept and ignored in scoring.
    #[serde(rename = "type")]
    pub kind: String,
    pub score: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// Optional in the schema: an `affected` entry may describe only GIT ranges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageRef>,
    #[serde(default, deserialize_with = "null_default")]
    pub severity: Vec<SeverityScore>,
    #[serde(default, deserialize_with = "null_default")]
    pub ranges: Vec<Range>,
    #[serde(default, deserialize_with = "null_default")]
    pub versions: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecosystem_specific: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageRef {
    pub ecosystem: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purl: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Range {
    #[serde(rename = "type")]
    pub kind: RangeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
    pub events: Vec<Event>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_specific: Option<Value>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum RangeType {
    Ecosystem,
    Semver,
    Git,
}

/// One event of a range. In JSON an object with exactly one of these keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    Introduced(String),
    Fixed(String),
    LastAffected(String),
    Limit(String),
}

impl Event {
    pub fn version(&self) -> &str {
        match self {
            Event::Introduced(v) | Event::Fixed(v) | Event::LastAffected(v) | Event::Limit(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let map = serde_json::Map::<String, Value>::deserialize(d)?;
        let mut entries = map.into_iter();
        let (Some((key, value)), None) = (entries.next(), entries.next()) else {
            return Err(D::Error::custom(
                "an event must have exactly one of introduced, fixed, last_affected, limit",
            ));
        };
        let Value::String(version) = value else {
            return Err(D::Error::custom(format!("event {key}: expected a string")));
        };
        match key.as_str() {
            "introduced" => Ok(Event::Introduced(version)),
            "fixed" => Ok(Event::Fixed(version)),
            "last_affected" => Ok(Event::LastAffected(version)),
            "limit" => Ok(Event::Limit(version)),
            other => Err(D::Error::custom(format!(
                "unknown event {other:?} (expected introduced, fixed, last_affected or limit)"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reference {
    #[serde(rename = "type")]
    pub kind: String,
    pub url: String,
}

/// Some producers write `null` for an empty list; the schema allows neither, but refusing a
/// whole advisory for it would hide a vulnerability.
fn null_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// Parses and validates one record.
pub fn parse(bytes: &[u8]) -> Result<Record, OsvError> {
    if bytes.len() > MAX_RECORD_BYTES {
        return Err(OsvError::TooLarge(bytes.len()));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let record: Record = serde_path_to_error::deserialize(&mut de).map_err(|e| OsvError::Json {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })?;
    de.end().map_err(|e| OsvError::Json {
        path: ".".into(),
        message: e.to_string(),
    })?;
    validate(&record)?;
    Ok(record)
}

fn validate(r: &Record) -> Result<(), OsvError> {
    let err = |path: String, message: &str| OsvError::Schema {
        id: r.id.clone(),
        path,
        message: message.to_string(),
    };
    if r.id.trim().is_empty() {
        return Err(err("id".into(), "must not be empty"));
    }
    if timestamp(&r.modified).is_none() {
        return Err(err("modified".into(), "not an RFC 3339 timestamp"));
    }
    for (field, value) in [("published", &r.published), ("withdrawn", &r.withdrawn)] {
        if value.as_deref().is_some_and(|v| timestamp(v).is_none()) {
            return Err(err(field.into(), "not an RFC 3339 timestamp"));
        }
    }
    for (i, a) in r.affected.iter().enumerate() {
        if let Some(p) = &a.package {
            if p.ecosystem.is_empty() {
                return Err(err(format!("affected[{i}].package.ecosystem"), "empty"));
            }
            if p.name.is_empty() {
                return Err(err(format!("affected[{i}].package.name"), "empty"));
            }
        }
        for (j, range) in a.ranges.iter().enumerate() {
            let path = format!("affected[{i}].ranges[{j}]");
            if range.kind == RangeType::Git && range.repo.as_deref().is_none_or(str::is_empty) {
                return Err(err(format!("{path}.repo"), "required for a GIT range"));
            }
            if range.events.is_empty() {
                return Err(err(format!("{path}.events"), "must not be empty"));
            }
            if !range
                .events
                .iter()
                .any(|e| matches!(e, Event::Introduced(_)))
            {
                return Err(err(
                    format!("{path}.events"),
                    "needs at least one introduced event",
                ));
            }
            for (k, e) in range.events.iter().enumerate() {
                if e.version().is_empty() {
                    return Err(err(format!("{path}.events[{k}]"), "empty version"));
                }
            }
        }
    }
    Ok(())
}

/// An RFC 3339 timestamp as (seconds since the Unix epoch, nanoseconds), offset applied, so
/// that `modified` values compare correctly whatever their fraction digits and offset. Read by
/// the model's RFC 3339 parser: to the microsecond (OSV's exporters write at most that).
pub fn timestamp(s: &str) -> Option<(i64, u32)> {
    let micros = kubevigil_model::time::parse_rfc3339_micros(s)?;
    let nanos = u32::try_from(micros.rem_euclid(1_000_000) * 1000).ok()?;
    Some((micros.div_euclid(1_000_000), nanos))
}

/// How the versions of a range are ordered, handed to the comparator of [`affects`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeKind<'a> {
    /// An ECOSYSTEM range: the ordering of the affected package's ecosystem (`Debian:12`).
    Ecosystem(&'a str),
    /// A SEMVER range: Semantic Versioning 2.0.0 precedence.
    Semver,
}

/// The comparator [`affects`] uses: orders two versions for a range kind, `None` when either
/// is not a valid version for it.
pub type Compare<'c> = dyn Fn(RangeKind<'_>, &str, &str) -> Option<Ordering> + 'c;

/// Why a record affects a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    /// The index in `record.affected` that matched.
    pub affected_index: usize,
    /// The version that fixes the range the version is in, when the record names one.
    pub fixed: Option<String>,
}

/// Whether `record` affects `version` of package `name` in `ecosystem`, by the OSV
/// "Evaluation" rules. Withdrawn records never match; the first matching `affected` entry wins.
pub fn affects(
    record: &Record,
    ecosystem: &str,
    name: &str,
    version: &str,
    compare: &Compare<'_>,
) -> Option<Match> {
    if record.withdrawn.is_some() {
        return None;
    }
    for (index, affected) in record.affected.iter().enumerate() {
        let Some(package) = &affected.package else {
            continue;
        };
        if !ecosystem_matches(&package.ecosystem, ecosystem)
            || !name_matches(&package.ecosystem, &package.name, name)
        {
            continue;
        }
        let kind_of = |range: &Range| match range.kind {
            RangeType::Ecosystem => Some(RangeKind::Ecosystem(&package.ecosystem)),
            RangeType::Semver => Some(RangeKind::Semver),
            // GIT ranges are commits: they cannot order a package version.
            RangeType::Git => None,
        };
        let mut in_range: Option<Option<String>> = None;
        for range in &affected.ranges {
            let Some(kind) = kind_of(range) else { continue };
            if let Some(fixed) = range_includes(&range.events, kind, version, compare) {
                in_range = Some(fixed);
                break;
            }
        }
        if let Some(fixed) = in_range {
            return Some(Match {
                affected_index: index,
                fixed,
            });
        }
        // versions[] is in the ecosystem's own spelling: equal strings, or equal under the
        // ordering of the entry's first orderable range (the ecosystem's when there is none).
        let list_kind = affected
            .ranges
            .iter()
            .find_map(kind_of)
            .unwrap_or(RangeKind::Ecosystem(&package.ecosystem));
        let listed = affected
            .versions
            .iter()
            .any(|v| v == version || compare(list_kind, v, version) == Some(Ordering::Equal));
        if listed {
            return Some(Match {
                affected_index: index,
                fixed: None,
            });
        }
    }
    None
}

/// `Some(fix)` when `version` is inside the range (`fix` the first fixed version above it),
/// `None` when outside or when the version cannot be ordered.
fn range_includes(
    events: &[Event],
    kind: RangeKind<'_>,
    version: &str,
    compare: &Compare<'_>,
) -> Option<Option<String>> {
    let is_zero = |e: &Event| matches!(e, Event::Introduced(v) if v == "0");
    // Events whose version the comparator cannot order are dropped (not fatal): one bad event
    // must not hide the rest of the range. compare(v, v) validates a version on its own.
    let mut sorted: Vec<&Event> = events
        .iter()
        .filter(|e| is_zero(e) || compare(kind, e.version(), e.version()).is_some())
        .collect();
    compare(kind, version, version)?; // a version the kind cannot order is in no range
    // Insertion sort with a total fallback: a comparator that is not a total order (hostile
    // versions) must not panic the way slice::sort may with an inconsistent Ord.
    for i in 1..sorted.len() {
        let mut j = i;
        while j > 0 && event_order(sorted[j - 1], sorted[j], kind, compare) == Ordering::Greater {
            sorted.swap(j - 1, j);
            j -= 1;
        }
    }
    let cmp = |e: &Event| -> Option<Ordering> {
        if is_zero(e) {
            Some(Ordering::Greater) // version > "0"
        } else {
            compare(kind, version, e.version())
        }
    };
    let mut affected = false;
    for e in &sorted {
        let Some(ord) = cmp(e) else { continue };
        match e {
            Event::Introduced(_) if ord != Ordering::Less => affected = true,
            Event::Fixed(_) if ord != Ordering::Less => affected = false,
            Event::LastAffected(_) if ord == Ordering::Greater => affected = false,
            _ => {}
        }
    }
    // limit: versions at or above any limit are outside the range.
    if sorted
        .iter()
        .any(|e| matches!(e, Event::Limit(_)) && cmp(e) != Some(Ordering::Less))
    {
        affected = false;
    }
    if !affected {
        return None;
    }
    let fixed = sorted
        .iter()
        .find(|e| matches!(e, Event::Fixed(_)) && cmp(e) == Some(Ordering::Less))
        .map(|e| e.version().to_string());
    Some(fixed)
}

fn event_order(a: &Event, b: &Event, kind: RangeKind<'_>, compare: &Compare<'_>) -> Ordering {
    let zero = |e: &Event| matches!(e, Event::Introduced(v) if v == "0");
    match (zero(a), zero(b)) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => compare(kind, a.version(), b.version()).unwrap_or(Ordering::Equal),
    }
}

/// An advisory's ecosystem matches a package's when equal, or when one extends the other by
/// `:`-separated parts: `Debian` covers `Debian:12`, `Ubuntu:22.04:LTS` is `Ubuntu:22.04`;
/// `Debian:11` is not `Debian:12`.
pub fn ecosystem_matches(advisory: &str, package: &str) -> bool {
    let extends = |long: &str, short: &str| {
        long.strip_prefix(short)
            .is_some_and(|rest| rest.starts_with(':'))
    };
    advisory == package || extends(advisory, package) || extends(package, advisory)
}

/// The ecosystem family, the part before the first `:` (`Debian:12` → `Debian`).
pub fn family(ecosystem: &str) -> &str {
    ecosystem.split(':').next().unwrap_or(ecosystem)
}

/// A name as the index compares it: PyPI names normalized by PEP 503 (lowercase, runs of `-`,
/// `_`, `.` as one `-`), others as they are.
pub fn normalize_name(ecosystem: &str, name: &str) -> String {
    if family(ecosystem) != "PyPI" {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len());
    let mut in_separator = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_separator {
                out.push('-');
            }
            in_separator = true;
        } else {
            out.extend(c.to_lowercase());
            in_separator = false;
        }
    }
    out
}

fn name_matches(ecosystem: &str, advisory: &str, package: &str) -> bool {
    advisory == package || normalize_name(ecosystem, advisory) == normalize_name(ecosystem, package)
}

/// Qualitative severity, most severe last.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    #[default]
    Unknown,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Most severe first.
    pub const ALL: [Severity; 5] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Unknown,
    ];

    /// A severity by its name, any case (`critical`, `high`, `medium`, `low`, `unknown`).
    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL
            .into_iter()
            .find(|v| v.as_str().eq_ignore_ascii_case(s))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Unknown => "unknown",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }
}

/// The severity of a record for one of its `affected` entries, and the CVSS score it came from.
///
/// CVSS v4 vectors first, then v3, then v2 (the entry's `severity[]` before the record's; the
/// schema allows only one of them), then a text rating (`database_specific.severity` or
/// `ecosystem_specific.severity` of the entry, then of the record, then an `Ubuntu` severity).
pub fn severity(record: &Record, affected_index: usize) -> (Severity, Option<f64>) {
    let affected = record.affected.get(affected_index);
    let scores: Vec<&SeverityScore> = affected
        .map(|a| a.severity.iter())
        .into_iter()
        .flatten()
        .chain(record.severity.iter())
        .collect();
    for kind in ["CVSS_V4", "CVSS_V3"] {
        for s in scores.iter().filter(|s| s.kind == kind) {
            if let Ok(score) = cvss::base_score(&s.score) {
                return (cvss::rating(score), Some(score));
            }
        }
    }
    for s in scores.iter().filter(|s| s.kind == "CVSS_V2") {
        if let Ok(score) = cvss::v2_base_score(&s.score) {
            return (cvss::v2_rating(score), Some(score));
        }
    }
    let texts = affected
        .into_iter()
        .flat_map(|a| [&a.database_specific, &a.ecosystem_specific])
        .chain([&record.database_specific])
        .filter_map(|v| v.as_ref()?.get("severity")?.as_str())
        .chain(
            scores
                .iter()
                .filter(|s| s.kind == "Ubuntu")
                .map(|s| s.score.as_str()),
        );
    for text in texts {
        let rated = text_rating(text);
        if rated != Severity::Unknown {
            return (rated, None);
        }
    }
    (Severity::Unknown, None)
}

/// GHSA (`CRITICAL`, `HIGH`, `MODERATE`, `LOW`), Ubuntu priorities (`negligible` .. `critical`)
/// and the usual words.
fn text_rating(text: &str) -> Severity {
    match text.trim().to_ascii_lowercase().as_str() {
        "critical" => Severity::Critical,
        "high" | "important" => Severity::High,
        "moderate" | "medium" => Severity::Medium,
        "low" | "negligible" | "unimportant" => Severity::Low,
        _ => Severity::Unknown,
    }
}
