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

/// The OSV ecosystem of an operating system's packages, as OSV names them
/// (<https://ossf.github.io/osv-schema/#affectedpackage-field>), from the os-release `ID` and
/// `VERSION_ID` (or, without one, `VERSION_CODENAME`):
/// - `debian` → `Debian:<major>`; testing and sid have no `VERSION_ID`: a known codename maps
///   to its release number (`trixie` → `Debian:13`), another is used as is (`Debian:sid`).
/// - `ubuntu` → `Ubuntu:<VERSION_ID>`; `alpine` → `Alpine:v<major>.<minor>`.
/// - `rhel`, `centos` → `Red Hat`; `rocky` → `Rocky Linux:<major>`; `almalinux` →
///   `AlmaLinux:<major>`; `wolfi` → `Wolfi`; `chainguard` → `Chainguard`.
/// - Any other ID: a known display name (`opensuse-leap` → `openSUSE`, `sles` → `SUSE`,
///   `amzn` → `Amazon Linux`, `ol` → `Oracle Linux`, `photon` → `Photon OS`, `mariner` →
///   `Mariner`, `azurelinux` → `Azure Linux`), else the ID with its first letter upper-cased
///   (`fedora` → `Fedora`); followed by `:<VERSION_ID>` when there is one.
pub fn os_ecosystem(os: &Os) -> String {
    let version = Some(os.version.as_str()).filter(|v| !v.is_empty());
    let numeric = version.filter(|v| v.starts_with(|c: char| c.is_ascii_digit()));
    let with_major = |name: &str| match numeric {
        Some(v) => format!("{name}:{}", leading(v, 1)),
        None => name.to_string(),
    };
    match os.family.as_str() {
        "debian" => match (numeric, version) {
            (Some(v), _) => format!("Debian:{}", leading(v, 1)),
            (None, Some(c)) => format!("Debian:{}", debian_number(c).unwrap_or(c)),
            (None, None) => "Debian".into(),
        },
        "alpine" => match numeric {
            Some(v) => format!("Alpine:v{}", leading(v, 2)),
            None => "Alpine".into(),
        },
        "rhel" | "centos" => "Red Hat".into(),
        "rocky" => with_major("Rocky Linux"),
        "almalinux" => with_major("AlmaLinux"),
        "wolfi" => "Wolfi".into(),
        "chainguard" => "Chainguard".into(),
        id => {
            let name = match id {
                "ubuntu" => "Ubuntu".to_string(),
                "opensuse-leap" | "opensuse-tumbleweed" | "opensuse" => "openSUSE".into(),
                "sles" => "SUSE".into(),
                "amzn" => "Amazon Linux".into(),
                "ol" => "Oracle Linux".into(),
                "photon" => "Photon OS".into(),
                "mariner" => "Mariner".into(),
                "azurelinux" => "Azure Linux".into(),
                other => {
                    let mut chars = other.chars();
                    chars
                        .next()
                        .map(|c| c.to_uppercase().chain(chars).collect())
                        .unwrap_or_default()
                }
            };
            match version {
                Some(v) => format!("{name}:{v}"),
                None => name,
            }
        }
    }
}

fn debian_number(codename: &str) -> Option<&'static str> {
    Some(match codename {
        "stretch" => "9",
        "buster" => "10",
        "bullseye" => "11",
        "bookworm" => "12",
        "trixie" => "13",
        "forky" => "14",
        "duke" => "15",
        _ => return None,
    })
}

/// The first `n` dot-separated numeric components of a version (`3.19.1` → `3.19`).
fn leading(version: &str, n: usize) -> String {
    version
        .split('.')
        .take(n)
        .map(|p| p.split(|c: char| !c.is_ascii_digit()).next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eco(family: &str, version: &str) -> String {
        os_ecosystem(&Os {
            family: family.into(),
            version: version.into(),
        })
    }

    #[test]
    fn os_ecosystems_are_named_as_osv_names_them() {
        assert_eq!(eco("debian", "12"), "Debian:12");
        assert_eq!(eco("debian", ""), "Debian");
        assert_eq!(eco("ubuntu", "22.04"), "Ubuntu:22.04");
        assert_eq!(eco("alpine", "3.19.1"), "Alpine:v3.19");
        assert_eq!(eco("rhel", "9.3"), "Red Hat");
        assert_eq!(eco("rocky", "9.3"), "Rocky Linux:9");
        assert_eq!(eco("haiku", "1"), "Haiku:1");
        assert_eq!(eco("debian", "12.4"), "Debian:12");
        assert_eq!(eco("debian", "trixie"), "Debian:13");
    }
}
