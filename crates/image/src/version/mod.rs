//! Version ordering per ecosystem, each scheme a port of the comparison its own package manager
//! uses, held against the real implementation in `tests/version_oracles.rs`.
//!
//! Every entry point takes hostile input: versions longer than [`MAX_LEN`] bytes are refused
//! before any parsing, no scheme panics, and all work is linear (or bounded by the cap).
//! Upstream sources are cited in each module.

use std::cmp::Ordering;

mod apk;
mod dpkg;
mod maven;
mod pep440;
mod rpm;
mod semver;

/// The longest version accepted, in bytes. Real versions are far shorter; the cap bounds the
/// work (Maven nests one list per `-`, so it also bounds recursion depth) and matches Maven's
/// own `ComparableVersion.MAX_VERSION_LENGTH`.
pub const MAX_LEN: usize = 256;

/// A version ordering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian and Ubuntu (`dpkg --compare-versions`).
    Dpkg,
    /// Red Hat, SUSE and the other rpm distributions (`rpmvercmp`).
    Rpm,
    /// Alpine, Wolfi and Chainguard (apk-tools).
    Apk,
    /// SemVer 2.0.0 precedence (OSV's `SEMVER` range type).
    Semver,
    /// PyPI (PEP 440 as pypa/packaging implements it).
    Pep440,
    /// Maven (maven-artifact's `ComparableVersion`).
    Maven,
}

impl Scheme {
    /// The ordering an OSV ecosystem uses, from its name as OSV writes it, with or without a
    /// `:<release>` suffix: "Debian", "Debian:12", "Ubuntu", "Ubuntu:22.04:LTS" -> Dpkg;
    /// "Alpine", "Alpine:v3.19", "Wolfi", "Chainguard" -> Apk; "Red Hat", "Red Hat:...",
    /// "Rocky Linux", "AlmaLinux", "openSUSE", "SUSE", "Mageia" -> Rpm; "crates.io", "npm",
    /// "Go", "NuGet", "Hex", "Pub" -> Semver (as OSV's SEMVER type); "PyPI" -> Pep440;
    /// "Maven" -> Maven. Unknown -> None.
    pub fn for_ecosystem(ecosystem: &str) -> Option<Scheme> {
        // OSV appends the release after the first ':' ("Ubuntu:22.04:LTS", "Red Hat:rhel_aus:8.4::appstream").
        let base = ecosystem.split(':').next().unwrap_or(ecosystem);
        Some(match base {
            "Debian" | "Ubuntu" => Scheme::Dpkg,
            "Alpine" | "Wolfi" | "Chainguard" => Scheme::Apk,
            "Red Hat" | "Rocky Linux" | "AlmaLinux" | "openSUSE" | "SUSE" | "Mageia" => Scheme::Rpm,
            "crates.io" | "npm" | "Go" | "NuGet" | "Hex" | "Pub" => Scheme::Semver,
            "PyPI" => Scheme::Pep440,
            "Maven" => Scheme::Maven,
            _ => return None,
        })
    }
}

/// Why a version string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VersionError {
    /// Longer than [`MAX_LEN`] bytes.
    #[error("{scheme:?} version of {len} bytes is too long (at most {max})", max = MAX_LEN)]
    TooLong { scheme: Scheme, len: usize },
    /// Not a version of the scheme.
    #[error("invalid {scheme:?} version {version:?}: {reason}")]
    Invalid {
        scheme: Scheme,
        /// The version as given (at most [`MAX_LEN`] bytes, see `TooLong`).
        version: String,
        reason: &'static str,
    },
}

impl VersionError {
    fn invalid(scheme: Scheme, version: &str, reason: &'static str) -> Self {
        VersionError::Invalid {
            scheme,
            version: version.to_owned(),
            reason,
        }
    }
}

/// Compares two versions under `scheme`; an error when either is not a valid version of that
/// scheme.
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Result<Ordering, VersionError> {
    for v in [a, b] {
        if v.len() > MAX_LEN {
            return Err(VersionError::TooLong {
                scheme,
                len: v.len(),
            });
        }
    }
    let err = |v: &str, reason| VersionError::invalid(scheme, v, reason);
    match scheme {
        Scheme::Dpkg => {
            let (x, y) = (
                dpkg::parse(a).map_err(|r| err(a, r))?,
                dpkg::parse(b).map_err(|r| err(b, r))?,
            );
            Ok(dpkg::compare(&x, &y))
        }
        Scheme::Rpm => {
            let (x, y) = (
                rpm::parse(a).map_err(|r| err(a, r))?,
                rpm::parse(b).map_err(|r| err(b, r))?,
            );
            Ok(rpm::compare(&x, &y))
        }
        Scheme::Apk => {
            apk::validate(a).map_err(|r| err(a, r))?;
            apk::validate(b).map_err(|r| err(b, r))?;
            Ok(apk::compare(a, b))
        }
        Scheme::Semver => {
            let (x, y) = (
                semver::parse(a).map_err(|r| err(a, r))?,
                semver::parse(b).map_err(|r| err(b, r))?,
            );
            Ok(semver::compare(&x, &y))
        }
        Scheme::Pep440 => {
            let (x, y) = (
                pep440::parse(a).map_err(|r| err(a, r))?,
                pep440::parse(b).map_err(|r| err(b, r))?,
            );
            Ok(pep440::compare(&x, &y))
        }
        Scheme::Maven => {
            let (x, y) = (
                maven::parse(a).map_err(|r| err(a, r))?,
                maven::parse(b).map_err(|r| err(b, r))?,
            );
            Ok(maven::compare(&x, &y))
        }
    }
}

/// Compares two runs of ASCII digits by numeric value, of any length (leading zeros ignored).
fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |s: &[u8]| -> usize { s.iter().take_while(|&&c| c == b'0').count() };
    let (a, b) = (&a[strip(a)..], &b[strip(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ecosystems() {
        for (e, s) in [
            ("Debian", Some(Scheme::Dpkg)),
            ("Debian:12", Some(Scheme::Dpkg)),
            ("Ubuntu:22.04:LTS", Some(Scheme::Dpkg)),
            ("Alpine:v3.19", Some(Scheme::Apk)),
            ("Wolfi", Some(Scheme::Apk)),
            ("Chainguard", Some(Scheme::Apk)),
            ("Red Hat:enterprise_linux:9::appstream", Some(Scheme::Rpm)),
            ("Rocky Linux:9", Some(Scheme::Rpm)),
            ("AlmaLinux", Some(Scheme::Rpm)),
            ("openSUSE", Some(Scheme::Rpm)),
            ("SUSE:Linux Enterprise Server 15 SP5", Some(Scheme::Rpm)),
            ("Mageia:9", Some(Scheme::Rpm)),
            ("crates.io", Some(Scheme::Semver)),
            ("npm", Some(Scheme::Semver)),
            ("Go", Some(Scheme::Semver)),
            ("NuGet", Some(Scheme::Semver)),
            ("Hex", Some(Scheme::Semver)),
            ("Pub", Some(Scheme::Semver)),
            ("PyPI", Some(Scheme::Pep440)),
            ("Maven", Some(Scheme::Maven)),
            ("debian", None),
            ("", None),
            ("RubyGems", None),
        ] {
            assert_eq!(Scheme::for_ecosystem(e), s, "{e}");
        }
    }

    #[test]
    fn too_long_is_refused_everywhere() {
        let long = "1".repeat(MAX_LEN + 1);
        let ok = "1".repeat(MAX_LEN);
        for s in [
            Scheme::Dpkg,
            Scheme::Rpm,
            Scheme::Apk,
            Scheme::Semver,
            Scheme::Pep440,
            Scheme::Maven,
        ] {
            assert!(matches!(
                compare(s, &long, "1"),
                Err(VersionError::TooLong { .. })
            ));
            assert!(matches!(
                compare(s, "1", &long),
                Err(VersionError::TooLong { .. })
            ));
            if s != Scheme::Semver {
                assert_eq!(compare(s, &ok, &ok), Ok(Ordering::Equal), "{s:?}");
            }
        }
    }

    #[test]
    fn digits() {
        assert_eq!(cmp_digits(b"007", b"7"), Ordering::Equal);
        assert_eq!(cmp_digits(b"10", b"9"), Ordering::Greater);
        assert_eq!(cmp_digits(b"", b"0"), Ordering::Equal);
        assert_eq!(
            cmp_digits(
                b"123456789012345678901234567890",
                b"123456789012345678901234567891"
            ),
            Ordering::Less
        );
    }
}
