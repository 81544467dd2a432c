//! Package URLs (purl), as SBOMs name packages: parsed, and made from a [`Package`].
//!
//! Grammar: `pkg:<type>/<namespace>/<name>@<version>?<qualifiers>#<subpath>`, each part
//! percent-encoded, from the purl specification
//! (<https://github.com/package-url/purl-spec/blob/master/PURL-SPECIFICATION.rst>, "Rules for
//! each purl component" and "How to parse a purl string in its components").

use std::collections::BTreeMap;

/// The package URL types of language ecosystems and the OSV ecosystems they name, both ways:
/// SBOMs in ([`crate::sbom`]) and out ([`crate::export`]).
pub const LANGUAGE_TYPES: &[(&str, &str)] = &[
    ("cargo", "crates.io"),
    ("golang", "Go"),
    ("npm", "npm"),
    ("pypi", "PyPI"),
    ("maven", "Maven"),
    ("gem", "RubyGems"),
    ("nuget", "NuGet"),
    ("composer", "Packagist"),
];

/// Types whose namespace is part of the package's name as its ecosystem writes it
/// (`@babel/core`, `github.com/gorilla/mux`, `symfony/http-kernel`); Maven's is the group
/// (`group:artifact`).
pub const NAMESPACED_TYPES: &[&str] = &["npm", "golang", "composer"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Purl {
    /// Lowercased, as the specification says.
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
    pub version: Option<String>,
    pub qualifiers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("package URL {purl:?}: {reason}")]
pub struct PurlError {
    pub purl: String,
    pub reason: &'static str,
}

fn decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Characters left as they are in a purl component; everything else is percent-encoded.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b".-_~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Purl {
    pub fn parse(purl: &str) -> Result<Purl, PurlError> {
        let err = |reason| PurlError {
            purl: purl.to_string(),
            reason,
        };
        let rest = purl
            .strip_prefix("pkg:")
            .ok_or_else(|| err("does not start with pkg:"))?;
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let (rest, qualifiers) = match rest.split_once('?') {
            Some((r, q)) => (r, q),
            None => (rest, ""),
        };
        let mut parsed_qualifiers = BTreeMap::new();
        for pair in qualifiers.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| err("a qualifier has no '='"))?;
            let v = decode(v).ok_or_else(|| err("bad percent-encoding"))?;
            if !v.is_empty() {
                parsed_qualifiers.insert(k.to_ascii_lowercase(), v);
            }
        }
        let rest = rest.trim_start_matches('/');
        let (rest, version) = match rest.rsplit_once('@') {
            Some((r, v)) => (
                r,
                Some(decode(v).ok_or_else(|| err("bad percent-encoding"))?),
            ),
            None => (rest, None),
        };
        let mut segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        if segments.len() < 2 {
            return Err(err("needs a type and a name"));
        }
        let kind = segments.remove(0).to_ascii_lowercase();
        let name = decode(segments.pop().unwrap_or_default())
            .ok_or_else(|| err("bad percent-encoding"))?;
        if name.is_empty() {
            return Err(err("the name is empty"));
        }
        let namespace = if segments.is_empty() {
            None
        } else {
            let parts: Option<Vec<String>> = segments.iter().map(|s| decode(s)).collect();
            Some(parts.ok_or_else(|| err("bad percent-encoding"))?.join("/"))
        };
        Ok(Purl {
            kind,
            namespace,
            name,
            version: version.filter(|v| !v.is_empty()),
            qualifiers: parsed_qualifiers,
        })
    }
}

impl std::fmt::Display for Purl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pkg:{}/", self.kind)?;
        if let Some(ns) = &self.namespace {
            for part in ns.split('/') {
                write!(f, "{}/", encode(part))?;
            }
        }
        f.write_str(&encode(&self.name))?;
        if let Some(v) = &self.version {
            write!(f, "@{}", encode(v))?;
        }
        for (i, (k, v)) in self.qualifiers.iter().enumerate() {
            write!(f, "{}{k}={}", if i == 0 { '?' } else { '&' }, encode(v))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_sbom_tools_write() {
        let p = Purl::parse(
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12&upstream=openssl",
        )
        .unwrap();
        assert_eq!(p.kind, "deb");
        assert_eq!(p.namespace.as_deref(), Some("debian"));
        assert_eq!(p.name, "libssl3");
        assert_eq!(p.version.as_deref(), Some("3.0.11-1~deb12u2"));
        assert_eq!(p.qualifiers["upstream"], "openssl");
        let p = Purl::parse("pkg:npm/%40babel/core@7.22.0").unwrap();
        assert_eq!(
            (p.namespace.as_deref(), p.name.as_str()),
            (Some("@babel"), "core")
        );
        let p = Purl::parse("pkg:golang/github.com/gorilla/mux@v1.8.0").unwrap();
        assert_eq!(p.namespace.as_deref(), Some("github.com/gorilla"));
        assert!(Purl::parse("deb/debian/x@1").is_err());
        assert!(Purl::parse("pkg:npm").is_err());
        assert!(Purl::parse("pkg:npm/x@%zz").is_err());
    }

    #[test]
    fn writes_what_it_reads() {
        for s in [
            "pkg:npm/%40babel/core@7.22.0",
            "pkg:deb/debian/libssl3@3.0.11-1~deb12u2?arch=amd64&distro=debian-12",
            "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1",
            "pkg:rpm/redhat/openssl@3.0.7-24.el9?epoch=1",
        ] {
            let p = Purl::parse(s).unwrap();
            assert_eq!(p.to_string(), s);
            assert_eq!(Purl::parse(&p.to_string()).unwrap(), p);
        }
    }
}
