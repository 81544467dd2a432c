//! A scan's report in the standard formats: CycloneDX 1.6 JSON (the image's SBOM with its
//! vulnerabilities, <https://cyclonedx.org/docs/1.6/json/>) and SARIF 2.1.0 (one result per
//! vulnerable package, <https://docs.oasis-open.org/sarif/sarif/v2.1.0/sarif-v2.1.0.html>).

use std::collections::BTreeMap;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::osv::Severity;
use crate::package::Package;
use crate::purl::{LANGUAGE_TYPES, NAMESPACED_TYPES, Purl};
use crate::report::ScanReport;

/// The package URL of a package, as SBOM tools write it.
pub fn purl_of(package: &Package) -> Option<Purl> {
    let (family, release) = package
        .ecosystem
        .split_once(':')
        .unwrap_or((package.ecosystem.as_str(), ""));
    let mut qualifiers = BTreeMap::new();
    let (kind, namespace, name) = match family {
        "Debian" | "Ubuntu" | "Alpine" | "Wolfi" | "Chainguard" | "Red Hat" | "Rocky Linux"
        | "AlmaLinux" | "openSUSE" | "SUSE" => {
            let kind = match family {
                "Debian" | "Ubuntu" => "deb",
                "Alpine" | "Wolfi" | "Chainguard" => "apk",
                _ => "rpm",
            };
            let namespace = match family {
                "Red Hat" => "redhat".to_string(),
                "Rocky Linux" => "rocky".to_string(),
                f => f.to_ascii_lowercase(),
            };
            if !release.is_empty() {
                let release = release.split(':').next().unwrap_or(release);
                qualifiers.insert(
                    "distro".to_string(),
                    format!("{namespace}-{}", release.trim_start_matches('v')),
                );
            }
            if let Some(source) = &package.source {
                qualifiers.insert("upstream".to_string(), source.clone());
            }
            (kind, Some(namespace), package.name.clone())
        }
        _ => {
            let (kind, _) = LANGUAGE_TYPES.iter().find(|(_, e)| *e == family)?;
            let (namespace, name) = match *kind {
                "maven" => {
                    let (group, artifact) = package.name.split_once(':')?;
                    (Some(group.to_string()), artifact.to_string())
                }
                // The purl specification lowercases PyPI names.
                "pypi" => (None, package.name.to_ascii_lowercase()),
                k if NAMESPACED_TYPES.contains(&k) => match package.name.rsplit_once('/') {
                    Some((ns, n)) => (Some(ns.to_string()), n.to_string()),
                    None => (None, package.name.clone()),
                },
                _ => (None, package.name.clone()),
            };
            (*kind, namespace, name)
        }
    };
    let version = if family == "Go" && package.name != "stdlib" {
        format!("v{}", package.version)
    } else {
        package.version.clone()
    };
    Some(Purl {
        kind: kind.to_string(),
        namespace,
        name,
        version: Some(version),
        qualifiers,
    })
}

fn bom_ref(package: &Package) -> String {
    let id = purl_of(package).map_or_else(
        || format!("{}/{}@{}", package.ecosystem, package.name, package.version),
        |p| p.to_string(),
    );
    format!("{id}#{}", package.path)
}

/// An RFC 4122 UUID (version 5 layout) derived from the report, so that the same scan gives
/// the same serial number.
fn serial_number(report: &ScanReport, timestamp: &str) -> String {
    let mut h = Sha256::new();
    h.update(report.target.as_bytes());
    h.update(timestamp.as_bytes());
    for p in &report.packages {
        h.update(bom_ref(p).as_bytes());
    }
    let mut b: [u8; 16] = h.finalize()[..16].try_into().unwrap_or([0; 16]);
    b[6] = (b[6] & 0x0f) | 0x50;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// The report as a CycloneDX 1.6 document: the image as `metadata.component`, the OS and every
/// package as components (purl, and the file it was found in as the `kubevigil:path`
/// property), and the vulnerabilities with their ratings and the components they affect.
pub fn cyclonedx(report: &ScanReport, tool_version: &str, timestamp: &str) -> Value {
    let mut components = Vec::new();
    if let Some(os) = &report.os {
        components.push(json!({
            "type": "operating-system", "bom-ref": "os", "name": os.family, "version": os.version,
        }));
    }
    for p in &report.packages {
        let mut c = json!({
            "type": "library", "bom-ref": bom_ref(p), "name": p.name, "version": p.version,
            "properties": [{"name": "kubevigil:path", "value": p.path}, {"name": "kubevigil:ecosystem", "value": p.ecosystem}],
        });
        if let Some(purl) = purl_of(p) {
            c["purl"] = json!(purl.to_string());
        }
        components.push(c);
    }
    let vulnerabilities: Vec<Value> = report
        .vulnerabilities
        .iter()
        .map(|v| {
            let affected: Vec<Value> = report
                .packages
                .iter()
                .filter(|p| p.name == v.package && p.version == v.installed_version && p.ecosystem == v.ecosystem)
                .map(|p| json!({"ref": bom_ref(p), "versions": [{"version": p.version, "status": "affected"}]}))
                .collect();
            let mut rating = json!({"severity": v.severity.as_str()});
            if let Some(score) = v.cvss {
                rating["score"] = json!(score);
            }
            let mut out = json!({
                "id": v.id,
                "source": {"name": "OSV", "url": format!("https://osv.dev/vulnerability/{}", v.id)},
                "references": v.aliases.iter().map(|a| json!({"id": a, "source": {"name": "OSV", "url": format!("https://osv.dev/vulnerability/{a}")}})).collect::<Vec<_>>(),
                "ratings": [rating],
                "description": v.summary,
                "affects": affected,
            });
            if let Some(fixed) = &v.fixed_version {
                out["recommendation"] = json!(format!("Upgrade {} to {fixed} or later.", v.package));
            }
            out
        })
        .collect();
    json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial_number(report, timestamp),
        "version": 1,
        "metadata": {
            "timestamp": timestamp,
            "tools": {"components": [{"type": "application", "name": "kubevigil", "version": tool_version}]},
            "component": {"type": "container", "bom-ref": "image", "name": report.target},
        },
        "components": components,
        "vulnerabilities": vulnerabilities,
    })
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Unknown => "note",
    }
}

/// The report as SARIF 2.1.0: a rule per vulnerability id (with `security-severity`, the CVSS
/// score GitHub code scanning ranks by), a result per vulnerable package at its file.
pub fn sarif(report: &ScanReport, tool_version: &str) -> Value {
    let mut rules: BTreeMap<&str, Value> = BTreeMap::new();
    let mut results = Vec::new();
    for v in &report.vulnerabilities {
        rules.entry(&v.id).or_insert_with(|| {
            let mut properties = json!({"tags": ["security", "vulnerability"]});
            if let Some(score) = v.cvss {
                properties["security-severity"] = json!(format!("{score:.1}"));
            }
            json!({
                "id": v.id,
                "shortDescription": {"text": if v.summary.is_empty() { v.id.clone() } else { v.summary.clone() }},
                "helpUri": format!("https://osv.dev/vulnerability/{}", v.id),
                "properties": properties,
            })
        });
        let fix = v
            .fixed_version
            .as_ref()
            .map_or("no fixed version known".to_string(), |f| {
                format!("fixed in {f}")
            });
        results.push(json!({
            "ruleId": v.id,
            "level": sarif_level(v.severity),
            "message": {"text": format!("{} {} ({}) is affected by {}: {fix}. {}", v.package, v.installed_version, v.ecosystem, v.id, v.summary)},
            "locations": [{"physicalLocation": {"artifactLocation": {"uri": v.path.trim_start_matches('/')}}}],
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kubevigil", "version": tool_version,
                "informationUri": "https://github.com/kubevigil/kubevigil",
                "rules": rules.into_values().collect::<Vec<_>>(),
            }},
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn purl(ecosystem: &str, name: &str, version: &str) -> Option<String> {
        purl_of(&Package {
            name: name.into(),
            version: version.into(),
            ecosystem: ecosystem.into(),
            source: None,
            path: "/x".into(),
            source_version: None,
        })
        .map(|p| p.to_string())
    }

    #[test]
    fn purls_as_sbom_tools_write_them() {
        let cases = [
            (
                "Go",
                "github.com/gorilla/mux",
                "1.8.0",
                "pkg:golang/github.com/gorilla/mux@v1.8.0",
            ),
            ("Go", "stdlib", "1.21.3", "pkg:golang/stdlib@1.21.3"),
            (
                "Maven",
                "org.apache.logging.log4j:log4j-core",
                "2.14.1",
                "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            ),
            (
                "npm",
                "@babel/core",
                "7.22.0",
                "pkg:npm/%40babel/core@7.22.0",
            ),
            ("PyPI", "Django", "4.2", "pkg:pypi/django@4.2"),
            ("crates.io", "serde", "1.0.200", "pkg:cargo/serde@1.0.200"),
            (
                "Alpine:v3.19",
                "musl",
                "1.2.4-r2",
                "pkg:apk/alpine/musl@1.2.4-r2?distro=alpine-3.19",
            ),
        ];
        for (eco, name, version, want) in cases {
            assert_eq!(
                purl(eco, name, version).as_deref(),
                Some(want),
                "{eco} {name}"
            );
        }
        assert_eq!(purl("Haiku", "x", "1"), None);
        assert_eq!(purl("Maven", "no-group", "1"), None);
    }
}
