//! What `kubevigil image scan` reports: the image's OS and packages, and the vulnerabilities
//! that OSV records give them, aliases merged.
//!
//! JSON contract (scripts rely on it): `{"target", "os": {"family", "version"}, "packages":
//! [{"name", "version", "ecosystem", "source", "path"}], "vulnerabilities": [{"id", "aliases",
//! "package", "installedVersion", "fixedVersion", "severity", "cvss", "summary"}]}`. `os` is
//! `null` when the image has no os-release; `source`, `fixedVersion` and `cvss` are `null` when
//! unknown; `severity` is `critical`, `high`, `medium`, `low` or `unknown`.

use std::cmp::Ordering;

use serde::Serialize;

use crate::osv::{self, RangeKind, Record, Severity};
use crate::package::{Os, Package};
use crate::version::{self, Scheme};

#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub target: String,
    pub os: Option<Os>,
    pub packages: Vec<Package>,
    pub vulnerabilities: Vec<Vulnerability>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Vulnerability {
    /// The CVE when one of the merged records names it, else the first record's id.
    pub id: String,
    /// Every other id of the merged records and their aliases, sorted.
    pub aliases: Vec<String>,
    pub package: String,
    pub installed_version: String,
    pub fixed_version: Option<String>,
    pub severity: Severity,
    pub cvss: Option<f64>,
    pub summary: String,
    /// The package's ecosystem and file (SARIF and CycloneDX point at them).
    #[serde(skip)]
    pub ecosystem: String,
    #[serde(skip)]
    pub path: String,
}

/// How two versions of a range compare, with the ordering the range's kind names.
pub fn compare_in(kind: RangeKind<'_>, a: &str, b: &str) -> Option<Ordering> {
    let scheme = match kind {
        RangeKind::Semver => Scheme::Semver,
        RangeKind::Ecosystem(eco) => Scheme::for_ecosystem(eco)?,
    };
    version::compare(scheme, a, b).ok()
}

/// A summary fit for one line: the record's summary, else the first line of its details.
fn summary_of(record: &Record) -> String {
    let text = record
        .summary
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .or(record.details.as_deref())
        .unwrap_or_default();
    let line = text
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim();
    let mut out: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// The vulnerabilities of `packages`: each package's candidate records (from `lookup`, by
/// ecosystem and the name advisories use) that affect its version, the records of one
/// vulnerability (linked by ids and aliases) merged into one entry per package.
pub fn vulnerabilities(
    packages: &[Package],
    lookup: &mut dyn FnMut(&str, &str) -> Vec<Record>,
) -> Vec<Vulnerability> {
    let mut out = Vec::new();
    // The binary packages of one source package (libssl3, openssl, libssl-dev) share their
    // advisories: each (ecosystem, name) is looked up once.
    let mut looked_up: std::collections::HashMap<(&str, &str), Vec<Record>> = Default::default();
    for package in packages {
        let (name, version) = package.advisory_key();
        let records = looked_up
            .entry((&package.ecosystem, name))
            .or_insert_with(|| lookup(&package.ecosystem, name));
        let mut hits: Vec<(Record, osv::Match)> = records
            .iter()
            .filter_map(|r| {
                let m = osv::affects(r, &package.ecosystem, name, version, &compare_in)?;
                Some((r.clone(), m))
            })
            .collect();
        hits.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        for group in merge_aliases(&hits) {
            out.push(merged(package, &hits, &group));
        }
    }
    out.sort_by(|a, b| {
        b.severity
            .cmp(&a.severity)
            .then_with(|| a.package.cmp(&b.package))
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.installed_version.cmp(&b.installed_version))
    });
    // The same package at two paths (two copies of a jar) is one vulnerability to fix twice,
    // reported once.
    out.dedup_by(|a, b| {
        a.id == b.id && a.package == b.package && a.installed_version == b.installed_version
    });
    out
}

/// The names of one record's vulnerability: its id, aliases, and the upstream ids it was
/// derived from (a distribution's record names the CVE it tracks there).
fn ids_of(record: &Record) -> impl Iterator<Item = &str> {
    std::iter::once(record.id.as_str())
        .chain(record.aliases.iter().map(String::as_str))
        .chain(record.upstream.iter().map(String::as_str))
}

/// Groups of indexes into `hits` whose ids, aliases and upstream ids overlap.
fn merge_aliases(hits: &[(Record, osv::Match)]) -> Vec<Vec<usize>> {
    let mut groups: Vec<(Vec<usize>, Vec<&str>)> = Vec::new();
    for (i, (record, _)) in hits.iter().enumerate() {
        let ids: Vec<&str> = ids_of(record).collect();
        let mut joined: Option<usize> = None;
        let mut g = 0;
        while g < groups.len() {
            if groups[g].1.iter().any(|id| ids.contains(id)) {
                match joined {
                    None => {
                        groups[g].0.push(i);
                        groups[g].1.extend(&ids);
                        joined = Some(g);
                        g += 1;
                    }
                    Some(j) => {
                        // This record links two groups: one vulnerability.
                        let (members, names) = groups.remove(g);
                        groups[j].0.extend(members);
                        groups[j].1.extend(names);
                    }
                }
            } else {
                g += 1;
            }
        }
        if joined.is_none() {
            groups.push((vec![i], ids));
        }
    }
    groups
        .into_iter()
        .map(|(mut members, _)| {
            members.sort_unstable();
            members
        })
        .collect()
}

fn merged(package: &Package, hits: &[(Record, osv::Match)], group: &[usize]) -> Vulnerability {
    let ecosystem = package.ecosystem.as_str();
    let mut ids: Vec<&str> = group.iter().flat_map(|&i| ids_of(&hits[i].0)).collect();
    ids.sort_unstable();
    ids.dedup();
    let id = ids
        .iter()
        .find(|i| i.starts_with("CVE-"))
        .or(ids.first())
        .copied()
        .unwrap_or_default()
        .to_string();
    let aliases = ids
        .iter()
        .filter(|i| **i != id)
        .map(|s| s.to_string())
        .collect();
    let mut severity = Severity::Unknown;
    let mut cvss: Option<f64> = None;
    let mut fixed: Option<String> = None;
    let kind = RangeKind::Ecosystem(ecosystem);
    for &i in group {
        let (record, m) = &hits[i];
        let (s, score) = osv::severity(record, m.affected_index);
        severity = severity.max(s);
        if let Some(score) = score {
            cvss = Some(cvss.map_or(score, |c: f64| c.max(score)));
        }
        // The lowest fix above the installed version: the first upgrade that closes it.
        if let Some(f) = &m.fixed {
            let better = match &fixed {
                None => true,
                Some(current) => compare_in(kind, f, current) == Some(Ordering::Less),
            };
            if better {
                fixed = Some(f.clone());
            }
        }
    }
    let summary = group
        .iter()
        .map(|&i| summary_of(&hits[i].0))
        .find(|s| !s.is_empty())
        .unwrap_or_default();
    Vulnerability {
        id,
        aliases,
        package: package.name.clone(),
        // The binary package's own version, as installed (a distribution's fix is written
        // against the source package's).
        installed_version: package.version.clone(),
        fixed_version: fixed,
        severity,
        cvss,
        summary,
        ecosystem: package.ecosystem.clone(),
        path: package.path.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Record {
        osv::parse(json.as_bytes()).unwrap()
    }

    fn deb(name: &str, version: &str, source: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            ecosystem: "Debian:12".into(),
            source: Some(source.into()),
            path: "/var/lib/dpkg/status".into(),
            source_version: None,
        }
    }

    #[test]
    fn records_of_one_vulnerability_merge_and_the_lowest_fix_wins() {
        let records = [
            // Debian's record names the CVE as its upstream; a second record aliases it.
            record(
                r#"{"id":"DEBIAN-CVE-2024-0727","modified":"2024-09-18T03:15:10Z","upstream":["CVE-2024-0727"],
                "details":"PKCS12 crash\nmore","affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
                "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.13-1~deb12u1"}]}]}]}"#,
            ),
            record(
                r#"{"id":"DSA-5999-1","modified":"2024-09-18T03:15:10Z","aliases":["CVE-2024-0727"],
                "affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
                "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"3.0.14-1~deb12u1"}]}]}],
                "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H"}]}"#,
            ),
            // Fixed before the installed version: no match.
            record(
                r#"{"id":"DEBIAN-CVE-2020-1","modified":"2024-09-18T03:15:10Z","affected":[{"package":{"ecosystem":"Debian:12","name":"openssl"},
                "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.1.1"}]}]}]}"#,
            ),
            // Another release: no match.
            record(
                r#"{"id":"DEBIAN-CVE-2020-2","modified":"2024-09-18T03:15:10Z","affected":[{"package":{"ecosystem":"Debian:11","name":"openssl"},
                "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}"#,
            ),
        ];
        let packages = [
            deb("libssl3", "3.0.11-1~deb12u2", "openssl"),
            deb("openssl", "3.0.11-1~deb12u2", "openssl"),
            deb("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
        ];
        let mut asked = Vec::new();
        let found = vulnerabilities(&packages, &mut |eco, name| {
            asked.push(format!("{eco} {name}"));
            if name == "openssl" {
                records.to_vec()
            } else {
                Vec::new()
            }
        });
        // Distribution advisories are looked up by the source package, once for its two
        // binary packages; each binary package is reported.
        assert_eq!(asked, ["Debian:12 openssl", "Debian:12 zlib"]);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert_eq!(found[1].package, "openssl");
        let v = &found[0];
        assert_eq!(v.id, "CVE-2024-0727");
        assert_eq!(v.aliases, ["DEBIAN-CVE-2024-0727", "DSA-5999-1"]);
        assert_eq!(v.package, "libssl3");
        assert_eq!(v.installed_version, "3.0.11-1~deb12u2");
        assert_eq!(v.fixed_version.as_deref(), Some("3.0.13-1~deb12u1"));
        assert_eq!((v.severity, v.cvss), (Severity::High, Some(7.5)));
        assert_eq!(v.summary, "PKCS12 crash");
    }
}
