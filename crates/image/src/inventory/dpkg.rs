//! dpkg's database: `/var/lib/dpkg/status`, and the `/var/lib/dpkg/status.d/<package>` files
//! that distroless images write instead (one stanza each, no `Status` field).
//!
//! Format: deb822 control stanzas (dpkg `lib/dpkg/parse.c`, and deb-control(5) /
//! <https://www.debian.org/doc/debian-policy/ch-controlfields.html>): `Field: value` lines,
//! continuation lines starting with a space or tab, stanzas separated by blank lines.
//! `Source: name (version)` names the source package and, when it differs, its version
//! (Policy 5.6.1).

use super::{Found, InventoryError};
use crate::package::Package;

/// The stanzas of a control file, each a list of (field, first line of value).
pub(crate) fn stanzas(text: &str) -> Vec<Vec<(&str, &str)>> {
    let mut out = Vec::new();
    let mut current: Vec<(&str, &str)> = Vec::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                out.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue; // continuation of a multi-line field; none that is read here has one
        }
        if let Some((k, v)) = line.split_once(':') {
            current.push((k.trim(), v.trim()));
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn field<'a>(stanza: &[(&'a str, &'a str)], name: &str) -> Option<&'a str> {
    stanza
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
        .filter(|v| !v.is_empty())
}

/// `needs_status`: only stanzas whose Status is "install ok installed" are packages
/// (status); status.d stanzas have no Status and all are.
pub(crate) fn parse(data: &[u8], path: &str, ecosystem: &str, needs_status: bool) -> Found {
    let text = String::from_utf8_lossy(data);
    let mut packages = Vec::new();
    let mut errors = Vec::new();
    for (i, stanza) in stanzas(&text).iter().enumerate() {
        if needs_status {
            let installed = field(stanza, "Status")
                .is_some_and(|s| s.split_whitespace().eq(["install", "ok", "installed"]));
            if !installed {
                continue;
            }
        }
        let (Some(name), Some(version)) = (field(stanza, "Package"), field(stanza, "Version"))
        else {
            errors.push(InventoryError::new(
                path,
                format!("stanza {} has no Package or no Version", i + 1),
            ));
            continue;
        };
        let (source, source_version) = match field(stanza, "Source") {
            Some(s) => match s.split_once('(') {
                Some((n, v)) => (
                    Some(n.trim().to_string()),
                    Some(v.trim_end().trim_end_matches(')').trim().to_string())
                        .filter(|v| !v.is_empty() && v != version),
                ),
                None => (Some(s.to_string()), None),
            },
            None => (None, None),
        };
        packages.push(Package {
            name: name.to_string(),
            version: version.to_string(),
            ecosystem: ecosystem.to_string(),
            source,
            path: path.to_string(),
            source_version,
        });
    }
    (packages, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(p: &Package) -> String {
        format!(
            "{} {} {:?} {:?}",
            p.name, p.version, p.source, p.source_version
        )
    }

    #[test]
    fn a_slice_of_this_machines_status() {
        let mut data = include_bytes!("testdata/dpkg-status").to_vec();
        // A removed package whose configuration files remain is not installed.
        data.extend_from_slice(
            b"\nPackage: gone\nStatus: deinstall ok config-files\nVersion: 1.0\n\n\
              Package: half\nStatus: install ok half-configured\nVersion: 2.0\n",
        );
        let (pkgs, errors) = parse(&data, "/var/lib/dpkg/status", "Debian:12", true);
        assert_eq!(errors, []);
        let lines: Vec<String> = pkgs.iter().map(line).collect();
        assert_eq!(
            lines,
            [
                "aardvark-dns 1.4.0-3 None None",
                "adduser 3.134 None None",
                "adwaita-icon-theme 43-1 None None",
                "alsa-topology-conf 1.2.5.1-2 None None",
                "alsa-ucm-conf 1.2.8-1 None None",
                "apache2-utils 2.4.71-1~deb12u1 Some(\"apache2\") None",
                "apt-transport-https 2.6.1 Some(\"apt\") None",
                "at-spi2-common 2.46.0-5 Some(\"at-spi2-core\") None",
                "avahi-daemon 0.8-10+deb12u1 Some(\"avahi\") None",
                "bash 5.2.15-2+b8 Some(\"bash\") Some(\"5.2.15-2\")",
                "bc 1.07.1-3+b1 Some(\"bc\") Some(\"1.07.1-3\")",
                "bsdutils 1:2.38.1-5+deb12u3 Some(\"util-linux\") Some(\"2.38.1-5+deb12u3\")",
            ]
        );
        assert!(pkgs.iter().all(|p| p.ecosystem == "Debian:12"));
        assert_eq!(pkgs[9].advisory_key(), ("bash", "5.2.15-2"));
    }

    #[test]
    fn distroless_status_d_needs_no_status_and_reports_broken_stanzas() {
        let data =
            b"Package: libc6\nVersion: 2.36-9+deb12u4\nSource: glibc\nArchitecture: amd64\n\n\
                     Package: nover\n";
        let (pkgs, errors) = parse(data, "/var/lib/dpkg/status.d/libc6", "Debian:12", false);
        assert_eq!(pkgs.len(), 1);
        assert_eq!(pkgs[0].source.as_deref(), Some("glibc"));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "/var/lib/dpkg/status.d/libc6");
        // Binary garbage: nothing, no panic.
        let (pkgs, _) = parse(&[0xff, 0, b':', b'\n'], "/x", "Debian:12", true);
        assert!(pkgs.is_empty());
    }
}
