//! A package found in an image, and the operating system the image is built on.

use serde::{Deserialize, Serialize};

/// One installed package.
///
/// JSON (`kubevigil image scan -o json`, `packages[]`): `{"name", "version", "ecosystem",
/// "source", "path"}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    /// The name as its ecosystem writes it (binary package name for dpkg and rpm).
    pub name: String,
    /// The installed version, exactly as the package database records it (dpkg: with epoch
    /// and revision; rpm: `[epoch:]version-release`; Go: without the leading `v`).
    pub version: String,
    /// The OSV ecosystem it belongs to, as OSV writes it: `Debian:12`, `Alpine:v3.19`,
    /// `Ubuntu:22.04`, `Red Hat`, `crates.io`, `Go`, `npm`, `PyPI`, `Maven`.
    pub ecosystem: String,
    /// The source package it was built from (dpkg `Source:`, apk origin, rpm source RPM
    /// name), when the database names one. Distribution advisories are written against it.
    pub source: Option<String>,
    /// The file it was read from, absolute within the image (`/var/lib/dpkg/status`).
    pub path: String,
    /// The source package's version when it differs from `version` (dpkg `Source: foo (1.2-3)`).
    #[serde(skip)]
    pub source_version: Option<String>,
}

impl Package {
    /// The name and version that advisories of its ecosystem are written against: the source
    /// package for a distribution package that names one, else the package itself.
    pub fn advisory_key(&self) -> (&str, &str) {
        match &self.source {
            Some(source) => (
                source,
                self.source_version.as_deref().unwrap_or(&self.version),
            ),
            None => (&self.name, &self.version),
        }
    }
}

/// The operating system of an image, from `/etc/os-release` (or `/usr/lib/os-release`).
///
/// JSON: `{"family", "version"}`: the os-release `ID` (`debian`, `alpine`, `ubuntu`, `rhel`,
/// ...) and `VERSION_ID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Os {
    pub family: String,
    pub version: String,
}

/// The OSV ecosystem of an operating system's packages, from its os-release `ID` and
/// `VERSION_ID` as OSV names them (<https://ossf.github.io/osv-schema/#affectedpackage-field>):
/// `Debian:12`, `Ubuntu:22.04`, `Alpine:v3.19` (major.minor), `Red Hat` (RHEL and CentOS),
/// `Rocky Linux:9`, `AlmaLinux:9` (major), `Wolfi`, `Chainguard`, `openSUSE`/`SUSE`.
/// `None` for a family OSV has no advisories for.
pub fn os_ecosystem(os: &Os) -> Option<String> {
    let major = os.version.split('.').next().unwrap_or_default();
    let with_major = |name: &str| {
        if major.is_empty() {
            name.to_string()
        } else {
            format!("{name}:{major}")
        }
    };
    Some(match os.family.as_str() {
        "debian" => with_major("Debian"),
        "ubuntu" => {
            if os.version.is_empty() {
                "Ubuntu".to_string()
            } else {
                format!("Ubuntu:{}", os.version)
            }
        }
        "alpine" => {
            let mut parts = os.version.split('.');
            match (parts.next(), parts.next()) {
                (Some(a), Some(b)) => format!("Alpine:v{a}.{b}"),
                _ => "Alpine".to_string(),
            }
        }
        "rhel" | "centos" => "Red Hat".to_string(),
        "rocky" => with_major("Rocky Linux"),
        "almalinux" => with_major("AlmaLinux"),
        "wolfi" => "Wolfi".to_string(),
        "chainguard" => "Chainguard".to_string(),
        "opensuse" | "opensuse-leap" | "opensuse-tumbleweed" => "openSUSE".to_string(),
        "sles" | "sle-micro" => "SUSE".to_string(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eco(family: &str, version: &str) -> Option<String> {
        os_ecosystem(&Os {
            family: family.into(),
            version: version.into(),
        })
    }

    #[test]
    fn os_ecosystems_are_named_as_osv_names_them() {
        assert_eq!(eco("debian", "12").as_deref(), Some("Debian:12"));
        assert_eq!(eco("debian", "").as_deref(), Some("Debian"));
        assert_eq!(eco("ubuntu", "22.04").as_deref(), Some("Ubuntu:22.04"));
        assert_eq!(eco("alpine", "3.19.1").as_deref(), Some("Alpine:v3.19"));
        assert_eq!(eco("rhel", "9.3").as_deref(), Some("Red Hat"));
        assert_eq!(eco("rocky", "9.3").as_deref(), Some("Rocky Linux:9"));
        assert_eq!(eco("haiku", "1"), None);
    }
}
