//! apk-tools' database of installed packages, `/lib/apk/db/installed`.
//!
//! Format: apk-tools `src/database.c` (`apk_db_index_read`) and the field letters of
//! <https://wiki.alpinelinux.org/wiki/Apk_spec> ("Installed Database V2"): one `X:value` per
//! line, packages separated by blank lines; `P` name, `V` version, `o` origin (the source
//! package Alpine's advisories are written against).

use super::{Found, InventoryError};
use crate::package::Package;

pub(crate) fn parse(data: &[u8], path: &str, ecosystem: &str) -> Found {
    let text = String::from_utf8_lossy(data);
    let mut packages = Vec::new();
    let mut errors = Vec::new();
    let (mut name, mut version, mut origin) = (None, None, None);
    let mut index = 0usize;
    let mut any_line = false;
    // A trailing empty line closes the last package.
    for line in text.lines().chain(std::iter::once("")) {
        if line.trim().is_empty() {
            if any_line {
                index += 1;
                match (name.take(), version.take()) {
                    (Some(n), Some(v)) => packages.push(Package {
                        name: n,
                        version: v,
                        ecosystem: ecosystem.to_string(),
                        source: origin.take(),
                        path: path.to_string(),
                        source_version: None,
                    }),
                    _ => errors.push(InventoryError::new(
                        path,
                        format!("package {index} has no P: or no V:"),
                    )),
                }
                origin = None;
                any_line = false;
            }
            continue;
        }
        any_line = true;
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let value = Some(value.trim().to_string()).filter(|v| !v.is_empty());
        match key {
            "P" => name = value,
            "V" => version = value,
            "o" => origin = value,
            _ => {}
        }
    }
    (packages, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn installed_database() {
        let data = b"C:Q1abc=\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\nS:1\no:musl\nm:x\n\n\
P:libcrypto3\nV:3.1.4-r5\no:openssl\nF:lib\nR:libcrypto.so.3\n\n\
P:noversion\n\n";
        let (pkgs, errors) = parse(data, "/lib/apk/db/installed", "Alpine:v3.19");
        let got: Vec<_> = pkgs
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str(), p.source.as_deref()))
            .collect();
        assert_eq!(
            got,
            [
                ("musl", "1.2.4_git20230717-r4", Some("musl")),
                ("libcrypto3", "3.1.4-r5", Some("openssl")),
            ]
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].message.contains("package 3"));
    }
}
