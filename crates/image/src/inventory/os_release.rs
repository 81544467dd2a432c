//! `/etc/os-release` (or `/usr/lib/os-release`): the OS and the OSV ecosystem of its packages.
//!
//! Format: systemd's os-release(5), <https://www.freedesktop.org/software/systemd/man/latest/os-release.html>
//! (newline-separated `KEY=value`, values optionally in shell quotes with `\` escapes).
//! Ecosystem names: OSV's schema, <https://ossf.github.io/osv-schema/#affected-fields>.
//!
//! Ecosystem names: [`crate::package::os_ecosystem`].

use crate::package::Os;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Release {
    pub id: String,
    pub version_id: Option<String>,
    pub codename: Option<String>,
}

/// `None` when there is no `ID`.
pub(crate) fn parse(data: &[u8]) -> Option<Release> {
    let text = String::from_utf8_lossy(data);
    let (mut id, mut version_id, mut codename) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        let slot = match key.trim() {
            "ID" => &mut id,
            "VERSION_ID" => &mut version_id,
            "VERSION_CODENAME" => &mut codename,
            _ => continue,
        };
        *slot = Some(value).filter(|v| !v.is_empty());
    }
    Some(Release {
        id: id?.to_ascii_lowercase(),
        version_id,
        codename,
    })
}

fn unquote(value: &str) -> String {
    let bytes = value.as_bytes();
    let quoted = bytes.len() >= 2
        && (bytes.first() == Some(&b'"') || bytes.first() == Some(&b'\''))
        && bytes.first() == bytes.last();
    if !quoted {
        return value.to_string();
    }
    let inner = value.get(1..value.len() - 1).unwrap_or_default();
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if bytes.first() == Some(&b'"') => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

impl Release {
    pub fn os(&self) -> Os {
        Os {
            family: self.id.clone(),
            version: self
                .version_id
                .clone()
                .or_else(|| self.codename.clone())
                .unwrap_or_default(),
        }
    }

    pub fn ecosystem(&self) -> String {
        crate::package::os_ecosystem(&self.os())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eco(text: &str) -> String {
        parse(text.as_bytes()).unwrap().ecosystem()
    }

    #[test]
    fn this_machines_os_release() {
        let r = parse(include_bytes!("testdata/os-release")).unwrap();
        assert_eq!(r.ecosystem(), "Debian:12");
        assert_eq!(
            r.os(),
            Os {
                family: "debian".into(),
                version: "12".into()
            }
        );
    }

    #[test]
    fn ecosystems() {
        assert_eq!(eco("ID=ubuntu\nVERSION_ID=\"22.04\"\n"), "Ubuntu:22.04");
        assert_eq!(eco("ID=alpine\nVERSION_ID=3.19.1\n"), "Alpine:v3.19");
        assert_eq!(
            eco("ID=alpine\nVERSION_ID=3.20_alpha2024\n"),
            "Alpine:v3.20"
        );
        assert_eq!(eco("ID=\"rhel\"\nVERSION_ID=\"9.3\"\n"), "Red Hat");
        assert_eq!(eco("ID=centos\nVERSION_ID=7\n"), "Red Hat");
        assert_eq!(eco("ID=\"rocky\"\nVERSION_ID=\"9.3\"\n"), "Rocky Linux:9");
        assert_eq!(eco("ID=almalinux\nVERSION_ID=9.4\n"), "AlmaLinux:9");
        assert_eq!(eco("ID=wolfi\nVERSION_ID=20230201\n"), "Wolfi");
        assert_eq!(eco("ID=fedora\nVERSION_ID=39\n"), "Fedora:39");
        assert_eq!(eco("ID=arch\n"), "Arch");
        // Debian testing: no VERSION_ID, the codename's number.
        assert_eq!(eco("ID=debian\nVERSION_CODENAME=trixie\n"), "Debian:13");
        assert_eq!(eco("ID=debian\nVERSION_CODENAME=sid\n"), "Debian:sid");
        assert_eq!(parse(b"NAME=x\n"), None);
        assert_eq!(eco("ID='a\\b'\n"), "A\\b", "single quotes keep backslashes");
    }
}
