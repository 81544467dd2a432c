//! SBOMs in: the packages a CycloneDX 1.5/1.6 JSON or an SPDX 2.3 JSON document lists, named by
//! their package URLs, so that an SBOM is matched exactly as an image's own inventory.
//!
//! - CycloneDX: `components[]` (nested `components` too) with a `purl`; the operating system
//!   from a component of type `operating-system` (`name` = os-release ID, `version`)
//!   (<https://cyclonedx.org/docs/1.6/json/>).
//! - SPDX: `packages[]` with an `externalRefs[]` entry of `referenceType` `purl`
//!   (<https://spdx.github.io/spdx-spec/v2.3/package-information/#721-external-reference-field>);
//!   the operating system from a package whose `primaryPackagePurpose` is `OPERATING-SYSTEM`.
//!
//! Source packages come from what the common generators write: syft's `upstream` purl qualifier
//! (`upstream=openssl` or `upstream=openssl@3.0.11-1`), trivy's `aquasecurity:trivy:SrcName`
//! / `SrcVersion` / `SrcRelease` / `SrcEpoch` properties, and an rpm's source RPM file name.
//! A package without a purl, or with one naming no known ecosystem, is listed in
//! [`Sbom::errors`], never dropped silently.

use serde_json::Value;

use crate::package::{Os, Package, os_ecosystem};
use crate::purl::{LANGUAGE_TYPES, NAMESPACED_TYPES, Purl};

/// What an SBOM lists.
#[derive(Debug, Default)]
pub struct Sbom {
    /// What the document says it describes (CycloneDX `metadata.component`, SPDX `name`).
    pub subject: Option<String>,
    pub os: Option<Os>,
    pub packages: Vec<Package>,
    /// Packages that cannot be matched, and why.
    pub errors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SbomError {
    #[error("not JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("neither a CycloneDX (bomFormat) nor an SPDX (spdxVersion) JSON document")]
    Unknown,
    #[error("unsupported {0}")]
    Version(String),
}

/// Components and packages read at most: a bigger document is refused rather than held.
const MAX_COMPONENTS: usize = 1_000_000;

pub fn parse(json: &[u8]) -> Result<Sbom, SbomError> {
    let doc: Value = serde_json::from_slice(json)?;
    if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        let spec = doc.get("specVersion").and_then(Value::as_str).unwrap_or("");
        if !matches!(spec, "1.4" | "1.5" | "1.6") {
            return Err(SbomError::Version(format!(
                "CycloneDX specVersion {spec:?}"
            )));
        }
        return Ok(cyclonedx(&doc));
    }
    if let Some(v) = doc.get("spdxVersion").and_then(Value::as_str) {
        if v != "SPDX-2.3" && v != "SPDX-2.2" {
            return Err(SbomError::Version(format!("SPDX version {v:?}")));
        }
        return Ok(spdx(&doc));
    }
    Err(SbomError::Unknown)
}

fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

fn cyclonedx(doc: &Value) -> Sbom {
    let mut sbom = Sbom {
        subject: doc
            .pointer("/metadata/component")
            .and_then(|c| str_of(c, "name"))
            .map(str::to_string),
        ..Sbom::default()
    };
    let mut stack: Vec<&Value> = doc
        .get("components")
        .and_then(Value::as_array)
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let mut found = Vec::new();
    while let Some(c) = stack.pop() {
        if found.len() >= MAX_COMPONENTS {
            sbom.errors.push(format!(
                "more than {MAX_COMPONENTS} components: the rest not read"
            ));
            break;
        }
        if let Some(children) = c.get("components").and_then(Value::as_array) {
            stack.extend(children.iter());
            // A component that only groups others (an application and its libraries).
            if str_of(c, "purl").is_none() && !children.is_empty() {
                continue;
            }
        }
        if str_of(c, "type") == Some("operating-system") {
            sbom.os = Some(Os {
                family: str_of(c, "name").unwrap_or_default().to_ascii_lowercase(),
                version: str_of(c, "version").unwrap_or_default().to_string(),
            });
            continue;
        }
        let properties: Vec<(&str, &str)> = c
            .get("properties")
            .and_then(Value::as_array)
            .map(|props| {
                props
                    .iter()
                    .filter_map(|p| Some((str_of(p, "name")?, str_of(p, "value")?)))
                    .collect()
            })
            .unwrap_or_default();
        let label = str_of(c, "bom-ref").or(str_of(c, "name")).unwrap_or("?");
        found.push((
            label.to_string(),
            str_of(c, "purl").map(str::to_string),
            properties_owned(&properties),
        ));
    }
    finish(&mut sbom, found);
    sbom
}

fn properties_owned(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn spdx(doc: &Value) -> Sbom {
    let mut sbom = Sbom {
        subject: str_of(doc, "name").map(str::to_string),
        ..Sbom::default()
    };
    let mut found = Vec::new();
    for p in doc
        .get("packages")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .take(MAX_COMPONENTS)
    {
        if str_of(p, "primaryPackagePurpose") == Some("OPERATING-SYSTEM") {
            sbom.os = Some(Os {
                family: str_of(p, "name").unwrap_or_default().to_ascii_lowercase(),
                version: str_of(p, "versionInfo").unwrap_or_default().to_string(),
            });
            continue;
        }
        let purl = p
            .get("externalRefs")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|r| str_of(r, "referenceType") == Some("purl"))
            .and_then(|r| str_of(r, "referenceLocator"));
        let label = str_of(p, "SPDXID").or(str_of(p, "name")).unwrap_or("?");
        // The document-describing package of an image SBOM has no purl of a package.
        if purl.is_none() && str_of(p, "primaryPackagePurpose") == Some("CONTAINER") {
            continue;
        }
        found.push((label.to_string(), purl.map(str::to_string), Vec::new()));
    }
    finish(&mut sbom, found);
    sbom
}

type Found = (String, Option<String>, Vec<(String, String)>);

fn finish(sbom: &mut Sbom, found: Vec<Found>) {
    for (label, purl, properties) in found {
        let Some(purl) = purl else {
            sbom.errors
                .push(format!("{label}: no package URL (purl): cannot be matched"));
            continue;
        };
        match Purl::parse(&purl)
            .map_err(|e| e.to_string())
            .and_then(|p| package_of(&p, &properties, sbom.os.as_ref()))
        {
            Ok(Some(package)) => sbom.packages.push(package),
            Ok(None) => {}
            Err(e) => sbom.errors.push(format!("{label}: {e}")),
        }
    }
    sbom.packages.sort_by(|a, b| {
        (&a.ecosystem, &a.name, &a.version, &a.path).cmp(&(
            &b.ecosystem,
            &b.name,
            &b.version,
            &b.path,
        ))
    });
    sbom.packages.dedup();
}

/// The os-release ID and version that a distribution purl's `distro` qualifier names
/// (`debian-12`, `debian-12.4`, `alpine-3.19.1`, `rhel-9.3`, or trivy's bare `3.19.1`).
fn distro_of(purl: &Purl, os: Option<&Os>) -> Option<Os> {
    let family = purl
        .namespace
        .as_deref()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let family = match family.as_str() {
        "redhat" => "rhel".to_string(),
        "alma" => "almalinux".to_string(),
        f => f.to_string(),
    };
    match purl.qualifiers.get("distro") {
        Some(d) => {
            let version = match d.rsplit_once('-') {
                Some((_, v)) if v.starts_with(|c: char| c.is_ascii_digit()) => v,
                _ if d.starts_with(|c: char| c.is_ascii_digit()) => d.as_str(),
                _ => "",
            };
            Some(Os {
                family,
                version: version.to_string(),
            })
        }
        None => os.filter(|o| o.family == family).cloned().or(Some(Os {
            family,
            version: String::new(),
        })),
    }
}

fn package_of(
    purl: &Purl,
    properties: &[(String, String)],
    os: Option<&Os>,
) -> Result<Option<Package>, String> {
    let Some(version) = purl.version.clone() else {
        return Err(format!("package URL {purl} has no version"));
    };
    let prop = |name: &str| {
        properties
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let mut source = None;
    let mut source_version = None;
    let ecosystem = match purl.kind.as_str() {
        "deb" | "apk" | "rpm" => {
            let distro = distro_of(purl, os).unwrap_or(Os {
                family: String::new(),
                version: String::new(),
            });
            if distro.family.is_empty() {
                return Err(format!("package URL {purl} names no distribution"));
            }
            let eco = os_ecosystem(&distro);
            if let Some(up) = purl.qualifiers.get("upstream") {
                // syft: `openssl`, `openssl@3.0.11-1`; for rpm the source RPM's file name.
                let up = up.strip_suffix(".src.rpm").map_or(up.as_str(), |s| {
                    // name-version-release: the name is all but the last two '-' parts.
                    s.rsplitn(3, '-').nth(2).unwrap_or(s)
                });
                match up.split_once('@') {
                    Some((n, v)) => {
                        source = Some(n.to_string());
                        source_version = Some(v.to_string());
                    }
                    None => source = Some(up.to_string()),
                }
            }
            if let Some(name) = prop("aquasecurity:trivy:SrcName") {
                source = Some(name.to_string());
                if let Some(v) = prop("aquasecurity:trivy:SrcVersion") {
                    let mut v = v.to_string();
                    if let Some(r) = prop("aquasecurity:trivy:SrcRelease") {
                        v = format!("{v}-{r}");
                    }
                    if let Some(e) = prop("aquasecurity:trivy:SrcEpoch").filter(|e| *e != "0") {
                        v = format!("{e}:{v}");
                    }
                    source_version = Some(v);
                }
            }
            eco
        }
        // Generic and file components describe files, not packages with advisories.
        "generic" | "file" | "oci" | "docker" => return Ok(None),
        other => match LANGUAGE_TYPES.iter().find(|(t, _)| *t == other) {
            Some((_, ecosystem)) => ecosystem.to_string(),
            None => return Err(format!("package URL type {other:?} has no OSV ecosystem")),
        },
    };
    let name = match (purl.kind.as_str(), &purl.namespace) {
        ("maven", Some(group)) => format!("{group}:{}", purl.name),
        (kind, Some(ns)) if NAMESPACED_TYPES.contains(&kind) => format!("{ns}/{}", purl.name),
        _ => purl.name.clone(),
    };
    let mut version = match purl.kind.as_str() {
        "golang" => version.strip_prefix('v').unwrap_or(&version).to_string(),
        _ => version,
    };
    if purl.kind == "rpm"
        && let Some(epoch) = purl.qualifiers.get("epoch").filter(|e| *e != "0")
        && !version.contains(':')
    {
        version = format!("{epoch}:{version}");
    }
    if source_version.as_deref() == Some(version.as_str()) {
        source_version = None;
    }
    Ok(Some(Package {
        name,
        version,
        ecosystem,
        source,
        path: format!("purl:{purl}"),
        source_version,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(s: &Sbom) -> Vec<String> {
        s.packages
            .iter()
            .map(|p| {
                format!(
                    "{} {} {} {}",
                    p.ecosystem,
                    p.name,
                    p.version,
                    p.advisory_key().0
                )
            })
            .collect()
    }

    #[test]
    fn cyclonedx_as_syft_and_trivy_write_it() {
        let doc = br#"{"bomFormat":"CycloneDX","specVersion":"1.6","metadata":{"component":{"type":"container","name":"nginx:1.25"}},
          "components":[
            {"type":"operating-system","name":"debian","version":"12"},
            {"type":"library","bom-ref":"a","name":"libssl3","version":"3.0.11-1~deb12u2","purl":"pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl"},
            {"type":"library","name":"zlib1g","purl":"pkg:deb/debian/zlib1g@1:1.2.13.dfsg-1?distro=debian-12.4",
             "properties":[{"name":"aquasecurity:trivy:SrcName","value":"zlib"},{"name":"aquasecurity:trivy:SrcVersion","value":"1.2.13.dfsg"},{"name":"aquasecurity:trivy:SrcRelease","value":"1"},{"name":"aquasecurity:trivy:SrcEpoch","value":"1"}]},
            {"type":"application","name":"app","components":[
               {"type":"library","name":"core","purl":"pkg:npm/%40babel/core@7.22.0"},
               {"type":"library","name":"mux","purl":"pkg:golang/github.com/gorilla/mux@v1.8.0"},
               {"type":"library","name":"log4j","purl":"pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"}]},
            {"type":"library","name":"nopurl"},
            {"type":"file","name":"/bin/sh","purl":"pkg:generic/sh@1"}
          ]}"#;
        let s = parse(doc).unwrap();
        assert_eq!(s.subject.as_deref(), Some("nginx:1.25"));
        assert_eq!(
            s.os,
            Some(Os {
                family: "debian".into(),
                version: "12".into()
            })
        );
        assert_eq!(
            names(&s),
            [
                "Debian:12 libssl3 3.0.11-1~deb12u2 openssl",
                "Debian:12 zlib1g 1:1.2.13.dfsg-1 zlib",
                "Go github.com/gorilla/mux 1.8.0 github.com/gorilla/mux",
                "Maven org.apache.logging.log4j:log4j-core 2.14.1 org.apache.logging.log4j:log4j-core",
                "npm @babel/core 7.22.0 @babel/core",
            ]
        );
        // Trivy's source version equals the binary version: no separate source version.
        assert_eq!(s.packages[1].source_version, None);
        assert_eq!(
            s.errors,
            ["nopurl: no package URL (purl): cannot be matched"]
        );
    }

    #[test]
    fn spdx_packages_with_purls() {
        let doc = br#"{"spdxVersion":"SPDX-2.3","name":"alpine:3.19","packages":[
            {"SPDXID":"SPDXRef-os","name":"alpine","versionInfo":"3.19.1","primaryPackagePurpose":"OPERATING-SYSTEM"},
            {"SPDXID":"SPDXRef-1","name":"libcrypto3","versionInfo":"3.1.4-r5","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&upstream=openssl&distro=alpine-3.19.1"}]},
            {"SPDXID":"SPDXRef-2","name":"openssl","versionInfo":"1:3.0.7-24.el9","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:rpm/redhat/openssl@3.0.7-24.el9?epoch=1&upstream=openssl-3.0.7-24.el9.src.rpm&distro=rhel-9.3"}]},
            {"SPDXID":"SPDXRef-3","name":"x","externalRefs":[{"referenceType":"purl","referenceLocator":"pkg:hackage/x@1"}]}
        ]}"#;
        let s = parse(doc).unwrap();
        assert_eq!(
            names(&s),
            [
                "Alpine:v3.19 libcrypto3 3.1.4-r5 openssl",
                "Red Hat openssl 1:3.0.7-24.el9 openssl",
            ]
        );
        assert_eq!(s.errors.len(), 1, "{:?}", s.errors);
        assert!(s.errors[0].contains("hackage"));
    }

    #[test]
    fn other_documents_are_refused() {
        assert!(matches!(parse(b"{}"), Err(SbomError::Unknown)));
        assert!(matches!(parse(b"not json"), Err(SbomError::Json(_))));
        assert!(matches!(
            parse(br#"{"bomFormat":"CycloneDX","specVersion":"1.2"}"#),
            Err(SbomError::Version(_))
        ));
    }
}
